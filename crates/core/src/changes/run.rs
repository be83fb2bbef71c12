//! The façade every engine uses for a change-only run: [`Changes::begin`] takes the schedule's
//! lease and reads its memory, [`ChangeRun`] decides each row and learns which were delivered,
//! [`ChangeRun::commit`] saves the new memory and says what happened.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::base::{self, Plan};
use super::format::{Decoder, Encoder};
use super::hash::{Fingerprint, KeyHash, Seed};
use super::head::{kept_fields, Counts, Dirty, LastRun, SnapshotRef};
use super::lease::{self, Clock, Holder};
use super::memory::{Decision, DecisionCounts, Memory, Pending, Remembered};
use super::mode::SendMode;
use super::refused;
use super::store::{ChangeStore, StoreError};
use crate::capacity::{MemoryBudget, Reservation};

pub use super::refused::{Refused, RefusedKind};
pub use super::scope::Scope;
pub use super::settings::ChangeSettings;

/// A run never waits for another closer than this to its own answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(60);

/// The hub's memory of sends (None in `ActionContext` when the hub has no store: then the form
/// does not offer the choice, and an execute asking for it fails with a clear message).
pub struct Changes {
    store: Arc<dyn ChangeStore>,
    settings: ChangeSettings,
    clock: Clock,
    budget: Option<MemoryBudget>,
}

/// What a run of one schedule starts with.
pub struct Start<'a> {
    /// Whose memory.
    pub scope: Scope,
    /// `Changed` or `Resend` (`Every` never uses the memory).
    pub mode: SendMode,
    /// The run id of the ledger (`ctx.meta.request_id`).
    pub run_id: &'a str,
    /// What the rows mean.
    pub shape: Shape,
    /// The run waits for another run of the schedule until then at most ([`Changes::wait_until`]).
    pub wait_until: Instant,
    /// Track events are appended downstream (a resend duplicates them); Identify, Group and
    /// declared tables are upserts by key. Decides what a run does after one that died holding
    /// the lease: upserts send every row (announced), appends compare with the last saved memory.
    pub append_only: bool,
}

/// What the rows mean: when `key` differs from the last run's, keys are not comparable and the
/// run sends every row (announced) and remembers anew; when only `fields` differ, the memory is
/// used (every row whose content changed is sent) and the answer names the fields added/removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// What identifies a row, in words: "user_id: users.id, anonymous id: users.anon".
    pub key: String,
    /// The delivered names (traits, properties, columns), any order.
    pub fields: Vec<String>,
}

/// What a change-only run did, for the answer and the run's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSummary {
    /// `Changed` or `Resend`.
    pub mode: SendMode,
    /// The decisions: new, changed, unchanged, unkeyed, repeated.
    pub counts: DecisionCounts,
    /// Keys of the last run no longer in the result (`None`: the result was not read to its end).
    pub keys_gone: Option<u64>,
    /// `first_run`, `resend`, `key_changed`, `lease_broken` or the base snapshot's run id.
    pub base: String,
    /// `Err`: why the memory was not saved (the answer is then `success: false`).
    pub saved: Result<(), String>,
    /// Sentences for the answer: first run, fields changed, key changed, keys gone…
    pub notes: Vec<String>,
}

impl Changes {
    /// The memory of sends in `store`.
    pub fn new(store: Arc<dyn ChangeStore>, settings: ChangeSettings) -> Changes {
        Changes {
            store,
            settings,
            clock: Clock::system(),
            budget: None,
        }
    }

    /// Reserve each run's memory from the instance's budget (waiting as a request body does).
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Changes {
        self.budget = Some(budget);
        self
    }

    /// Read leases' times from `clock` (tests: [`Clock::following_tokio`]).
    pub fn with_clock(mut self, clock: Clock) -> Changes {
        self.clock = clock;
        self
    }

    /// Where the memory lives, for messages.
    pub fn place(&self) -> String {
        self.store.place()
    }

    /// Until when a run with `time_left` before its answer waits for another run of its
    /// schedule: `HUB_CHANGE_WAIT_SECS`, and never closer than a minute to the answer.
    pub fn wait_until(&self, time_left: Duration) -> Instant {
        Instant::now()
            + self
                .settings
                .wait
                .min(time_left.saturating_sub(ANSWER_MARGIN))
    }

    /// Begin a run of `start.mode` (Changed or Resend) for one schedule: take the scope's lease
    /// (waiting, bounded by `start.wait_until`, while another run of it holds one), read its
    /// snapshot. Err: nothing may be sent (busy, damaged or unreachable memory), with the message
    /// for Looker and the ledger's error kind.
    pub async fn begin(&self, start: Start<'_>) -> Result<ChangeRun, Refused> {
        if !start.mode.remembers() || start.scope.scheduled_plan_id.is_empty() {
            return Err(refused::not_remembering());
        }
        let scope = start.scope.id();
        let taken = lease::take(lease::Ask {
            store: &self.store,
            scope: &scope,
            run_id: start.run_id,
            length: self.settings.lease,
            clock: self.clock,
            wait_until: start.wait_until,
            replace_damaged: start.mode == SendMode::Resend,
        })
        .await?;
        let plan = base::plan(
            &taken.found,
            &base::Wanted {
                resend: start.mode == SendMode::Resend,
                append_only: start.append_only,
                key: &start.shape.key,
                fields: &start.shape.fields,
            },
        );
        let seed = taken.holder.held.lock().await.head.seed();
        let loaded = match seed {
            Ok(seed) => self
                .load(&taken, &plan, start.wait_until)
                .await
                .map(|l| (seed, l)),
            Err(why) => Err(refused::damaged_head(&self.place(), &why)),
        };
        let (seed, (memory, room)) = match loaded {
            Ok(loaded) => loaded,
            Err(refusal) => {
                // Nothing was sent: the memory stays as it was.
                taken.holder.release(None).await;
                return Err(refusal);
            }
        };
        if taken.head_was_damaged {
            tracing::warn!(place = %self.place(), "the memory of sends of a schedule was damaged: a resend starts it anew");
        }
        taken.holder.spawn_renewer();
        Ok(ChangeRun {
            holder: taken.holder,
            mode: start.mode,
            seed,
            memory,
            plan,
            shape: start.shape,
            _room: room,
            done: false,
        })
    }

    /// Reserve room for the memory and read the snapshot the plan compares with.
    async fn load(
        &self,
        taken: &lease::Taken,
        plan: &Plan,
        wait_until: Instant,
    ) -> Result<(Memory, Option<Reservation>), Refused> {
        let snapshot = plan.reads_snapshot().and(taken.found.snapshot.as_ref());
        let bytes = Memory::bytes_for(snapshot.map_or(0, |s| s.info.records));
        let room = match &self.budget {
            None => None,
            Some(budget) => Some(
                budget
                    .reserve(bytes, wait_until)
                    .await
                    .map_err(|_| refused::no_room(bytes))?,
            ),
        };
        let memory = match snapshot {
            None => Memory::empty(),
            Some(s) => self.read_snapshot(&taken.holder.scope, s).await?,
        };
        Ok((memory, room))
    }

    /// The memory a snapshot holds, every part checked. Each part is decoded while the next is
    /// read (the store reads off this thread).
    async fn read_snapshot(&self, scope: &str, s: &SnapshotRef) -> Result<Memory, Refused> {
        let place = self.place();
        let damaged = |e: super::format::Damaged| refused::damaged_snapshot(&place, &s.name, &e.0);
        let mut decoder = Decoder::new(s.info).map_err(damaged)?;
        let mut part = self.read_part(scope, s, 0).await?;
        for seq in 1..s.info.parts {
            let (next, fed) =
                tokio::join!(self.read_part(scope, s, seq), async { decoder.feed(&part) });
            fed.map_err(damaged)?;
            part = next?;
        }
        decoder.feed(&part).map_err(damaged)?;
        decoder.finish().map_err(damaged)
    }

    /// Part `seq` of a snapshot; missing or unreachable, the refusal.
    async fn read_part(&self, scope: &str, s: &SnapshotRef, seq: u32) -> Result<Vec<u8>, Refused> {
        match self.store.get_part(scope, &s.name, seq).await {
            Ok(Some(part)) => Ok(part),
            Ok(None) => Err(refused::missing_part(
                &self.place(),
                &s.name,
                seq,
                s.info.parts,
            )),
            Err(e) => Err(refused::unreachable(&self.place(), e)),
        }
    }
}

/// One change-only run of one schedule, holding its lease until [`ChangeRun::commit`]. Dropped
/// without a commit (a panic, a cancelled execute), it gives the lease back marking the memory
/// as not knowing what this run sent.
pub struct ChangeRun {
    holder: Arc<Holder>,
    mode: SendMode,
    seed: Seed,
    memory: Memory,
    plan: Plan,
    shape: Shape,
    _room: Option<Reservation>,
    done: bool,
}

impl ChangeRun {
    /// Hash keys and contents with this.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// Bring where these keys are remembered into cache before their rows are decided (see
    /// [`Memory::warm`]).
    pub fn warm(&self, keys: impl Iterator<Item = KeyHash>) {
        self.memory.warm(keys)
    }

    /// Decide one row, before its event or row is built.
    pub fn decide(&mut self, key: Option<KeyHash>, fp: Fingerprint) -> Decision {
        self.memory.decide(key, fp)
    }

    /// The row was delivered (accepted by the data plane / written).
    pub fn confirm(&mut self, p: Pending) {
        self.memory.confirm(p)
    }

    /// Rows delivered together (a batch accepted, a chunk written).
    pub fn confirm_all(&mut self, pending: &[Pending]) {
        self.memory.confirm_all(pending)
    }

    /// The row was refused, or never sent.
    pub fn forget(&mut self, p: Pending) {
        self.memory.forget(p)
    }

    /// The decisions so far.
    pub fn counts(&self) -> DecisionCounts {
        self.memory.counts()
    }

    /// Save what was confirmed (a new snapshot + head CAS, releasing the lease); the counts and
    /// sentences for the answer. `read_whole`: the result was read to its end.
    pub async fn commit(mut self, read_whole: bool) -> ChangeSummary {
        let counts = self.memory.counts();
        let remembered = std::mem::replace(&mut self.memory, Memory::empty()).finish(read_whole);
        let keys_gone = remembered.keys_gone;
        let saved = self.save(remembered, counts, keys_gone).await;
        self.done = true;
        ChangeSummary {
            mode: self.mode,
            counts,
            keys_gone,
            base: self.plan.word(),
            notes: self.plan.notes(&counts, keys_gone, saved.is_ok()),
            saved,
        }
    }

    /// Write the snapshot, then swap the head to it (releasing the lease), then delete the one
    /// it replaces.
    async fn save(
        &self,
        remembered: Remembered,
        counts: DecisionCounts,
        keys_gone: Option<u64>,
    ) -> Result<(), String> {
        let h = &self.holder;
        if h.held.lock().await.lost {
            h.stop();
            return Err(took_over());
        }
        // The lease is renewed meanwhile: a large snapshot may take a while.
        let mut encoder = Encoder::new(remembered);
        let mut seq = 0;
        while let Some(part) = encoder.next_part() {
            if let Err(e) = h.store.put_part(&h.scope, &h.run_id, seq, part).await {
                h.release(Some(self.unsaved())).await;
                return Err(not_saved(&h.store.place(), &e));
            }
            seq += 1;
        }
        h.stop();
        let mut held = h.held.lock().await;
        if held.lost {
            return Err(took_over());
        }
        let previous = held.head.snapshot.as_ref().map(|s| s.name.clone());
        delete_orphans(h, previous.as_deref()).await;
        let (fields, field_count, fields_hash) = kept_fields(&self.shape.fields);
        let mut head = held.head.clone();
        head.snapshot = Some(SnapshotRef {
            name: h.run_id.clone(),
            info: encoder.info(),
            shape_key: self.shape.key.clone(),
            fields,
            field_count,
            fields_hash,
        });
        head.last_run = Some(LastRun {
            run_id: h.run_id.clone(),
            mode: self.mode.as_str().into(),
            counts: Counts::from(counts),
            keys_gone,
            finished_at: Utc::now(),
        });
        head.lease = None;
        head.dirty = None;
        match h
            .store
            .write_head(&h.scope, &head.to_bytes(), held.generation)
            .await
        {
            Ok(generation) => {
                held.generation = generation;
                held.head = head;
                held.ended = true;
            }
            Err(StoreError::Conflict) => {
                held.lost = true;
                return Err(took_over());
            }
            Err(e) => {
                drop(held);
                h.release(Some(self.unsaved())).await;
                return Err(not_saved(&h.store.place(), &e));
            }
        }
        drop(held);
        if let Some(previous) = previous.filter(|p| *p != h.run_id) {
            delete_snapshot(h, &previous).await;
        }
        Ok(())
    }

    fn unsaved(&self) -> Dirty {
        Dirty {
            run_id: self.holder.run_id.clone(),
            why: "it could not save what it sent".into(),
        }
    }
}

impl Drop for ChangeRun {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.holder.stop();
        let holder = self.holder.clone();
        let dirty = Dirty {
            run_id: holder.run_id.clone(),
            why: "it stopped before saving what it sent".into(),
        };
        // Best effort: without a runtime (or if this fails) the lease expires, and the next run
        // finds it so.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { holder.release(Some(dirty)).await });
        }
    }
}

fn took_over() -> String {
    "another run of this schedule took over its memory while this run was sending, so what this \
     run sent was not remembered; the rows sent now will be sent again next run"
        .into()
}

fn not_saved(place: &str, e: &StoreError) -> String {
    format!(
        "the memory of what this run sent could not be saved ({place}: {e}); the rows sent now \
         will be sent again next run"
    )
}

/// Delete snapshots left by runs that stopped before committing (every one but the current and
/// this run's), while this run holds the lease: no other run writes parts then.
async fn delete_orphans(h: &Holder, current: Option<&str>) {
    match h.store.snapshots(&h.scope).await {
        Ok(names) => {
            for name in names {
                if Some(name.as_str()) != current && name != h.run_id {
                    delete_snapshot(h, &name).await;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "the snapshots of a schedule's memory could not be listed (left ones stay until a later run)")
        }
    }
}

/// Delete a snapshot no head names; a failure only leaves it for a later run.
async fn delete_snapshot(h: &Holder, name: &str) {
    if let Err(e) = h.store.delete_snapshot(&h.scope, name).await {
        tracing::warn!(snapshot = %name, error = %e, "a replaced snapshot of a schedule's memory could not be deleted (a later run tries again)");
    }
}

#[cfg(test)]
mod tests;
