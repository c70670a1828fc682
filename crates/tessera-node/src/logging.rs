//! The one way a node logs: to stderr, human-readable or one JSON object per line.

use crate::LoggingConfig;

/// Logs to stderr: `trace` or `debug` when asked, else `RUST_LOG`, else `info`; human-readable,
/// or one JSON object per line with `logging.json`. A second call does nothing, so tests that
/// start several nodes in one process keep the first subscriber.
pub fn init_logging(logging: &LoggingConfig) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = if logging.trace {
        EnvFilter::new("trace")
    } else if logging.debug {
        EnvFilter::new("debug")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if logging.json {
        builder.json().try_init()
    } else {
        // Colour codes only for a person at a terminal, never in journald or a log file.
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
