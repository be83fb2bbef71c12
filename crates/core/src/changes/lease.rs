//! The lease: a run holds its schedule's memory while it sends, written in the head so that lease
//! and memory move by one compare-and-swap. A run waits (bounded) while another holds a live
//! lease, renews its own every third of its length, and a lease found expired marks its run as
//! one that stopped without saving what it sent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::hash::Seed;
use super::head::{Dirty, Head, Lease};
use super::refused::{self, Refused};
use super::store::{ChangeStore, Generation, StoreError};

/// The first pause between two looks at a lease held by another run.
const FIRST_POLL: Duration = Duration::from_secs(1);
/// The longest pause between two looks.
const LAST_POLL: Duration = Duration::from_secs(5);

/// Wall-clock time, as leases are compared across instances; in tests it follows tokio's
/// (paused) clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    follows: Option<(DateTime<Utc>, Instant)>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock { follows: None }
    }

    /// Now, then moving as tokio's clock moves (paused and advanced in tests).
    pub fn following_tokio() -> Clock {
        Clock {
            follows: Some((Utc::now(), Instant::now())),
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match self.follows {
            None => Utc::now(),
            Some((wall, at)) => wall + Instant::now().duration_since(at),
        }
    }
}

/// The head as this run last wrote it.
pub(super) struct Held {
    /// Its generation.
    pub generation: Generation,
    /// Its content.
    pub head: Head,
    /// Another run took the lease: this run can no longer commit.
    pub lost: bool,
    /// The run committed or released: nothing more is written.
    pub ended: bool,
}

/// A run's hold on its scope's head.
pub(super) struct Holder {
    pub store: Arc<dyn ChangeStore>,
    pub scope: String,
    pub run_id: String,
    length: Duration,
    clock: Clock,
    pub held: Mutex<Held>,
    stop: CancellationToken,
}

/// How the lease was taken.
pub(super) struct Taken {
    /// The hold.
    pub holder: Arc<Holder>,
    /// The head as found (before this run's lease): what the run compares with.
    pub found: Head,
    /// Whether the head found could not be read (only a resend goes on then).
    pub head_was_damaged: bool,
}

/// What taking a lease needs.
pub(super) struct Ask<'a> {
    pub store: &'a Arc<dyn ChangeStore>,
    pub scope: &'a str,
    pub run_id: &'a str,
    pub length: Duration,
    pub clock: Clock,
    pub wait_until: Instant,
    /// A head that cannot be read is replaced (a resend) instead of refusing the run.
    pub replace_damaged: bool,
}

/// Take the scope's lease, waiting until `wait_until` while another run holds a live one.
pub(super) async fn take(ask: Ask<'_>) -> Result<Taken, Refused> {
    let place = ask.store.place();
    let started = Instant::now();
    let waited = || Instant::now().duration_since(started).as_secs();
    let mut poll = FIRST_POLL;
    loop {
        let (generation, found, head_was_damaged) = match ask.store.read_head(ask.scope).await {
            Err(e) => return Err(refused::unreachable(&place, e)),
            Ok(None) => (Generation::ABSENT, Head::new(Seed::random()), false),
            Ok(Some((g, bytes))) => match Head::parse(&bytes) {
                Ok(head) => (g, head, false),
                Err(_) if ask.replace_damaged => (g, Head::new(Seed::random()), true),
                Err(why) => return Err(refused::damaged_head(&place, &why)),
            },
        };
        let now = ask.clock.now();
        if let Some(lease) = found.live_lease(now) {
            if Instant::now() >= ask.wait_until {
                return Err(refused::busy(lease, waited()));
            }
            tracing::info!(holder = %lease.run_id, "change-only run waiting for another run of its schedule");
            tokio::time::sleep_until((Instant::now() + poll).min(ask.wait_until)).await;
            poll = (poll * 2).min(LAST_POLL);
            continue;
        }
        let mine = with_lease(&found, ask.run_id, now, ask.length);
        match ask
            .store
            .write_head(ask.scope, &mine.to_bytes(), generation)
            .await
        {
            Ok(generation) => {
                let holder = Arc::new(Holder {
                    store: ask.store.clone(),
                    scope: ask.scope.to_string(),
                    run_id: ask.run_id.to_string(),
                    length: ask.length,
                    clock: ask.clock,
                    held: Mutex::new(Held {
                        generation,
                        head: mine,
                        lost: false,
                        ended: false,
                    }),
                    stop: CancellationToken::new(),
                });
                return Ok(Taken {
                    holder,
                    found,
                    head_was_damaged,
                });
            }
            // Another run wrote first: look again.
            Err(StoreError::Conflict) if Instant::now() < ask.wait_until => continue,
            Err(StoreError::Conflict) => return Err(refused::contended(waited())),
            Err(e) => return Err(refused::unreachable(&place, e)),
        }
    }
}

/// The head with this run's lease. A lease found expired marks its run as stopped without
/// saving (unless an earlier one is marked already): what it sent is unknown.
fn with_lease(found: &Head, run_id: &str, now: DateTime<Utc>, length: Duration) -> Head {
    let mut mine = found.clone();
    if let (Some(dead), None) = (&found.lease, &found.dirty) {
        mine.dirty = Some(Dirty {
            run_id: dead.run_id.clone(),
            why: "its hold on the memory expired before it saved what it sent".into(),
        });
    }
    mine.lease = Some(Lease {
        run_id: run_id.to_string(),
        acquired_at: now,
        renewed_at: now,
        expires_at: now + length,
    });
    mine
}

impl Holder {
    /// Renew the lease every third of its length until the run ends or loses it.
    pub fn spawn_renewer(self: &Arc<Self>) {
        let holder = self.clone();
        tokio::spawn(async move {
            let every = holder.length / 3;
            loop {
                tokio::select! {
                    _ = holder.stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if !holder.renew().await {
                    return;
                }
            }
        });
    }

    /// Extend the lease; `false` once there is nothing more to renew.
    async fn renew(&self) -> bool {
        let mut held = self.held.lock().await;
        if held.ended || held.lost {
            return false;
        }
        let mut head = held.head.clone();
        let now = self.clock.now();
        if let Some(lease) = &mut head.lease {
            lease.renewed_at = now;
            lease.expires_at = now + self.length;
        }
        match self
            .store
            .write_head(&self.scope, &head.to_bytes(), held.generation)
            .await
        {
            Ok(generation) => {
                held.generation = generation;
                held.head = head;
                true
            }
            Err(StoreError::Conflict) => {
                tracing::warn!(run = %self.run_id, "another run of this schedule took over its memory: this run's sends will not be remembered");
                held.lost = true;
                false
            }
            Err(StoreError::Unavailable(e)) => {
                // The next renewal may get through; if none does, the lease expires and the
                // commit finds out.
                tracing::warn!(run = %self.run_id, error = %e, "the lease on the memory of sends could not be renewed");
                true
            }
        }
    }

    /// Stop renewing.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Give the lease back, without changing the memory; `dirty`: the run sent rows it does not
    /// save. Best effort: a lease not given back expires.
    pub async fn release(&self, dirty: Option<Dirty>) {
        self.stop();
        let mut held = self.held.lock().await;
        if held.ended || held.lost {
            return;
        }
        held.ended = true;
        let mut head = held.head.clone();
        head.lease = None;
        if dirty.is_some() {
            head.dirty = dirty;
        }
        if let Err(e) = self
            .store
            .write_head(&self.scope, &head.to_bytes(), held.generation)
            .await
        {
            tracing::warn!(run = %self.run_id, error = %e, "the lease on the memory of sends could not be given back (it expires)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_test_clock_follows_tokio_time() {
        let clock = Clock::following_tokio();
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now() - before, chrono::Duration::seconds(90));
    }

    #[test]
    fn an_expired_lease_found_marks_its_run_dirty_once() {
        let now = Utc::now();
        let mut found = Head::new(Seed(1));
        found.lease = Some(Lease {
            run_id: "dead".into(),
            acquired_at: now,
            renewed_at: now,
            expires_at: now,
        });
        let mine = with_lease(&found, "me", now, Duration::from_secs(90));
        assert_eq!(mine.dirty.as_ref().unwrap().run_id, "dead");
        assert_eq!(mine.lease.as_ref().unwrap().run_id, "me");
        let again = with_lease(&mine, "third", now, Duration::from_secs(90));
        assert_eq!(
            again.dirty.unwrap().run_id,
            "dead",
            "the first stop is kept"
        );
    }
}
