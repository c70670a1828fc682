//! A token bucket for the bandwidth a miner serves: answers wait until the budget allows them.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Allows `rate` bytes per second with bursts of one second's worth; `rate` 0 never waits.
#[derive(Debug)]
pub(crate) struct Throttle {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl Throttle {
    pub(crate) fn new(rate: u64) -> Self {
        Self {
            rate,
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// Waits until `bytes` fit in the budget. A large answer may run the bucket into debt, so
    /// the answers after it wait instead: the long-run rate holds either way.
    pub(crate) async fn take(&self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        let wait = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let rate = self.rate as f64;
            s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * rate).min(rate);
            s.1 = now;
            s.0 -= bytes as f64;
            if s.0 < 0.0 {
                Duration::from_secs_f64(-s.0 / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate() {
        let t = Throttle::new(1000);
        let start = tokio::time::Instant::now();
        // The first second's worth passes at once; the next 2000 bytes take two seconds.
        t.take(1000).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        t.take(1000).await;
        t.take(1000).await;
        let waited = start.elapsed().as_secs_f64();
        assert!((1.9..2.1).contains(&waited), "{waited}");
        Throttle::new(0).take(u64::MAX).await;
    }
}
