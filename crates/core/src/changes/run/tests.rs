//! The façade over the SQLite store: runs one after another, runs that overlap, runs that stop.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::*;
use crate::changes::hash::{ContentHasher, KeyBuilder, NameHash};
use crate::changes::store::sqlite::SqliteStore;
use crate::changes::store::Generation;

/// The SQLite store with faults to switch on.
struct Faulty {
    inner: SqliteStore,
    heads_fail: AtomicBool,
    reads_fail: AtomicBool,
    parts_damaged: AtomicBool,
    /// A run whose writes of its lease hang until [`Faulty::unstall`].
    stalled: std::sync::Mutex<Option<String>>,
    unstalled: tokio::sync::Notify,
}

impl Faulty {
    fn stall(&self, run: &str) {
        *self.stalled.lock().unwrap() = Some(run.into());
    }

    fn unstall(&self) {
        *self.stalled.lock().unwrap() = None;
        self.unstalled.notify_waiters();
    }

    fn stalls(&self, head: &[u8]) -> bool {
        let holder = crate::changes::head::Head::parse(head)
            .ok()
            .and_then(|h| h.lease)
            .map(|l| l.run_id);
        holder.is_some() && *self.stalled.lock().unwrap() == holder
    }
}

fn down() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

#[async_trait]
impl ChangeStore for Faulty {
    fn place(&self) -> String {
        "test-store".into()
    }
    async fn read_head(&self, scope: &str) -> Result<Option<(Generation, Vec<u8>)>, StoreError> {
        if self.reads_fail.load(Ordering::SeqCst) {
            return Err(down());
        }
        self.inner.read_head(scope).await
    }
    async fn write_head(
        &self,
        scope: &str,
        head: &[u8],
        expected: Generation,
    ) -> Result<Generation, StoreError> {
        if self.heads_fail.load(Ordering::SeqCst) {
            return Err(down());
        }
        if self.stalls(head) {
            self.unstalled.notified().await;
        }
        self.inner.write_head(scope, head, expected).await
    }
    async fn put_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.inner.put_part(scope, snapshot, seq, bytes).await
    }
    async fn get_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut part = self.inner.get_part(scope, snapshot, seq).await?;
        if self.parts_damaged.load(Ordering::SeqCst) {
            if let Some(last) = part.as_mut().and_then(|p| p.last_mut()) {
                *last ^= 0x10;
            }
        }
        Ok(part)
    }
    async fn snapshots(&self, scope: &str) -> Result<Vec<String>, StoreError> {
        self.inner.snapshots(scope).await
    }
    async fn delete_snapshot(&self, scope: &str, snapshot: &str) -> Result<(), StoreError> {
        self.inner.delete_snapshot(scope, snapshot).await
    }
}

struct Bench {
    _dir: tempfile::TempDir,
    store: Arc<Faulty>,
    changes: Arc<Changes>,
}

impl Bench {
    fn new() -> Bench {
        Bench::with_lease(Duration::from_secs(90))
    }

    fn with_lease(lease: Duration) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Faulty {
            inner: SqliteStore::open(&dir.path().join("c.sqlite")).unwrap(),
            heads_fail: AtomicBool::new(false),
            reads_fail: AtomicBool::new(false),
            parts_damaged: AtomicBool::new(false),
            stalled: Default::default(),
            unstalled: Default::default(),
        });
        let mut settings = ChangeSettings::new(dir.path().join("c.sqlite"));
        settings.lease = lease;
        let changes = Changes::new(store.clone(), settings).with_clock(Clock::following_tokio());
        Bench {
            _dir: dir,
            store,
            changes: Arc::new(changes),
        }
    }
}

fn scope(plan: &str) -> Scope {
    Scope {
        looker_instance: "looker-1".into(),
        scheduled_plan_id: plan.into(),
        action: "rudder_event".into(),
        destination: "source:crm".into(),
    }
}

fn shape(key: &str, fields: &[&str]) -> Shape {
    Shape {
        key: key.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
    }
}

/// How a test run goes.
struct Go<'a> {
    plan: &'a str,
    mode: SendMode,
    shape: Shape,
    append_only: bool,
    wait: Duration,
}

fn go(plan: &str) -> Go<'_> {
    Go {
        plan,
        mode: SendMode::Changed,
        shape: shape("users.id", &["plan"]),
        append_only: false,
        wait: Duration::from_secs(60),
    }
}

async fn begin(changes: &Changes, run_id: &str, g: Go<'_>) -> Result<ChangeRun, Refused> {
    changes
        .begin(Start {
            scope: scope(g.plan),
            mode: g.mode,
            run_id,
            shape: g.shape,
            wait_until: Instant::now() + g.wait,
            append_only: g.append_only,
        })
        .await
}

/// Decide rows `(key, content)` ("" as key: unkeyed); the keys sent.
fn decide(run: &mut ChangeRun, rows: &[(&str, &str)]) -> Vec<(String, Option<Pending>)> {
    let seed = run.seed();
    let name = NameHash::of(seed, b"plan");
    let mut key = KeyBuilder::new();
    let mut sent = Vec::new();
    for (k, content) in rows {
        key.clear();
        key.part((!k.is_empty()).then_some(k.as_bytes()));
        let mut c = ContentHasher::new(seed);
        c.pair(name, content.as_bytes());
        let d = run.decide(key.finish(seed), c.finish());
        if d.sends() {
            sent.push((k.to_string(), d.pending()));
        }
    }
    sent
}

/// A whole run: decide, deliver all but `refused`, commit; the keys sent and the summary.
async fn run_once(
    changes: &Changes,
    run_id: &str,
    g: Go<'_>,
    rows: &[(&str, &str)],
    refused: &[&str],
) -> (Vec<String>, ChangeSummary) {
    let mut run = begin(changes, run_id, g).await.expect("begins");
    let sent = decide(&mut run, rows);
    for (k, p) in &sent {
        if let Some(p) = *p {
            if refused.contains(&k.as_str()) {
                run.forget(p);
            } else {
                run.confirm(p);
            }
        }
    }
    let summary = run.commit(true).await;
    (sent.into_iter().map(|(k, _)| k).collect(), summary)
}

const ROWS: [(&str, &str); 4] = [("u1", "free"), ("u2", "pro"), ("u3", "free"), ("u4", "pro")];

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_first_run_sends_every_row_and_the_next_only_what_changed() {
    let b = Bench::new();
    let (sent, s) = run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    assert_eq!(sent, keys(&["u1", "u2", "u3", "u4"]));
    assert_eq!(
        (s.counts.new, s.base.as_str(), s.saved.clone()),
        (4, "first_run", Ok(()))
    );
    assert_eq!(s.keys_gone, Some(0));
    assert_eq!(
        s.notes,
        ["First change-only run of this schedule: every row was sent and remembered."]
    );

    let next = [
        ("u1", "free"),
        ("u2", "team"),
        ("u4", "pro"),
        ("u5", "free"),
    ];
    let (sent, s) = run_once(&b.changes, "r2", go("1"), &next, &[]).await;
    assert_eq!(sent, keys(&["u2", "u5"]));
    let c = s.counts;
    assert_eq!((c.new, c.changed, c.unchanged), (1, 1, 2));
    assert_eq!((s.base.as_str(), s.keys_gone), ("r1", Some(1)));
    assert_eq!(
        s.notes,
        ["1 key of the last run is no longer in the result (nothing was deleted downstream)."]
    );
    // The first run's snapshot is replaced, not kept.
    assert_eq!(b.store.snapshots(&scope("1").id()).await.unwrap(), ["r2"]);

    let (sent, s) = run_once(&b.changes, "r3", go("1"), &next, &[]).await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!((s.counts.unchanged, s.saved), (4, Ok(())));
}

#[tokio::test(start_paused = true)]
async fn rows_refused_are_sent_again_next_run_and_unkeyed_rows_every_run() {
    let b = Bench::new();
    let rows = [("u1", "a"), ("u2", "b"), ("", "c"), ("u3", "d")];
    let (_, s) = run_once(&b.changes, "r1", go("1"), &rows, &["u2"]).await;
    assert_eq!(s.counts.unkeyed, 1);
    assert!(s
        .notes
        .contains(&"1 row has no key: it is sent on every run.".to_string()));
    let (sent, _) = run_once(&b.changes, "r2", go("1"), &rows, &[]).await;
    assert_eq!(sent, keys(&["u2", ""]));
}

#[tokio::test(start_paused = true)]
async fn a_resend_sends_every_row_and_the_memory_starts_anew() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    let resend = Go {
        mode: SendMode::Resend,
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r2", resend, &ROWS[..2], &[]).await;
    assert_eq!(sent, keys(&["u1", "u2"]));
    assert_eq!((s.mode, s.base.as_str()), (SendMode::Resend, "resend"));
    assert!(s.notes[0].starts_with("Resend everything: every row was sent and remembered"));
    // The memory is what the resend delivered: u3 and u4 are new again.
    let (sent, _) = run_once(&b.changes, "r3", go("1"), &ROWS, &[]).await;
    assert_eq!(sent, keys(&["u3", "u4"]));
}

#[tokio::test(start_paused = true)]
async fn a_changed_key_sends_every_row_and_changed_fields_are_named() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    let by_email = Go {
        shape: shape("users.email", &["plan"]),
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r2", by_email, &ROWS, &[]).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(s.base, "key_changed");
    assert_eq!(
        s.notes,
        [
            "What identifies a row changed (from users.id to users.email), so every row was sent \
          and the memory starts anew."
        ]
    );
    let more_fields = Go {
        shape: shape("users.email", &["plan", "users.region"]),
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r3", more_fields, &ROWS, &[]).await;
    // The content hashed here did not change: the memory was used.
    assert!(sent.is_empty());
    assert_eq!(s.base, "r2");
    assert_eq!(
        s.notes,
        [
            "The result's fields changed since the last run (added: users.region): every row \
          whose delivered content changed was sent."
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn two_schedules_remember_independently() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    let (sent, s) = run_once(&b.changes, "r2", go("2"), &ROWS, &[]).await;
    assert_eq!((sent.len(), s.base.as_str()), (4, "first_run"));
    let (sent, _) = run_once(&b.changes, "r3", go("1"), &ROWS, &[]).await;
    assert!(sent.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_damaged_snapshot_refuses_the_run_and_a_resend_repairs_it() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    b.store.parts_damaged.store(true, Ordering::SeqCst);
    let refusal = begin(&b.changes, "r2", go("1")).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::State);
    assert_eq!(
        refusal.message,
        "The memory of what this schedule sent (test-store, snapshot r1) is damaged (its \
         checksum does not match), so nothing was sent. Choose \"Resend everything\" for one run \
         to send every row and start the memory anew."
    );
    // The refused run gave its lease back: a resend does not wait.
    let resend = Go {
        mode: SendMode::Resend,
        wait: Duration::ZERO,
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r3", resend, &ROWS, &[]).await;
    assert_eq!((sent.len(), s.saved), (4, Ok(())));
    b.store.parts_damaged.store(false, Ordering::SeqCst);
    let (sent, _) = run_once(&b.changes, "r4", go("1"), &ROWS, &[]).await;
    assert!(sent.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missing_part_or_an_unreachable_store_refuses_the_run() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    b.store
        .delete_snapshot(&scope("1").id(), "r1")
        .await
        .unwrap();
    let refusal = begin(&b.changes, "r2", go("1")).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::State);
    assert!(
        refusal
            .message
            .starts_with("The memory of what this schedule sent (test-store, snapshot r1) is missing part 1 of 1, so nothing was sent."),
        "{}",
        refusal.message
    );
    b.store.reads_fail.store(true, Ordering::SeqCst);
    let refusal = begin(&b.changes, "r3", go("1")).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::State);
    assert_eq!(
        refusal.message,
        "The action hub cannot reach its memory of what this schedule sent (test-store: \
         connection refused), so nothing was sent. Ask the hub's admin, or choose \"Send every \
         row\" for this run."
    );
}

#[tokio::test(start_paused = true)]
async fn a_damaged_head_refuses_a_changed_run_but_not_a_resend() {
    let b = Bench::new();
    let id = scope("1").id();
    b.store
        .write_head(&id, b"not json", Generation::ABSENT)
        .await
        .unwrap();
    let refusal = begin(&b.changes, "r1", go("1")).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::State);
    assert!(
        refusal
            .message
            .contains("is damaged (it is not a head's JSON"),
        "{}",
        refusal.message
    );
    let resend = Go {
        mode: SendMode::Resend,
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r2", resend, &ROWS, &[]).await;
    assert_eq!((sent.len(), s.saved), (4, Ok(())));
}

#[tokio::test(start_paused = true)]
async fn a_second_run_waits_for_the_first_and_uses_what_it_saved() {
    let b = Bench::new();
    let mut first = begin(&b.changes, "r1", go("1")).await.unwrap();
    let changes = b.changes.clone();
    let patient = Go {
        wait: Duration::from_secs(600),
        ..go("1")
    };
    let second = tokio::spawn(async move { begin(&changes, "r2", patient).await });
    // Time passes (the first run's lease is renewed meanwhile): the second keeps waiting.
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert!(!second.is_finished());
    for (_, p) in decide(&mut first, &ROWS) {
        first.confirm(p.unwrap());
    }
    assert_eq!(first.commit(true).await.saved, Ok(()));
    let mut second = second.await.unwrap().expect("proceeds after the first");
    assert!(
        decide(&mut second, &ROWS).is_empty(),
        "the first run's memory is used"
    );
    let s = second.commit(true).await;
    assert_eq!((s.base.as_str(), s.counts.unchanged), ("r1", 4));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_waited_long_enough_is_refused_busy() {
    let b = Bench::new();
    let first = begin(&b.changes, "r1", go("1")).await.unwrap();
    let short = Go {
        wait: Duration::from_secs(7),
        ..go("1")
    };
    let refusal = begin(&b.changes, "r2", short).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::Busy);
    assert!(
        refusal
            .message
            .starts_with("Nothing was sent: run r1 of this schedule has been sending since "),
        "{}",
        refusal.message
    );
    assert!(
        refusal.message.ends_with(
            "and this run waited 7 s for it. The next run will send every change since the last \
             completed run."
        ),
        "{}",
        refusal.message
    );
    // The refused run changed nothing: the first commits.
    assert_eq!(first.commit(true).await.saved, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_lease_was_taken_over_does_not_save() {
    let b = Bench::with_lease(Duration::from_secs(3));
    let mut stalled = begin(&b.changes, "r1", go("1")).await.unwrap();
    for (_, p) in decide(&mut stalled, &ROWS) {
        stalled.confirm(p.unwrap());
    }
    // Its renewal hangs (a stalled instance) until its lease expires; then another run takes
    // the memory over.
    b.store.stall("r1");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (sent, s) = run_once(&b.changes, "r2", go("1"), &ROWS[..2], &[]).await;
    assert_eq!(sent, keys(&["u1", "u2"]));
    assert_eq!(s.base, "lease_broken");
    assert_eq!(
        s.notes[0],
        "The previous run r1 stopped without saving what it sent, so every row was sent."
    );
    b.store.unstall();
    let s = stalled.commit(true).await;
    assert_eq!(
        s.saved,
        Err(
            "another run of this schedule took over its memory while this run was sending, so \
             what this run sent was not remembered; the rows sent now will be sent again next run"
                .into()
        )
    );
    assert_eq!(
        s.notes,
        ["First change-only run of this schedule: every row was sent."],
        "nothing claims it was remembered"
    );
    // The memory is the second run's.
    let (sent, s) = run_once(&b.changes, "r3", go("1"), &ROWS, &[]).await;
    assert_eq!((sent, s.base.as_str()), (keys(&["u3", "u4"]), "r2"));
    let left: BTreeSet<String> = b
        .store
        .snapshots(&scope("1").id())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        left,
        ["r3".to_string()].into(),
        "the stalled run's parts were cleaned up"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_dropped_run_upserts_send_every_row_and_appends_compare() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    let mut dropped = begin(&b.changes, "r2", go("1")).await.unwrap();
    decide(&mut dropped, &[("u1", "changed")]);
    drop(dropped);
    let appends = Go {
        append_only: true,
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r3", appends, &ROWS, &[]).await;
    assert!(
        sent.is_empty(),
        "an append run compares with the saved memory"
    );
    assert_eq!(s.base, "r1");
    assert_eq!(
        s.notes,
        [
            "The previous run r2 stopped without saving what it sent: events it sent may be sent \
          again by this run."
        ]
    );

    let mut dropped = begin(&b.changes, "r4", go("1")).await.unwrap();
    decide(&mut dropped, &[("u1", "changed")]);
    drop(dropped);
    let (sent, s) = run_once(&b.changes, "r5", go("1"), &ROWS, &[]).await;
    assert_eq!(sent.len(), 4, "an upsert run sends every row");
    assert_eq!(
        (s.base.as_str(), s.notes[0].as_str()),
        (
            "lease_broken",
            "The previous run r4 stopped without saving what it sent, so every row was sent."
        )
    );
    let (sent, s) = run_once(&b.changes, "r6", go("1"), &ROWS, &[]).await;
    assert!(sent.is_empty());
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[tokio::test(start_paused = true)]
async fn a_run_without_room_in_the_memory_budget_is_refused_and_frees_the_lease() {
    let b = Bench::new();
    let budget = MemoryBudget::new(8 << 20);
    let _held = budget.reserve(6 << 20, Instant::now()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tight = Changes::new(
        b.store.clone(),
        ChangeSettings::new(dir.path().join("unused")),
    )
    .with_clock(Clock::following_tokio())
    .with_memory_budget(budget);
    let refusal = begin(&tight, "r1", go("1")).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::Capacity);
    assert!(
        refusal.message.contains("the 4 MiB this schedule's memory"),
        "{}",
        refusal.message
    );
    let now = Go {
        wait: Duration::ZERO,
        ..go("1")
    };
    begin(&b.changes, "r2", now)
        .await
        .expect("the lease was given back");
}

#[tokio::test(start_paused = true)]
async fn send_every_row_never_begins() {
    let b = Bench::new();
    let every = Go {
        mode: SendMode::Every,
        ..go("1")
    };
    let refusal = begin(&b.changes, "r1", every).await.err().unwrap();
    assert_eq!(refusal.error_kind, RefusedKind::Internal);
    assert_eq!(b.store.read_head(&scope("1").id()).await.unwrap(), None);
}

#[test]
fn the_wait_ends_a_minute_before_the_answer_at_the_latest() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let b = Bench::new();
        let now = Instant::now();
        assert_eq!(
            b.changes.wait_until(Duration::from_secs(870)),
            now + Duration::from_secs(300)
        );
        assert_eq!(
            b.changes.wait_until(Duration::from_secs(100)),
            now + Duration::from_secs(40)
        );
        assert_eq!(b.changes.wait_until(Duration::from_secs(30)), now);
    });
}

#[test]
fn memory_is_reserved_at_8_25_bytes_a_key_and_4_mib() {
    assert_eq!(memory_bytes(0), 4 << 20);
    assert_eq!(memory_bytes(1_000_000), 8_250_000 + (4 << 20));
}

#[tokio::test(start_paused = true)]
async fn a_commit_the_store_refuses_is_not_saved_and_the_next_run_sends_every_row() {
    let b = Bench::new();
    run_once(&b.changes, "r1", go("1"), &ROWS, &[]).await;
    let mut run = begin(&b.changes, "r2", go("1")).await.unwrap();
    for (_, p) in decide(&mut run, &[("u1", "changed")]) {
        run.confirm(p.unwrap());
    }
    b.store.heads_fail.store(true, Ordering::SeqCst);
    let s = run.commit(true).await;
    assert_eq!(
        s.saved,
        Err(
            "the memory of what this run sent could not be saved (test-store: connection \
             refused); the rows sent now will be sent again next run"
                .into()
        )
    );
    b.store.heads_fail.store(false, Ordering::SeqCst);
    // Its lease could not be given back either: the next run waits for it to expire.
    let patient = Go {
        wait: Duration::from_secs(600),
        ..go("1")
    };
    let (sent, s) = run_once(&b.changes, "r3", patient, &ROWS, &[]).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(s.base, "lease_broken");
}

#[tokio::test]
async fn an_actions_context_carries_the_memory_of_sends() {
    let dir = tempfile::tempdir().unwrap();
    let plain = crate::actions::testing::StandIns::new(&dir.path().join("s.sqlite"), &[]);
    assert!(plain.ctx().changes.is_none());
    let stand_ins = crate::actions::testing::StandIns::new(&dir.path().join("t.sqlite"), &[])
        .with_changes(&dir.path().join("c.sqlite"));
    let ctx = stand_ins.ctx();
    let changes = ctx.changes.expect("the memory of sends");
    let (sent, s) = run_once(changes, &ctx.meta.request_id, go("1"), &ROWS, &[]).await;
    assert_eq!((sent.len(), s.base.as_str()), (4, "first_run"));
}
