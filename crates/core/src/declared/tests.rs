//! The built-in file's answers (definitions, forms, validation, tables) as the coded actions gave
//! them, the example file, and every configuration error with its line.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde_json::json;

use super::builtin::{self, YAML as BUILTIN_YAML};
use super::form::{self, TypedValue};
use super::model::{ColumnSource, Kind};
use super::source::parse;
use super::*;
use crate::api::{ActionRequest, FormValue, Scalar};
use crate::settings::Settings;
use crate::startup::Hub;

const EXAMPLE: &str = include_str!("../../../../examples/actions/retail.yaml");

fn example_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/actions")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
}

async fn service_hub(dir: &tempfile::TempDir) -> Hub {
    let vars: HashMap<String, String> = [
        ("HUB_TOKENS", "test-token"),
        ("HUB_PUBLIC_URL", "https://hub.example.com"),
        (
            "HUB_STORE_PATH",
            dir.path().join("store.db").to_str().unwrap(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Hub::new(Settings::load(&vars, false).unwrap())
        .await
        .unwrap()
}

fn request(value: Option<&str>, form: &[(&str, &str)]) -> ActionRequest {
    let mut req: ActionRequest = serde_json::from_value(json!({"data": {}})).unwrap();
    if let Some(v) = value {
        req.data.0.insert("value".into(), Scalar::from(v));
    }
    for (k, v) in form {
        req.form_params.insert((*k).into(), FormValue::from(*v));
    }
    req
}

/// What the built-in actions answer: definitions, forms for three clicked values, and the outcome
/// of every validation case (field errors, or the success message). Recorded from the built-in
/// file at commit daef4ac, whose tests proved these answers equal to the coded `mark_suspicious` /
/// `writeback_batch` actions' (since removed); `HUB_RECORD_BUILTIN=1` rewrites it after a
/// deliberate change.
const BUILTIN_ANSWERS: &str = include_str!("testdata/builtin_answers.json");

async fn builtin_answers() -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let hub = service_hub(&dir).await;
    let max = hub.settings.max_comment_chars;
    let long = "x".repeat(max + 1);
    let long_id = "7".repeat(1025);
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (Some("42"), vec![]),
        (None, vec![]),
        (Some("  "), vec![]),
        (Some("42"), vec![("id", "")]),
        (Some("42"), vec![("id", long_id.as_str())]),
        (
            Some("42"),
            vec![("classification", "bogus"), ("comment", long.as_str())],
        ),
        (Some("42"), vec![("classification", "")]),
        (
            None,
            vec![
                ("id", "43"),
                ("classification", " approved "),
                ("comment", " ok "),
            ],
        ),
    ];
    let mut out = serde_json::Map::new();
    for def in &builtin::catalog().actions {
        let mut forms = vec![];
        for value in [None, Some("42"), Some("")] {
            let fields = form::form_fields(def, &request(value, &[]), today());
            forms.push(json!({"value": value, "fields": fields}));
        }
        let mut outcomes = vec![];
        for (value, form) in &cases {
            let outcome = match form::validate(def, &request(*value, form), max, today()) {
                Err(errors) => json!({"validation_errors": errors}),
                Ok(answers) => json!({"message": def.success_message.render(|p| match p {
                    "count" => Some("3".into()),
                    "rows" => Some("rows".into()),
                    _ => answers.get(p).map(|a| a.value.display()),
                })}),
            };
            outcomes.push(outcome);
        }
        out.insert(
            def.name.clone(),
            json!({
                "definition": def.definition(&hub.settings.public_url),
                "forms": forms,
                "outcomes": outcomes,
            }),
        );
    }
    serde_json::Value::Object(out)
}

#[tokio::test]
async fn builtin_definitions_forms_and_validation_are_the_coded_actions_own() {
    let got = builtin_answers().await;
    if std::env::var_os("HUB_RECORD_BUILTIN").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/declared/testdata/builtin_answers.json");
        std::fs::write(path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: serde_json::Value = serde_json::from_str(BUILTIN_ANSWERS).unwrap();
    for name in ["mark_suspicious", "writeback_batch"] {
        for part in ["definition", "forms", "outcomes"] {
            assert_eq!(got[name][part], want[name][part], "{part} of {name}");
        }
    }
    assert_eq!(got, want);
    // The recording is not empty: two definitions, six forms, sixteen outcomes.
    assert_eq!(
        want["mark_suspicious"]["outcomes"][3],
        json!({"validation_errors": {"id": "is required: the order id of the clicked cell"}})
    );
    assert_eq!(
        want["writeback_batch"]["outcomes"][7],
        json!({"message": "Wrote 3 rows as Approved to the write-back table."})
    );
}

#[tokio::test]
async fn definitions_and_the_list_are_prepared_once_per_hub() {
    let dir = tempfile::tempdir().unwrap();
    let hub = service_hub(&dir).await;
    // The same bytes every time: built once, not per request.
    let list = hub.list_body();
    assert_eq!(list.as_ptr(), hub.list_body().as_ptr());
    let (def, body) = hub.definition_of("mark_suspicious").unwrap();
    let (_, again) = hub.definition_of("mark_suspicious").unwrap();
    assert_eq!(body.as_ptr(), again.as_ptr());
    assert_eq!(
        serde_json::to_value(def).unwrap(),
        serde_json::from_slice::<serde_json::Value>(body).unwrap()
    );
    let listed: serde_json::Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(
        listed["integrations"][0],
        serde_json::to_value(builtin::catalog().actions[0].definition(&hub.settings.public_url))
            .unwrap()
    );
    assert!(hub.definition_of("nope").is_none());
}

#[test]
fn a_prepared_form_resolves_only_the_per_request_defaults() {
    let file = parse(EXAMPLE, "retail.yaml", Some(&example_dir())).unwrap();
    for def in &file.actions {
        let template = form::FormTemplate::new(def);
        for value in [None, Some("42")] {
            let mut req = request(value, &[]);
            req.data
                .0
                .insert("user_email".into(), Scalar::from("m@example.com"));
            let fields = template.fields(&req, today());
            assert_eq!(fields.len(), def.fields.len());
            for (f, ff) in def.fields.iter().zip(&fields) {
                let want = match &f.default {
                    None => None,
                    Some(model::DefaultValue::Literal(s)) => Some(s.clone()),
                    Some(model::DefaultValue::ClickedValue) => value.map(str::to_string),
                    Some(model::DefaultValue::Today) => Some("2026-03-31".into()),
                    Some(model::DefaultValue::Param(p)) => req.data_param(p),
                };
                assert_eq!(ff.default, want, "{}.{}", def.name, f.name);
            }
        }
    }
}

/// Answers for a message (their cells as text: only the values are shown).
fn shown<const N: usize>(values: [(&str, TypedValue); N]) -> form::Answers {
    values
        .into_iter()
        .map(|(name, value)| {
            let cell = value.cell(crate::sinks::ColumnType::String).unwrap();
            (name.to_string(), form::Answer { value, cell })
        })
        .collect()
}

#[test]
fn a_partial_answer_reads_like_the_success_message() {
    let all = |yaml: &str| {
        parse(yaml, "t.yaml", Some(&example_dir()))
            .unwrap()
            .actions
            .into_iter()
            .map(action::DeclaredAction::new)
            .collect::<Vec<_>>()
    };
    let answers = shown([("classification", TypedValue::Text("Approved".into()))]);
    let builtin = all(BUILTIN_YAML);
    assert_eq!(builtin[1].partial(&answers, 3), "Wrote 3 rows as Approved");
    assert_eq!(builtin[1].partial(&answers, 1), "Wrote 1 row as Approved");
    let example = all(EXAMPLE);
    let reorder = example
        .iter()
        .find(|a| crate::actions::Action::name(*a) == "reorder_stock")
        .unwrap();
    let answers = shown([
        ("quantity", TypedValue::Integer(5)),
        (
            "deliver_by",
            TypedValue::Date(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()),
        ),
    ]);
    assert_eq!(
        reorder.partial(&answers, 2),
        "Reorder of 5 each placed for 2 rows, delivery by 2026-12-24"
    );
    // A message whose placeholders do not say the count: the count is said plainly.
    let quiet = all(&BUILTIN_YAML.replace(
        "Wrote {count} {rows} as {classification} to the write-back table.",
        "Rows classified as {classification}.",
    ));
    assert_eq!(quiet[1].partial(&answers, 2), "Wrote 2 rows");
}

#[test]
fn builtin_tables_are_the_terraform_schemas() {
    let file = builtin::catalog();
    let files: BTreeMap<String, String> = emit::terraform_files(&file).into_iter().collect();
    assert_eq!(
        files["suspicious_marks.json"],
        include_str!("../../../../terraform/schemas/suspicious_marks.json")
    );
    assert_eq!(
        files["suspicious_marks_batch.json"],
        include_str!("../../../../terraform/schemas/suspicious_marks_batch.json")
    );
    let tables: serde_json::Value = serde_json::from_str(&files["tables.json"]).unwrap();
    assert_eq!(
        tables["suspicious_marks"],
        json!({"action": "mark_suspicious", "description": "One row per \"Mark as Suspicious\" execute (insert-only; the latest row per order wins).",
               "schema": "suspicious_marks.json", "partition": "received_at", "clustering": ["order_id"]})
    );
    assert_eq!(
        tables["suspicious_marks_batch"]["clustering"],
        json!(["key_value"])
    );
    let ms = file.get("mark_suspicious").unwrap();
    assert_eq!(ms.key_column, "order_id");
    assert_eq!(ms.sources[1], ColumnSource::Field("id".into()));
}

#[test]
fn batch_success_message_renders_like_the_coded_one() {
    let file = builtin::catalog();
    let wb = file.get("writeback_batch").unwrap();
    let msg = wb.success_message.render(|p| match p {
        "count" => Some("3".into()),
        "rows" => Some("rows".into()),
        "classification" => Some("Approved".into()),
        _ => None,
    });
    assert_eq!(msg, "Wrote 3 rows as Approved to the write-back table.");
}

#[test]
fn example_file_parses_with_typed_columns() {
    let file = parse(
        EXAMPLE,
        "examples/actions/retail.yaml",
        Some(&example_dir()),
    )
    .unwrap();
    assert!(file.actions.len() >= 3);
    let kinds: Vec<Kind> = file.actions.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&Kind::Cell) && kinds.contains(&Kind::Query));
    let reorder = file.get("reorder_stock").unwrap();
    let cols: Vec<(&str, &str, &str)> = reorder
        .table
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.ty.bigquery_name(),
                c.mode.bigquery_name(),
            )
        })
        .collect();
    assert!(cols.contains(&("quantity", "INT64", "REQUIRED")));
    assert!(cols.contains(&("deliver_by", "DATE", "REQUIRED")));
    assert!(cols.contains(&("product_id", "INT64", "NULLABLE")));
    assert!(cols.contains(&("row_json", "JSON", "REQUIRED")));
    let discount = file.get("approve_discount").unwrap();
    let d = discount
        .table
        .columns
        .iter()
        .find(|c| c.name == "discount_pct")
        .unwrap();
    assert_eq!(d.ty.bigquery_name(), "NUMERIC");
}

#[test]
fn example_forms_resolve_defaults_and_validate_types() {
    let file = parse(
        EXAMPLE,
        "examples/actions/retail.yaml",
        Some(&example_dir()),
    )
    .unwrap();
    let reorder = file.get("reorder_stock").unwrap();
    let fields = form::form_fields(reorder, &request(None, &[]), today());
    let deliver = fields.iter().find(|f| f.name == "deliver_by").unwrap();
    assert_eq!(deliver.default.as_deref(), Some("2026-03-31"));

    let ok = form::validate(
        reorder,
        &request(
            None,
            &[
                ("quantity", " 12 "),
                ("deliver_by", "2026-04-02"),
                ("urgent", "Yes"),
            ],
        ),
        2000,
        today(),
    )
    .unwrap();
    assert_eq!(ok["quantity"].value, TypedValue::Integer(12));
    assert_eq!(
        ok["deliver_by"].value,
        TypedValue::Date(NaiveDate::from_ymd_opt(2026, 4, 2).unwrap())
    );
    assert_eq!(ok["urgent"].value, TypedValue::Bool(true));

    let errors = form::validate(
        reorder,
        &request(
            None,
            &[
                ("quantity", "0"),
                ("deliver_by", "02/04/2026"),
                ("urgent", "maybe"),
            ],
        ),
        2000,
        today(),
    )
    .unwrap_err();
    assert_eq!(errors["quantity"], "must be at least 1");
    assert_eq!(
        errors["deliver_by"],
        "must be a date written as YYYY-MM-DD (like 2024-03-31)"
    );
    assert_eq!(errors["urgent"], "must be one of Yes, No");

    let discount = file.get("approve_discount").unwrap();
    let errors = form::validate(
        discount,
        &request(Some("1001"), &[("discount_pct", "12.5x"), ("reason", "")]),
        2000,
        today(),
    )
    .unwrap_err();
    assert_eq!(errors["discount_pct"], "must be a number (like 12.5)");
    assert_eq!(
        errors["reason"],
        "must be one of Loyal customer, Price match, Damaged item"
    );
    let errors = form::validate(
        discount,
        &request(Some("1001"), &[("discount_pct", "55")]),
        2000,
        today(),
    )
    .unwrap_err();
    assert_eq!(
        errors["discount_pct"],
        "A discount above 50 % needs a manager: enter at most 50"
    );

    let flag = file.get("flag_for_review").unwrap();
    let errors = form::validate(
        flag,
        &request(
            Some("1001"),
            &[("reviewer", "not an email"), ("ticket", "JIRA 12")],
        ),
        2000,
        today(),
    )
    .unwrap_err();
    assert_eq!(
        errors["reviewer"],
        "is not an email address (like name@example.com)"
    );
    assert_eq!(errors["ticket"], "must look like OPS-1234");
    let ok = form::validate(
        flag,
        &request(
            Some("1001"),
            &[("reviewer", "ann@example.com"), ("ticket", "OPS-77")],
        ),
        2000,
        today(),
    )
    .unwrap();
    assert_eq!(ok["note"].value, TypedValue::Null);
    assert_eq!(ok["order_id"].value, TypedValue::Integer(1001));
}

/// The rules the example file does not exercise: required, text length, a whole number that is
/// not one, a number below its minimum, yes/no; all wrong at once: every field named, typed values
/// for none.
#[test]
fn every_validation_rule_names_its_field() {
    let file = parse(
        r#"version: 1
actions:
  - name: rules
    label: Rules
    kind: cell
    identity: service
    required_fields: [{tag: rules}]
    table: {name: rules}
    key: id
    fields:
      - name: id
        required: true
        default: {from: value}
      - name: must
        required: true
      - name: code
        min_length: 3
        max_length: 5
      - name: note
        max_length: 4
      - name: count
        value: integer
        column: {name: count_value}
      - name: share
        value: number
        min: 0.5
      - name: ok
        value: boolean
    success_message: "Done {key}"
"#,
        "rules.yaml",
        None,
    )
    .unwrap();
    let rules = file.get("rules").unwrap();
    let errors = form::validate(
        rules,
        &request(
            Some("1"),
            &[
                ("must", "  "),
                ("code", "ab"),
                ("note", "hello"),
                ("count", "1.5"),
                ("share", "0.25"),
                ("ok", "perhaps"),
            ],
        ),
        2000,
        today(),
    )
    .unwrap_err();
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("code", "is 2 characters long; write at least 3"),
            ("count", "must be a whole number (like 42)"),
            ("must", "is required"),
            ("note", "is 5 characters long; the limit is 4"),
            ("ok", "must be one of Yes, No"),
            ("share", "must be at least 0.5"),
        ]
    );
    let ok = form::validate(
        rules,
        &request(
            Some("1"),
            &[
                ("must", "x"),
                ("code", "abcde"),
                ("count", "-3"),
                ("share", "0.5"),
                ("ok", "No"),
            ],
        ),
        2000,
        today(),
    )
    .unwrap();
    assert_eq!(ok["count"].value, TypedValue::Integer(-3));
    assert_eq!(ok["ok"].value, TypedValue::Bool(false));
    assert_eq!(ok["note"].value, TypedValue::Null);
}

/// Parse a broken file: its problems as `line: message` strings.
fn problems(yaml: &str) -> Vec<String> {
    match parse(yaml, "t.yaml", None) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(Diagnostics { problems: ps, .. }) => ps
            .into_iter()
            .map(|p| {
                assert_eq!(p.file, "t.yaml");
                format!("{}: {}", p.line.unwrap_or(0), p.text())
            })
            .collect(),
    }
}

/// `p` is exactly the problems `want` names: one per `(line, text)`, each on that line and holding
/// that text.
fn assert_problems(p: &[String], want: &[(u64, &str)]) {
    for (line, text) in want {
        assert!(
            p.iter()
                .any(|m| m.starts_with(&format!("{line}: ")) && m.contains(text)),
            "missing {line}: {text}\nin {p:#?}"
        );
    }
    assert_eq!(p.len(), want.len(), "{p:#?}");
}

/// A small valid file: one cell action writing table `approvals` (also the `hub check-actions`
/// tests' good file).
const GOOD: &str = include_str!("fixtures/approve.yaml");

#[test]
fn a_minimal_file_gets_the_defaults() {
    let f = parse(GOOD, "t.yaml", None).unwrap();
    let a = &f.actions[0];
    assert_eq!(a.key_field.as_deref(), Some("id"));
    assert_eq!(a.key_column, "id");
    assert_eq!(a.table.clustering, ["id"]);
    assert_eq!(a.fields[0].label, "id");
    let names: Vec<&str> = a.table.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "request_id",
            "id",
            "acted_by",
            "looker_instance",
            "webhook_id",
            "action",
            "received_at"
        ]
    );
}

/// Looker shows a string field as a plain box: a typed field without a description says what it
/// takes; a description written in the file is kept; text fields get none.
#[test]
fn a_typed_field_without_a_description_says_what_it_takes() {
    let yaml = GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - {name: units, value: integer, min: 1, max: 500}\n      - {name: share, value: number, min: 0.5}\n      - {name: cap, value: number, max: 10}\n      - {name: due, value: date}\n      - {name: contact, value: email}\n      - {name: qty, value: integer, description: Boxes to order.}\n      - {name: note}\n",
    );
    let f = parse(&yaml, "t.yaml", None).unwrap();
    let fields = form::form_fields(&f.actions[0], &request(Some("7"), &[]), today());
    let hints: Vec<(&str, Option<&str>)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.description.as_deref()))
        .collect();
    assert_eq!(
        hints,
        [
            ("id", None),
            ("units", Some("A whole number from 1 to 500.")),
            ("share", Some("A number of at least 0.5.")),
            ("cap", Some("A number of at most 10.")),
            ("due", Some("A date: YYYY-MM-DD.")),
            ("contact", Some("An email address.")),
            ("qty", Some("Boxes to order.")),
            ("note", None),
        ]
    );
}

/// The generated views carry every tag the action needs to appear: a query action's key tag and
/// its required tags (all of `all_tags`).
#[test]
fn generated_views_carry_the_tags_that_make_the_action_appear() {
    let yaml = r#"actions:
  - name: restock
    label: Restock
    kind: query
    key_tag: sku
    required_fields: [{all_tags: [sku, warehouse]}]
    table: {name: restocks}
    result_columns:
      - {field: products.sku, column: sku, type: STRING}
    success_message: "Wrote {count} {rows}."
"#;
    let f = parse(yaml, "t.yaml", None).unwrap();
    let views = emit::lookml_files(&f);
    let log = &views
        .iter()
        .find(|(n, _)| n == "restocks.view.lkml")
        .unwrap()
        .1;
    assert!(log.contains(r#"tags: ["sku", "warehouse"]"#), "{log}");
}

/// A query action's form carries the hub's choice of rows to send: a declared field of its name
/// is refused (a cell action's form has no such choice, so its field keeps the name).
#[test]
fn a_query_action_field_named_send_mode_is_refused() {
    let yaml = r#"actions:
  - name: restock
    label: Restock
    kind: query
    table: {name: restocks}
    fields:
      - name: send_mode
    success_message: "Wrote {count} {rows}."
"#;
    assert_problems(
        &problems(yaml),
        &[(7, "field \"send_mode\": the hub gives every query action's form a field of this name (which rows to send: every row, or only new or changed ones): name this field otherwise")],
    );
    let cell = GOOD.replace(
        "      - name: id\n",
        "      - name: send_mode\n      - name: id\n",
    );
    assert!(cell.contains("send_mode"));
    parse(&cell, "t.yaml", None).unwrap();
}

/// What BigQuery or the embedded store would refuse at deploy is refused by the check: column
/// descriptions over 1 024 characters (a long label is the default one), a table description
/// over 16 384, more than 2 000 columns.
#[test]
fn descriptions_and_columns_within_bigquerys_and_sqlites_limits() {
    let long_label = "L".repeat(1100);
    let yaml = format!(
        r#"actions:
  - name: approve
    label: Approve
    kind: cell
    required_fields: [{{tag: approve}}]
    table: {{name: approvals, description: {}}}
    fields:
      - name: id
        required: true
        default: {{from: value}}
      - name: note
        label: {long_label}
    success_message: "Approved {{key}}"
"#,
        "D".repeat(16385)
    );
    let p = problems(&yaml);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("6: table \"approvals\": its description is 16385 characters; BigQuery takes at most 16384"), "{p:?}");
    assert!(p[1].starts_with("11: field \"note\": its column's description (its label, when `column: {description: ...}` is not given) is 1100 characters; BigQuery takes at most 1024"), "{p:?}");

    let many: String = (0..2000)
        .map(|i| format!("      - {{field: v.f{i}, column: c{i}, type: STRING}}\n"))
        .collect();
    let yaml = format!(
        "actions:\n  - name: wide\n    label: Wide\n    kind: query\n    table: {{name: wide_rows}}\n    result_columns:\n{many}    success_message: \"Wrote {{count}} {{rows}}.\"\n"
    );
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("table \"wide_rows\" would have 2013 columns; the embedded store (SQLite) takes at most 2000"), "{p:?}");
}

/// Every message can use every value its field has ({min} and {max} in `invalid`, not only in
/// `min` / `max`); a placeholder the field has no value for is refused by the check.
#[test]
fn messages_fill_every_value_the_field_has_and_refuse_the_others() {
    let yaml = GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - name: units\n        value: integer\n        min: 1\n        max: 9\n        messages: {invalid: \"enter a whole number from {min} to {max}, not {value}\"}\n      - name: code\n        min_length: 3\n        max_length: 5\n        messages: {min_length: \"{length} of {min}-{max} for [{value}]\"}\n",
    );
    let f = parse(&yaml, "t.yaml", None).unwrap();
    let errors = form::validate(
        &f.actions[0],
        &request(Some("7"), &[("units", "x"), ("code", "ab")]),
        2000,
        today(),
    )
    .unwrap_err();
    assert_eq!(errors["units"], "enter a whole number from 1 to 9, not x");
    assert_eq!(errors["code"], "2 of 3-5 for [ab]");

    let bad = GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - name: units\n        value: integer\n        messages: {invalid: \"{length} {options} {min}\"}\n",
    );
    assert_eq!(
        problems(&bad),
        [
            "13: field \"units\": message `invalid` uses {length}, which this field has no value for: use {value}",
            "13: field \"units\": message `invalid` uses {options}, which this field has no value for: use {value}",
            "13: field \"units\": message `invalid` uses {min}, which this field has no value for: use {value}",
        ]
    );

    // Each message's problem is reported on its own line, not on the first message's.
    let bad = GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - name: units\n        value: integer\n        messages:\n          invalid: \"a whole number, not {value}\"\n          required: \"needs {nope}\"\n",
    );
    assert_eq!(
        problems(&bad),
        ["15: field \"units\": message `required` uses {nope}, which this field has no value for: use {value}"]
    );
}

/// A question is let go with `retired: true`: off the form, not read at execute, its column kept
/// (NULLABLE, empty in new rows) so the insert-only table and its old answers stay as they are.
#[test]
fn a_retired_field_leaves_the_form_and_keeps_its_column() {
    let yaml = GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - name: channel\n        retired: true\n      - name: note\n",
    );
    let f = parse(&yaml, "t.yaml", None).unwrap();
    let a = &f.actions[0];
    let names: Vec<String> = form::form_fields(a, &request(Some("7"), &[]), today())
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["id", "note"]);
    let col = a
        .table
        .columns
        .iter()
        .find(|c| c.name == "channel")
        .unwrap();
    assert_eq!(col.mode, crate::sinks::Mode::Nullable);
    // A stale schedule still sending the answer: not read.
    let answers = form::validate(
        a,
        &request(Some("7"), &[("channel", "web"), ("note", "n")]),
        2000,
        today(),
    )
    .unwrap();
    assert_eq!(answers["channel"].value, TypedValue::Null);
    assert_eq!(answers["note"].value, TypedValue::Text("n".into()));

    let bad = GOOD
        .replace(
            "        default: {from: value}\n",
            "        default: {from: value}\n      - name: channel\n        required: true\n        retired: true\n",
        )
        .replace("\"Approved {key}\"", "\"Approved {key} via {channel}\"");
    let p = problems(&bad);
    assert!(
        p.contains(&"13: field \"channel\": a retired field is not asked, so it cannot be required: remove `required: true`".to_string()),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("success_message uses {channel}, which this action does not have")),
        "{p:?}"
    );
}

#[test]
fn structural_errors_name_the_line() {
    let p = problems(&GOOD.replace("    label: Approve\n", "    label: Approve\n    lable: x\n"));
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("4: "), "{p:?}");
    assert!(p[0].contains("lable"), "{p:?}");
    let p = problems(&GOOD.replace("kind: cell", "kind: row"));
    assert!(p[0].starts_with("4: ") && p[0].contains("row"), "{p:?}");
    let p = problems("actions: [\n");
    assert_eq!(p.len(), 1, "{p:?}");
    let p = problems(&GOOD.replace("    label: Approve\n", ""));
    assert!(p[0].contains("label"), "{p:?}");
}

#[test]
fn every_semantic_problem_is_listed_at_once() {
    let yaml = r#"version: 2
actions:
  - name: Approve Discount
    label: Approve
    kind: cell
    required_fields: [{tag: "bad tag"}]
    table: {name: approvals}
    fields:
      - name: id
        required: true
        default: {from: value}
      - name: pct
        value: number
        min: 10
        max: 5
        column: {type: DATE}
      - name: level
        type: select
        options: [low, high]
        default: medium
      - name: code
        pattern: "([a-z"
      - name: select
        column: {name: select}
      - name: id
      - name: received_at
        value: integer
        default: {from: today}
      - name: request_id
    success_message: "Done {nope}"
  - name: rudder_track
    label: X
    kind: query
    key: id
    table: {name: approvals}
    result_columns:
      - {field: orders.id, column: _partition_x, type: INT64}
    success_message: "{count"
"#;
    let p = problems(yaml);
    let want: &[(u64, &str)] = &[
        (1, "version 2 is not known"),
        (3, "write `name: approve_discount`"),
        (6, "tag \"bad tag\""),
        (15, "`max` (5) is below `min` (10)"),
        (16, "a number value cannot be stored in a DATE column; write `type: NUMERIC` or `type: FLOAT64` or `type: STRING`"),
        (20, "default \"medium\" is not among its options; write one of low, high"),
        (22, "`pattern` is not a valid regular expression"),
        (25, "duplicate field \"id\""),
        // A field with its own problem is still a field: its column is checked too.
        (26, "column \"received_at\" (field received_at) is one of the audit columns"),
        (28, "`from: today` is for date fields"),
        (29, "column \"request_id\" (field request_id) is one of the audit columns"),
        (30, "success_message uses {nope}, which this action does not have: use one of {key}, {id}, {pct}, {level}, {code}, {select}, {received_at}, {request_id}"),
        (31, "is the name of one of the hub's own actions"),
        (34, "`key` is for cell actions"),
        (35, "table \"approvals\" is already written by the action at line 7"),
        (37, "column name \"_partition_x\" must be lowercase letters, digits and underscores, start with a letter, at most 300 characters (BigQuery and LookML identifiers); write `partition_x`"),
        (38, "success_message: unclosed `{count`"),
    ];
    assert_problems(&p, want);
}

#[test]
fn type_and_mode_rules() {
    let p = problems(&GOOD.replace(
        "        default: {from: value}\n",
        "        default: {from: value}\n      - name: n\n        value: integer\n        column: {mode: REQUIRED}\n      - name: b\n        value: boolean\n        type: textarea\n      - name: t\n        type: textarea\n        value: date\n      - name: m\n        max_length: 3\n        value: integer\n",
    ));
    assert!(p.iter().any(|m| m.contains("must be NULLABLE")), "{p:?}");
    assert!(
        p.iter()
            .any(|m| m.contains("boolean field is a yes/no select")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|m| m.contains("a textarea holds text")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("`max_length` is for text and email fields")),
        "{p:?}"
    );
    // "an", where English says so; a query action has no clicked value to suggest.
    let p = problems(
        "actions:\n  - name: approve\n    label: Approve\n    kind: query\n    table: {name: approvals}\n    fields:\n      - {name: ok, value: boolean, column: {type: INT64}}\n      - {name: d, default: {from: yesterday}}\n    success_message: \"Done {count}\"\n",
    );
    assert_eq!(
        p,
        [
            "7: field \"ok\": a boolean value cannot be stored in an INT64 column; write `type: BOOL` or `type: STRING`",
            "8: field \"d\": `default: {from: yesterday}` is not known; write `from: today`",
        ]
    );
}

#[test]
fn builtin_file_text_is_the_one_served() {
    // The embedded text parses, and a copy on disk gives the same model.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.yaml");
    std::fs::write(&path, BUILTIN_YAML).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.actions.len(), builtin::catalog().actions.len());
    assert_eq!(loaded.actions[0].table, builtin::catalog().actions[0].table);
    let missing = load(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(missing.to_string().contains("cannot read it"), "{missing}");
}

mod served {
    //! The example file's actions run on a context of stand-ins against the embedded store:
    //! rows read back with their typed columns.

    use serde_json::{json, Value};

    use super::super::action::DeclaredAction;
    use super::super::source::parse;
    use crate::actions::testing::StandIns;
    use crate::actions::Action;
    use crate::api::ActionRequest;
    use crate::sinks::ColumnType;

    fn actions() -> Vec<DeclaredAction> {
        parse(super::EXAMPLE, "retail.yaml", Some(&super::example_dir()))
            .unwrap()
            .actions
            .into_iter()
            .map(DeclaredAction::new)
            .collect()
    }

    async fn run(
        dir: &std::path::Path,
        action: &DeclaredAction,
        all: &[DeclaredAction],
        body: Value,
    ) -> Value {
        let tables: Vec<_> = all.iter().map(|a| a.table().clone()).collect();
        let stand_ins = StandIns::new(&dir.join("wb.db"), &tables);
        let ctx = stand_ins.ctx();
        let req: ActionRequest = serde_json::from_value(body).unwrap();
        let resp = action.execute(&ctx, req).await.unwrap();
        serde_json::to_value(resp).unwrap()
    }

    fn read(dir: &std::path::Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let conn = rusqlite::Connection::open(dir.join("wb.db")).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    use rusqlite::types::Value as S;

    #[tokio::test]
    async fn the_builtin_mark_suspicious_runs_on_a_context_of_stand_ins() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<_> = crate::declared::builtin::catalog()
            .actions
            .into_iter()
            .map(DeclaredAction::new)
            .collect();
        let ms = &all[0];
        assert_eq!(ms.name(), "mark_suspicious");
        let resp = run(
            dir.path(),
            ms,
            &all,
            json!({"type": "cell", "data": {"value": "ORD-7"},
                   "form_params": {"classification": "approved"}}),
        )
        .await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(resp["looker"]["message"], "Order ORD-7 marked as Approved.");
        assert_eq!(resp["looker"]["refresh_query"], true);
        let rows = read(
            dir.path(),
            "SELECT order_id, classification, comment, action FROM suspicious_marks",
        );
        assert_eq!(
            rows,
            [vec![
                S::Text("ORD-7".into()),
                S::Text("Approved".into()),
                S::Text(String::new()),
                S::Text("mark_suspicious".into())
            ]]
        );
        let refused = run(
            dir.path(),
            ms,
            &all,
            json!({"type": "cell", "data": {"value": "ORD-7"},
                   "form_params": {"classification": "maybe", "comment": "x".repeat(501)}}),
        )
        .await;
        assert_eq!(refused["looker"]["success"], false);
        assert_eq!(
            refused["looker"]["validation_errors"],
            json!({"classification": "must be one of Approved, Suspicious, Further Investigation",
                   "comment": "is 501 characters long; the limit is 500"})
        );
    }

    #[tokio::test]
    async fn a_form_answer_of_the_wrong_shape_is_refused_by_name_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<_> = crate::declared::builtin::catalog()
            .actions
            .into_iter()
            .map(DeclaredAction::new)
            .collect();
        let ms = &all[0];
        let refused = run(
            dir.path(),
            ms,
            &all,
            json!({"type": "cell", "data": {"value": "ORD-7"},
                   "form_params": {"classification": ["Approved"], "id": ["ORD-8"],
                                   "comment": {"text": "x"}}}),
        )
        .await;
        assert_eq!(refused["looker"]["success"], false, "{refused}");
        assert_eq!(
            refused["looker"]["validation_errors"],
            json!({"classification": "must be text, not a list",
                   "id": "must be text, not a list",
                   "comment": "must be text, not an object"})
        );
        // A number or a boolean where text is expected; null is an empty answer, not the default.
        let refused = run(
            dir.path(),
            ms,
            &all,
            json!({"type": "cell", "data": {"value": "ORD-7"},
                   "form_params": {"classification": null, "comment": 5, "id": true}}),
        )
        .await;
        assert_eq!(
            refused["looker"]["validation_errors"],
            json!({"classification": "must be one of Approved, Suspicious, Further Investigation",
                   "comment": "must be text, not a JSON number",
                   "id": "must be text, not true / false"})
        );
        assert!(read(dir.path(), "SELECT * FROM suspicious_marks").is_empty());
    }

    #[tokio::test]
    async fn typed_fields_take_json_numbers_and_booleans_only_where_exact() {
        let dir = tempfile::tempdir().unwrap();
        let all = actions();
        let body =
            |form: Value| json!({"type": "cell", "data": {"value": "1001"}, "form_params": form});
        let ok = run(
            dir.path(),
            &all[0],
            &all,
            body(json!({"discount_pct": 12, "reason": "loyalty", "valid_until": "2026-12-31"})),
        )
        .await;
        assert_eq!(ok["looker"]["success"], true, "{ok}");
        let refused = run(
            dir.path(),
            &all[0],
            &all,
            body(json!({"discount_pct": 12.5, "reason": "loyalty", "valid_until": "0000-01-01"})),
        )
        .await;
        assert_eq!(
            refused["looker"]["validation_errors"],
            json!({"discount_pct": "must be written as text (like \"12.5\"): a JSON number with a fraction or an exponent is read as a binary float, which may not be the decimal sent",
                   "valid_until": "must be a date from 0001-01-01 to 9999-12-31"})
        );
    }

    #[tokio::test]
    async fn a_cell_action_writes_one_typed_row_and_refuses_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let all = actions();
        let approve = all.iter().find(|a| a.name() == "approve_discount").unwrap();
        let resp = run(
            dir.path(),
            approve,
            &all,
            json!({"type": "cell", "data": {"value": "42", "user_email": "m@example.com"},
                   "form_params": {"discount_pct": "12.50", "reason": "loyalty", "valid_until": "2026-12-31"}}),
        )
        .await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Discount of 12.5 % approved for order 42."
        );
        assert_eq!(resp["looker"]["refresh_query"], true);
        let rows = read(
            dir.path(),
            "SELECT order_id, typeof(order_id), discount_pct, reason, valid_until, acted_by, looker_instance, action FROM discount_approvals",
        );
        assert_eq!(
            rows,
            vec![vec![
                S::Integer(42),
                S::Text("integer".into()),
                S::Text("12.5".into()),
                S::Text("loyalty".into()),
                S::Text("2026-12-31".into()),
                S::Text("m@example.com".into()),
                S::Text("looker-1".into()),
                S::Text("approve_discount".into()),
            ]]
        );

        // Invalid input: per-field errors, nothing written.
        let resp = run(
            dir.path(),
            approve,
            &all,
            json!({"type": "cell", "data": {"value": "x42"},
                   "form_params": {"discount_pct": "60", "reason": "bogus"}}),
        )
        .await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        let errors = resp["looker"]["validation_errors"].as_object().unwrap();
        let mut keys: Vec<_> = errors.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["discount_pct", "order_id", "reason"], "{resp}");
        assert_eq!(
            errors["discount_pct"],
            "A discount above 50 % needs a manager: enter at most 50"
        );
        assert_eq!(
            read(dir.path(), "SELECT count(*) FROM discount_approvals"),
            vec![vec![S::Integer(1)]]
        );
    }

    fn stock_doc(rows: Value) -> Value {
        let doc = json!({
            "ran_at": "2026-11-23T10:00:00+00:00",
            "fields": {
                "dimensions": [
                    {"name": "products.name", "label": "Name", "tags": []},
                    {"name": "products.id", "label": "ID", "tags": ["product-id"]}
                ],
                "measures": [{"name": "inventory.stock", "label": "Stock", "tags": []}],
                "table_calculations": [], "pivots": []
            },
            "data": rows
        });
        json!({
            "type": "query",
            "scheduled_plan": {"query_id": 42},
            "attachment": {"mimetype": "application/json", "extension": "json", "data": doc.to_string()},
            "data": {"user_email": "buyer@example.com"},
            "form_params": {"quantity": "25", "deliver_by": "2026-12-01", "urgent": "yes"}
        })
    }

    #[tokio::test]
    async fn a_query_action_streams_typed_rows_and_counts_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let all = actions();
        let reorder = all.iter().find(|a| a.name() == "reorder_stock").unwrap();
        let row = |id: Value, name: &str, stock: Value| json!({"products.id": {"value": id}, "products.name": {"value": name}, "inventory.stock": {"value": stock}});
        let resp = run(
            dir.path(),
            reorder,
            &all,
            stock_doc(json!([
                row(json!(7), "Mug", json!(3)),
                row(json!("8"), "Cup", json!(null)),
                row(json!(9), "Pot", json!(1)),
            ])),
        )
        .await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Reorder of 25 each placed for 3 rows, delivery by 2026-12-01."
        );
        assert_eq!(resp["looker"]["refresh_query"], false);
        let rows = read(
            dir.path(),
            "SELECT row_index, key_field, key_value, product_id, typeof(product_id), product_name, stock_level, quantity, deliver_by, urgent, query_id, acted_by FROM stock_reorders ORDER BY row_index",
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            vec![
                S::Integer(1),
                S::Text("products.id".into()),
                S::Text("8".into()),
                S::Integer(8),
                S::Text("integer".into()),
                S::Text("Cup".into()),
                S::Null,
                S::Integer(25),
                S::Text("2026-12-01".into()),
                S::Integer(1),
                S::Text("42".into()),
                S::Text("buyer@example.com".into()),
            ]
        );

        // A value that does not convert, a missing required one: counted, reported, not written.
        let resp = run(
            dir.path(),
            reorder,
            &all,
            stock_doc(json!([
                row(json!(10), "Jar", json!("many")),
                row(json!(null), "Lid", json!(2)),
                row(json!(11), "Pan", json!(4)),
            ])),
        )
        .await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Reorder of 25 each placed for 1 row, delivery by 2026-12-01. 2 rows rejected and not written (first: row 0: inventory.stock → stock_level: expected INT64, got text \"many\")."
        );
        assert_eq!(
            read(
                dir.path(),
                "SELECT count(*), max(product_id) FROM stock_reorders"
            ),
            vec![vec![S::Integer(4), S::Integer(11)]]
        );
    }

    const MAPPED: &str = r#"
version: 1
actions:
  - name: mapped
    label: Mapped
    kind: query
    table: {name: mapped_rows}
    result_columns:
      - {field: orders.id, column: order_id, type: INT64, required: true}
      - {field: orders.amount, column: amount, type: NUMERIC}
      - {field: orders.n, column: n, type: INT64}
      - {field: orders.discount, column: discount, type: NUMERIC}
    success_message: "Wrote {count} {rows}."
"#;

    fn mapped() -> Vec<DeclaredAction> {
        parse(MAPPED, "mapped.yaml", None)
            .unwrap()
            .actions
            .into_iter()
            .map(DeclaredAction::new)
            .collect()
    }

    /// A query request whose result has `dimensions`, `measures` and `pivots` (names) and `rows`
    /// as raw JSON text (numbers exactly as written).
    fn mapped_request(
        dimensions: &[&str],
        measures: &[&str],
        pivots: &[&str],
        rows: &str,
    ) -> Value {
        let names = |n: &[&str]| -> Value { n.iter().map(|n| json!({"name": n})).collect() };
        let doc = format!(
            r#"{{"fields": {{"dimensions": {}, "measures": {}, "table_calculations": [], "pivots": {}}}, "data": {rows}}}"#,
            names(dimensions),
            names(measures),
            names(pivots)
        );
        json!({
            "type": "query",
            "attachment": {"mimetype": "application/json", "extension": "json", "data": doc},
        })
    }

    #[tokio::test]
    async fn a_number_no_double_holds_rejects_only_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let all = mapped();
        let digits = "9".repeat(10_000);
        let rows = format!(
            r#"[
            {{"orders.id": {{"value": 1}}}},
            {{"orders.id": {{"value": 2}}, "orders.extra": {{"value": 1e999999}}}},
            {{"orders.id": {{"value": 1e999999}}}},
            {{"orders.id": {{"value": {digits}}}}},
            {{"orders.id": {{"value": 5}}, "orders.amount": {{"value": 2.50}}}}
        ]"#
        );
        let body = mapped_request(
            &["orders.id", "orders.extra"],
            &["orders.amount", "orders.n", "orders.discount"],
            &[],
            &rows,
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Wrote 2 rows. 3 rows rejected and not written (first: row 1: row_json: expected JSON, got JSON with the number 1e999999, beyond a 64-bit float)."
        );
        assert_eq!(
            read(
                dir.path(),
                "SELECT order_id, amount FROM mapped_rows ORDER BY row_index"
            ),
            [
                vec![S::Integer(1), S::Null],
                vec![S::Integer(5), S::Text("2.5".into())]
            ]
        );
    }

    #[test]
    fn a_mapped_column_names_why_its_number_does_not_fit() {
        let int = |t: &str| {
            ColumnType::Int64
                .convert_json_text(t)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            int("1e999999"),
            "expected INT64, got the number 1e999999: out of INT64's range"
        );
        assert_eq!(
            int(&"9".repeat(10_000)),
            format!(
                "expected INT64, got the number {}: out of INT64's range",
                "9".repeat(40)
            )
        );
    }

    #[tokio::test]
    async fn mapped_numbers_in_exponent_notation_convert_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let all = mapped();
        let rows = r#"[
            {"orders.id": {"value": 1E2}, "orders.amount": {"value": -1e-09}, "orders.n": {"value": 2.5e1}, "orders.discount": {"value": 12345678.123456789}},
            {"orders.id": {"value": 2}, "orders.amount": {"value": 0.30000000000000004}, "orders.n": {"value": 1}, "orders.discount": {"value": 1}}
        ]"#;
        let body = mapped_request(
            &["orders.id"],
            &["orders.amount", "orders.n", "orders.discount"],
            &[],
            rows,
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Wrote 1 row. 1 row rejected and not written (first: row 1: orders.amount → amount: expected NUMERIC, got the number 0.30000000000000004: more than 9 digits after the decimal point)."
        );
        assert_eq!(
            read(
                dir.path(),
                "SELECT order_id, amount, n, discount FROM mapped_rows"
            ),
            [vec![
                S::Integer(100),
                S::Text("-0.000000001".into()),
                S::Integer(25),
                S::Text("12345678.123456789".into()),
            ]]
        );
    }

    #[tokio::test]
    async fn a_pivoted_mapped_field_is_never_a_null() {
        let dir = tempfile::tempdir().unwrap();
        let all = mapped();
        let row = r#"{"orders.id": {"value": 1}, "orders.n": {"2024": {"value": 3}, "2025": {"value": 4}}}"#;
        // The header shows the pivot: nothing is written.
        let body = mapped_request(
            &["orders.id"],
            &["orders.n"],
            &["orders.year"],
            &format!("[{row}]"),
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Nothing was written: orders.n is pivoted (a value per pivot column); map a field that is not pivoted, or remove the pivot."
        );
        // A pivoted cell the header does not announce: a counted row rejection.
        let body = mapped_request(
            &["orders.id"],
            &["orders.n", "orders.amount", "orders.discount"],
            &[],
            &format!(r#"[{row}, {{"orders.id": {{"value": 2}}, "orders.n": {{"value": 5}}}}]"#),
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Wrote 1 row. 1 row rejected and not written (first: row 0: orders.n is pivoted (a value per pivot column); map a field that is not pivoted, or remove the pivot)."
        );
        assert_eq!(
            read(dir.path(), "SELECT order_id, n FROM mapped_rows"),
            [vec![S::Integer(2), S::Integer(5)]]
        );
    }

    #[tokio::test]
    async fn a_mapped_field_the_result_lacks_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let all = mapped();
        // Optional columns: written, and the answer says which are empty and why.
        let body = mapped_request(
            &["orders.id"],
            &["orders.n"],
            &[],
            r#"[{"orders.id": {"value": 1}, "orders.n": {"value": 3}}]"#,
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], true, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Wrote 1 row. The result has no field orders.amount, so column amount is empty; the result has no field orders.discount, so column discount is empty."
        );
        // A required column: nothing is written.
        let body = mapped_request(
            &["orders.code"],
            &["orders.n", "orders.amount", "orders.discount"],
            &[],
            r#"[{"orders.code": {"value": "A"}, "orders.n": {"value": 3}}]"#,
        );
        let resp = run(dir.path(), &all[0], &all, body).await;
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        assert_eq!(
            resp["looker"]["message"],
            "Nothing was written: the result has no field orders.id (column order_id is required)."
        );
        assert_eq!(
            read(dir.path(), "SELECT count(*) FROM mapped_rows"),
            [vec![S::Integer(1)]]
        );
    }
}

/// Unknown keys at every level, unknown values of every enum and missing keys are all listed at
/// once, each with its line and the closest valid word (or the valid ones when none is close).
#[test]
fn every_unknown_key_and_value_is_listed_at_once_with_a_suggestion() {
    let yaml = r#"version: 1
actoins: []
actions:
  - name: approve
    lable: Approve
    kind: cel
    required_fields: [{tags: approve}]
    table: {name: approvals, clusterin: [id]}
    params:
      - {name: user_email, label: Email, user_atribute: email}
    fields:
      - name: id
        requird: true
        default: {from: value, parm: x}
        type: selct
        value: integr
        options: [{name: a, lable: A}]
        messages: {requried: x}
        column: {name: x, type: INT46, mode: nullable, descripton: d}
      - name: other
        whatever: 3
  - name: batch
    label: Batch
    kind: query
    identity: usr
    result_columns:
      - {field: a, column: b, type: STRNG, requird: true}
    table: {name: batch}
    succes_message: "x"
"#;
    assert_eq!(
        problems(yaml),
        [
            "2: unknown key `actoins` in the file: did you mean `actions`?",
            "4: an action has no `success_message`: it is required",
            "5: unknown key `lable` in an action: did you mean `label`?",
            "6: kind: `cel` is not a valid value: did you mean `cell`?",
            "7: unknown key `tags` in a required_fields entry: did you mean `tag`?",
            "8: unknown key `clusterin` in table: did you mean `clustering`?",
            "10: unknown key `user_atribute` in a param: did you mean `user_attribute`?",
            "13: unknown key `requird` in a field: did you mean `required`?",
            "14: unknown key `parm` in default: did you mean `param`?",
            "15: type: `selct` is not a valid value: did you mean `select`?",
            "16: value: `integr` is not a valid value: did you mean `integer`?",
            "17: unknown key `lable` in an option: did you mean `label`?",
            "18: unknown key `requried` in messages: did you mean `required`?",
            "19: unknown key `descripton` in column: did you mean `description`?",
            "19: type: `INT46` is not a valid value: did you mean `INT64`?",
            "19: mode: `nullable` is not a valid value: did you mean `NULLABLE`?",
            "21: unknown key `whatever` in a field: the keys of a field are `name`, `label`, `description`, `type`, `value`, `required`, `interactive`, `retired`, `default`, `min_length`, `max_length`, `min`, `max`, `pattern`, `options`, `messages`, `column`",
            "25: identity: `usr` is not a valid value: did you mean `user`?",
            "27: unknown key `requird` in a result column: did you mean `required`?",
            "27: type: `STRNG` is not a valid value: did you mean `STRING`?",
            "29: unknown key `succes_message` in an action: did you mean `success_message`?",
        ]
    );
}

/// A word far from every valid one gets the list instead of a guess; a YAML syntax error is
/// still named alone (nothing after it can be read reliably).
#[test]
fn unknown_words_without_a_close_match_list_the_valid_ones() {
    let p = problems(&GOOD.replace("kind: cell", "kind: spreadsheet"));
    assert_eq!(
        p,
        ["4: kind: `spreadsheet` is not a valid value: write one of `cell`, `query`"]
    );
    let p = problems(&GOOD.replace(
        "    table: {name: approvals}\n",
        "    table: {name: approvals, partition_by: day}\n",
    ));
    assert_eq!(
        p,
        ["6: unknown key `partition_by` in table: the keys of table are `name`, `description`, `clustering`"]
    );
    let p = problems(&format!("{GOOD}  - name: [unclosed\n    lable: x\n"));
    assert_eq!(p.len(), 1, "{p:?}");
}

/// A key written twice and a list item of the wrong kind are listed with the other shape
/// problems, in the project's words: which key, where it was first, what to write instead.
#[test]
fn repeated_keys_and_items_of_the_wrong_kind_say_what_to_write() {
    let yaml = r#"version: 1
actions:
  - name: approve
    label: Approve
    label: Approve again
    kind: cell
    required_fields: [{tag: approve}, approve]
    table: {name: approvals, name: approvals2}
    fields:
      - name: id
        required: true
        default: {from: value}
        column: {type: STRING, type: INT64}
      - just a string
    success_message: "Approved {key}"
  - 17
"#;
    assert_eq!(
        problems(yaml),
        [
            "5: the key `label` is written twice in an action (first at line 4): keep one",
            "7: a required_fields entry is expected here, not `approve`: write a map (`key: value` lines indented under the `- `) with `tag:` or `any_tag:` or `all_tags:`",
            "8: the key `name` is written twice in table (first at line 8): keep one",
            "13: the key `type` is written twice in column (first at line 13): keep one",
            "14: a field is expected here, not `just a string`: write a map (`key: value` lines indented under the `- `) with `name:`",
            "16: an action is expected here, not `17`: write a map (`key: value` lines indented under the `- `) with `name:`, `label:`, `kind:`, `table:`, `success_message:`",
        ]
    );
    // `.inf` is text to the reader: the file reads, and the repeated key is named with the
    // other problems (the action without its required keys is read no further).
    let p = problems("version: 1\nversion: 1\nactions: [{name: .inf}]\n");
    assert_eq!(
        p,
        [
            "2: the key `version` is written twice in the file (first at line 1): keep one",
            "3: an action has no `label`: it is required",
            "3: an action has no `kind`: it is required",
            "3: an action has no `table`: it is required",
            "3: an action has no `success_message`: it is required",
        ]
    );
}

/// A field with a problem of its own is still a field of its action: the key, the success
/// message and the duplicate check see it, so its problem is the only one reported about it.
#[test]
fn a_field_with_a_problem_causes_no_false_follow_on_problems() {
    let yaml = r#"version: 1
actions:
  - name: a_one
    label: A
    kind: cell
    required_fields: [{tag: t}]
    key: k
    table: {name: t1}
    fields:
      - name: k
        required: true
        default: {from: value}
        min: "5"
        messages:
          required: "need {foo}"
      - name: f1
        pattern: "(abc"
      - name: f1
        label: dup field
      - name: Field.Name
    success_message: "{k} {f1} {key}"
"#;
    let p = problems(yaml);
    let want: &[(u64, &str)] = &[
        (13, "field \"k\": `min` is for integer and number fields"),
        (15, "field \"k\": message `required` uses {foo}"),
        (
            17,
            "field \"f1\": `pattern` is not a valid regular expression",
        ),
        (18, "duplicate field \"f1\""),
        (20, "field name \"Field.Name\" must be lowercase"),
    ];
    assert_problems(&p, want);
}

/// A query action has no clicked value: `default: {from: value}` on one of its fields is refused
/// with what to write instead.
#[test]
fn a_query_action_field_cannot_default_to_the_clicked_value() {
    let p = problems(
        r#"actions:
  - name: q
    label: Q
    kind: query
    table: {name: q_t}
    fields:
      - name: z
        default: {from: value}
    success_message: "{count}"
"#,
    );
    assert_eq!(
        p,
        ["8: field \"z\": `default: {from: value}` is the clicked value, which a query action does not have (it acts on a whole result); write a literal (`default: some text`), `default: {from: today}` or `default: {param: user_email}`, or remove `default`"]
    );
}

/// BigQuery clusters on STRING, INT64, NUMERIC, BOOL, DATE and TIMESTAMP columns, not FLOAT64 or
/// JSON: a clustering column of another type is refused, and so is the clustering on the key
/// column a table gets by default, when the key is stored as FLOAT64.
#[test]
fn clustering_columns_are_of_a_type_bigquery_clusters_on() {
    let yaml = r#"actions:
  - name: fkey
    label: F
    kind: cell
    required_fields: [{tag: score}]
    key: score
    table: {name: fkey_t}
    fields:
      - name: score
        value: number
        required: true
        default: {from: value}
        column: {type: FLOAT64}
    success_message: "{key}"
  - name: many
    label: M
    kind: query
    table: {name: many_t, clustering: [key_value, w, row_json, key_value]}
    fields:
      - {name: w, label: W, value: number, column: {type: FLOAT64}}
    success_message: "{count}"
"#;
    assert_eq!(
        problems(yaml),
        [
            "9: key field \"score\" is stored as FLOAT64, and the table clusters on its key column, which BigQuery cannot do with FLOAT64: write `column: {type: NUMERIC}` on the field, or name other columns under `table: {clustering: [...]}`",
            "18: clustering column \"w\" is FLOAT64, which BigQuery cannot cluster on: cluster on a column of type STRING, INT64, NUMERIC, BOOL, DATE or TIMESTAMP, or remove it",
            "18: clustering column \"row_json\" is JSON, which BigQuery cannot cluster on: cluster on a column of type STRING, INT64, NUMERIC, BOOL, DATE or TIMESTAMP, or remove it",
            "18: clustering column \"key_value\" is listed twice: keep one",
        ]
    );
    // Named clustering columns replace the key column: a FLOAT64 key is then fine.
    let ok = yaml.replace(
        "    table: {name: fkey_t}\n",
        "    table: {name: fkey_t, clustering: [acted_by]}\n",
    );
    let p = problems(&ok);
    assert!(p.iter().all(|m| !m.starts_with("9: ")), "{p:?}");
}

/// A table name SQLite reserves is refused at the check (the start would fail on it after
/// creating the other tables), and a too-long name's suggestion is itself a valid name.
#[test]
fn reserved_table_names_and_long_names_get_valid_suggestions() {
    let long = "a_two_with_an_extremely_long_name_that_goes_on_and_on_past_sixty_four_chars";
    let p = problems(
        &GOOD
            .replace("name: approvals", "name: sqlite_stat1")
            .replace("name: approve\n", &format!("name: {long}\n")),
    );
    assert_eq!(
        p,
        [
            "2: action name \"a_two_with_an_extremely_long_name_that_goes_on_and_on_past_sixty_four_chars\" is longer than 64 characters (it is part of the URL Looker calls); write `name: a_two_with_an_extremely_long_name_that_goes_on_and_on_past_sixty`",
            "6: table name \"sqlite_stat1\" starts with `sqlite_`, which SQLite reserves for its own tables (the embedded store could not create it); write `name: stat1_log` or another name",
        ]
    );
    assert!(names::action_name_problem(
        "a_two_with_an_extremely_long_name_that_goes_on_and_on_past_sixt"
    )
    .is_none());
}

/// A table cannot be named after a GoogleSQL reserved keyword (Looker writes the view's name, the
/// table's, unquoted as its alias) nor so that its terraform schema would overwrite `tables.json`;
/// SQLite keywords (`table`, `index`) and keyword columns are fine: the hub quotes them.
#[test]
fn keyword_and_generated_file_table_names_are_refused_with_their_reason() {
    let p = problems(&GOOD.replace("name: approvals", "name: order"));
    assert_eq!(
        p,
        ["6: table name \"order\" is a reserved word in BigQuery SQL: the generated LookML view has the table's name, and Looker writes a view's name unquoted as the table alias of its queries (`FROM … AS order`), which BigQuery refuses; write `name: order_log` or another name"]
    );
    let p = problems(&GOOD.replace("name: approvals", "name: tables"));
    assert_eq!(
        p,
        ["6: table name \"tables\" would make `hub generate-actions` write its schema to `tables.json`, the list of tables terraform reads; write `name: tables_log` or another name"]
    );
    for fine in ["table", "index", "tables_log", "order_log"] {
        let text = GOOD
            .replace("name: approvals", &format!("name: {fine}"))
            .replace(
                "- name: id",
                "- name: id\n      - name: order\n      - name: select",
            );
        let file = parse(&text, "t.yaml", None).unwrap_or_else(|e| panic!("{fine}: {e}"));
        let files: BTreeMap<String, String> = emit::terraform_files(&file).into_iter().collect();
        assert!(files.contains_key("tables.json"), "{fine}: {files:?}");
        assert!(
            files.contains_key(&format!("{fine}.json")),
            "{fine}: {files:?}"
        );
    }
}

/// The LookML `hub generate-actions` writes is LookML Looker accepts: a column whose dimension
/// (or dimension group's fields) would share a name with another field of the generated view
/// (`measure: count`, a query action's `dimension: pk`, the fields of `dimension_group: received`
/// and of a DATE column's group), and a table named like another's `_current` view, are refused
/// with a name to write. A column named `rn` is fine: the current-state view's row number is
/// `_hub_rn`, a name no column may have.
#[test]
fn names_the_generated_lookml_would_clash_on_are_refused() {
    let yaml = r#"actions:
  - name: clash
    label: Clash
    kind: cell
    required_fields: [{tag: order-id}]
    key: order_id
    table: {name: flags}
    fields:
      - name: order_id
        required: true
        default: {from: value}
      - name: count
        value: integer
      - name: rn
      - name: due
        value: date
      - name: due_date
      - name: received_date
      - name: pk
      - name: received
        value: date
    success_message: "ok {key}"
  - name: two
    label: Two
    kind: query
    table: {name: flags_current}
    result_columns:
      - {field: a.pk, column: pk, type: STRING}
      - {field: a.ship, column: shipped_week, type: STRING}
      - {field: a.shipped_day, column: shipped, type: DATE}
    success_message: "{count}"
"#;
    let p = problems(yaml);
    let want = [
        "12: column \"count\" (field count) is the LookML `dimension: count`, which clashes with `measure: count` in the generated view (Looker refuses two fields of one name): write `column: {name: count_value}` or another name",
        "17: column \"due_date\" (field due_date) is the LookML `dimension: due_date`, which clashes with the field `due_date` of `dimension_group: due` (column \"due\") in the generated view (Looker refuses two fields of one name): write `column: {name: due_date_value}` or another name",
        "18: column \"received_date\" (field received_date) is the LookML `dimension: received_date`, which clashes with the field `received_date` of `dimension_group: received` (column \"received_at\") in the generated view (Looker refuses two fields of one name): write `column: {name: received_date_value}` or another name",
        "20: column \"received\" (field received) gives the LookML `dimension_group: received`, which clashes with `dimension_group: received` (column \"received_at\") in the generated view (Looker refuses two fields of one name): write `column: {name: received_value}` or another name",
        "26: table \"flags_current\" has the name of the LookML view `flags_current` generated over table \"flags\" (line 7) for its latest row per key (Looker refuses two views of one name): write `name: flags_latest` or another name",
        "28: column \"pk\" (result field a.pk) is the LookML `dimension: pk`, which clashes with the primary key `dimension: pk` in the generated view (Looker refuses two fields of one name): write `column: pk_value` or another name",
        "30: column \"shipped\" (result field a.shipped_day) gives the LookML `dimension_group: shipped` and with it the field `shipped_week`, which clashes with `dimension: shipped_week` (column \"shipped_week\") in the generated view (Looker refuses two fields of one name): write `column: shipped_value` or another name",
    ];
    assert_eq!(p, want, "{p:#?}");
    // Renamed as suggested, the file is accepted and its LookML has no field twice in a view.
    let fixed = yaml
        .replace(
            "      - name: count\n",
            "      - name: count\n        column: {name: count_value}\n",
        )
        .replace(
            "      - name: due_date\n",
            "      - name: due_date\n        column: {name: due_date_value}\n",
        )
        .replace(
            "      - name: received_date\n",
            "      - name: received_date\n        column: {name: received_date_value}\n",
        )
        .replace(
            "      - name: received\n",
            "      - name: received\n        column: {name: received_value}\n",
        )
        .replace("{name: flags_current}", "{name: flags_latest}")
        .replace("column: pk,", "column: pk_value,")
        .replace("column: shipped,", "column: shipped_value,");
    let file = parse(&fixed, "t.yaml", None).unwrap();
    let views = emit::lookml_files(&file).into_iter();
    for (name, text) in views.filter(|(n, _)| !super::emit::ledger::is_ledger_file(n)) {
        assert!(
            text.contains("AS _hub_rn") && !text.contains("AS rn") && !text.contains("(rn)"),
            "{name}"
        );
        let mut views: Vec<&str> = vec![];
        for view in text.split("\nview: ").skip(1) {
            views.push(view.split_whitespace().next().unwrap());
            let mut seen = std::collections::BTreeSet::new();
            for l in view.lines() {
                let l = l.trim();
                if let Some(rest) = l
                    .strip_prefix("dimension: ")
                    .or_else(|| l.strip_prefix("measure: "))
                {
                    let f = rest.trim_end_matches(" {").to_string();
                    assert!(seen.insert(f.clone()), "{name}: {f} twice");
                } else if let Some(rest) = l.strip_prefix("dimension_group: ") {
                    let g = rest.trim_end_matches(" {");
                    for tf in ["", "_raw", "_time", "_date", "_week", "_month", "_year"] {
                        assert!(!seen.contains(&format!("{g}{tf}")), "{name}: {g}{tf}");
                    }
                    seen.insert(g.to_string());
                }
            }
        }
        assert_eq!(views.len(), 2, "{name}");
    }
}

/// Looker's action menu and a select show labels only: two actions of one label (case aside), an
/// action labelled like one of the hub's own (RudderStack) actions, and two options of one label
/// in a field are refused; so is an empty success message (the user would read nothing).
#[test]
fn equal_labels_and_an_empty_success_message_are_refused() {
    let second = GOOD
        .replace("actions:\n", "")
        .replace("name: approve\n", "name: approve2\n")
        .replace("label: Approve", "label: \" APPROVE\"")
        .replace("name: approvals", "name: approvals2");
    let p = problems(&format!("{GOOD}{second}"));
    assert_eq!(
        p,
        ["13: label \" APPROVE\" is already the label of the action at line 3 (case aside): Looker would show two identical entries in the action menu; give each action its own label"]
    );
    let p = problems(&GOOD.replace("label: Approve", "label: rudder track"));
    assert_eq!(
        p,
        ["3: label \"rudder track\" is the label of the hub's own action \"Rudder Track\": Looker would show two identical entries in the action menu; choose another label"]
    );
    let select = GOOD.replace(
        "    success_message",
        "      - name: why\n        type: select\n        options: [{name: a, label: Même}, {name: b, label: MÊME}, {name: c, label: 日本語}]\n    success_message",
    );
    assert_eq!(
        problems(&select),
        ["13: field \"why\": options \"a\" and \"b\" have the same label \"MÊME\" (case aside): the user could not tell them apart; give each option its own label"]
    );
    assert!(parse(&select.replace("MÊME", "Autre"), "t.yaml", None).is_ok());
    assert_eq!(
        problems(&GOOD.replace("\"Approved {key}\"", "\"  \"")),
        ["11: success_message is empty: write what the user reads after a success, e.g. `success_message: \"Saved.\"`"]
    );
}

/// `actions:` without a value says what it needs (not a YAML syntax error), and a file that
/// expands past the reader's node budget (an alias bomb) says so in words.
#[test]
fn an_empty_actions_key_and_an_alias_bomb_say_what_to_write() {
    assert_eq!(
        problems("version: 1\nactions:\n"),
        ["2: `actions` has no value: it needs a list of actions (at least one), each item starting with `- name: ...`"]
    );
    // Nested aliases: each level repeats the previous one ten times (10^9 nodes in all), under
    // keys the file does not know (the budget is named, not the first unknown key).
    let mut bomb = String::from("version: 1\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("actions: []\n");
    let p = problems(&bomb);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("the file expands to more than 250000 YAML nodes (aliases repeating anchors?): write it out without nested aliases"),
        "{p:?}"
    );
    assert!(!p[0].contains("budget breached"), "{p:?}");
}

/// `user_email` is a param of every declared action, added by the hub: declaring it (as the
/// file reference's `params` example might suggest) is refused with what the hub does and what
/// to write instead, never as a duplicate of a param the file does not show.
#[test]
fn declaring_user_email_says_the_hub_adds_it() {
    let p = problems(&GOOD.replace(
        "    table: {name: approvals}\n",
        "    table: {name: approvals}\n    params: [{name: user_email, label: Email, user_attribute: email}]\n",
    ));
    assert_eq!(
        p,
        ["7: param \"user_email\" is added by the hub to every action (the acting user's email, from the Looker user attribute `email`): remove it from `params`; a field takes it with `default: {param: user_email}`"]
    );
    // Another param of one name twice is still a duplicate.
    let p = problems(&GOOD.replace(
        "    table: {name: approvals}\n",
        "    table: {name: approvals}\n    params: [{name: region, label: R}, {name: region, label: R2}]\n",
    ));
    assert_eq!(
        p,
        ["7: duplicate param \"region\": give each param its own name"]
    );
}

/// A problem with advice keeps it apart (`help`, shown by `hub check-actions` as rustc shows its
/// help), and its one-line form (the hub's start-up refusal) reads `message: help` as it always
/// has.
#[test]
fn advice_is_a_help_apart_and_one_line_reads_message_colon_help() {
    let yaml = GOOD.replace(
        "    fields:",
        "    params:\n      - {name: region, label: Region}\n      - {name: region, label: Region}\n    fields:",
    );
    let d = parse(&yaml, "t.yaml", None).unwrap_err();
    let [p] = &d.problems[..] else { panic!("{d}") };
    assert_eq!(p.message, "duplicate param \"region\"");
    assert_eq!(p.help.as_deref(), Some("give each param its own name"));
    assert_eq!(
        d.to_string(),
        "t.yaml:9:16: duplicate param \"region\": give each param its own name"
    );
    assert!(d
        .render()
        .contains("  = help: give each param its own name\n"));
}
