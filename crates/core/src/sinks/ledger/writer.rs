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
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = worker {
            if tokio::time::timeout(within, worker).await.is_err() {
                tracing::error!(
                    event = "ledger_write_failed",
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
