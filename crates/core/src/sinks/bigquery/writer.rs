//! A write of many rows: Arrow batches pipelined on one default-stream writer, a few in flight.

use super::*;
use crate::sinks::Settled;

/// Appends of one whole-query write in flight at once (bounds memory, keeps the pipe full).
pub(super) const MAX_IN_FLIGHT: usize = 4;

/// One append of a whole-query write on its way: its rows are kept (shared bytes, no copy) so it
/// can be sent again on a new connection.
pub(super) struct InFlight {
    fut: AppendFuture,
    /// The chunk (a `write` call) it is a part of.
    chunk: u64,
    rows: u64,
    bytes: bytes::Bytes,
    sent: std::time::Instant,
}

/// A whole-query write: Arrow batches pipelined on one default-stream writer, a few in flight.
pub(super) struct BigQueryBatchWriter<'a> {
    pub(super) sink: &'a BigQuerySink,
    pub(super) table: Arc<Prepared>,
    pub(super) cred: &'a WriteCredential,
    pub(super) conn: Arc<Connection>,
    pub(super) writer: Arc<DefaultWriter<Arrow>>,
    pub(super) in_flight: VecDeque<InFlight>,
    pub(super) written: u64,
    pub(super) error: Option<SinkError>,
    pub(super) chunks: Chunks,
}

/// Which chunks are written: a chunk may be split into several appends (a request holds at most
/// 10 MB), and is written only when every one of them is.
#[derive(Default)]
pub(super) struct Chunks {
    /// The next `write` call's chunk.
    next: u64,
    /// Chunks not settled yet, in the order they were handed over.
    open: VecDeque<OpenChunk>,
    settled: Vec<Settled>,
}

/// A chunk not settled yet.
struct OpenChunk {
    chunk: u64,
    /// Its appends in flight.
    in_flight: usize,
    /// Whether all of it was handed over (or the rest of it never will be).
    sealed: bool,
    /// Whether every append of it so far was written.
    ok: bool,
}

impl Chunks {
    /// A new chunk, none of it handed over yet.
    fn start(&mut self) -> u64 {
        let chunk = self.next;
        self.next += 1;
        self.open.push_back(OpenChunk {
            chunk,
            in_flight: 0,
            sealed: false,
            ok: true,
        });
        chunk
    }

    fn entry(&mut self, chunk: u64) -> Option<&mut OpenChunk> {
        self.open.iter_mut().find(|c| c.chunk == chunk)
    }

    /// One more append of `chunk` is in flight.
    fn sent(&mut self, chunk: u64) {
        if let Some(c) = self.entry(chunk) {
            c.in_flight += 1;
        }
    }

    /// Every append of `chunk` is handed over (`ok`), or the rest of it never will be.
    fn seal(&mut self, chunk: u64, ok: bool) {
        if let Some(c) = self.entry(chunk) {
            c.sealed = true;
            c.ok &= ok;
        }
        self.report();
    }

    /// One append of `chunk` settled.
    fn append_settled(&mut self, chunk: u64, ok: bool) {
        if let Some(c) = self.entry(chunk) {
            c.in_flight -= 1;
            c.ok &= ok;
        }
        self.report();
    }

    /// Chunks wholly handed over with nothing in flight are settled.
    fn report(&mut self) {
        let settled = &mut self.settled;
        self.open.retain(|c| {
            let done = c.sealed && c.in_flight == 0;
            if done {
                settled.push(Settled {
                    chunk: c.chunk,
                    ok: c.ok,
                });
            }
            !done
        });
    }
}

impl BigQueryBatchWriter<'_> {
    async fn settle_one(&mut self) {
        let Some(f) = self.in_flight.pop_front() else {
            return;
        };
        // The client bounds each attempt itself (attempt timeout); this is the last guard.
        let guard = self.sink.attempt_timeout() + Duration::from_secs(5);
        let mut result = self.sink.await_append(f.fut, guard).await;
        let mut retried = false;
        if let Err(e) = &result {
            if retry_on_new_connection(e) && self.error.is_none() {
                retried = true;
                // The connection is half-dead or lost: this append (and the ones behind it,
                // when they fail the same way) goes again on a new connection within its budget.
                tracing::warn!(event = APPEND_FAILED, retrying = true, attempt = 1u32, error = %e, "BigQuery append failed; retrying on a new connection");
                self.sink.discard(self.cred, &self.conn).await;
                let deadline = f.sent + self.sink.settings.timeout;
                result = self
                    .sink
                    .append_until(self.cred, &self.table, f.bytes, deadline, 1)
                    .await;
                if let Ok(conn) = self.sink.connection(self.cred).await {
                    if let Ok(writer) = self.sink.stream_writer(&conn, &self.table).await {
                        self.conn = conn;
                        self.writer = writer;
                    }
                }
            }
        }
        self.chunks.append_settled(f.chunk, result.is_ok());
        match result {
            Ok(()) => self.written += f.rows,
            Err(e) => {
                if self.error.is_none() {
                    // A retried append's final failure is logged where it was retried.
                    if !retried {
                        append_failed(&e, 1);
                    }
                    self.error = Some(e);
                }
            }
        }
    }
}

impl BigQueryBatchWriter<'_> {
    /// Encode `rows` and put their appends in flight (a few at a time); `Err` when this or an
    /// earlier append failed, and the rest of the chunk is not sent.
    async fn send(&mut self, chunk: u64, rows: Vec<Row>) -> Result<(), SinkError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let t = &self.table;
        let mut parts = Vec::new();
        encode_split(&rows, &|r| record_batch(&t.schema, &t.def, r), &mut parts)?;
        drop(rows);
        for (bytes, n) in parts {
            while self.in_flight.len() >= MAX_IN_FLIGHT {
                self.settle_one().await;
            }
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            let bytes = bytes::Bytes::from(bytes);
            let fut = self
                .writer
                .append(ArrowRecordBatch::new().set_serialized_record_batch(bytes.clone()))
                .send();
            self.chunks.sent(chunk);
            self.in_flight.push_back(InFlight {
                fut,
                chunk,
                rows: n,
                bytes,
                sent: std::time::Instant::now(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl BatchWriter for BigQueryBatchWriter<'_> {
    async fn write(&mut self, rows: Vec<Row>) -> Result<(), SinkError> {
        let chunk = self.chunks.start();
        let sent = self.send(chunk, rows).await;
        self.chunks.seal(chunk, sent.is_ok());
        sent
    }

    fn settled(&mut self) -> Vec<Settled> {
        std::mem::take(&mut self.chunks.settled)
    }

    async fn finish(&mut self) -> (u64, Option<SinkError>) {
        while !self.in_flight.is_empty() {
            self.settle_one().await;
        }
        (self.written, self.error.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(c: &mut Chunks) -> Vec<(u64, bool)> {
        std::mem::take(&mut c.settled)
            .into_iter()
            .map(|s| (s.chunk, s.ok))
            .collect()
    }

    #[test]
    fn a_chunk_is_written_when_all_its_appends_are_and_settles_once() {
        let mut c = Chunks::default();
        let a = c.start();
        c.sent(a);
        c.sent(a);
        c.seal(a, true);
        let b = c.start();
        c.sent(b);
        c.seal(b, true);
        assert_eq!(settled(&mut c), []);
        c.append_settled(a, true);
        assert_eq!(settled(&mut c), []);
        // A failed append fails its chunk; a later chunk may still be written.
        c.append_settled(a, false);
        c.append_settled(b, true);
        assert_eq!(settled(&mut c), [(0, false), (1, true)]);
    }

    #[test]
    fn a_chunk_cut_short_or_never_sent_is_not_written() {
        let mut c = Chunks::default();
        let a = c.start();
        c.sent(a);
        c.seal(a, false);
        c.append_settled(a, true);
        let b = c.start();
        c.seal(b, false);
        assert_eq!(settled(&mut c), [(0, false), (1, false)]);
    }
}
