//! Retrying with exponential backoff and jitter, and the bounded start-up budget every start-up
//! call shares. A leaf: used by start-up (secrets, the BigQuery sink) and RudderStack delivery.

use std::future::Future;
use std::time::Duration;

/// Backoff before attempt `attempt + 1`: `base * 2^(attempt-1)` capped at `max`, with "equal
/// jitter" (`u` in 0..1 picks a point in the upper half) so retries of parallel batches spread.
pub fn backoff(attempt: u32, base: Duration, max: Duration, u: f64) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    exp.mul_f64(0.5 + 0.5 * u.clamp(0.0, 1.0))
}

/// A uniform random number in 0..1 for [`backoff`].
pub fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// The bounded start (`HUB_STARTUP_RETRY_SECS`): right after a deploy, IAM grants take seconds
/// to minutes to reach Secret Manager and BigQuery, and a second instance may be creating the same
/// table. Start-up calls that fail in a way that may heal (permission denied, not found,
/// unavailable) are retried with exponential backoff and jitter until the budget, shared by every
/// start-up call, is spent; then the start fails with the last clear error.
#[derive(Debug, Clone, Copy)]
pub struct StartBudget {
    deadline: std::time::Instant,
}

impl StartBudget {
    /// A budget of `total` from now (zero: one attempt, no retry).
    pub fn new(total: std::time::Duration) -> StartBudget {
        StartBudget {
            deadline: std::time::Instant::now() + total,
        }
    }

    /// Run `op` until it succeeds, fails for good (`transient` says no), or the budget is spent.
    pub async fn retry<T, E: std::fmt::Display, F, Fut>(
        &self,
        what: &str,
        mut op: F,
        transient: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let left = self
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            if !transient(&err) || left.is_zero() {
                return Err(err);
            }
            let wait = backoff(
                attempt,
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs(10),
                jitter(),
            )
            .min(left);
            tracing::warn!(what, attempt, error = %err, retry_in_ms = wait.as_millis() as u64, "start-up call failed; retrying (HUB_STARTUP_RETRY_SECS)");
            tokio::time::sleep(wait).await;
        }
    }
}
