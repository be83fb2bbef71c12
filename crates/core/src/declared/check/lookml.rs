//! The names the generated LookML gives each column: a column the file names may not clash.

use std::collections::{BTreeSet, HashMap};

use super::super::model::*;
use super::super::syntax::*;
use super::{advice, Checker, Reported, Verdict};

/// The LookML `hub generate-actions` writes over a table names a field after each column (a DATE
/// or TIMESTAMP column gives a dimension group and one field per timeframe), plus `measure:
/// count` and, for a query action, `dimension: pk`: Looker refuses a view where two of them share
/// a name. Every clash of a column the file names is listed at its line, with a name to write.
pub(super) fn lookml_clashes<'a>(
    kind: Kind,
    audit: impl Iterator<Item = &'a ColumnDef>,
    own: &[(String, ColumnType, String, Pos)],
    refused: &BTreeSet<String>,
    ck: &mut Checker,
) -> Result<(), Reported> {
    let mut verdict = Verdict::default();
    use super::super::emit::lookml_words::{lookml_fields, COUNT_MEASURE, QUERY_PK_DIMENSION};
    // LookML field name -> what generates it.
    let mut taken: HashMap<String, String> = HashMap::new();
    taken.insert(COUNT_MEASURE.into(), format!("`measure: {COUNT_MEASURE}`"));
    if kind == Kind::Query {
        taken.insert(
            QUERY_PK_DIMENSION.into(),
            format!("the primary key `dimension: {QUERY_PK_DIMENSION}`"),
        );
    }
    // How the field `f` that column `column` gives is named in a message.
    let describe = |lookml_kind: &str, group: &str, column: &str, f: &str| {
        if lookml_kind == "dimension" {
            format!("`dimension: {f}` (column {column:?})")
        } else if f == group {
            format!("`dimension_group: {group}` (column {column:?})")
        } else {
            format!("the field `{f}` of `dimension_group: {group}` (column {column:?})")
        }
    };
    for c in audit {
        let (k, group, fields) = lookml_fields(&c.name, c.ty);
        for f in fields {
            let d = describe(k, &group, &c.name, &f);
            taken.entry(f).or_insert(d);
        }
    }
    for (name, t, what, l) in own {
        if refused.contains(name) {
            continue;
        }
        let (k, group, fields) = lookml_fields(name, *t);
        // One problem per column, at its first clash.
        if let Some((f, other)) = fields
            .iter()
            .find_map(|f| taken.get(f).map(|other| (f, other)))
        {
            let gives = match k {
                "dimension" => format!("is the LookML `dimension: {name}`"),
                _ if *f == group => format!("gives the LookML `dimension_group: {group}`"),
                _ => format!(
                    "gives the LookML `dimension_group: {group}` and with it the field `{f}`"
                ),
            };
            let instead = if what.starts_with("result field") {
                format!("`column: {name}_value`")
            } else {
                format!("`column: {{name: {name}_value}}`")
            };
            let message = format!(
                "column {name:?} ({what}) {gives}, which clashes with {other} in the generated view (Looker refuses two fields of one name)"
            );
            verdict.add(ck.at(
                *l,
                advice(message, format!("write {instead} or another name")),
            ));
        }
        for f in fields {
            let d = describe(k, &group, name, &f);
            taken.entry(f).or_insert(d);
        }
    }
    verdict.then(())
}
