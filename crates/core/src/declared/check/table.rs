//! An action's table: its columns (audit head, the fields', the result columns', audit tail),
//! their names, BigQuery's and the embedded store's limits, and clustering.

use std::collections::{BTreeSet, HashMap};

use super::super::audit::{self, Place};
use super::super::model::*;
use super::super::names;
use super::super::syntax::*;
use super::line;
use super::lookml::lookml_clashes;
use super::{advice, Checked, Checker, Reported, Verdict};

/// The column types BigQuery clusters on (besides GEOGRAPHY, RANGE, BIGNUMERIC and DATETIME,
/// which a declared table has none of): FLOAT64 and JSON are refused.
const CLUSTERABLE: &str = "STRING, INT64, NUMERIC, BOOL, DATE or TIMESTAMP";

fn clusterable(t: ColumnType) -> bool {
    matches!(
        t,
        ColumnType::String
            | ColumnType::Int64
            | ColumnType::Numeric
            | ColumnType::Bool
            | ColumnType::Date
            | ColumnType::Timestamp
    )
}

/// BigQuery's longest column description (TableFieldSchema.description).
const MAX_COLUMN_DESCRIPTION: usize = 1024;
/// BigQuery's longest table description.
const MAX_TABLE_DESCRIPTION: usize = 16384;
/// SQLite's most columns in a table (its default `SQLITE_MAX_COLUMN`).
const MAX_COLUMNS: usize = 2000;

/// A result column with its description as written and its place.
pub(super) type Mapped = (ResultColumn, Option<String>, Pos);

/// What the table of an action is built from.
pub(super) struct Parts<'a> {
    pub kind: Kind,
    pub label: &'a str,
    pub key_tag: Option<&'a str>,
    pub key_column: &'a str,
    pub fields: &'a [Field],
    pub results: &'a [Mapped],
}

/// The action's table and the source of each of its columns.
pub(super) fn table(
    rt: RawTable,
    parts: &Parts,
    ck: &mut Checker,
) -> Checked<(TableDef, Vec<ColumnSource>)> {
    let mut verdict = Verdict::default();
    let at = line(&rt.name);
    let table_name = rt.name.value.clone();
    if let Some(p) = names::table_name_problem(&table_name) {
        verdict.add(ck.at(at, p));
    }
    let columns = verdict.keep(columns(parts, ck));
    let description = rt.description.as_deref();
    verdict.note(check_limits(
        &table_name,
        description,
        parts,
        columns.len(),
        at,
        ck,
    ));
    let clustering = verdict.keep(clustering(rt.clustering, &columns, parts, ck));
    let (columns, sources) = columns.into_iter().unzip();
    let table = TableDef {
        name: table_name,
        description: rt
            .description
            .unwrap_or_else(|| format!("One row per {:?} execute (insert-only).", parts.label)),
        columns,
        partition_by_day: Some(audit::received_at().into()),
        clustering,
        key: audit::key(parts.kind)
            .into_iter()
            .map(String::from)
            .collect(),
    };
    verdict.with((table, sources))
}

/// Each column with where its value comes from, in table order; the names the file gives are
/// checked (against the rules, the audit columns, each other and the generated LookML).
fn columns(parts: &Parts, ck: &mut Checker) -> Checked<Vec<(ColumnDef, ColumnSource)>> {
    let head = audit::columns(parts.kind, Place::Head, parts.key_tag);
    let tail = audit::columns(parts.kind, Place::Tail, parts.key_tag);
    let audit = head.iter().chain(tail.iter()).map(|(c, _)| c);
    let names = check_own_names(parts, audit, ck);
    let mut columns = head;
    for f in parts.fields {
        let mode = if f.column_nullable {
            Mode::Nullable
        } else if f.required || f.column_required_empty {
            Mode::Required
        } else {
            Mode::Nullable
        };
        let description = f.description_for_column();
        columns.push((
            ColumnDef::new(&f.column, f.column_type, mode, &description),
            ColumnSource::Field(f.name.clone()),
        ));
    }
    for (rc, desc, _) in parts.results {
        let description = desc
            .clone()
            .unwrap_or_else(|| format!("{} of the result row.", rc.field));
        columns.push((
            ColumnDef::new(&rc.column, rc.column_type, Mode::Nullable, &description),
            ColumnSource::Result {
                field: rc.field.clone(),
                required: rc.required,
            },
        ));
    }
    columns.extend(tail);
    Checked {
        value: columns,
        sound: names,
    }
}

/// The column names the file gives: valid, none an audit column's, none twice, none clashing
/// with a name of the generated LookML.
fn check_own_names<'a>(
    parts: &Parts,
    audit: impl Iterator<Item = &'a ColumnDef> + Clone,
    ck: &mut Checker,
) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    let reserved: BTreeSet<&str> = audit.clone().map(|c| c.name.as_str()).collect();
    let mut seen: HashMap<String, String> = HashMap::new();
    // The columns whose name is refused here: the LookML check leaves them out.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    // The columns the file names, with what gives them and their place.
    let mut own: Vec<(String, ColumnType, String, Pos)> = vec![];
    for f in parts.fields {
        // A column named after a refused field name: the field's problem already says it.
        if f.column == f.name && names::field_name_problem(&f.name).is_some() {
            continue;
        }
        own.push((
            f.column.clone(),
            f.column_type,
            format!("field {}", f.name),
            f.line,
        ));
    }
    for (rc, _, l) in parts.results {
        own.push((
            rc.column.clone(),
            rc.column_type,
            format!("result field {}", rc.field),
            *l,
        ));
    }
    for (name, _, what, l) in &own {
        let says = if let Some(p) = names::column_name_problem(name) {
            p
        } else if reserved.contains(name.as_str()) {
            let message =
                format!("column {name:?} ({what}) is one of the audit columns every row has");
            advice(message, format!("write `{name}_value` or another name"))
        } else if let Some(prev) = seen.insert(name.to_string(), what.clone()) {
            let message = format!("column {name:?} ({what}) is already the column of {prev}");
            advice(message, "give it its own name")
        } else {
            continue;
        };
        verdict.add(ck.at(*l, says));
        refused.insert(name.to_string());
    }
    verdict.note(lookml_clashes(parts.kind, audit, &own, &refused, ck));
    verdict.then(())
}

/// BigQuery's limits on descriptions, and the embedded store's on columns (BigQuery's is 10 000).
fn check_limits(
    table_name: &str,
    description: Option<&str>,
    parts: &Parts,
    column_count: usize,
    at: Pos,
    ck: &mut Checker,
) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    for f in parts.fields {
        let n = f.description_for_column().chars().count();
        if n > MAX_COLUMN_DESCRIPTION {
            let message = format!(
                "field {:?}: its column's description (its label, when `column: {{description: ...}}` is not given) is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}",
                f.name
            );
            let help = "write a shorter `column: {description: ...}`";
            verdict.add(ck.at(f.line, advice(message, help)));
        }
    }
    for (rc, desc, l) in parts.results {
        let n = desc.as_deref().map_or(0, |d| d.chars().count());
        if n > MAX_COLUMN_DESCRIPTION {
            let message = format!(
                "result column {:?}: its description is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}",
                rc.column
            );
            verdict.add(ck.at(*l, advice(message, "write a shorter one")));
        }
    }
    let n = description.map_or(0, |d| d.chars().count());
    if n > MAX_TABLE_DESCRIPTION {
        let message = format!(
            "table {table_name:?}: its description is {n} characters; BigQuery takes at most {MAX_TABLE_DESCRIPTION}"
        );
        verdict.add(ck.at(at, advice(message, "write a shorter one")));
    }
    if column_count > MAX_COLUMNS {
        let message = format!(
            "table {table_name:?} would have {column_count} columns; the embedded store (SQLite) takes at most {MAX_COLUMNS}"
        );
        let help = "split the action, or map fewer result fields";
        verdict.add(ck.at(at, advice(message, help)));
    }
    verdict.then(())
}

/// The clustering columns: as the file lists them (columns of the table, of a type BigQuery
/// clusters on, at most 4, none twice), else the key column.
fn clustering(
    listed: Option<Vec<Spanned<String>>>,
    columns: &[(ColumnDef, ColumnSource)],
    parts: &Parts,
    ck: &mut Checker,
) -> Checked<Vec<String>> {
    let mut verdict = Verdict::default();
    let Some(c) = listed else {
        // The table clusters on its key column unless the file says otherwise.
        let key = parts.fields.iter().find(|f| f.column == parts.key_column);
        if let Some(f) = key.filter(|f| !clusterable(f.column_type)) {
            let message = format!(
                "key field {:?} is stored as {t}, and the table clusters on its key column, which BigQuery cannot do with {t}",
                f.name,
                t = f.column_type.bigquery_name(),
            );
            let help = format!(
                "write `column: {{type: {}}}` on the field, or name other columns under `table: {{clustering: [...]}}`",
                f.value.default_column().bigquery_name(),
            );
            verdict.add(ck.at(f.line, advice(message, help)));
        }
        return verdict.with(vec![parts.key_column.to_string()]);
    };
    if c.len() > 4 {
        let message = "BigQuery clusters on at most 4 columns";
        verdict.add(ck.at(line(&c[4]), advice(message, "remove the rest")));
    }
    for (i, col) in c.iter().enumerate() {
        let name = &col.value;
        let says = match columns.iter().map(|(k, _)| k).find(|k| &k.name == name) {
            None => format!("clustering column {name:?} is not a column of the table").into(),
            Some(k) if !clusterable(k.ty) => {
                let t = k.ty.bigquery_name();
                let message =
                    format!("clustering column {name:?} is {t}, which BigQuery cannot cluster on");
                let help = format!("cluster on a column of type {CLUSTERABLE}, or remove it");
                advice(message, help)
            }
            Some(_) if c[..i].iter().any(|p| &p.value == name) => {
                let message = format!("clustering column {name:?} is listed twice");
                advice(message, "keep one")
            }
            Some(_) => continue,
        };
        verdict.add(ck.at(line(col), says));
    }
    verdict.with(c.into_iter().map(|c| c.value).collect())
}
