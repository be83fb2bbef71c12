//! Rows of a described table as the Storage Write API takes them: the Arrow schema derived from
//! the description, record batches encoded as Arrow IPC messages under the request size limit.

use super::*;

/// BigQuery refuses AppendRows requests over 10 MB; batches are split below this.
pub(super) const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// BigQuery's NUMERIC in Arrow: 128-bit decimal, precision 38, scale 9.
pub(super) const NUMERIC_SCALE: u32 = 9;

/// The Arrow schema of a table, as the Write API expects it for each BigQuery type.
pub fn arrow_schema(table: &TableDef) -> Arc<Schema> {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| {
                let dt = match c.ty {
                    ColumnType::Int64 => DataType::Int64,
                    ColumnType::Float64 => DataType::Float64,
                    ColumnType::Bool => DataType::Boolean,
                    ColumnType::Date => DataType::Date32,
                    ColumnType::Numeric => DataType::Decimal128(38, NUMERIC_SCALE as i8),
                    ColumnType::Timestamp => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                    }
                    // STRING, and JSON (the Write API takes JSON columns as JSON text).
                    ColumnType::String | ColumnType::Json => DataType::Utf8,
                };
                Field::new(&c.name, dt, c.mode == Mode::Nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The schema message the Write API wants: one encapsulated Arrow IPC schema message.
pub(super) fn ipc_schema(schema: &Schema) -> Vec<u8> {
    let opts = IpcWriteOptions::default();
    let mut tracker = DictionaryTracker::new(false);
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut tracker,
        &opts,
    );
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_message(&mut out, encoded, &opts);
    out
}

/// One record batch as one encapsulated Arrow IPC message (no schema, no end marker).
pub(super) fn ipc_batch(batch: &RecordBatch) -> Result<Vec<u8>, SinkError> {
    let opts = IpcWriteOptions::default();
    let mut tracker = DictionaryTracker::new(false);
    let (_dictionaries, encoded) = IpcDataGenerator::default()
        .encode(batch, &mut tracker, &opts, &mut Default::default())
        .map_err(|e| SinkError::Other(format!("arrow encoding: {e}")))?;
    let mut out = Vec::with_capacity(encoded.arrow_data.len() + 256);
    write_message(&mut out, encoded, &opts)
        .map_err(|e| SinkError::Other(format!("arrow encoding: {e}")))?;
    Ok(out)
}

/// A NUMERIC's decimal text as its Decimal128 value at scale 9 (the text was checked when the
/// value was converted; a value that still does not fit is refused here).
pub(super) fn decimal(text: &str) -> Result<i128, SinkError> {
    let bad = || SinkError::Other(format!("not a NUMERIC value: {text:?}"));
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > NUMERIC_SCALE as usize {
        return Err(bad());
    }
    let int: i128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let v = int
        .checked_mul(10i128.pow(NUMERIC_SCALE))
        .and_then(|v| v.checked_add(frac_v * 10i128.pow(NUMERIC_SCALE - frac.len() as u32)))
        .ok_or_else(bad)?;
    Ok(if neg { -v } else { v })
}

/// One column of `rows` as an Arrow array of the column's type (rows were checked against the
/// table when built, so a value of another type is an error, not a guess).
pub(super) fn column_array(rows: &[Row], i: usize, ty: ColumnType) -> Result<ArrayRef, SinkError> {
    let wrong =
        |v: &CellValue| SinkError::Other(format!("a {} column got {v:?}", ty.bigquery_name()));
    let cells = rows.iter().map(|r| &r.cells()[i]);
    macro_rules! typed {
        ($arr:ty, $pat:pat => $val:expr) => {{
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    $pat => Ok(Some($val)),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            <$arr>::from(vals)
        }};
    }
    Ok(match ty {
        ColumnType::String | ColumnType::Json => {
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    CellValue::String(s) | CellValue::Json(s) => Ok(Some(s.as_str())),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StringArray::from(vals)) as ArrayRef
        }
        ColumnType::Int64 => Arc::new(typed!(Int64Array, CellValue::Int64(v) => *v)),
        ColumnType::Float64 => Arc::new(typed!(Float64Array, CellValue::Float64(v) => *v)),
        ColumnType::Bool => Arc::new(typed!(BooleanArray, CellValue::Bool(v) => *v)),
        ColumnType::Date => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Arc::new(typed!(Date32Array, CellValue::Date(d) => (*d - epoch).num_days() as i32))
        }
        ColumnType::Timestamp => Arc::new(
            typed!(TimestampMicrosecondArray, CellValue::Timestamp(t) => t.timestamp_micros())
                .with_timezone("UTC"),
        ),
        ColumnType::Numeric => {
            let vals = cells
                .map(|c| match c {
                    CellValue::Null => Ok(None),
                    CellValue::Numeric(s) => decimal(s).map(Some),
                    other => Err(wrong(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(
                Decimal128Array::from(vals)
                    .with_precision_and_scale(38, NUMERIC_SCALE as i8)
                    .map_err(|e| SinkError::Other(format!("arrow decimal: {e}")))?,
            ) as ArrayRef
        }
    })
}

/// Rows of `table` as one Arrow record batch of `schema` (see [`arrow_schema`]).
pub fn record_batch(
    schema: &Arc<Schema>,
    table: &TableDef,
    rows: &[Row],
) -> Result<RecordBatch, SinkError> {
    let cols = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| column_array(rows, i, c.ty))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| SinkError::Other(format!("arrow batch: {e}")))
}

/// Encode rows as Arrow messages under the request size limit, splitting when needed.
pub(super) fn encode_split<R>(
    rows: &[R],
    build: &dyn Fn(&[R]) -> Result<RecordBatch, SinkError>,
    out: &mut Vec<(Vec<u8>, u64)>,
) -> Result<(), SinkError> {
    let bytes = ipc_batch(&build(rows)?)?;
    if bytes.len() <= MAX_REQUEST_BYTES {
        out.push((bytes, rows.len() as u64));
        return Ok(());
    }
    if rows.len() == 1 {
        return Err(SinkError::Other(format!(
            "one row is {} bytes; BigQuery accepts at most 10 MB per request",
            bytes.len()
        )));
    }
    drop(bytes);
    let (a, b) = rows.split_at(rows.len() / 2);
    encode_split(a, build, out)?;
    encode_split(b, build, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u64, json_len: usize) -> Row {
        let t = &*crate::declared::builtin::table(crate::sinks::table::BATCH_TABLE);
        crate::sinks::table::row_of(
            t,
            vec![
                "r".into(),
                CellValue::Int64(i as i64),
                "o.id".into(),
                Some(i.to_string()).into(),
                "Suspicious".into(),
                "".into(),
                CellValue::Null,
                CellValue::Null,
                CellValue::Null,
                CellValue::Json("x".repeat(json_len)),
                CellValue::Null,
                CellValue::Null,
                CellValue::Null,
                "writeback_batch".into(),
                chrono::Utc::now().into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn large_batches_are_split_under_the_request_limit() {
        let t = &*crate::declared::builtin::table(crate::sinks::table::BATCH_TABLE);
        let schema = arrow_schema(t);
        let rows: Vec<Row> = (0..40).map(|i| row(i, 1024 * 1024)).collect();
        let mut parts = Vec::new();
        encode_split(&rows, &|r| record_batch(&schema, t, r), &mut parts).unwrap();
        assert!(parts.len() >= 5, "{}", parts.len());
        assert!(parts.iter().all(|(b, _)| b.len() <= MAX_REQUEST_BYTES));
        assert_eq!(parts.iter().map(|(_, n)| n).sum::<u64>(), 40);

        let huge = vec![row(0, 11 * 1024 * 1024)];
        assert!(encode_split(&huge, &|r| record_batch(&schema, t, r), &mut Vec::new()).is_err());
    }

    #[test]
    fn every_column_type_encodes_as_the_write_api_expects() {
        use crate::sinks::table::{ColumnDef, TableDef};
        let c = |n: &str, ty| ColumnDef::new(n, ty, Mode::Nullable, "");
        let t = TableDef {
            name: "all_types".into(),
            description: String::new(),
            columns: vec![
                c("s", ColumnType::String),
                c("i", ColumnType::Int64),
                c("n", ColumnType::Numeric),
                c("f", ColumnType::Float64),
                c("b", ColumnType::Bool),
                c("d", ColumnType::Date),
                c("t", ColumnType::Timestamp),
                c("j", ColumnType::Json),
            ],
            partition_by_day: None,
            clustering: vec![],
            key: vec![],
        };
        let schema = arrow_schema(&t);
        let full = crate::sinks::table::row_of(
            &t,
            [
                "x",
                "-7",
                "-12.5",
                "1.25",
                "true",
                "2026-01-02",
                "2026-01-02T03:04:05Z",
                "{\"a\":1}",
            ]
            .iter()
            .zip(&t.columns)
            .map(|(v, c)| c.ty.convert_text(v).unwrap())
            .collect(),
        )
        .unwrap();
        let empty = crate::sinks::table::row_of(&t, vec![CellValue::Null; 8]).unwrap();
        let batch = record_batch(&schema, &t, &[full, empty]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let n = batch
            .column(2)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(n.value(0), -12_500_000_000);
        let d = batch
            .column(5)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(d.value(0), 20455);
        assert!(batch.columns().iter().all(|c| c.is_null(1)));
        assert!(ipc_batch(&batch).is_ok());
        assert_eq!(decimal("0.000000001").unwrap(), 1);
        assert!(decimal("1.0000000001").is_err());
    }
}
