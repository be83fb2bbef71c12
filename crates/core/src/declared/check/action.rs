//! One action: its names, icon, required fields, params, key, table and success message.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::super::audit::{self, Place};
use super::super::model::*;
use super::super::names;
use super::super::syntax::*;
use super::field::build_field;
use super::line;
use super::lookml::lookml_clashes;
use super::Checker;
use crate::api::{ActionParam, RequiredField, USER_EMAIL_PARAM};

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

pub(super) fn build_action(
    a: Spanned<RawAction>,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> Option<ActionDef> {
    let before = ck.problems.len();
    let at = line(&a);
    let a = a.value;
    let name = a.name.value.clone();
    if let Some(p) = names::action_name_problem(&name) {
        ck.at(line(&a.name), p);
    } else if crate::actions::coded_names().any(|c| c == name) {
        ck.at(
            line(&a.name),
            format!("{name:?} is the name of one of the hub's own actions: choose another name"),
        );
    }
    if a.label.value.trim().is_empty() {
        ck.at(
            line(&a.label),
            "label is empty: write the text Looker shows in the action menu",
        );
    }
    let kind = match a.kind.value {
        RawKind::Cell => Kind::Cell,
        RawKind::Query => Kind::Query,
    };
    // An icon read from a file: where its path is written (the deployable copy inlines it).
    let icon_file_span = a
        .icon
        .as_ref()
        .and_then(|i| match super::super::icon::spec(&i.value) {
            super::super::icon::Spec::File(_) => i.referenced.bytes,
            _ => None,
        });
    let icon_data_uri =
        a.icon
            .as_ref()
            .and_then(|i| match super::super::icon::resolve(&i.value, base_dir) {
                Ok(uri) => Some(uri),
                Err(e) => {
                    ck.at(line(i), e);
                    None
                }
            });
    let mut required_fields = Vec::new();
    for rf in a.required_fields.unwrap_or_default() {
        let tags: Vec<&String> = match &rf.value {
            RequiredField::Tag { tag } => vec![tag],
            RequiredField::AnyTag { any_tag } | RequiredField::AllTags { all_tags: any_tag } => {
                any_tag.iter().collect()
            }
        };
        if tags.is_empty() {
            ck.at(
                line(&rf),
                "an empty tag list matches no field: list at least one tag",
            );
        }
        for t in tags {
            if let Some(p) = names::tag_problem(t) {
                ck.at(line(&rf), p);
            }
        }
        required_fields.push(rf.value);
    }
    if kind == Kind::Cell && required_fields.is_empty() {
        ck.at(at, "a cell action needs `required_fields` (e.g. `- tag: my-tag`): without a tag it appears on no field");
    }
    let identity = match a.identity.unwrap_or(RawIdentity::Hub) {
        RawIdentity::Hub => Identity::Hub,
        RawIdentity::Service => Identity::Service,
        RawIdentity::User => Identity::User,
    };

    // Params: user_email always, then the declared ones.
    let mut params = vec![user_email_param()];
    for p in a.params.unwrap_or_default() {
        let p = p.value;
        if let Some(msg) = names::field_name_problem(&p.name.value) {
            ck.at(line(&p.name), msg.replace("field name", "param name"));
        }
        if p.name.value == USER_EMAIL_PARAM {
            ck.at(
                line(&p.name),
                format!(
                    "param {USER_EMAIL_PARAM:?} is added by the hub to every action (the acting user's email, from the Looker user attribute `email`): remove it from `params`; a field takes it with `default: {{param: {USER_EMAIL_PARAM}}}`"
                ),
            );
        } else if params.iter().any(|q| q.name == p.name.value) {
            ck.at(
                line(&p.name),
                format!(
                    "duplicate param {:?}: give each param its own name",
                    p.name.value
                ),
            );
        }
        params.push(ActionParam {
            name: p.name.value,
            label: p.label,
            required: p.required.unwrap_or(false),
            sensitive: false,
            description: p.description,
            per_user: None,
            user_attribute_name: p.user_attribute,
        });
    }

    // Fields.
    let mut fields: Vec<Field> = Vec::new();
    for f in a.fields.unwrap_or_default() {
        let fl = line(&f);
        if fields.iter().any(|g| g.name == f.value.name.value) {
            ck.at(
                line(&f.value.name),
                format!(
                    "duplicate field {:?}: give each field its own name",
                    f.value.name.value
                ),
            );
            continue;
        }
        // A field with a problem of its own is still a field: later checks (the key, the
        // success message, columns) see it, so its problem is not followed by false ones.
        fields.push(build_field(f.value, fl, kind, &params, ck));
    }

    // The key.
    let mut key_field = None;
    let mut key_tag = None;
    match kind {
        Kind::Cell => {
            if let Some(k) = &a.key_tag {
                ck.at(
                    line(k),
                    "`key_tag` is for query actions; a cell action names its key field with `key:`",
                );
            }
            if let Some(rc) = &a.result_columns {
                if !rc.is_empty() {
                    ck.at(
                        line(&rc[0]),
                        "`result_columns` is for query actions; a cell action has no query result",
                    );
                }
            }
            let clicked: Vec<&Field> = fields
                .iter()
                .filter(|f| f.default == Some(DefaultValue::ClickedValue))
                .collect();
            match &a.key {
                Some(k) => match fields.iter().find(|f| f.name == k.value) {
                    Some(f) if !f.required => ck.at(line(k), format!("key field {:?} must be `required: true`: every row needs its key", k.value)),
                    Some(_) => key_field = Some(k.value.clone()),
                    None => ck.at(line(k), format!("key {:?} is not a field of this action: name the field that holds the clicked value", k.value)),
                },
                None if clicked.len() == 1 && clicked[0].required => key_field = Some(clicked[0].name.clone()),
                None => ck.at(at, "a cell action needs `key: <field>`: the required field that holds the clicked value (`default: {from: value}`)"),
            }
        }
        Kind::Query => {
            if let Some(k) = &a.key {
                ck.at(line(k), "`key` is for cell actions; a query action's key is the result field tagged `key_tag`");
            }
            key_tag = match &a.key_tag {
                Some(t) => {
                    if let Some(p) = names::tag_problem(&t.value) {
                        ck.at(line(t), p);
                    }
                    Some(t.value.clone())
                }
                None => required_fields.iter().find_map(|r| match r {
                    RequiredField::Tag { tag } => Some(tag.clone()),
                    RequiredField::AnyTag { any_tag: t }
                    | RequiredField::AllTags { all_tags: t } => t.first().cloned(),
                }),
            };
        }
    }

    // Result columns.
    let mut result_columns = Vec::new();
    for rc in a.result_columns.unwrap_or_default() {
        let rl = line(&rc);
        let rc = rc.value;
        if rc.field.value.trim().is_empty() {
            ck.at(
                line(&rc.field),
                "`field` is empty: write the result field as `view.field`, e.g. `orders.id`",
            );
        }
        if matches!(
            rc.column_type.value,
            RawColumnType::Json | RawColumnType::Timestamp
        ) {
            ck.at(line(&rc.column_type), format!("a result field cannot be stored as {}: write STRING, INT64, NUMERIC, FLOAT64, BOOL or DATE", ColumnType::from(rc.column_type.value).bigquery_name()));
        }
        let _ = rl;
        result_columns.push((
            ResultColumn {
                field: rc.field.value,
                column: rc.column.value.clone(),
                column_type: rc.column_type.value.into(),
                required: rc.required.unwrap_or(false),
            },
            rc.description,
            line(&rc.column),
        ));
    }

    // The table.
    let rt = a.table.value;
    let table_name = rt.name.value.clone();
    if let Some(p) = names::table_name_problem(&table_name) {
        ck.at(line(&rt.name), p);
    }
    // Each column with where its value comes from, in table order.
    let mut columns: Vec<(ColumnDef, ColumnSource)> = Vec::new();
    let head = audit::columns(kind, Place::Head, key_tag.as_deref());
    let tail = audit::columns(kind, Place::Tail, key_tag.as_deref());
    let reserved: BTreeSet<String> = head
        .iter()
        .chain(tail.iter())
        .map(|(c, _)| c.name.clone())
        .collect();
    columns.extend(head);
    let mut seen: HashMap<String, String> = HashMap::new();
    // The columns whose name is refused here: the LookML check below leaves them out.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut own_column = |name: &str, what: String, l: Pos, ck: &mut Checker| {
        let before = ck.problems.len();
        if let Some(p) = names::column_name_problem(name) {
            ck.at(l, p);
        } else if reserved.contains(name) {
            ck.at(l, format!("column {name:?} ({what}) is one of the audit columns every row has: write `{name}_value` or another name"));
        } else if let Some(prev) = seen.insert(name.to_string(), what.clone()) {
            ck.at(l, format!("column {name:?} ({what}) is already the column of {prev}: give it its own name"));
        }
        if ck.problems.len() > before {
            refused.insert(name.to_string());
        }
    };
    // The columns the file names, with what gives them and their line.
    let mut own: Vec<(String, ColumnType, String, Pos)> = vec![];
    for f in &fields {
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
        own_column(&f.column, format!("field {}", f.name), f.line, ck);
    }
    for (rc, _, l) in &result_columns {
        own.push((
            rc.column.clone(),
            rc.column_type,
            format!("result field {}", rc.field),
            *l,
        ));
        own_column(&rc.column, format!("result field {}", rc.field), *l, ck);
    }
    let audit_defs = columns.iter().chain(tail.iter()).map(|(c, _)| c);
    lookml_clashes(kind, audit_defs, &own, &refused, ck);
    for f in &fields {
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
    for (rc, desc, _) in &result_columns {
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
    // BigQuery's limits on descriptions, and the embedded store's on columns (BigQuery's is 10 000).
    for f in &fields {
        let n = f.description_for_column().chars().count();
        if n > MAX_COLUMN_DESCRIPTION {
            ck.at(f.line, format!(
                "field {:?}: its column's description (its label, when `column: {{description: ...}}` is not given) is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}: write a shorter `column: {{description: ...}}`",
                f.name
            ));
        }
    }
    for (rc, desc, l) in &result_columns {
        let n = desc.as_deref().map_or(0, |d| d.chars().count());
        if n > MAX_COLUMN_DESCRIPTION {
            ck.at(*l, format!(
                "result column {:?}: its description is {n} characters; BigQuery takes at most {MAX_COLUMN_DESCRIPTION}: write a shorter one",
                rc.column
            ));
        }
    }
    if let Some(d) = &rt.description {
        let n = d.chars().count();
        if n > MAX_TABLE_DESCRIPTION {
            ck.at(line(&rt.name), format!(
                "table {:?}: its description is {n} characters; BigQuery takes at most {MAX_TABLE_DESCRIPTION}: write a shorter one",
                table_name
            ));
        }
    }
    if columns.len() > MAX_COLUMNS {
        ck.at(line(&rt.name), format!(
            "table {:?} would have {} columns; the embedded store (SQLite) takes at most {MAX_COLUMNS}: split the action, or map fewer result fields",
            table_name,
            columns.len()
        ));
    }
    let key_column = match kind {
        Kind::Cell => key_field
            .as_ref()
            .and_then(|k| fields.iter().find(|f| &f.name == k))
            .map(|f| f.column.clone())
            .unwrap_or_default(),
        Kind::Query => "key_value".into(),
    };
    let clustering = match rt.clustering {
        Some(c) => {
            if c.len() > 4 {
                ck.at(
                    line(&c[4]),
                    "BigQuery clusters on at most 4 columns: remove the rest",
                );
            }
            for (i, col) in c.iter().enumerate() {
                match columns.iter().map(|(k, _)| k).find(|k| k.name == col.value) {
                    None => ck.at(
                        line(col),
                        format!(
                            "clustering column {:?} is not a column of the table",
                            col.value
                        ),
                    ),
                    Some(k) if !clusterable(k.ty) => ck.at(
                        line(col),
                        format!(
                            "clustering column {:?} is {}, which BigQuery cannot cluster on: cluster on a column of type {CLUSTERABLE}, or remove it",
                            col.value,
                            k.ty.bigquery_name()
                        ),
                    ),
                    Some(_) if c[..i].iter().any(|p| p.value == col.value) => ck.at(
                        line(col),
                        format!("clustering column {:?} is listed twice: keep one", col.value),
                    ),
                    Some(_) => {}
                }
            }
            c.into_iter().map(|c| c.value).collect()
        }
        None => {
            // The table clusters on its key column unless the file says otherwise.
            if let Some(f) = fields.iter().find(|f| f.column == key_column) {
                if !clusterable(f.column_type) {
                    ck.at(f.line, format!(
                        "key field {:?} is stored as {t}, and the table clusters on its key column, which BigQuery cannot do with {t}: write `column: {{type: {}}}` on the field, or name other columns under `table: {{clustering: [...]}}`",
                        f.name,
                        f.value.default_column().bigquery_name(),
                        t = f.column_type.bigquery_name(),
                    ));
                }
            }
            vec![key_column.clone()]
        }
    };
    let (columns, sources) = columns.into_iter().unzip();
    let table = TableDef {
        name: table_name,
        description: rt
            .description
            .unwrap_or_else(|| format!("One row per {:?} execute (insert-only).", a.label.value)),
        columns,
        partition_by_day: Some(audit::received_at().into()),
        clustering,
        key: audit::key(kind).into_iter().map(String::from).collect(),
    };

    let mut def = ActionDef {
        name,
        label: a.label.value,
        description: a.description.unwrap_or_default(),
        icon_data_uri,
        icon_file_span,
        kind,
        required_fields,
        identity,
        refresh_query: a.refresh_query.unwrap_or(false),
        key_field,
        key_tag,
        params,
        fields,
        result_columns: result_columns.into_iter().map(|(r, _, _)| r).collect(),
        table,
        sources,
        key_column,
        success_message: Template(vec![]),
        line: at,
    };
    if a.success_message.value.trim().is_empty() {
        ck.at(
            line(&a.success_message),
            "success_message is empty: write what the user reads after a success, e.g. `success_message: \"Saved.\"`",
        );
    }
    match Template::parse(&a.success_message.value) {
        Ok(t) => {
            let allowed = def.placeholders();
            for p in t.placeholders() {
                if !allowed.iter().any(|a| a == p) {
                    ck.at(line(&a.success_message), format!("success_message uses {{{p}}}, which this action does not have: use one of {}", allowed.iter().map(|a| format!("{{{a}}}")).collect::<Vec<_>>().join(", ")));
                }
            }
            def.success_message = t;
        }
        Err(e) => ck.at(line(&a.success_message), format!("success_message: {e}")),
    }
    (ck.problems.len() == before).then_some(def)
}
