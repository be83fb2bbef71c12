//! Write-back tables described once: columns (name, type, mode, description), partitioning,
//! clustering and the key the embedded store enforces. Every sink creates, checks and appends
//! any [`TableDef`]; a row is a [`Row`] of [`CellValue`]s in column order, checked against its
//! table when built ([`RowBuilder`]) so sinks can encode without re-checking.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::values::{self, Unfit};

/// The column types a write-back table may use (BigQuery's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text.
    String,
    /// 64-bit integer.
    Int64,
    /// Exact decimal (kept as its decimal text).
    Numeric,
    /// 64-bit float.
    Float64,
    /// true / false.
    Bool,
    /// Calendar date.
    Date,
    /// Instant in UTC (microseconds).
    Timestamp,
    /// JSON document (kept as its text).
    Json,
}

impl ColumnType {
    /// BigQuery's name of the type.
    pub fn bigquery_name(self) -> &'static str {
        match self {
            ColumnType::String => "STRING",
            ColumnType::Int64 => "INT64",
            ColumnType::Numeric => "NUMERIC",
            ColumnType::Float64 => "FLOAT64",
            ColumnType::Bool => "BOOL",
            ColumnType::Date => "DATE",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::Json => "JSON",
        }
    }

    /// The type of a BigQuery name (`STRING`, `INT64`, … as in a schema file or configuration).
    pub fn from_bigquery_name(name: &str) -> Option<ColumnType> {
        Some(match name {
            "STRING" => ColumnType::String,
            "INT64" | "INTEGER" => ColumnType::Int64,
            "NUMERIC" => ColumnType::Numeric,
            "FLOAT64" | "FLOAT" => ColumnType::Float64,
            "BOOL" | "BOOLEAN" => ColumnType::Bool,
            "DATE" => ColumnType::Date,
            "TIMESTAMP" => ColumnType::Timestamp,
            "JSON" => ColumnType::Json,
            _ => return None,
        })
    }

    /// The embedded store's column type.
    pub fn sqlite_name(self) -> &'static str {
        match self {
            ColumnType::Int64 | ColumnType::Bool => "INTEGER",
            ColumnType::Float64 => "REAL",
            _ => "TEXT",
        }
    }

    /// Convert a JSON value (a Looker cell, a form field) into a value of this type. Strings
    /// are parsed (`"42"` is a valid INT64); `null` is [`CellValue::Null`] (the mode is checked
    /// when the row is built).
    pub fn convert_json(self, v: &serde_json::Value) -> Result<CellValue, ConvertError> {
        use serde_json::Value as J;
        let bad = || ConvertError {
            expected: self,
            got: describe(v),
        };
        Ok(match (self, v) {
            (_, J::Null) => CellValue::Null,
            (ColumnType::Json, v) => CellValue::Json(v.to_string()),
            (_, J::String(s)) => return self.convert_text(s),
            (_, J::Number(n)) => return self.convert_number(&n.to_string()),
            (ColumnType::String, J::Bool(b)) => CellValue::String(b.to_string()),
            (ColumnType::Bool, J::Bool(b)) => CellValue::Bool(*b),
            _ => return Err(bad()),
        })
    }

    /// Convert a JSON value given as its text (a result cell as Looker wrote it): like
    /// [`ColumnType::convert_json`], with numbers read from their text exactly
    /// ([`ColumnType::convert_number`]), so a number no double holds rejects only the value that
    /// needs it.
    pub fn convert_json_text(self, text: &str) -> Result<CellValue, ConvertError> {
        let t = text.trim();
        match t.as_bytes().first() {
            Some(b'"') => match serde_json::from_str::<String>(t) {
                // The text itself, not a copy of it.
                Ok(s) if self == ColumnType::String => Ok(CellValue::String(s)),
                Ok(s) => self.convert_text(&s),
                Err(_) => Err(ConvertError {
                    expected: self,
                    got: "text that is not valid JSON".into(),
                }),
            },
            Some(b'-' | b'0'..=b'9') => self.convert_number(t),
            Some(b'[' | b'{') if self == ColumnType::Json => {
                json_text(t).map(CellValue::Json).map_err(|_| ConvertError {
                    expected: self,
                    got: match values::number_beyond_double(t) {
                        Some(n) => format!(
                            "JSON with the number {}, {}",
                            truncate(n),
                            Unfit::Float64Range.phrase()
                        ),
                        None => "text that is not valid JSON".into(),
                    },
                })
            }
            _ => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(v) => self.convert_json(&v),
                Err(_) => Err(ConvertError {
                    expected: self,
                    got: "text that is not valid JSON".into(),
                }),
            },
        }
    }

    /// Convert a JSON number, given as its JSON text (`1E2`, `-1e-09`, `12.50`), into a value
    /// of this type. INT64 and NUMERIC take it exactly (exponent notation is expanded as decimal
    /// text, never through a float): a number that does not fit is refused with the reason
    /// (`expected NUMERIC, got the number 0.30000000000000004: more than 9 digits after the
    /// decimal point`). STRING keeps the text as written. Pass the raw text of the number when
    /// there is one: a `serde_json::Number` read from JSON without it is already a float.
    pub fn convert_number(self, text: &str) -> Result<CellValue, ConvertError> {
        let t = text.trim();
        let bad = |why: Option<Unfit>| ConvertError {
            expected: self,
            got: match why {
                None => format!("the number {}", truncate(t)),
                Some(Unfit::NotNumber) => {
                    format!("the number {}: not a JSON number", truncate(t))
                }
                Some(why) => format!("the number {}: {}", truncate(t), why.phrase()),
            },
        };
        Ok(match self {
            ColumnType::String => CellValue::String(t.to_string()),
            ColumnType::Json => CellValue::Json(json_number(t).map_err(|e| bad(Some(e)))?),
            ColumnType::Int64 => CellValue::Int64(values::int64_json(t).map_err(|e| bad(Some(e)))?),
            ColumnType::Numeric => {
                CellValue::Numeric(values::numeric_json(t).map_err(|e| bad(Some(e)))?)
            }
            ColumnType::Float64 => {
                CellValue::Float64(values::float64_json(t).map_err(|e| bad(Some(e)))?)
            }
            ColumnType::Bool | ColumnType::Date | ColumnType::Timestamp => return Err(bad(None)),
        })
    }

    /// Convert text (a form field, a CSV cell) into a value of this type, within the type's
    /// range (see `sinks::values`).
    pub fn convert_text(self, s: &str) -> Result<CellValue, ConvertError> {
        let bad = |why: Unfit| ConvertError {
            expected: self,
            got: match why {
                Unfit::DateRange
                | Unfit::Decimals
                | Unfit::IntegerDigits
                | Unfit::Int64Range
                | Unfit::Float64Range => format!("text {:?}: {}", truncate(s), why.phrase()),
                _ => format!("text {:?}", truncate(s)),
            },
        };
        let t = s.trim();
        Ok(match self {
            ColumnType::String => CellValue::String(s.to_string()),
            ColumnType::Int64 => CellValue::Int64(values::int64_text(t).map_err(bad)?),
            ColumnType::Numeric => CellValue::Numeric(values::numeric_text(t).map_err(bad)?),
            ColumnType::Float64 => CellValue::Float64(values::float64_text(t).map_err(bad)?),
            ColumnType::Bool => CellValue::Bool(values::boolean(t).map_err(bad)?),
            ColumnType::Date => CellValue::Date(values::date(t).map_err(bad)?),
            ColumnType::Timestamp => CellValue::Timestamp(values::timestamp(t).map_err(bad)?),
            ColumnType::Json => CellValue::Json(json_text(t).map_err(|_| bad(Unfit::NotNumber))?),
        })
    }
}

/// A JSON number's text as a JSON column holds it: BigQuery's JSON keeps numbers as 64-bit
/// integers or floats, so one beyond a double's range does not fit.
fn json_number(t: &str) -> Result<String, Unfit> {
    values::float64_json(t)?;
    json_text(t).map_err(|_| Unfit::NotNumber)
}

/// JSON text in its compact form (numbers as doubles or integers, as BigQuery's JSON keeps them);
/// `Err` for text that is not JSON or holds a number beyond a double's range.
fn json_text(t: &str) -> Result<String, serde_json::Error> {
    serde_json::from_str::<serde_json::Value>(t).map(|v| v.to_string())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn describe(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(_) => "a boolean".into(),
        serde_json::Value::Number(n) => format!("the number {n}"),
        serde_json::Value::String(s) => format!("text {:?}", truncate(s)),
        serde_json::Value::Array(_) => "a list".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

/// A value that does not convert into a column's type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {}, got {got}", expected.bigquery_name())]
pub struct ConvertError {
    /// The column type.
    pub expected: ColumnType,
    /// What was given (short, never a whole value).
    pub got: String,
}

/// NULLABLE or REQUIRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// May be null.
    Nullable,
    /// Never null.
    Required,
}

impl Mode {
    /// BigQuery's name of the mode.
    pub fn bigquery_name(self) -> &'static str {
        match self {
            Mode::Nullable => "NULLABLE",
            Mode::Required => "REQUIRED",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Column name (letters, digits, `_`).
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// NULLABLE / REQUIRED.
    pub mode: Mode,
    /// What the column holds (BigQuery column description).
    pub description: String,
}

impl ColumnDef {
    /// A column.
    pub fn new(name: &str, ty: ColumnType, mode: Mode, description: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            mode,
            description: description.into(),
        }
    }
}

/// A write-back table, described once.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// Table name (the BigQuery table name unless settings rename it).
    pub name: String,
    /// What one row is.
    pub description: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// TIMESTAMP or DATE column the BigQuery table is partitioned on by day, if any.
    pub partition_by_day: Option<String>,
    /// Columns the BigQuery table is clustered by.
    pub clustering: Vec<String>,
    /// Columns identifying a row, enforced as the embedded store's primary key.
    pub key: Vec<String>,
}

/// A table description that does not hold together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("table {table}: {problem}")]
pub struct TableDefError {
    /// Table name.
    pub table: String,
    /// What is wrong.
    pub problem: String,
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 300
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl TableDef {
    /// Check names, uniqueness and that partitioning, clustering and key name columns.
    pub fn validate(&self) -> Result<(), TableDefError> {
        let err = |problem: String| TableDefError {
            table: self.name.clone(),
            problem,
        };
        if !ident_ok(&self.name) {
            return Err(err("the name must be letters, digits and _".into()));
        }
        if self.columns.is_empty() {
            return Err(err("no columns".into()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if !ident_ok(&c.name) {
                return Err(err(format!(
                    "column {:?}: the name must be letters, digits and _",
                    c.name
                )));
            }
            // SQLite and BigQuery compare column names ignoring case.
            if let Some(o) = self.columns[..i]
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                if o.name == c.name {
                    return Err(err(format!("column {} appears twice", c.name)));
                }
                return Err(err(format!(
                    "columns {} and {} are one column to SQLite and BigQuery (names are compared ignoring case)",
                    o.name, c.name
                )));
            }
        }
        if let Some(p) = &self.partition_by_day {
            match self.column(p) {
                Some((_, c)) if matches!(c.ty, ColumnType::Timestamp | ColumnType::Date) => {}
                _ => {
                    return Err(err(format!(
                        "partitioning column {p} must be a TIMESTAMP or DATE column"
                    )))
                }
            }
        }
        for c in self.clustering.iter().chain(&self.key) {
            if self.column(c).is_none() {
                return Err(err(format!("no column {c} (clustering / key)")));
            }
        }
        Ok(())
    }

    /// A column and its position.
    pub fn column(&self, name: &str) -> Option<(usize, &ColumnDef)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    /// A builder of one row of this table.
    pub fn row(&self) -> RowBuilder<'_> {
        RowBuilder {
            table: self,
            cells: Vec::with_capacity(self.columns.len()),
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    /// No value (NULLABLE columns only).
    Null,
    /// STRING.
    String(String),
    /// INT64.
    Int64(i64),
    /// NUMERIC as decimal text.
    Numeric(String),
    /// FLOAT64.
    Float64(f64),
    /// BOOL.
    Bool(bool),
    /// DATE.
    Date(NaiveDate),
    /// TIMESTAMP.
    Timestamp(DateTime<Utc>),
    /// JSON as its text.
    Json(String),
}

impl CellValue {
    /// Whether the value fits a column type (null fits every type).
    pub fn fits(&self, ty: ColumnType) -> bool {
        matches!(
            (self, ty),
            (CellValue::Null, _)
                | (CellValue::String(_), ColumnType::String)
                | (CellValue::Int64(_), ColumnType::Int64)
                | (CellValue::Numeric(_), ColumnType::Numeric)
                | (CellValue::Float64(_), ColumnType::Float64)
                | (CellValue::Bool(_), ColumnType::Bool)
                | (CellValue::Date(_), ColumnType::Date)
                | (CellValue::Timestamp(_), ColumnType::Timestamp)
                | (CellValue::Json(_), ColumnType::Json)
        )
    }

    /// The text of a text-like value (STRING, NUMERIC, JSON), `None` otherwise and for null.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            CellValue::String(s) | CellValue::Numeric(s) | CellValue::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The value as bytes that differ exactly when the values differ: a byte naming the type,
    /// then the value (text as UTF-8, numbers and dates little-endian). What a change-only send
    /// compares from run to run, so it must never change for a value that did not.
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            CellValue::Null => out.push(0),
            CellValue::String(s) => {
                out.push(1);
                out.extend_from_slice(s.as_bytes());
            }
            CellValue::Int64(v) => {
                out.push(2);
                out.extend_from_slice(&v.to_le_bytes());
            }
            CellValue::Numeric(s) => {
                out.push(3);
                out.extend_from_slice(s.as_bytes());
            }
            CellValue::Float64(v) => {
                out.push(4);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            CellValue::Bool(v) => out.extend_from_slice(&[5, u8::from(*v)]),
            CellValue::Date(d) => {
                out.push(6);
                out.extend_from_slice(&d.num_days_from_ce().to_le_bytes());
            }
            CellValue::Timestamp(t) => {
                out.push(7);
                out.extend_from_slice(&t.timestamp().to_le_bytes());
                out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
            }
            CellValue::Json(s) => {
                out.push(8);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

impl From<String> for CellValue {
    fn from(s: String) -> CellValue {
        CellValue::String(s)
    }
}

impl From<&str> for CellValue {
    fn from(s: &str) -> CellValue {
        CellValue::String(s.to_string())
    }
}

impl From<Option<String>> for CellValue {
    fn from(s: Option<String>) -> CellValue {
        s.map_or(CellValue::Null, CellValue::String)
    }
}

impl From<i64> for CellValue {
    fn from(v: i64) -> CellValue {
        CellValue::Int64(v)
    }
}

impl From<DateTime<Utc>> for CellValue {
    fn from(v: DateTime<Utc>) -> CellValue {
        CellValue::Timestamp(v)
    }
}

/// A row of a table: its values in column order, checked when built.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(Vec<CellValue>);

impl Row {
    /// The values in column order.
    pub fn cells(&self) -> &[CellValue] {
        &self.0
    }
}

/// A row that does not fit its table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("table {table}, column {column}: {problem}")]
pub struct RowError {
    /// Table name.
    pub table: String,
    /// Column name (or the position when past the last column).
    pub column: String,
    /// What is wrong.
    pub problem: String,
}

/// Builds a [`Row`] column by column, in order: names, types and modes are checked.
pub struct RowBuilder<'t> {
    table: &'t TableDef,
    cells: Vec<CellValue>,
}

impl RowBuilder<'_> {
    /// The next column's value; `name` must be that column's name.
    pub fn set(mut self, name: &str, value: impl Into<CellValue>) -> Result<Self, RowError> {
        let i = self.cells.len();
        let value = value.into();
        let err = |column: &str, problem: String| RowError {
            table: self.table.name.clone(),
            column: column.to_string(),
            problem,
        };
        let Some(col) = self.table.columns.get(i) else {
            return Err(err(name, "the table has no more columns".into()));
        };
        if col.name != name {
            return Err(err(name, format!("expected column {} here", col.name)));
        }
        if !value.fits(col.ty) {
            return Err(err(
                name,
                format!("a {} column cannot hold {value:?}", col.ty.bigquery_name()),
            ));
        }
        if col.mode == Mode::Required && value == CellValue::Null {
            return Err(err(name, "REQUIRED column cannot be null".into()));
        }
        self.cells.push(value);
        Ok(self)
    }

    /// The row, once every column has its value.
    pub fn build(self) -> Result<Row, RowError> {
        if let Some(col) = self.table.columns.get(self.cells.len()) {
            return Err(RowError {
                table: self.table.name.clone(),
                column: col.name.clone(),
                problem: "no value given".into(),
            });
        }
        Ok(Row(self.cells))
    }
}

/// Build a row of a table from values in column order (checked like [`RowBuilder`]).
pub fn row_of(table: &TableDef, values: Vec<CellValue>) -> Result<Row, RowError> {
    let mut b = table.row();
    for (c, v) in table.columns.iter().zip(values.iter()) {
        b = b.set(&c.name, v.clone())?;
    }
    if values.len() > table.columns.len() {
        return Err(RowError {
            table: table.name.clone(),
            column: format!("#{}", table.columns.len() + 1),
            problem: "the table has no more columns".into(),
        });
    }
    b.build()
}

/// The built-in cell action's table (`mark_suspicious`), described in the built-in actions file
/// (`declared::builtin::tables`); BigQuery may rename it (`HUB_BIGQUERY_MARKS_TABLE`).
pub const MARKS_TABLE: &str = "suspicious_marks";
/// The built-in query action's table (`writeback_batch`); `HUB_BIGQUERY_BATCH_TABLE` renames it.
pub const BATCH_TABLE: &str = "suspicious_marks_batch";

#[cfg(test)]
mod tests {
    use super::*;

    use crate::declared::builtin;
    use ColumnType as T;

    #[test]
    fn builtin_tables_are_valid() {
        for t in crate::declared::builtin::tables() {
            t.validate().unwrap();
        }
    }

    #[test]
    fn rows_are_checked_against_their_table() {
        let t = builtin::table(MARKS_TABLE);
        let e = t.row().set("order_id", "x").err().unwrap();
        assert_eq!(e.column, "order_id");
        assert_eq!(e.problem, "expected column request_id here");
        let e = t.row().set("request_id", CellValue::Null).err().unwrap();
        assert_eq!(e.problem, "REQUIRED column cannot be null");
        let e = t.row().set("request_id", 3i64).err().unwrap();
        assert!(e.problem.starts_with("a STRING column cannot hold"), "{e}");
        let e = t.row().set("request_id", "r").unwrap().build().unwrap_err();
        assert_eq!(
            (e.column.as_str(), e.problem.as_str()),
            ("order_id", "no value given")
        );
    }

    #[test]
    fn values_convert_by_column_type() {
        use serde_json::json;
        assert_eq!(
            T::Int64.convert_json(&json!("42")),
            Ok(CellValue::Int64(42))
        );
        assert_eq!(T::Int64.convert_json(&json!(42)), Ok(CellValue::Int64(42)));
        assert_eq!(
            T::Int64.convert_json(&json!(4.5)).unwrap_err().to_string(),
            "expected INT64, got the number 4.5: not a whole number"
        );
        assert_eq!(
            T::String.convert_json(&json!(7)),
            Ok(CellValue::String("7".into()))
        );
        assert_eq!(
            T::Numeric.convert_json(&json!("12.50")),
            Ok(CellValue::Numeric("12.5".into()))
        );
        assert!(T::Numeric.convert_text("1e5").is_err());
        assert_eq!(
            T::Float64.convert_json(&json!(1.5)),
            Ok(CellValue::Float64(1.5))
        );
        assert!(T::Float64.convert_text("NaN").is_err());
        assert_eq!(
            T::Bool.convert_json(&json!("yes")),
            Ok(CellValue::Bool(true))
        );
        assert!(T::Bool.convert_json(&json!(1)).is_err());
        assert_eq!(
            T::Date.convert_json(&json!("2026-02-03")),
            Ok(CellValue::Date(
                NaiveDate::from_ymd_opt(2026, 2, 3).unwrap()
            ))
        );
        assert!(T::Date.convert_text("03/02/2026").is_err());
        // A result column holds what its BigQuery type holds, no more.
        assert_eq!(
            T::Date
                .convert_json(&json!("0000-01-01"))
                .unwrap_err()
                .to_string(),
            "expected DATE, got text \"0000-01-01\": outside 0001-01-01 … 9999-12-31"
        );
        assert_eq!(
            T::Timestamp
                .convert_text("9999-12-31T23:30:00-01:00")
                .unwrap_err()
                .to_string(),
            "expected TIMESTAMP, got text \"9999-12-31T23:30:00-01:00\": outside 0001-01-01 … 9999-12-31"
        );
        assert_eq!(
            T::Float64
                .convert_json_text("-1e999999")
                .unwrap_err()
                .to_string(),
            "expected FLOAT64, got the number -1e999999: beyond a 64-bit float"
        );
        assert_eq!(
            T::String.convert_json_text("1e999999"),
            Ok(CellValue::String("1e999999".into()))
        );
        let ts = T::Timestamp.convert_text("2026-02-03 04:05:06").unwrap();
        assert_eq!(
            ts,
            CellValue::Timestamp("2026-02-03T04:05:06Z".parse().unwrap())
        );
        assert_eq!(
            T::Json.convert_json(&json!({"a": 1})),
            Ok(CellValue::Json("{\"a\":1}".into()))
        );
        assert!(T::Json.convert_text("{").is_err());
        assert_eq!(T::Date.convert_json(&json!(null)), Ok(CellValue::Null));
        assert_eq!(
            T::Date.convert_json(&json!([1])).unwrap_err().to_string(),
            "expected DATE, got a list"
        );
    }

    #[test]
    fn json_numbers_convert_exactly() {
        let num = |t: &str| T::Numeric.convert_number(t).map_err(|e| e.to_string());
        let ok = |s: &str| Ok(CellValue::Numeric(s.into()));
        assert_eq!(num("1E2"), ok("100"));
        assert_eq!(num("-1e-09"), ok("-0.000000001"));
        assert_eq!(num("1.5e+3"), ok("1500"));
        assert_eq!(num("12.50"), ok("12.5"));
        assert_eq!(num("-0"), ok("0"));
        assert_eq!(num("0.0e5"), ok("0"));
        assert_eq!(num("123e-2"), ok("1.23"));
        // 17 significant digits with 9 decimals: exact, no float in between.
        assert_eq!(num("12345678.123456789"), ok("12345678.123456789"));
        assert_eq!(
            num("12345678901234567890123456789"),
            ok("12345678901234567890123456789")
        );
        assert_eq!(
            num("0.30000000000000004").unwrap_err(),
            "expected NUMERIC, got the number 0.30000000000000004: more than 9 digits after the decimal point"
        );
        assert_eq!(
            num("1e-10").unwrap_err(),
            "expected NUMERIC, got the number 1e-10: more than 9 digits after the decimal point"
        );
        assert_eq!(
            num("1e29").unwrap_err(),
            "expected NUMERIC, got the number 1e29: more than 29 digits before the decimal point"
        );
        assert_eq!(
            num("1e999999999").unwrap_err(),
            "expected NUMERIC, got the number 1e999999999: more than 29 digits before the decimal point"
        );
        assert_eq!(
            num("1e-300").unwrap_err(),
            "expected NUMERIC, got the number 1e-300: more than 9 digits after the decimal point"
        );
        let int = |t: &str| T::Int64.convert_number(t).map_err(|e| e.to_string());
        assert_eq!(int("1E2"), Ok(CellValue::Int64(100)));
        assert_eq!(int("-2.50e1"), Ok(CellValue::Int64(-25)));
        assert_eq!(int("-0.0"), Ok(CellValue::Int64(0)));
        assert_eq!(int("9223372036854775807"), Ok(CellValue::Int64(i64::MAX)));
        assert_eq!(
            int("1.5").unwrap_err(),
            "expected INT64, got the number 1.5: not a whole number"
        );
        assert_eq!(
            int("1e19").unwrap_err(),
            "expected INT64, got the number 1e19: out of INT64's range"
        );
        assert_eq!(
            T::Float64.convert_number("1E2"),
            Ok(CellValue::Float64(100.0))
        );
        assert_eq!(
            T::String.convert_number("-1e-09"),
            Ok(CellValue::String("-1e-09".into()))
        );
        assert_eq!(
            T::Date.convert_number("3").unwrap_err().to_string(),
            "expected DATE, got the number 3"
        );
        // A parsed JSON value goes the same way (a float's shortest text).
        assert_eq!(
            T::Numeric.convert_json(&serde_json::json!(-1e-9)),
            Ok(CellValue::Numeric("-0.000000001".into()))
        );
        assert_eq!(
            ColumnType::Int64.convert_json(&serde_json::json!(1e2)),
            Ok(CellValue::Int64(100))
        );
    }

    #[test]
    fn bad_descriptions_are_refused() {
        let mut t = (*builtin::table(BATCH_TABLE)).clone();
        t.clustering.push("nope".into());
        assert!(t.validate().is_err());
        let mut t = (*builtin::table(BATCH_TABLE)).clone();
        t.partition_by_day = Some("row_index".into());
        assert!(t.validate().is_err());
        let mut t = (*builtin::table(MARKS_TABLE)).clone();
        t.columns.push(t.columns[0].clone());
        assert!(t.validate().is_err());
        // SQLite and BigQuery would take these two for one column.
        let mut t = (*builtin::table(MARKS_TABLE)).clone();
        let mut upper = t.columns[1].clone();
        upper.name = upper.name.to_uppercase();
        t.columns.push(upper);
        assert_eq!(
            t.validate().unwrap_err().problem,
            "columns order_id and ORDER_ID are one column to SQLite and BigQuery (names are compared ignoring case)"
        );
    }

    #[test]
    fn canonical_bytes_differ_exactly_when_values_do() {
        let bytes = |v: &CellValue| {
            let mut out = vec![9, 9];
            v.canonical_bytes(&mut out);
            out
        };
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let values = [
            CellValue::Null,
            CellValue::String("1".into()),
            CellValue::String("".into()),
            CellValue::Numeric("1".into()),
            CellValue::Json("1".into()),
            CellValue::Int64(1),
            CellValue::Int64(256),
            CellValue::Float64(1.0),
            CellValue::Bool(true),
            CellValue::Bool(false),
            CellValue::Date(day),
            CellValue::Timestamp(day.and_hms_opt(0, 0, 0).unwrap().and_utc()),
            CellValue::Timestamp(day.and_hms_nano_opt(0, 0, 0, 1).unwrap().and_utc()),
        ];
        for (i, a) in values.iter().enumerate() {
            assert_eq!(bytes(a), bytes(&a.clone()), "{a:?}");
            for b in &values[i + 1..] {
                assert_ne!(bytes(a), bytes(b), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(bytes(&CellValue::Null), [0]);
    }
}
