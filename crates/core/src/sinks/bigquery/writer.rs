//! A write of many rows: Arrow batches pipelined on one default-stream writer, a few in flight.

use super::*;

/// Appends of one whole-query write in flight at once (bounds memory, keeps the pipe full).
pub(super) const MAX_IN_FLIGHT: usize = 4;

/// One append of a whole-query write on its way: its rows are kept (shared bytes, no copy) so it
/// can be sent again on a new connection.
pub(super) struct InFlight {
    fut: AppendFuture,
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

#[async_trait]
impl BatchWriter for BigQueryBatchWriter<'_> {
    async fn write(&mut self, rows: Vec<Row>) -> Result<(), SinkError> {
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
            self.in_flight.push_back(InFlight {
                fut,
                rows: n,
                bytes,
                sent: std::time::Instant::now(),
            });
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> (u64, Option<SinkError>) {
        while !self.in_flight.is_empty() {
            self.settle_one().await;
        }
        (self.written, self.error.take())
    }
}
