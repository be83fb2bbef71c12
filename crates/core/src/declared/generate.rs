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
use super::model::{ActionDef, ColumnDef, ColumnSource, ColumnType, Kind};
use super::{ActionsFile, BUILTIN_NAME};
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
pub fn terraform_files(file: &ActionsFile) -> Vec<(String, String)> {
    terraform_files_with(file, &crate::actions::coded(&Default::default()))
}

/// [`terraform_files`] with these coded actions: their tables ([`crate::actions::Action::tables`])
/// follow the file's.
pub fn terraform_files_with(
    file: &ActionsFile,
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

/// `name` as a GoogleSQL identifier: backquoted, so a reserved keyword (`order`, `select`, ...)
/// is a column name like any other in the `sql:` of the generated LookML.
pub fn bq_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A LookML string literal.
pub(super) fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
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

pub(super) fn dimension(out: &mut String, c: &ColumnDef, key: bool, pk: bool, tags: &[String]) {
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

/// The LookML views of a whole actions file's tables: `(file name, content)`. The header names
/// the file by its name alone, so the text does not depend on where the command ran.
pub fn lookml_files(file: &ActionsFile) -> Vec<(String, String)> {
    let source = if file.source == BUILTIN_NAME {
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
        .collect()
}

/// The most one Secret Manager version holds, in bytes: the deployed actions file is mounted from
/// one (terraform/actions.tf and scripts/deploy.sh check the same number, in bytes too).
pub const DEPLOYABLE_MAX_BYTES: usize = 65536;

/// The actions file as it is deployed (one file, no folder next to it): `text` with every icon
/// given as a file path replaced by its data URI, everything else byte for byte. `file` is `text`
/// loaded (its icons resolved). Refused over [`DEPLOYABLE_MAX_BYTES`] (UTF-8 bytes, not characters).
pub fn deployable_file(text: &str, file: &ActionsFile) -> Result<String, String> {
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
        let file = crate::declared::parse(yaml, "t.yaml", None).unwrap();
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
            terraform_files_with(&crate::declared::builtin(), &coded)
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
            terraform_files(&crate::declared::builtin())
                .into_iter()
                .find(|(n, _)| n == "suspicious_marks.json")
                .unwrap()
                .1
        );
    }

    #[test]
    fn builtin_generated_files_are_fresh() {
        let file = super::super::builtin();
        let refresh = "cargo run -p hub -- generate-actions --builtin --terraform terraform/schemas --lookml lookml";
        assert_fresh(
            "terraform/schemas",
            &terraform_files(&file),
            |n, _| n.ends_with(".json"),
            refresh,
        );
        assert_fresh(
            "lookml",
            &super::super::lookml_files(&file),
            generated_lookml,
            refresh,
        );
    }

    #[test]
    fn retail_example_generated_files_are_fresh() {
        let rel = "examples/actions/retail.yaml";
        let text = std::fs::read_to_string(repo().join(rel)).unwrap();
        let file = super::super::parse(&text, rel, Some(&repo().join("examples/actions"))).unwrap();
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
            &super::super::lookml_files(&file),
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

    fn run(args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (mut out, mut err) = (vec![], vec![]);
        let code = super::super::generate_actions_command(&args, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// A table removed from the file: `FILE DIR` removes its stale `DIR/terraform/<t>.json` and
    /// `DIR/lookml/<t>.view.lkml` (each printed), and nothing else; `--lookml` / `--terraform`
    /// folders (the repository's lookml/ holds hand-written views) are only written to.
    #[test]
    fn generate_actions_into_dir_removes_the_files_of_removed_tables() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| dir.path().join(p).display().to_string();
        let text = std::fs::read_to_string(repo().join("examples/actions/retail.yaml")).unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, text.replace("icon: icons/reorder.svg", "")).unwrap();
        let file = file.display().to_string();
        let (code, _, err) = run(&[&file, &d("r")]);
        assert_eq!(code, 0, "{err}");
        let r = dir.path().join("r");
        // Files the generator does not make, in its folders: never removed.
        for keep in [
            "terraform/notes.txt",
            "lookml/orders.model.lkml",
            "lookml/x.view.lkml.bak",
        ] {
            std::fs::write(r.join(keep), "mine").unwrap();
        }
        std::fs::create_dir(r.join("lookml/sub.view.lkml")).unwrap();
        let before = |sub: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(r.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        let (tf, lk) = (before("terraform"), before("lookml"));
        // The same file with the first action (and its table) gone.
        let parsed =
            super::super::parse(&text.replace("icon: icons/reorder.svg", ""), "a", None).unwrap();
        let first = &parsed.actions[0].table.name;
        let second_at = text.find("\n  - name: ").unwrap();
        let rest = &text[text[second_at + 1..].find("\n  - name: ").unwrap() + second_at + 1..];
        std::fs::write(
            &file,
            format!("{}{rest}", &text[..second_at]).replace("icon: icons/reorder.svg", ""),
        )
        .unwrap();
        let (code, out, err) = run(&[&file, &d("r")]);
        assert_eq!(code, 0, "{err}");
        let removed: Vec<&str> = out.lines().filter(|l| l.starts_with("removed ")).collect();
        let gone = [
            format!("terraform/{first}.json"),
            format!("lookml/{first}.view.lkml"),
        ];
        assert_eq!(removed.len(), gone.len(), "{out}");
        for g in &gone {
            assert!(!r.join(g).exists(), "{g}");
            assert!(
                out.contains(&format!("removed {}", r.join(g).display())),
                "{out}"
            );
        }
        let after_tf: Vec<String> = tf
            .into_iter()
            .filter(|f| !gone.contains(&format!("terraform/{f}")))
            .collect();
        let after_lk: Vec<String> = lk
            .into_iter()
            .filter(|f| !gone.contains(&format!("lookml/{f}")))
            .collect();
        assert_eq!(
            (before("terraform"), before("lookml")),
            (after_tf, after_lk)
        );

        // --lookml into a shared folder: a view the run does not write stays.
        std::fs::create_dir(dir.path().join("shared")).unwrap();
        std::fs::write(dir.path().join("shared/orders.view.lkml"), "mine").unwrap();
        let (code, out, _) = run(&[
            "--builtin",
            "--lookml",
            &d("shared"),
            "--terraform",
            &d("shared"),
        ]);
        assert_eq!(code, 0);
        assert!(!out.contains("removed"), "{out}");
        assert!(dir.path().join("shared/orders.view.lkml").is_file());
    }

    /// `hub generate-actions`: FILE DIR writes the three parts; --builtin with --terraform /
    /// --lookml writes only those; a second run leaves unchanged files alone; usage errors exit 2,
    /// a file with problems 1 (its problems on stderr, nothing written).
    #[test]
    fn generate_actions_command_writes_what_it_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| dir.path().join(p).display().to_string();
        let retail = repo()
            .join("examples/actions/retail.yaml")
            .display()
            .to_string();
        let (code, out, err) = run(&[&retail, &d("r")]);
        assert_eq!(code, 0, "{err}");
        // 3 tables, the 2 of the run ledger and the manifest; 3 views and the ledger's 2 views,
        // explore and dashboard; the actions file.
        assert_eq!(out.matches("wrote ").count(), 14, "{out}");
        for f in [
            "terraform/tables.json",
            "lookml/review_flags.view.lkml",
            "actions.yaml",
        ] {
            assert!(dir.path().join("r").join(f).is_file(), "{f}");
        }
        let (code, out, _) = run(&[&retail, &d("r")]);
        assert_eq!((code, out.matches("unchanged ").count()), (0, 14), "{out}");

        let (code, out, err) = run(&["--builtin", "--terraform", &d("tf")]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.matches("wrote ").count(), 5, "{out}");
        assert!(!dir.path().join("lookml").exists() && !dir.path().join("actions.yaml").exists());

        for bad in [
            &[][..],
            &["--builtin"][..],
            &["--builtin", "--terraform"][..],
            &["--builtin", "--terraform", "a", "--terraform", "b"][..],
            &["--builtin", "--what", "a"][..],
            &["--builtin", "a", "b"][..],
        ] {
            let (code, _, err) = run(bad);
            assert_eq!(code, 2, "{bad:?}");
            assert!(
                err.starts_with("usage: hub generate-actions"),
                "{bad:?}: {err}"
            );
        }

        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, "actions:\n  - name: a\n    lable: A\n").unwrap();
        let (code, out, err) = run(&[broken.to_str().unwrap(), &d("b")]);
        assert_eq!(code, 1);
        assert!(
            out.is_empty() && err.contains(":3:5: unknown key `lable`"),
            "{err}"
        );
        assert!(!dir.path().join("b").exists());
    }

    /// The deployable copy stands alone: read with no folder next to it, it is the same actions
    /// (the icon file became its data URI), and only the icon values changed.
    /// The limit counts bytes: 40 000 "é" are 40 000 characters but 80 000 bytes.
    #[test]
    fn a_deployable_file_over_64_kib_of_bytes_is_refused() {
        let file = crate::declared::builtin();
        let text = crate::declared::BUILTIN_YAML;
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
        let file = super::super::parse(&text, "x.yaml", Some(dir.path())).unwrap();
        let out = deployable_file(&text, &file).unwrap();
        let alone =
            super::super::parse(&out, "x.yaml", None).expect("the copy loads without its folder");
        let icons = |f: &ActionsFile| -> Vec<Option<String>> {
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
            let file = super::super::parse(&text, "x.yaml", None)
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
