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
use super::{advice, Checked, Checker, Reported, Verdict};
use crate::api::{ActionParam, RequiredField, USER_EMAIL_PARAM};

/// The action, or the proof that it has a problem (every one of them in `ck`).
pub(super) fn build_action(
    a: Spanned<RawAction>,
    base_dir: Option<&Path>,
    ck: &mut Checker,
) -> Result<ActionDef, Reported> {
    let at = line(&a);
    let mut a = a.value;
    let mut verdict = Verdict::default();
    verdict.note(check_name_and_label(&a, ck));
    let kind = match a.kind.value {
        RawKind::Cell => Kind::Cell,
        RawKind::Query => Kind::Query,
    };
    let (icon_data_uri, icon_file_span) = verdict.keep(icon(a.icon.as_ref(), base_dir, ck));
    let required = a.required_fields.take().unwrap_or_default();
    let required_fields = verdict.keep(required_fields(required, kind, at, ck));
    let params = verdict.keep(params(a.params.take().unwrap_or_default(), ck));
    let fields = a.fields.take().unwrap_or_default();
    let fields = verdict.keep(fields_of(fields, kind, &params, ck));
    verdict.note(keys_of_the_other_kind(&a, kind, ck));
    let (key_field, key_tag) = match kind {
        Kind::Cell => (verdict.take(cell_key(&a, &fields, at, ck)), None),
        Kind::Query => (None, verdict.keep(query_key_tag(&a, &required_fields, ck))),
    };
    let results = a.result_columns.take().unwrap_or_default();
    let results = verdict.keep(result_columns(results, ck));
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
    let (table, sources) = verdict.keep(table::table(a.table.value, &parts, ck));
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
    def.success_message = verdict.keep(success_message(&a.success_message, &def, ck));
    verdict.then(def)
}

/// The name (a URL segment, not a coded action's) and the label (not empty).
fn check_name_and_label(a: &RawAction, ck: &mut Checker) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    let name = &a.name.value;
    if let Some(p) = names::action_name_problem(name) {
        verdict.add(ck.at(line(&a.name), p));
    } else if crate::actions::coded_names().any(|c| c == name) {
        let message = format!("{name:?} is the name of one of the hub's own actions");
        verdict.add(ck.at(line(&a.name), advice(message, "choose another name")));
    }
    if a.label.value.trim().is_empty() {
        let help = "write the text Looker shows in the action menu";
        verdict.add(ck.at(line(&a.label), advice("label is empty", help)));
    }
    verdict.then(())
}

/// An icon as a data URI, and where the file writes an icon file's path (byte offset and length).
type Icon = (Option<String>, Option<(usize, usize)>);

/// The icon as a data URI, and where the file writes an icon file's path (the deployable copy
/// inlines it there).
fn icon(raw: Option<&Spanned<String>>, base_dir: Option<&Path>, ck: &mut Checker) -> Checked<Icon> {
    let Some(i) = raw else {
        return Checked::sound((None, None));
    };
    let file_span = match icon::spec(&i.value) {
        icon::Spec::File(_) => i.referenced.bytes,
        _ => None,
    };
    match icon::resolve(&i.value, base_dir) {
        Ok(uri) => Checked::sound((Some(uri), file_span)),
        Err(e) => Checked {
            value: (None, file_span),
            sound: Err(ck.at(line(i), e)),
        },
    }
}

/// The tags that make the action appear (a cell action needs one).
fn required_fields(
    raw: Vec<Spanned<RequiredField>>,
    kind: Kind,
    at: Pos,
    ck: &mut Checker,
) -> Checked<Vec<RequiredField>> {
    let mut verdict = Verdict::default();
    let mut out = Vec::new();
    for rf in raw {
        let tags: Vec<&String> = match &rf.value {
            RequiredField::Tag { tag } => vec![tag],
            RequiredField::AnyTag { any_tag } | RequiredField::AllTags { all_tags: any_tag } => {
                any_tag.iter().collect()
            }
        };
        if tags.is_empty() {
            let message = "an empty tag list matches no field";
            verdict.add(ck.at(line(&rf), advice(message, "list at least one tag")));
        }
        for t in tags {
            if let Some(p) = names::tag_problem(t) {
                verdict.add(ck.at(line(&rf), p));
            }
        }
        out.push(rf.value);
    }
    if kind == Kind::Cell && out.is_empty() {
        verdict.add(ck.at(at, "a cell action needs `required_fields` (e.g. `- tag: my-tag`): without a tag it appears on no field"));
    }
    verdict.with(out)
}

/// The params: `user_email` always (the hub adds it), then the declared ones.
fn params(raw: Vec<Spanned<RawParam>>, ck: &mut Checker) -> Checked<Vec<ActionParam>> {
    let mut verdict = Verdict::default();
    let mut params = vec![user_email_param()];
    for p in raw {
        let p = p.value;
        let at = line(&p.name);
        if let Some(mut says) = names::field_name_problem(&p.name.value) {
            says.message = says.message.replace("field name", "param name");
            verdict.add(ck.at(at, says));
        }
        if p.name.value == USER_EMAIL_PARAM {
            let message = format!(
                "param {USER_EMAIL_PARAM:?} is added by the hub to every action (the acting user's email, from the Looker user attribute `email`)"
            );
            let help = format!("remove it from `params`; a field takes it with `default: {{param: {USER_EMAIL_PARAM}}}`");
            verdict.add(ck.at(at, advice(message, help)));
        } else if params.iter().any(|q| q.name == p.name.value) {
            let message = format!("duplicate param {:?}", p.name.value);
            verdict.add(ck.at(at, advice(message, "give each param its own name")));
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
    verdict.with(params)
}

/// The form fields, in form order (a duplicate name is refused and left out).
fn fields_of(
    raw: Vec<Spanned<RawField>>,
    kind: Kind,
    params: &[ActionParam],
    ck: &mut Checker,
) -> Checked<Vec<Field>> {
    let mut verdict = Verdict::default();
    let mut fields: Vec<Field> = Vec::new();
    for f in raw {
        let fl = line(&f);
        if fields.iter().any(|g| g.name == f.value.name.value) {
            let message = format!("duplicate field {:?}", f.value.name.value);
            let help = "give each field its own name";
            verdict.add(ck.at(line(&f.value.name), advice(message, help)));
            continue;
        }
        // A field with a problem of its own is still a field: later checks (the key, the
        // success message, columns) see it, so its problem is not followed by false ones.
        fields.push(verdict.keep(build_field(f.value, fl, kind, params, ck)));
    }
    verdict.with(fields)
}

/// The keys of the other kind of action, refused: a cell action's key is a field (`key:`), a
/// query action's a result field (`key_tag:`); only a query action maps result columns.
fn keys_of_the_other_kind(a: &RawAction, kind: Kind, ck: &mut Checker) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    match kind {
        Kind::Cell => {
            if let Some(k) = &a.key_tag {
                verdict.add(ck.at(
                    line(k),
                    "`key_tag` is for query actions; a cell action names its key field with `key:`",
                ));
            }
            if let Some(rc) = a.result_columns.as_ref().and_then(|rc| rc.first()) {
                verdict.add(ck.at(
                    line(rc),
                    "`result_columns` is for query actions; a cell action has no query result",
                ));
            }
        }
        Kind::Query => {
            if let Some(k) = &a.key {
                verdict.add(ck.at(
                    line(k),
                    "`key` is for cell actions; a query action's key is the result field tagged `key_tag`",
                ));
            }
        }
    }
    verdict.then(())
}

/// A cell action's key field: `key:`, else the one required field defaulting to the clicked
/// value.
fn cell_key(
    a: &RawAction,
    fields: &[Field],
    at: Pos,
    ck: &mut Checker,
) -> Result<String, Reported> {
    let clicked: Vec<&Field> = fields
        .iter()
        .filter(|f| f.default == Some(DefaultValue::ClickedValue))
        .collect();
    match &a.key {
        Some(k) => match fields.iter().find(|f| f.name == k.value) {
            Some(f) if !f.required => Err(ck.at(line(k), format!("key field {:?} must be `required: true`: every row needs its key", k.value))),
            Some(_) => Ok(k.value.clone()),
            None => {
                let message = format!("key {:?} is not a field of this action", k.value);
                let help = "name the field that holds the clicked value";
                Err(ck.at(line(k), advice(message, help)))
            }
        },
        None if clicked.len() == 1 && clicked[0].required => Ok(clicked[0].name.clone()),
        None => Err(ck.at(at, "a cell action needs `key: <field>`: the required field that holds the clicked value (`default: {from: value}`)")),
    }
}

/// A query action's key tag: `key_tag:`, else the first tag of its required fields.
fn query_key_tag(
    a: &RawAction,
    required_fields: &[RequiredField],
    ck: &mut Checker,
) -> Checked<Option<String>> {
    match &a.key_tag {
        Some(t) => {
            let mut verdict = Verdict::default();
            if let Some(p) = names::tag_problem(&t.value) {
                verdict.add(ck.at(line(t), p));
            }
            verdict.with(Some(t.value.clone()))
        }
        None => Checked::sound(required_fields.iter().find_map(|r| match r {
            RequiredField::Tag { tag } => Some(tag.clone()),
            RequiredField::AnyTag { any_tag: t } | RequiredField::AllTags { all_tags: t } => {
                t.first().cloned()
            }
        })),
    }
}

/// The result fields a query action stores in columns of their own.
fn result_columns(raw: Vec<Spanned<RawResultColumn>>, ck: &mut Checker) -> Checked<Vec<Mapped>> {
    let mut verdict = Verdict::default();
    let mut out = Vec::new();
    for rc in raw {
        let rc = rc.value;
        if rc.field.value.trim().is_empty() {
            let help = "write the result field as `view.field`, e.g. `orders.id`";
            verdict.add(ck.at(line(&rc.field), advice("`field` is empty", help)));
        }
        let column_type = ColumnType::from(rc.column_type.value);
        if matches!(column_type, ColumnType::Json | ColumnType::Timestamp) {
            let message = format!(
                "a result field cannot be stored as {}",
                column_type.bigquery_name()
            );
            let help = "write STRING, INT64, NUMERIC, FLOAT64, BOOL or DATE";
            verdict.add(ck.at(line(&rc.column_type), advice(message, help)));
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
    verdict.with(out)
}

/// The success message, its placeholders among what the action has.
fn success_message(raw: &Spanned<String>, def: &ActionDef, ck: &mut Checker) -> Checked<Template> {
    let mut verdict = Verdict::default();
    if raw.value.trim().is_empty() {
        let help = "write what the user reads after a success, e.g. `success_message: \"Saved.\"`";
        verdict.add(ck.at(line(raw), advice("success_message is empty", help)));
    }
    match Template::parse(&raw.value) {
        Ok(t) => {
            let allowed = def.placeholders();
            for p in t.placeholders() {
                if !allowed.iter().any(|a| a == p) {
                    let valid: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                    let message =
                        format!("success_message uses {{{p}}}, which this action does not have");
                    let help = format!("use one of {}", valid.join(", "));
                    verdict.add(ck.at(line(raw), advice(message, help)));
                }
            }
            verdict.with(t)
        }
        Err(e) => {
            verdict.add(ck.at(line(raw), format!("success_message: {e}")));
            verdict.with(Template(vec![]))
        }
    }
}
