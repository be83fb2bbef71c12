//! The instance's memory budget (`HUB_MEMORY_BUDGET_BYTES`): what concurrent requests hold stays
//! under it. The running query executes' working sets are set aside first (each slot holds at most
//! [`QUERY_WORKING_SET_BYTES`]); request bodies share the rest, each reserving twice its size (the
//! bytes and the request parsed from them) plus [`REQUEST_OVERHEAD_BYTES`] before it is read. A
//! request that does not fit waits, in arrival order, and is answered "busy" only if nothing
//! frees up within its wait.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// What one running query execute may hold besides its request: the result's header, one chunk
/// of rows and their JSON, batches in flight (the per-request bound of 64 MiB).
pub const QUERY_WORKING_SET_BYTES: usize = 64 * 1024 * 1024;

/// What any request holds besides its body: headers, metadata, its answer.
pub const REQUEST_OVERHEAD_BYTES: usize = 64 * 1024;

/// The unit the budget is counted in (a semaphore counts `u32` permits at a time).
const UNIT: usize = 1024;

/// How much of a body of unknown length is reserved at a time, as it arrives.
pub const GROWTH_STEP_BYTES: usize = 256 * 1024;

/// Bytes a body of `len` bytes reserves: the bytes and their parsed copy, and the overhead.
pub fn body_reservation(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(REQUEST_OVERHEAD_BYTES)
}

/// The part of the budget request bodies share.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total_units: usize,
}

/// Memory a request holds until dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

/// Nothing freed up within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMemory;

impl MemoryBudget {
    /// A pool of `bytes` shared by request bodies.
    pub fn new(bytes: usize) -> MemoryBudget {
        let total_units = bytes / UNIT;
        MemoryBudget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// Reserve `bytes` (one request's), waiting until `until` at the latest.
    pub async fn reserve(&self, bytes: usize, until: Instant) -> Result<Reservation, NoMemory> {
        let mut r = Reservation {
            permit: None,
            bytes: 0,
        };
        self.grow(&mut r, bytes, until).await?;
        Ok(r)
    }

    /// Add `bytes` to a reservation (a body longer than first reserved), waiting until `until`.
    pub async fn grow(
        &self,
        r: &mut Reservation,
        bytes: usize,
        until: Instant,
    ) -> Result<(), NoMemory> {
        // More than the whole pool can never fit: the body limit is checked against it at start,
        // so this only guards the arithmetic.
        let units = bytes.div_ceil(UNIT).min(self.total_units);
        let Ok(units) = u32::try_from(units) else {
            return Err(NoMemory);
        };
        let permit = match self.units.clone().try_acquire_many_owned(units) {
            Ok(p) => p,
            Err(_) => {
                tracing::info!(
                    bytes,
                    "request waiting for memory (HUB_MEMORY_BUDGET_BYTES is held by requests in flight)"
                );
                match tokio::time::timeout_at(until, self.units.clone().acquire_many_owned(units))
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => return Err(NoMemory),
                }
            }
        };
        tracing::debug!(bytes, "memory reserved");
        r.bytes += bytes;
        match &mut r.permit {
            Some(held) => held.merge(permit),
            None => r.permit = Some(permit),
        }
        Ok(())
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.units.available_permits() * UNIT
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_request_over_the_budget_waits_for_memory_to_free_up() {
        let pool = MemoryBudget::new(4 * 1024 * 1024);
        let later = Instant::now() + Duration::from_secs(30);
        let big = pool.reserve(3 * 1024 * 1024, later).await.unwrap();
        assert_eq!(pool.available(), 1024 * 1024);
        let p = pool.clone();
        let waiting = tokio::spawn(async move { p.reserve(2 * 1024 * 1024, later).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(big);
        let second = waiting.await.unwrap().unwrap();
        assert_eq!(second.bytes(), 2 * 1024 * 1024);
        assert_eq!(pool.available(), 2 * 1024 * 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_grows_and_gives_everything_back() {
        let pool = MemoryBudget::new(1024 * 1024);
        let later = Instant::now() + Duration::from_secs(1);
        let mut r = pool.reserve(GROWTH_STEP_BYTES, later).await.unwrap();
        pool.grow(&mut r, GROWTH_STEP_BYTES, later).await.unwrap();
        assert_eq!(r.bytes(), 2 * GROWTH_STEP_BYTES);
        assert_eq!(
            pool.grow(&mut r, 1024 * 1024, later).await.unwrap_err(),
            NoMemory
        );
        drop(r);
        assert_eq!(pool.available(), 1024 * 1024);
    }
}
