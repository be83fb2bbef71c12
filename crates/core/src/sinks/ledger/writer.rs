//! Appending run records off the request path: an execute hands its record to a bounded queue
//! ([`Ledger::record`] never waits), one task appends what has queued up in batches (one append
//! per table per batch: BigQuery gets few, large appends), and the shutdown drains the queue
//! ([`Ledger::drain`]). A record that cannot be stored — the queue is full, the store refuses —
//! is logged (`event = "ledger_write_failed"`) and counted; the execute's answer and rows are
//! never touched by it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{RejectedRow, RunRecord};
use crate::sinks::{Row, Sink, TableDef, WriteCredential};

/// Runs waiting to be stored, at most (a full queue drops and counts the newest).
pub const QUEUE_RUNS: usize = 1000;
/// Runs stored per append, at most.
pub const BATCH_RUNS: usize = 500;
/// How long a batch waits for more runs after its first: a run is in the ledger at most this
/// long (plus the append) after its answer.
pub const LINGER: Duration = Duration::from_millis(250);

/// One run and its rejected rows.
struct Entry {
    run: RunRecord,
    rejected: Vec<RejectedRow>,
}

/// The ledger's writer: a bounded queue and the task appending from it.
pub struct Ledger {
    tx: Mutex<Option<mpsc::Sender<Entry>>>,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
    failed: Arc<AtomicU64>,
}

impl Ledger {
    /// Start appending to `sink` (on the current tokio runtime).
    pub fn start(sink: Arc<dyn Sink>) -> Ledger {
        let (tx, rx) = mpsc::channel(QUEUE_RUNS);
        let failed = Arc::new(AtomicU64::new(0));
        let worker = tokio::spawn(append_loop(sink, rx, failed.clone()));
        Ledger {
            tx: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
            failed,
        }
    }

    /// Queue a run for the ledger (never waits).
    pub fn record(&self, run: RunRecord, rejected: Vec<RejectedRow>) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let why = match tx {
            None => "the hub is shutting down: the ledger no longer takes runs",
            Some(tx) => match tx.try_send(Entry { run, rejected }) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => "the ledger's queue is full",
                Err(mpsc::error::TrySendError::Closed(_)) => "the ledger's writer has stopped",
            },
        };
        let total = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            event = "ledger_write_failed",
            runs = 1u64,
            ledger_failures_total = total,
            error = why,
            "run ledger: a run could not be recorded"
        );
    }

    /// Runs that could not be stored since the start.
    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Take no more runs and store those queued, within `within`.
    pub async fn drain(&self, within: Duration) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Runs still waiting in the queue (a batch being appended is no longer counted there).
        let queued = tx.map_or(0, |tx| (tx.max_capacity() - tx.capacity()) as u64);
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = worker {
            if tokio::time::timeout(within, worker).await.is_err() {
                let total = self.failed.fetch_add(queued, Ordering::Relaxed) + queued;
                tracing::error!(
                    event = "ledger_write_failed",
                    runs = queued,
                    ledger_failures_total = total,
                    error = "the shutdown's grace period ended first",
                    "run ledger: runs still queued at the exit were not stored"
                );
            }
        }
    }
}

/// Append batches of queued runs until the queue is closed and empty.
async fn append_loop(sink: Arc<dyn Sink>, mut rx: mpsc::Receiver<Entry>, failed: Arc<AtomicU64>) {
    let runs = super::runs_table();
    let rejected = super::rejected_rows_table();
    let mut batch = Vec::with_capacity(BATCH_RUNS);
    while rx.recv_many(&mut batch, BATCH_RUNS).await > 0 {
        gather(&mut rx, &mut batch).await;
        let n = batch.len() as u64;
        if let Err(error) = append(sink.as_ref(), &runs, &rejected, &batch).await {
            let total = failed.fetch_add(n, Ordering::Relaxed) + n;
            tracing::error!(
                event = "ledger_write_failed",
                runs = n,
                ledger_failures_total = total,
                sink = sink.name(),
                error = %error,
                "run ledger: runs could not be stored"
            );
        }
        batch.clear();
    }
}

/// Let the runs that follow the first of a batch join it for [`LINGER`] (or until the batch is
/// full, or the queue closed and empty): one append for many runs — one commit, so one sync of
/// the embedded store, and few BigQuery appends — instead of one per execute.
async fn gather(rx: &mut mpsc::Receiver<Entry>, batch: &mut Vec<Entry>) {
    let until = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH_RUNS {
        let room = BATCH_RUNS - batch.len();
        match tokio::time::timeout_at(until, rx.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Store one batch: the runs, then their rejected rows.
async fn append(
    sink: &dyn Sink,
    runs: &TableDef,
    rejected: &TableDef,
    batch: &[Entry],
) -> Result<(), String> {
    let run_rows: Vec<Row> = batch
        .iter()
        .map(|e| e.run.row(runs))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let rejected_rows: Vec<Row> = batch
        .iter()
        .flat_map(|e| e.rejected.iter().map(|r| r.row(rejected, &e.run)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let service = WriteCredential::Service;
    sink.append(runs, &run_rows, &service)
        .await
        .map_err(|e| format!("{RUNS}: {e}", RUNS = runs.name))?;
    if !rejected_rows.is_empty() {
        sink.append(rejected, &rejected_rows, &service)
            .await
            .map_err(|e| format!("{}: {e}", rejected.name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::ledger::read::{LedgerReader, Which};
    use crate::sinks::sqlite::SqliteSink;

    fn run(id: &str, outcome: &str, second: i64) -> RunRecord {
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap();
        RunRecord {
            run_id: id.into(),
            action: "writeback_batch".into(),
            kind: "query".into(),
            identity: "service".into(),
            outcome: outcome.into(),
            started_at: at,
            finished_at: at,
            duration_ms: 12,
            rows_read: 3,
            rows_delivered: 2,
            rows_rejected: 1,
            rows_unconfirmed: 0,
            bytes_read: 90,
            rejected_rows_recorded: 1,
            error_kind: (outcome != "success").then(|| "validation".into()),
            error_message: None,
            looker_instance: Some("looker-1".into()),
            webhook_id: None,
            scheduled_plan_id: Some("7".into()),
            query_id: None,
            rudder_source: None,
            trace_id: None,
            changes: super::super::ChangeColumns {
                send_mode: Some("changed".into()),
                rows_unchanged: Some(7),
                rows_new: Some(1),
                rows_changed: Some(1),
                rows_unkeyed: Some(0),
                rows_repeated_key: Some(0),
                keys_gone: None,
                change_base: Some("first_run".into()),
            },
        }
    }

    /// Runs queued before the drain are all stored, in batches, and read back newest first;
    /// after the drain nothing more is taken (and that is counted).
    #[tokio::test]
    async fn queued_runs_are_stored_by_the_drain_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let sink: Arc<dyn Sink> =
            Arc::new(SqliteSink::open_with(&path, &super::super::tables()).unwrap());
        let ledger = Ledger::start(sink);
        let rejected = RejectedRow {
            row_index: 2,
            key_value: Some("k".into()),
            column_name: Some("amount".into()),
            reason: "expected INT64".into(),
        };
        ledger.record(run("r-1", "success", 0), vec![]);
        ledger.record(run("r-2", "partial", 1), vec![rejected.clone()]);
        ledger.drain(Duration::from_secs(5)).await;
        ledger.record(run("r-3", "success", 2), vec![]);
        assert_eq!(ledger.failures(), 1);

        let reader = LedgerReader::open(&path).unwrap();
        let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
        assert_eq!(
            ids(reader.last_runs(Which::All, 10).unwrap()),
            ["r-2", "r-1"]
        );
        assert_eq!(
            ids(reader.last_runs(Which::NotSucceeded, 10).unwrap()),
            ["r-2"]
        );
        assert_eq!(ids(reader.last_runs(Which::All, 1).unwrap()), ["r-2"]);
        assert_eq!(reader.run("r-2").unwrap(), Some(run("r-2", "partial", 1)));
        assert_eq!(reader.run("r-3").unwrap(), None);
        assert_eq!(reader.rejected_rows("r-2").unwrap(), [rejected]);
    }
}
