//! What follows from an actions file besides the hub itself: the BigQuery table schemas terraform
//! reads, and LookML over each table. Pure functions: the same file gives the same text, so a test
//! can fail when a checked-in copy is stale.
//!
//! Terraform cannot derive the audit columns from the actions file with `yamldecode` alone, so the
//! hub writes them: one BigQuery JSON schema per table (the format `google_bigquery_table.schema`
//! and `bq mk --schema` take) and `tables.json` (description, partitioning, clustering, schema
//! file of every table) that terraform reads with `jsondecode(file(...))`.

use serde::Serialize;

use super::model::{ActionDef, Column, ColumnType, Kind};
use super::ActionsFile;
use crate::api::RequiredField;

#[derive(Serialize)]
struct SchemaColumn<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    column_type: &'a str,
    mode: &'a str,
    description: &'a str,
}

/// The BigQuery JSON schema of one action's table (terraform `schema = file(...)`).
pub fn bigquery_schema(def: &ActionDef) -> String {
    let cols: Vec<SchemaColumn> = def
        .table
        .columns
        .iter()
        .map(|c| SchemaColumn {
            name: &c.name,
            column_type: c.column_type.bigquery_name(),
            mode: c.mode.bigquery_name(),
            description: &c.description,
        })
        .collect();
    // A Vec of plain structs always serializes.
    let mut s = serde_json::to_string_pretty(&cols).unwrap_or_default();
    s.push('\n');
    s
}

#[derive(Serialize)]
struct TableEntry<'a> {
    action: &'a str,
    description: &'a str,
    schema: String,
    partition: &'a str,
    clustering: &'a [String],
}

/// The terraform files of a whole actions file: `(file name, content)`, `tables.json` first.
pub fn terraform_files(file: &ActionsFile) -> Vec<(String, String)> {
    let tables: serde_json::Map<String, serde_json::Value> = file
        .actions
        .iter()
        .map(|a| {
            let entry = TableEntry {
                action: &a.name,
                description: &a.table.description,
                schema: format!("{}.json", a.table.name),
                partition: &a.table.partition,
                clustering: &a.table.clustering,
            };
            (
                a.table.name.clone(),
                serde_json::to_value(entry).unwrap_or_default(),
            )
        })
        .collect();
    let mut manifest = serde_json::to_string_pretty(&tables).unwrap_or_default();
    manifest.push('\n');
    let mut out = vec![("tables.json".to_string(), manifest)];
    for a in &file.actions {
        out.push((format!("{}.json", a.table.name), bigquery_schema(a)));
    }
    out
}

/// A LookML string literal.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The tags that make the action appear, for the key dimension.
fn action_tags(def: &ActionDef) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    match def.kind {
        Kind::Query => tags.extend(def.key_tag.clone()),
        Kind::Cell => {
            for r in &def.required_fields {
                match r {
                    RequiredField::Tag { tag } => tags.push(tag.clone()),
                    RequiredField::AnyTag { any_tag } => tags.extend(any_tag.first().cloned()),
                    RequiredField::AllTags { all_tags } => tags.extend(all_tags.iter().cloned()),
                }
            }
        }
    }
    tags.dedup();
    tags
}

fn dimension(out: &mut String, c: &Column, key: bool, pk: bool, tags: &[String]) {
    let (kind, name) = match c.column_type {
        ColumnType::Date => ("dimension_group", c.name.clone()),
        ColumnType::Timestamp => (
            "dimension_group",
            c.name.strip_suffix("_at").unwrap_or(&c.name).to_string(),
        ),
        _ => ("dimension", c.name.clone()),
    };
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
    let sql = match c.column_type {
        ColumnType::Json => format!("TO_JSON_STRING(${{TABLE}}.{})", c.name),
        _ => format!("${{TABLE}}.{}", c.name),
    };
    match c.column_type {
        ColumnType::String | ColumnType::Json => out.push_str("    type: string\n"),
        ColumnType::Int64 | ColumnType::Numeric | ColumnType::Float64 => {
            out.push_str("    type: number\n")
        }
        ColumnType::Bool => out.push_str("    type: yesno\n"),
        ColumnType::Date => out.push_str(
            "    type: time\n    datatype: date\n    convert_tz: no\n    timeframes: [raw, date, week, month, year]\n",
        ),
        ColumnType::Timestamp => {
            out.push_str("    type: time\n    timeframes: [raw, time, date, week, month]\n")
        }
    }
    out.push_str(&format!("    sql: {sql} ;;\n  }}\n\n"));
}

/// LookML for one action's table: a view over the insert-only log and a `<table>_current` view
/// holding the latest row per key (the append-only pattern: decisions are never updated, the
/// newest one wins). The key dimension carries the action's tags, so the action appears on it.
pub fn lookml_view(def: &ActionDef, source: &str) -> String {
    let t = &def.table;
    let tags = action_tags(def);
    let mut out = format!(
        "# Generated from {source} (action {}): do not edit, edit the actions file and regenerate.\n\
         # {}\n\n",
        def.name,
        t.description.replace('\n', " ")
    );
    out.push_str(&format!(
        "view: {} {{\n  sql_table_name: `@{{writeback_dataset}}.{}` ;;\n\n",
        t.name, t.name
    ));
    if def.kind == Kind::Query {
        out.push_str("  dimension: pk {\n    primary_key: yes\n    hidden: yes\n    type: string\n    sql: CONCAT(${TABLE}.request_id, '/', CAST(${TABLE}.row_index AS STRING)) ;;\n  }\n\n");
    }
    for c in &t.columns {
        let pk = def.kind == Kind::Cell && c.name == "request_id";
        dimension(&mut out, c, c.name == t.key_column, pk, &tags);
    }
    out.push_str("  measure: count {\n    type: count\n  }\n}\n\n");

    let order = match def.kind {
        Kind::Cell => "received_at DESC, request_id DESC",
        Kind::Query => "received_at DESC, request_id DESC, row_index DESC",
    };
    out.push_str(&format!(
        "# The current state: the latest row per {key}.\nview: {name}_current {{\n  derived_table: {{\n    sql:\n      SELECT * EXCEPT (rn)\n      FROM (\n        SELECT *, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {order}) AS rn\n        FROM `@{{writeback_dataset}}.{name}`\n      )\n      WHERE rn = 1 ;;\n  }}\n\n",
        key = t.key_column,
        name = t.name,
    ));
    for c in &t.columns {
        if c.name == "request_id" || c.name == "row_index" || c.name == "row_json" {
            continue;
        }
        let key = c.name == t.key_column;
        dimension(&mut out, c, key, key, &tags);
    }
    out.push_str(&format!(
        "  measure: count {{\n    type: count\n    drill_fields: [{}]\n  }}\n}}\n",
        t.key_column
    ));
    out
}

/// The LookML files of a whole actions file: `(file name, content)`.
pub fn lookml_files(file: &ActionsFile) -> Vec<(String, String)> {
    file.actions
        .iter()
        .map(|a| {
            (
                format!("{}.view.lkml", a.table.name),
                lookml_view(a, &file.source),
            )
        })
        .collect()
}
