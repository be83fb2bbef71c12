//! A change-only write-back as the streaming engine runs it: each made row is decided against the
//! schedule's memory before it joins a chunk (an unchanged row is skipped), a written row is
//! remembered only once the sink confirmed its chunk, and the memory is saved at the end.

use super::identity::{RowHasher, RowIdentity};
use super::unsettled::Unsettled;
use crate::changes::run::{ChangeRun, ChangeSummary};
use crate::sinks::{Row as TableRow, Settled, TableDef};

/// One change-only run's decisions and the rows waiting for their chunk to settle.
pub struct Remembering {
    run: ChangeRun,
    hasher: RowHasher,
    unsettled: Unsettled,
}

impl Remembering {
    /// Rows of `table` made with `identity`, decided by `run`.
    pub fn new(run: ChangeRun, table: &TableDef, identity: &RowIdentity) -> Remembering {
        let hasher = RowHasher::new(run.seed(), table, identity);
        Remembering {
            run,
            hasher,
            unsettled: Unsettled::new(),
        }
    }

    /// Whether a made row is written: new, changed, unkeyed or repeated; an unchanged one is
    /// skipped (counted by the run).
    pub fn writes(&mut self, row: &TableRow) -> bool {
        let (key, fingerprint) = self.hasher.of(row);
        let decision = self.run.decide(key, fingerprint);
        if let Some(p) = decision.pending() {
            self.unsettled.add(p);
        }
        decision.sends()
    }

    /// The rows decided since the last chunk are handed to the sink as its next chunk.
    pub fn handed_over(&mut self) {
        self.unsettled.handed_over();
    }

    /// Chunks the sink settled: their rows are remembered, or given up (written again next run).
    pub fn settle(&mut self, settled: Vec<Settled>) {
        let run = &mut self.run;
        for s in settled {
            self.unsettled
                .settle(s, |p, ok| if ok { run.confirm(p) } else { run.forget(p) });
        }
    }

    /// Rows skipped so far (unchanged).
    pub fn skipped(&self) -> u64 {
        self.run.counts().unchanged
    }

    /// Give up the rows the sink never confirmed and save the memory. `read_whole`: every row of
    /// the result was decided (keys no longer in it are then counted as gone).
    pub async fn commit(self, read_whole: bool) -> ChangeSummary {
        let Remembering {
            mut run, unsettled, ..
        } = self;
        unsettled.abandon(|p| run.forget(p));
        run.commit(read_whole).await
    }
}
