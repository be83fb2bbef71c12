//! Rows of the built-in write-back tables, as tests and benchmarks write them to a sink directly.

use hub_core::sinks::table::{row_of, CellValue, MARKS};
use hub_core::sinks::{Row, Sink, SinkError, WriteCredential};

/// A `suspicious_marks` row for `order`: Suspicious, no comment, acted by `user@example.com`.
pub fn mark(order: &str) -> Row {
    mark_by(order, "user@example.com")
}

/// A `suspicious_marks` row for `order` acted by `acted_by`.
pub fn mark_by(order: &str, acted_by: &str) -> Row {
    row_of(
        &MARKS,
        vec![
            uuid::Uuid::new_v4().to_string().into(),
            order.into(),
            "Suspicious".into(),
            "".into(),
            acted_by.into(),
            CellValue::Null,
            CellValue::Null,
            "mark_suspicious".into(),
            chrono::Utc::now().into(),
        ],
    )
    .expect("a suspicious_marks row")
}

/// One-row appends to `suspicious_marks`, as the cell action makes them.
#[allow(async_fn_in_trait)]
pub trait AppendMark {
    /// Append `row` (a `suspicious_marks` row) with `cred`.
    async fn append_mark(&self, row: &Row, cred: &WriteCredential) -> Result<(), SinkError>;
}

impl<S: Sink + ?Sized> AppendMark for S {
    async fn append_mark(&self, row: &Row, cred: &WriteCredential) -> Result<(), SinkError> {
        self.append(&MARKS, std::slice::from_ref(row), cred)
            .await
            .map(|_| ())
    }
}
