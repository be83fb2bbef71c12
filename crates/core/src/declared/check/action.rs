//! One action: its names, icon, required fields, params, fields, key, result columns, table and
//! success message, each checked by a function of its own.

use std::path::Path;

use super::super::icon;
use super::super::model::*;
use super::super::names;
use super::super::syntax::*;
use super::field::build_field;
use super::line;
use super::table::{self, Mapped, Parts};
use super::Checker;
use crate::api::{ActionParam, RequiredField, USER_EMAIL_PARAM};

/// The action, or `None` when it has a problem (every one of them in `ck`).
pub(super) fn build_action(
    a: Spanned<RawAction>,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> Option<ActionDef> {
    let before = ck.problems.len();
    let at = line(&a);
    let mut a = a.value;
    check_name_and_label(&a, ck);
    let kind = match a.kind.value {
        RawKind::Cell => Kind::Cell,
        RawKind::Query => Kind::Query,
    };
    let (icon_data_uri, icon_file_span) = icon(a.icon.as_ref(), base_dir, ck);
    let required_fields =
        required_fields(a.required_fields.take().unwrap_or_default(), kind, at, ck);
    let params = params(a.params.take().unwrap_or_default(), ck);
    let fields = fields(a.fields.take().unwrap_or_default(), kind, &params, ck);
    let (key_field, key_tag) = match kind {
        Kind::Cell => (cell_key(&a, &fields, at, ck), None),
        Kind::Query => (None, query_key_tag(&a, &required_fields, ck)),
    };
    let results = result_columns(a.result_columns.take().unwrap_or_default(), ck);
    let key_column = match kind {
        Kind::Cell => key_field
            .as_ref()
            .and_then(|k| fields.iter().find(|f| &f.name == k))
            .map(|f| f.column.clone())
            .unwrap_or_default(),
        Kind::Query => "key_value".into(),
    };
    let parts = Parts {
        kind,
        label: &a.label.value,
        key_tag: key_tag.as_deref(),
        key_column: &key_column,
        fields: &fields,
        results: &results,
    };
    let (table, sources) = table::table(a.table.value, &parts, ck);
    let mut def = ActionDef {
        name: a.name.value,
        label: a.label.value,
        description: a.description.unwrap_or_default(),
        icon_data_uri,
        icon_file_span,
        kind,
        required_fields,
        identity: match a.identity.unwrap_or(RawIdentity::Hub) {
            RawIdentity::Hub => Identity::Hub,
            RawIdentity::Service => Identity::Service,
            RawIdentity::User => Identity::User,
        },
        refresh_query: a.refresh_query.unwrap_or(false),
        key_field,
        key_tag,
        params,
        fields,
        result_columns: results.into_iter().map(|(r, _, _)| r).collect(),
        table,
        sources,
        key_column,
        success_message: Template(vec![]),
        line: at,
    };
    def.success_message = success_message(&a.success_message, &def, ck);
    (ck.problems.len() == before).then_some(def)
}

/// The name (a URL segment, not a coded action's) and the label (not empty).
fn check_name_and_label(a: &RawAction, ck: &mut Checker) {
    let name = &a.name.value;
    if let Some(p) = names::action_name_problem(name) {
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
}

/// The icon as a data URI, and where the file writes an icon file's path (the deployable copy
/// inlines it there).
fn icon(
    raw: Option<&Spanned<String>>,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> (Option<String>, Option<(usize, usize)>) {
    let Some(i) = raw else {
        return (None, None);
    };
    let file_span = match icon::spec(&i.value) {
        icon::Spec::File(_) => i.referenced.bytes,
        _ => None,
    };
    match icon::resolve(&i.value, base_dir) {
        Ok(uri) => (Some(uri), file_span),
        Err(e) => {
            ck.at(line(i), e);
            (None, file_span)
        }
    }
}

/// The tags that make the action appear (a cell action needs one).
fn required_fields(
    raw: Vec<Spanned<RequiredField>>,
    kind: Kind,
    at: Pos,
    ck: &mut Checker,
) -> Vec<RequiredField> {
    let mut out = Vec::new();
    for rf in raw {
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
        out.push(rf.value);
    }
    if kind == Kind::Cell && out.is_empty() {
        ck.at(at, "a cell action needs `required_fields` (e.g. `- tag: my-tag`): without a tag it appears on no field");
    }
    out
}

/// The params: `user_email` always (the hub adds it), then the declared ones.
fn params(raw: Vec<Spanned<RawParam>>, ck: &mut Checker) -> Vec<ActionParam> {
    let mut params = vec![user_email_param()];
    for p in raw {
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
    params
}

/// The form fields, in form order (a duplicate name is refused and left out).
fn fields(
    raw: Vec<Spanned<RawField>>,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    for f in raw {
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
        fields.push(build_field(f.value, fl, kind, params, ck));
    }
    fields
}

/// A cell action's key field: `key:`, else the one required field defaulting to the clicked
/// value. The keys of query actions are refused.
fn cell_key(a: &RawAction, fields: &[Field], at: Pos, ck: &mut Checker) -> Option<String> {
    if let Some(k) = &a.key_tag {
        ck.at(
            line(k),
            "`key_tag` is for query actions; a cell action names its key field with `key:`",
        );
    }
    if let Some(rc) = a.result_columns.as_ref().and_then(|rc| rc.first()) {
        ck.at(
            line(rc),
            "`result_columns` is for query actions; a cell action has no query result",
        );
    }
    let clicked: Vec<&Field> = fields
        .iter()
        .filter(|f| f.default == Some(DefaultValue::ClickedValue))
        .collect();
    match &a.key {
        Some(k) => match fields.iter().find(|f| f.name == k.value) {
            Some(f) if !f.required => ck.at(line(k), format!("key field {:?} must be `required: true`: every row needs its key", k.value)),
            Some(_) => return Some(k.value.clone()),
            None => ck.at(line(k), format!("key {:?} is not a field of this action: name the field that holds the clicked value", k.value)),
        },
        None if clicked.len() == 1 && clicked[0].required => return Some(clicked[0].name.clone()),
        None => ck.at(at, "a cell action needs `key: <field>`: the required field that holds the clicked value (`default: {from: value}`)"),
    }
    None
}

/// A query action's key tag: `key_tag:`, else the first tag of its required fields.
fn query_key_tag(
    a: &RawAction,
    required_fields: &[RequiredField],
    ck: &mut Checker,
) -> Option<String> {
    if let Some(k) = &a.key {
        ck.at(
            line(k),
            "`key` is for cell actions; a query action's key is the result field tagged `key_tag`",
        );
    }
    match &a.key_tag {
        Some(t) => {
            if let Some(p) = names::tag_problem(&t.value) {
                ck.at(line(t), p);
            }
            Some(t.value.clone())
        }
        None => required_fields.iter().find_map(|r| match r {
            RequiredField::Tag { tag } => Some(tag.clone()),
            RequiredField::AnyTag { any_tag: t } | RequiredField::AllTags { all_tags: t } => {
                t.first().cloned()
            }
        }),
    }
}

/// The result fields a query action stores in columns of their own.
fn result_columns(raw: Vec<Spanned<RawResultColumn>>, ck: &mut Checker) -> Vec<Mapped> {
    let mut out = Vec::new();
    for rc in raw {
        let rc = rc.value;
        if rc.field.value.trim().is_empty() {
            ck.at(
                line(&rc.field),
                "`field` is empty: write the result field as `view.field`, e.g. `orders.id`",
            );
        }
        let column_type = ColumnType::from(rc.column_type.value);
        if matches!(column_type, ColumnType::Json | ColumnType::Timestamp) {
            ck.at(line(&rc.column_type), format!("a result field cannot be stored as {}: write STRING, INT64, NUMERIC, FLOAT64, BOOL or DATE", column_type.bigquery_name()));
        }
        let at = line(&rc.column);
        let column = ResultColumn {
            field: rc.field.value,
            column: rc.column.value,
            column_type,
            required: rc.required.unwrap_or(false),
        };
        out.push((column, rc.description, at));
    }
    out
}

/// The success message, its placeholders among what the action has.
fn success_message(raw: &Spanned<String>, def: &ActionDef, ck: &mut Checker) -> Template {
    if raw.value.trim().is_empty() {
        ck.at(
            line(raw),
            "success_message is empty: write what the user reads after a success, e.g. `success_message: \"Saved.\"`",
        );
    }
    match Template::parse(&raw.value) {
        Ok(t) => {
            let allowed = def.placeholders();
            for p in t.placeholders() {
                if !allowed.iter().any(|a| a == p) {
                    let valid: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                    ck.at(line(raw), format!("success_message uses {{{p}}}, which this action does not have: use one of {}", valid.join(", ")));
                }
            }
            t
        }
        Err(e) => {
            ck.at(line(raw), format!("success_message: {e}"));
            Template(vec![])
        }
    }
}
