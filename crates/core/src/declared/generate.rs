//! What follows from an actions file besides the hub itself: the BigQuery table schemas terraform
//! reads, and LookML over each table. Pure functions: the same file gives the same text, so a test
//! can fail when a checked-in copy is stale.
//!
//! Terraform cannot derive the audit columns from the actions file with `yamldecode` alone, so the
//! hub writes them: one BigQuery JSON schema per table (the format `google_bigquery_table.schema`
//! and `bq mk --schema` take) and `tables.json` (description, partitioning, clustering, schema
//! file of every table) that terraform reads with `jsondecode(file(...))`.

use std::sync::Arc;

use serde::Serialize;

use super::audit;
use super::builtin;
use super::lookml::{
    bq_ident, dimension, COUNT_MEASURE, CURRENT_VIEW_SUFFIX, QUERY_PK_DIMENSION, ROW_NUMBER_ALIAS,
};
use super::model::{ActionDef, ColumnDef, ColumnSource, ColumnType, Kind};
use super::Catalog;
use crate::api::RequiredField;
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

/// The tags that make the action appear, for the key dimension.
fn action_tags(def: &ActionDef) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    if def.kind == Kind::Query {
        tags.extend(def.key_tag.clone());
    }
    // What makes the action appear: every `tag` and `all_tags` tag, one of `any_tag`.
    for r in &def.required_fields {
        match r {
            RequiredField::Tag { tag } => tags.push(tag.clone()),
            RequiredField::AnyTag { any_tag } => tags.extend(any_tag.first().cloned()),
            RequiredField::AllTags { all_tags } => tags.extend(all_tags.iter().cloned()),
        }
    }
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    tags
}

/// LookML for one action's table: a view over the insert-only log and a `<table>_current` view
/// holding the latest row per key (the append-only pattern: decisions are never updated, the
/// newest one wins). The key dimension carries the action's tags, so the action appears on it.
pub fn lookml_view(def: &ActionDef, source: &str) -> String {
    let t = &def.table;
    let tags = action_tags(def);
    let mut out = format!(
        "# Generated by `hub generate-actions` from {source}, action {}: do not edit; edit the actions file and regenerate.\n\
         # {}\n\n",
        def.name,
        t.description.replace('\n', " ")
    );
    out.push_str(&format!(
        "view: {} {{\n  sql_table_name: `@{{writeback_dataset}}.{}` ;;\n\n",
        t.name, t.name
    ));
    // A row is identified by its audit key columns: one is the primary key, several are
    // joined into a hidden one.
    let row_key = audit::key(def.kind);
    if row_key.len() > 1 {
        let parts: Vec<String> = row_key
            .iter()
            .map(|k| match t.columns.iter().find(|c| c.name == *k) {
                Some(c) if c.ty != ColumnType::String => {
                    format!("CAST(${{TABLE}}.{} AS STRING)", bq_ident(k))
                }
                _ => format!("${{TABLE}}.{}", bq_ident(k)),
            })
            .collect();
        out.push_str(&format!("  dimension: {QUERY_PK_DIMENSION} {{\n    primary_key: yes\n    hidden: yes\n    type: string\n    sql: CONCAT({}) ;;\n  }}\n\n", parts.join(", '/', ")));
    }
    for c in &t.columns {
        let pk = row_key.len() == 1 && c.name == row_key[0];
        dimension(&mut out, c, c.name == def.key_column, pk, &tags);
    }
    out.push_str(&format!(
        "  measure: {COUNT_MEASURE} {{\n    type: count\n  }}\n}}\n\n"
    ));

    let newest_first = std::iter::once(audit::received_at()).chain(row_key.iter().copied());
    let order: Vec<String> = newest_first
        .map(|c| format!("{} DESC", bq_ident(c)))
        .collect();
    out.push_str(&format!(
        "# The current state: the latest row per {key_column}.\nview: {name}{CURRENT_VIEW_SUFFIX} {{\n  derived_table: {{\n    sql:\n      SELECT * EXCEPT ({rn})\n      FROM (\n        SELECT *, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {order}) AS {rn}\n        FROM `@{{writeback_dataset}}.{name}`\n      )\n      WHERE {rn} = 1 ;;\n  }}\n\n",
        key_column = def.key_column,
        key = bq_ident(&def.key_column),
        order = order.join(", "),
        name = t.name,
        rn = ROW_NUMBER_ALIAS,
    ));
    for c in &t.columns {
        let hidden = audit::of(def.kind).any(|a| a.name == c.name && !a.in_current_view);
        if hidden {
            continue;
        }
        let key = c.name == def.key_column;
        dimension(&mut out, c, key, key, &tags);
    }
    out.push_str(&format!(
        "  measure: {COUNT_MEASURE} {{\n    type: count\n    drill_fields: [{}]\n  }}\n}}\n",
        def.key_column
    ));
    out
}

/// The LookML files of a whole actions file: `(file name, content)`. The header names the file
/// by its name alone, so the text does not depend on where the command ran.
pub fn lookml_files(file: &Catalog) -> Vec<(String, String)> {
    let source = if file.source == builtin::NAME {
        "the built-in actions (crates/core/src/declared/default_actions.yaml)".to_string()
    } else {
        std::path::Path::new(&file.source)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.source.clone())
    };
    file.actions
        .iter()
        .map(|a| {
            (
                format!("{}.view.lkml", a.table.name),
                lookml_view(a, &source),
            )
        })
        .chain(super::emit_ledger::lookml_files())
        .collect()
}

/// The most one Secret Manager version holds, in bytes: the deployed actions file is mounted from
/// one (terraform/actions.tf and scripts/deploy.sh check the same number, in bytes too).
pub const DEPLOYABLE_MAX_BYTES: usize = 65536;

/// The actions file as it is deployed (one file, no folder next to it): `text` with every icon
/// given as a file path replaced by its data URI, everything else byte for byte. `file` is `text`
/// loaded (its icons resolved). Refused over [`DEPLOYABLE_MAX_BYTES`] (UTF-8 bytes, not characters).
pub fn deployable_file(text: &str, file: &Catalog) -> Result<String, String> {
    let mut edits: Vec<(usize, usize, String)> = vec![];
    for def in &file.actions {
        let Some((start, len)) = def.icon_file_span else {
            continue;
        };
        let Some(uri) = def.icon_data_uri.as_deref() else {
            return Err(format!(
                "line {}: cannot inline the icon file of action {:?}",
                def.line, def.name
            ));
        };
        // A data URI holds no quote: single-quoted, it is the same string to any YAML reader.
        edits.push((start, len, format!("'{uri}'")));
    }
    let mut out = text.to_string();
    for (start, len, with) in edits.into_iter().rev() {
        if out.get(start..start + len).is_none() {
            return Err("cannot inline an icon file (unexpected position)".into());
        }
        out.replace_range(start..start + len, &with);
    }
    if out.len() > DEPLOYABLE_MAX_BYTES {
        return Err(format!(
            "with its icons inlined it is {} bytes; Secret Manager, which Cloud Run mounts it from, holds at most {DEPLOYABLE_MAX_BYTES}: use smaller icons (or shorter texts)",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The checked-in generated files are what the generators write today: terraform's tables and
    //! the LookML of the built-in actions, and the whole output of the retail example.

    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Every `(name, text)` equals `dir/name`, and `dir` holds no other generated file (`is_ours`).
    fn assert_fresh(
        dir: &str,
        files: &[(String, String)],
        is_ours: impl Fn(&str, &str) -> bool,
        refresh: &str,
    ) {
        let stale = |what: String| -> ! {
            panic!("{what}: the checked-in generated files are stale; from the repository root run\n  {refresh}")
        };
        for (name, text) in files {
            let path = format!("{dir}/{name}");
            match std::fs::read_to_string(repo().join(&path)) {
                Ok(have) if have == *text => {}
                Ok(_) => stale(format!("{path} differs from what the generator writes")),
                Err(e) => stale(format!("{path}: {e}")),
            }
        }
        let want: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(repo().join(dir).join(&name)).unwrap_or_default();
            if is_ours(&name, &text) && !want.contains(name.as_str()) {
                stale(format!("{dir}/{name} is no longer generated (delete it)"));
            }
        }
    }

    fn generated_lookml(name: &str, text: &str) -> bool {
        name.ends_with(".view.lkml") && text.starts_with("# Generated by `hub generate-actions`")
    }

    /// A form field's BigQuery column is REQUIRED only when the file says `mode: REQUIRED`:
    /// `required: true` alone gives NULLABLE, so making a field required (or optional again, or
    /// retiring it) never asks BigQuery to tighten a column. Audit columns keep their mode.
    #[test]
    fn a_required_fields_bigquery_column_is_nullable_unless_declared_required() {
        let yaml = r#"
version: 1
actions:
  - name: approve
    label: Approve
    kind: cell
    required_fields: [{tag: order}]
    key: id
    table: {name: approvals, description: Approvals.}
    fields:
      - {name: id, type: string, required: true, interactive: false, default: {from: value}}
      - {name: reason, type: string, required: true}
      - {name: amount, type: string, required: true, column: {mode: REQUIRED}}
      - {name: note, type: string}
    success_message: Done.
"#;
        let file = crate::declared::source::parse(yaml, "t.yaml", None).unwrap();
        let schema: Vec<serde_json::Value> =
            serde_json::from_str(&bigquery_schema(&file.actions[0])).unwrap();
        let mode = |name: &str| {
            schema.iter().find(|c| c["name"] == name).unwrap()["mode"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            ["id", "reason", "amount", "note", "request_id", "action"].map(mode),
            ["NULLABLE", "NULLABLE", "REQUIRED", "NULLABLE", "REQUIRED", "REQUIRED"]
        );
        // The hub's own declaration still requires them (the start check accepts a REQUIRED
        // declaration over a NULLABLE column; the embedded store keeps NOT NULL).
        let declared = |name: &str| {
            file.actions[0]
                .table
                .columns
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .mode
        };
        assert_eq!(declared("reason"), Mode::Required);
    }

    /// A coded action's table reaches terraform with the declared ones: its entry in
    /// `tables.json` and its schema, from its one description.
    #[test]
    fn a_coded_actions_table_is_in_the_terraform_files() {
        let coded: Vec<Arc<dyn crate::actions::Action>> =
            vec![Arc::new(crate::actions::testing::fake::TableWriter)];
        let files: std::collections::BTreeMap<String, String> =
            terraform_files_with(&crate::declared::builtin::catalog(), &coded)
                .into_iter()
                .collect();
        let manifest: serde_json::Value = serde_json::from_str(&files["tables.json"]).unwrap();
        assert_eq!(
            manifest["coded_audit"],
            serde_json::json!({"action": "coded_audit", "description": "One row per coded execute.",
                "schema": "coded_audit.json", "partition": "at", "clustering": ["id"]})
        );
        let schema: serde_json::Value = serde_json::from_str(&files["coded_audit.json"]).unwrap();
        assert_eq!(
            schema,
            serde_json::json!([
                {"name": "id", "type": "STRING", "mode": "REQUIRED", "description": "The id."},
                {"name": "at", "type": "TIMESTAMP", "mode": "REQUIRED", "description": "When."}
            ])
        );
        // The built-in actions' tables come first and unchanged.
        assert_eq!(
            files["suspicious_marks.json"],
            terraform_files(&crate::declared::builtin::catalog())
                .into_iter()
                .find(|(n, _)| n == "suspicious_marks.json")
                .unwrap()
                .1
        );
    }

    #[test]
    fn builtin_generated_files_are_fresh() {
        let file = crate::declared::builtin::catalog();
        let refresh = "cargo run -p hub -- generate-actions --builtin --terraform terraform/schemas --lookml lookml";
        assert_fresh(
            "terraform/schemas",
            &terraform_files(&file),
            |n, _| n.ends_with(".json"),
            refresh,
        );
        assert_fresh("lookml", &lookml_files(&file), generated_lookml, refresh);
    }

    #[test]
    fn retail_example_generated_files_are_fresh() {
        let rel = "examples/actions/retail.yaml";
        let text = std::fs::read_to_string(repo().join(rel)).unwrap();
        let file =
            crate::declared::source::parse(&text, rel, Some(&repo().join("examples/actions")))
                .unwrap();
        let refresh =
            "cargo run -p hub -- generate-actions examples/actions/retail.yaml examples/actions/retail";
        let dir = "examples/actions/retail";
        assert_fresh(
            &format!("{dir}/terraform"),
            &terraform_files(&file),
            |n, _| n.ends_with(".json"),
            refresh,
        );
        assert_fresh(
            &format!("{dir}/lookml"),
            &lookml_files(&file),
            generated_lookml,
            refresh,
        );
        let bundle = deployable_file(&text, &file).unwrap();
        assert_fresh(
            dir,
            &[("actions.yaml".to_string(), bundle)],
            |n, _| n.ends_with(".yaml"),
            refresh,
        );
    }

    /// The deployable copy stands alone: read with no folder next to it, it is the same actions
    /// (the icon file became its data URI), and only the icon values changed.
    /// The limit counts bytes: 40 000 "é" are 40 000 characters but 80 000 bytes.
    #[test]
    fn a_deployable_file_over_64_kib_of_bytes_is_refused() {
        let file = crate::declared::builtin::catalog();
        let text = crate::declared::builtin::YAML;
        let big = format!("{text}# {}\n", "é".repeat(40_000));
        assert!(big.chars().count() < DEPLOYABLE_MAX_BYTES);
        assert_eq!(
            deployable_file(&big, &file).unwrap_err(),
            format!("with its icons inlined it is {} bytes; Secret Manager, which Cloud Run mounts it from, holds at most 65536: use smaller icons (or shorter texts)", big.len())
        );
        let fits = format!(
            "{text}#{}\n",
            "x".repeat(DEPLOYABLE_MAX_BYTES - text.len() - 2)
        );
        assert_eq!(
            deployable_file(&fits, &file).unwrap().len(),
            DEPLOYABLE_MAX_BYTES
        );
    }

    #[test]
    fn deployable_file_inlines_icon_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("icons")).unwrap();
        std::fs::write(
            dir.path().join("icons/a.svg"),
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        )
        .unwrap();
        std::fs::write(dir.path().join("icons/b.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        let base = repo().join("examples/actions/retail.yaml");
        let text = std::fs::read_to_string(&base).unwrap();
        // Three spellings of a file path: plain, double-quoted, single-quoted with a comment.
        let text = text
            .replacen("icon: icons/reorder.svg", "icon: \"icons/a.svg\"", 1)
            .replacen(
                "    kind: cell\n    required_fields:\n      - any_tag",
                "    icon: 'icons/b.png'   # a PNG\n    kind: cell\n    required_fields:\n      - any_tag",
                1,
            );
        let file = crate::declared::source::parse(&text, "x.yaml", Some(dir.path())).unwrap();
        let out = deployable_file(&text, &file).unwrap();
        let alone = crate::declared::source::parse(&out, "x.yaml", None)
            .expect("the copy loads without its folder");
        let icons = |f: &Catalog| -> Vec<Option<String>> {
            f.actions.iter().map(|a| a.icon_data_uri.clone()).collect()
        };
        assert_eq!(icons(&alone), icons(&file));
        assert!(icons(&file)[2]
            .as_deref()
            .unwrap()
            .starts_with("data:image/png;base64,"));
        let changed: Vec<(&str, &str)> = text
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(
            changed[0]
                .1
                .starts_with("    icon: 'data:image/svg+xml;base64,"),
            "{changed:?}"
        );
        assert!(
            changed[1]
                .1
                .starts_with("    icon: 'data:image/png;base64,"),
            "{changed:?}"
        );
        assert!(changed[1].1.ends_with("'   # a PNG"), "{changed:?}");
        assert_eq!(text.lines().count(), out.lines().count());
    }

    /// Inline markup is told from a file name by the one rule the icon check uses: markup opening
    /// with an XML prolog, a comment, whitespace or a byte-order mark is accepted by the check and
    /// copied as written by the generator (never taken for a file to inline).
    #[test]
    fn inline_svg_is_one_rule_for_the_check_and_the_generator() {
        let svg = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 8 8'><rect width='8' height='8'/></svg>";
        let base = std::fs::read_to_string(repo().join("examples/actions/retail.yaml")).unwrap();
        // YAML double-quoted scalars (with escapes) and a literal block.
        let spellings = [
            format!("\"<?xml version='1.0'?>{svg}\""),
            format!("\"<!-- mine -->{svg}\""),
            format!("\"  \\n {svg}\""),
            format!("\"\\uFEFF{svg}\""),
            format!("|\n      <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n      <!-- drawn by hand -->\n      {svg}"),
        ];
        for icon in spellings {
            let line = "icon: icons/reorder.svg    # a file next to this one (SVG or PNG)";
            assert!(base.contains(line));
            let text = base.replacen(line, &format!("icon: {icon}"), 1);
            // No folder: a value taken for a file name could not be resolved.
            let file = crate::declared::source::parse(&text, "x.yaml", None)
                .unwrap_or_else(|e| panic!("{icon}: {e}"));
            let uri = file.actions.iter().find_map(|a| a.icon_data_uri.clone());
            assert!(
                uri.as_deref()
                    .is_some_and(|u| u.starts_with("data:image/svg+xml;base64,")),
                "{icon}: {uri:?}"
            );
            assert_eq!(deployable_file(&text, &file).unwrap(), text, "{icon}");
        }
    }
}
