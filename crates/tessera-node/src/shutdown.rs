//! How a node stops: the signals it stops on, and the one token every part of it watches.

use tokio_util::sync::CancellationToken;

/// Resolves on the first SIGINT or SIGTERM: the signal a node shuts down in order on. If the
/// handlers cannot be installed it never resolves, and the default actions remain.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A node's stop token: cancelled once `shutdown` resolves, after telling systemd STOPPING.
/// Every part of the node waits on a clone (or a child) of it. The watcher ends when the token
/// is cancelled by anyone, so it never outlives the node.
pub fn stop_signal(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> CancellationToken {
    let token = CancellationToken::new();
    let watched = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {
                crate::notify::notify("STOPPING=1");
                watched.cancel();
            }
            () = watched.cancelled() => {}
        }
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_token_is_cancelled_when_shutdown_resolves() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let token = stop_signal(async move {
            let _ = rx.await;
        });
        assert!(!token.is_cancelled());
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), token.cancelled())
            .await
            .expect("cancelled after shutdown");
    }
}
