//! The words of the generated LookML: identifiers and literals, the fields a column gives, one
//! dimension, the names every generated view uses. Shared by the views of the actions' tables
//! ([`super::lookml`]) and of the run ledger ([`super::ledger`]).

use crate::sinks::table::{ColumnDef, ColumnType};

/// `name` as a GoogleSQL identifier: backquoted, so a reserved keyword (`order`, `select`, ...)
/// is a column name like any other in the `sql:` of the generated LookML.
pub fn bq_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A LookML string literal.
pub fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The measure every generated view has.
pub const COUNT_MEASURE: &str = "count";
/// The hidden primary-key dimension of a query action's log view (request id / row index).
pub const QUERY_PK_DIMENSION: &str = "pk";
/// The name of a table's current-state view is the table's name and this.
pub const CURRENT_VIEW_SUFFIX: &str = "_current";
/// The current-state view's row-number alias: it starts with `_`, which no declared column name
/// may (`names::column_name_problem`), so it never shadows a column.
pub const ROW_NUMBER_ALIAS: &str = "_hub_rn";
/// Timeframes of the dimension group of a DATE column.
const DATE_TIMEFRAMES: &[&str] = &["raw", "date", "week", "month", "year"];
/// Timeframes of the dimension group of a TIMESTAMP column.
const TIMESTAMP_TIMEFRAMES: &[&str] = &["raw", "time", "date", "week", "month"];

/// How a column appears in LookML: `dimension` or `dimension_group`, its name, and the field
/// names it creates (a dimension group creates one per timeframe: `due_date`, `due_week`, ...).
pub fn lookml_fields(column: &str, t: ColumnType) -> (&'static str, String, Vec<String>) {
    let (group, timeframes) = match t {
        ColumnType::Date => (column, DATE_TIMEFRAMES),
        ColumnType::Timestamp => (
            column.strip_suffix("_at").unwrap_or(column),
            TIMESTAMP_TIMEFRAMES,
        ),
        _ => return ("dimension", column.to_string(), vec![column.to_string()]),
    };
    let mut fields = vec![group.to_string()];
    fields.extend(timeframes.iter().map(|tf| format!("{group}_{tf}")));
    ("dimension_group", group.to_string(), fields)
}

/// One column as a LookML dimension (or dimension group): its description, the tags that
/// make an action appear (on a key), its SQL and type.
pub fn dimension(out: &mut String, c: &ColumnDef, key: bool, pk: bool, tags: &[String]) {
    let (kind, name, _) = lookml_fields(&c.name, c.ty);
    out.push_str(&format!("  {kind}: {name} {{\n"));
    if pk {
        out.push_str("    primary_key: yes\n");
    }
    if !c.description.is_empty() {
        out.push_str(&format!("    description: {}\n", q(&c.description)));
    }
    if key && !tags.is_empty() {
        let t: Vec<String> = tags.iter().map(|t| q(t)).collect();
        out.push_str(&format!("    tags: [{}]\n", t.join(", ")));
    }
    let column = format!("${{TABLE}}.{}", bq_ident(&c.name));
    let sql = match c.ty {
        ColumnType::Json => format!("TO_JSON_STRING({column})"),
        _ => column,
    };
    match c.ty {
        ColumnType::String | ColumnType::Json => out.push_str("    type: string\n"),
        ColumnType::Int64 | ColumnType::Numeric | ColumnType::Float64 => {
            out.push_str("    type: number\n")
        }
        ColumnType::Bool => out.push_str("    type: yesno\n"),
        ColumnType::Date => out.push_str(&format!(
            "    type: time\n    datatype: date\n    convert_tz: no\n    timeframes: [{}]\n",
            DATE_TIMEFRAMES.join(", ")
        )),
        ColumnType::Timestamp => out.push_str(&format!(
            "    type: time\n    timeframes: [{}]\n",
            TIMESTAMP_TIMEFRAMES.join(", ")
        )),
    }
    out.push_str(&format!("    sql: {sql} ;;\n  }}\n\n"));
}
