//! Query-execute slots: at most `HUB_QUERY_EXECUTES` query executes read results at once on an
//! instance, as many more wait for a slot in arrival order, and any beyond that are answered at
//! once. Cell executes never take a slot, so a burst of schedules cannot make a click wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The slots of one instance.
#[derive(Debug)]
pub struct QuerySlots {
    running: Arc<Semaphore>,
    size: usize,
    waiting: AtomicUsize,
}

/// A slot held by a running query execute (freed when dropped).
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Why a query execute got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// As many executes as there are slots were already waiting.
    QueueFull,
    /// No slot freed up before the execute's admission wait ended.
    WaitedTooLong,
}

/// Counts a waiting execute until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl QuerySlots {
    /// `size` slots (at least one), and as many places to wait.
    pub fn new(size: usize) -> QuerySlots {
        let size = size.max(1);
        QuerySlots {
            running: Arc::new(Semaphore::new(size)),
            size,
            waiting: AtomicUsize::new(0),
        }
    }

    /// How many query executes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A slot now, or after waiting in line until `until` at the latest.
    pub async fn admit(&self, until: Instant) -> Result<Slot, NoSlot> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        let queued = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.size).then_some(n + 1)
            });
        if queued.is_err() {
            return Err(NoSlot::QueueFull);
        }
        let _waiting = Waiting(&self.waiting);
        tracing::info!(
            slots = self.size,
            "query execute waiting for a slot (every query execute slot is taken)"
        );
        match tokio::time::timeout_at(until, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            // The semaphore is never closed; a timeout is the only way here.
            _ => Err(NoSlot::WaitedTooLong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn executes_over_the_slots_wait_in_line_and_beyond_the_line_are_refused() {
        let slots = Arc::new(QuerySlots::new(2));
        let later = Instant::now() + Duration::from_secs(60);
        let a = slots.admit(later).await.unwrap();
        let _b = slots.admit(later).await.unwrap();
        let s = slots.clone();
        let c = tokio::spawn(async move { s.admit(later).await });
        let s = slots.clone();
        let d = tokio::spawn(async move { s.admit(later).await });
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(slots.admit(later).await.unwrap_err(), NoSlot::QueueFull);
        drop(a);
        let _c = c.await.unwrap().unwrap();
        // `d` still waits behind the slots `_b` and `_c` hold, until its time is up.
        assert_eq!(d.await.unwrap().unwrap_err(), NoSlot::WaitedTooLong);
        assert_eq!(slots.waiting.load(Ordering::SeqCst), 0);
    }
}
