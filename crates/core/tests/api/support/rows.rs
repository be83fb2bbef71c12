//! Rows of the built-in write-back tables, as tests and benchmarks write them to a sink directly,
//! and the checks of the rows the tests' executes wrote, read back from the embedded store or
//! BigQuery.

use hub_core::sinks::table::{row_of, CellValue, MARKS_TABLE};
use hub_core::sinks::{Row, Sink, SinkError, WriteCredential};
use serde_json::Value;

/// A `suspicious_marks` row for `order`: Suspicious, no comment, acted by `user@example.com`.
pub fn mark(order: &str) -> Row {
    mark_by(order, "user@example.com")
}

/// A `suspicious_marks` row for `order` acted by `acted_by`.
pub fn mark_by(order: &str, acted_by: &str) -> Row {
    row_of(
        &hub_core::declared::builtin::table(MARKS_TABLE),
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
        self.append(
            &hub_core::declared::builtin::table(MARKS_TABLE),
            std::slice::from_ref(row),
            cred,
        )
        .await
        .map(|_| ())
    }
}

/// Checks a `suspicious_marks` row (read back as JSON) that one `mark_suspicious` execute of the
/// test hub wrote: the values given, the test Looker's instance and webhook id
/// (`helpers::looker_headers`), the action, and a request id (a UUID). `received_at` is checked by
/// the caller: its text differs between the embedded store and BigQuery.
pub fn assert_mark_row(
    r: &Value,
    order_id: &str,
    classification: &str,
    comment: &str,
    acted_by: &str,
) {
    assert_eq!(r["order_id"], order_id, "{r}");
    assert_eq!(r["classification"], classification, "{r}");
    assert_eq!(r["comment"], comment, "{r}");
    assert_eq!(r["acted_by"], acted_by, "{r}");
    assert_eq!(r["looker_instance"], "looker-test-instance", "{r}");
    assert_eq!(r["webhook_id"], "webhook-123", "{r}");
    assert_eq!(r["action"], "mark_suspicious", "{r}");
    let request_id = r["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("request_id is not a string: {r}"));
    assert_eq!(request_id.len(), 36, "{r}");
}

/// Checks a `suspicious_marks_batch` row (read back as JSON) that a `writeback_batch` execute of
/// the stand-ins' result (`stand_ins::result_doc`, `ran_at` 2026-11-23T10:00:00+00:00) wrote: the
/// tagged field `orders.id` identifies the row with `key_value`, and the form's values.
pub fn assert_batch_row(
    r: &Value,
    key_value: &str,
    classification: &str,
    comment: &str,
    acted_by: &str,
) {
    assert_eq!(
        r["key_field"], "orders.id",
        "the tagged field identifies rows: {r}"
    );
    assert_eq!(r["key_value"], key_value, "{r}");
    assert_eq!(r["classification"], classification, "{r}");
    assert_eq!(r["comment"], comment, "{r}");
    assert_eq!(r["acted_by"], acted_by, "{r}");
    assert_eq!(r["ran_at"], "2026-11-23T10:00:00+00:00", "{r}");
}
