//! The BigQuery table schemas terraform reads. Terraform cannot derive the audit columns from the
//! actions file with `yamldecode` alone, so the hub writes them: one BigQuery JSON schema per
//! table (the format `google_bigquery_table.schema` and `bq mk --schema` take) and `tables.json`
//! (description, partitioning, clustering, schema file of every table) that terraform reads with
//! `jsondecode(file(...))`.

use std::sync::Arc;

use serde::Serialize;

use super::super::model::{ActionDef, Catalog, ColumnDef, ColumnSource};
use crate::sinks::table::{Mode, TableDef};

#[derive(Serialize)]
struct SchemaColumn<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    column_type: &'a str,
    mode: &'a str,
    description: &'a str,
}

/// The mode of a column in the BigQuery table terraform creates. A form field's column is
/// REQUIRED only when the file says `column: {mode: REQUIRED}`: `required: true` alone gives a
/// NULLABLE column, which the hub fills in every row (it refuses an execute without the value).
/// So a field made required later, or optional again, or retired, never asks BigQuery to tighten
/// a column — which it cannot do in place (the provider would replace the table and its rows).
/// The hub's start check accepts a REQUIRED declaration over a NULLABLE column.
pub fn warehouse_mode(def: &ActionDef, c: &ColumnDef, source: &ColumnSource) -> Mode {
    match source {
        ColumnSource::Field(name) => {
            let explicit = def
                .fields
                .iter()
                .any(|f| &f.name == name && f.column_required);
            if explicit {
                Mode::Required
            } else {
                Mode::Nullable
            }
        }
        _ => c.mode,
    }
}

/// The BigQuery JSON schema of one action's table (terraform `schema = file(...)`): its
/// table with each column in its [`warehouse_mode`].
pub fn bigquery_schema(def: &ActionDef) -> String {
    let mut table = def.table.clone();
    for (c, source) in table.columns.iter_mut().zip(&def.sources) {
        c.mode = warehouse_mode(def, c, source);
    }
    table_schema(&table)
}

#[derive(Serialize)]
struct TableEntry<'a> {
    action: &'a str,
    description: &'a str,
    schema: String,
    partition: &'a str,
    clustering: &'a [String],
}

/// The BigQuery JSON schema of a table description (a coded action's table).
pub fn table_schema(table: &TableDef) -> String {
    let cols: Vec<SchemaColumn> = table
        .columns
        .iter()
        .map(|c| SchemaColumn {
            name: &c.name,
            column_type: c.ty.bigquery_name(),
            mode: c.mode.bigquery_name(),
            description: &c.description,
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&cols).unwrap_or_default();
    s.push('\n');
    s
}

/// What `tables.json` names as the writer of the run ledger's tables (no action writes them).
pub const LEDGER_WRITER: &str = "(run ledger)";

/// The terraform file listing every table (terraform/bigquery.tf reads it by this name).
pub const MANIFEST_FILE: &str = "tables.json";

/// The terraform file holding a table's BigQuery schema.
pub fn schema_file(table: &str) -> String {
    format!("{table}.json")
}

/// The terraform files of a whole actions file and of the coded actions every hub serves
/// ([`crate::actions::coded`]): `(file name, content)`, `tables.json` first.
pub fn terraform_files(file: &Catalog) -> Vec<(String, String)> {
    terraform_files_with(file, &crate::actions::coded(&Default::default()))
}

/// [`terraform_files`] with these coded actions: their tables ([`crate::actions::Action::tables`])
/// follow the file's.
pub fn terraform_files_with(
    file: &Catalog,
    coded: &[Arc<dyn crate::actions::Action>],
) -> Vec<(String, String)> {
    let mut tables = serde_json::Map::new();
    let mut schemas = Vec::new();
    for a in &file.actions {
        let entry = TableEntry {
            action: &a.name,
            description: &a.table.description,
            schema: schema_file(&a.table.name),
            partition: a.table.partition_by_day.as_deref().unwrap_or(""),
            clustering: &a.table.clustering,
        };
        tables.insert(
            a.table.name.clone(),
            serde_json::to_value(entry).unwrap_or_default(),
        );
        schemas.push((schema_file(&a.table.name), bigquery_schema(a)));
    }
    let coded_tables = coded.iter().flat_map(|a| {
        a.tables()
            .into_iter()
            .map(move |t| (a.name().to_string(), t))
    });
    // The run ledger's tables: every hub writes them unless HUB_RUN_LEDGER turns them off.
    let ledger_tables = crate::sinks::ledger::tables()
        .into_iter()
        .map(|t| (LEDGER_WRITER.to_string(), t));
    for (writer, t) in coded_tables.chain(ledger_tables) {
        let entry = TableEntry {
            action: &writer,
            description: &t.description,
            schema: schema_file(&t.name),
            partition: t.partition_by_day.as_deref().unwrap_or(""),
            clustering: &t.clustering,
        };
        tables.insert(
            t.name.clone(),
            serde_json::to_value(entry).unwrap_or_default(),
        );
        schemas.push((schema_file(&t.name), table_schema(&t)));
    }
    let mut manifest = serde_json::to_string_pretty(&tables).unwrap_or_default();
    manifest.push('\n');
    let mut out = vec![(MANIFEST_FILE.to_string(), manifest)];
    out.extend(schemas);
    out
}
