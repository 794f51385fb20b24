//! The only place that reads the wall clock. Apply code never calls this: it uses the
//! time stamped into the log entry (`ApplyCtx::now_ms`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
#[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Unix time in microseconds (TIME, CLIENT LIST ages).
#[allow(clippy::disallowed_methods)]
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A monotonic instant, for measuring durations (command latency, uptime).
#[allow(clippy::disallowed_methods)]
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

/// Time elapsed since `start`.
pub fn since(start: std::time::Instant) -> Duration {
    monotonic().saturating_duration_since(start)
}
