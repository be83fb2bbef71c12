//! A live table against its description, checked at start by both stores. Write-back tables are
//! insert-only logs: they evolve by adding NULLABLE columns (old rows simply have no value there;
//! neither SQLite nor BigQuery rewrites anything). A REQUIRED declaration over a NULLABLE live
//! column is compatible (every row the hub writes has the value). Any other change — a column's
//! type, a REQUIRED live column declared NULLABLE, a column removed or renamed, a new REQUIRED
//! column — would need the table rewritten (or
//! replaced, losing its history), so the hub refuses to start and says what to declare instead.
//! In BigQuery a NULLABLE column the declaration lacks is accepted (the hub leaves it NULL): an
//! earlier revision, rolled back to after a deploy added a column, must still start. Removing a
//! field from the file is refused before that, by the deploy (scripts/plan_guard.py).

use super::table::{ColumnDef, ColumnType, Mode, TableDef};

/// A column of the live table, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// Name.
    pub name: String,
    /// Type as the store names it (`TEXT`, `INTEGER` in SQLite; `STRING`, `INT64` in BigQuery).
    pub ty: String,
    /// Whether it refuses NULL (SQLite `NOT NULL`, BigQuery `REQUIRED`).
    pub required: bool,
}

/// Which store's type names the live columns use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The embedded store (SQLite storage classes: several declared types share one).
    Sqlite,
    /// BigQuery (legacy names such as `INTEGER` are the same types as `INT64`).
    BigQuery,
}

impl Store {
    fn type_matches(self, declared: ColumnType, live: &str) -> bool {
        match self {
            Store::Sqlite => declared.sqlite_name().eq_ignore_ascii_case(live),
            Store::BigQuery => ColumnType::from_bigquery_name(&live.to_ascii_uppercase())
                .is_some_and(|t| t == declared),
        }
    }

    fn declared_type(self, c: &ColumnDef) -> String {
        match self {
            Store::Sqlite => format!(
                "{} (stored as {})",
                c.ty.bigquery_name(),
                c.ty.sqlite_name()
            ),
            Store::BigQuery => c.ty.bigquery_name().to_string(),
        }
    }
}

/// Whether a declared column may be added to an existing insert-only table in place: only a
/// NULLABLE one (the rows already written have no value for it).
pub fn can_be_added(c: &ColumnDef) -> bool {
    c.mode == Mode::Nullable
}

/// How a live table differs from its description.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drift {
    /// Declared NULLABLE columns the table lacks: they can be added in place.
    pub added: Vec<ColumnDef>,
    /// Changes that cannot be applied to an insert-only table, each saying the table, the
    /// column, live against declared, and what to write instead.
    pub refused: Vec<String>,
    /// NULLABLE columns of a BigQuery table the declaration lacks: left NULL in new rows.
    pub undeclared: Vec<String>,
}

impl Drift {
    /// Whether the table is as described.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.refused.is_empty() && self.undeclared.is_empty()
    }
}

fn mode_word(required: bool) -> &'static str {
    if required {
        "REQUIRED"
    } else {
        "NULLABLE"
    }
}

/// Compare the live columns of `t` (in `store`'s type names) with its description.
pub fn compare(t: &TableDef, live: &[LiveColumn], store: Store) -> Drift {
    let mut drift = Drift::default();
    let name = &t.name;
    let new: Vec<&ColumnDef> = t
        .columns
        .iter()
        .filter(|c| !live.iter().any(|l| l.name == c.name))
        .collect();
    let gone: Vec<&LiveColumn> = live
        .iter()
        .filter(|l| !t.columns.iter().any(|c| c.name == l.name))
        .collect();
    for c in &t.columns {
        let Some(l) = live.iter().find(|l| l.name == c.name) else {
            continue;
        };
        if !store.type_matches(c.ty, &l.ty) {
            drift.refused.push(format!(
                "table {name}, column {}: the table has type {}, the declaration says {}. An insert-only table keeps its columns' types: declare {} with its type again, and put values of the new type in a new NULLABLE column (e.g. {}_v2)",
                c.name, l.ty, store.declared_type(c), c.name, c.name
            ));
        } else if l.required && c.mode == Mode::Nullable {
            // The other way round is compatible: a NULLABLE live column takes every value of a
            // REQUIRED declaration (the hub fills a REQUIRED column in every row it writes). The
            // embedded stores of the first release have request_id without NOT NULL.
            drift.refused.push(format!(
                "table {name}, column {}: the table has it REQUIRED, the declaration says NULLABLE. Declare {} with mode: REQUIRED again (or relax the live column to NULLABLE first: terraform apply / bq update can, the embedded store cannot)",
                c.name, c.name
            ));
        }
    }
    let rename = |hint_for: &str| match (new.as_slice(), gone.as_slice()) {
        ([n], [g]) if n.name == hint_for || g.name == hint_for => {
            format!(" ({} renamed to {}?)", g.name, n.name)
        }
        _ => String::new(),
    };
    for c in &new {
        if can_be_added(c) {
            drift.added.push((*c).clone());
        } else {
            drift.refused.push(format!(
                "table {name}: the declared column {} ({} REQUIRED) is not in the table{}. An insert-only table evolves by adding NULLABLE columns only (its old rows have no value): declare {} with mode: NULLABLE",
                c.name,
                c.ty.bigquery_name(),
                rename(&c.name),
                c.name
            ));
        }
    }
    for l in &gone {
        if store == Store::BigQuery && !l.required {
            drift.undeclared.push(l.name.clone());
            continue;
        }
        drift.refused.push(format!(
            "table {name}, column {} ({}, {}): the table has it, the declaration no longer does{}. An insert-only table keeps its columns: declare {} again; to rename it, keep it and add the new name as a NULLABLE column",
            l.name,
            l.ty,
            mode_word(l.required),
            rename(&l.name),
            l.name
        ));
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn marks() -> Arc<TableDef> {
        crate::declared::builtin::table(crate::sinks::table::MARKS_TABLE)
    }

    fn batch() -> Arc<TableDef> {
        crate::declared::builtin::table(crate::sinks::table::BATCH_TABLE)
    }

    fn live_of(t: &TableDef, store: Store) -> Vec<LiveColumn> {
        t.columns
            .iter()
            .map(|c| LiveColumn {
                name: c.name.clone(),
                ty: match store {
                    Store::Sqlite => c.ty.sqlite_name().to_string(),
                    Store::BigQuery => c.ty.bigquery_name().to_string(),
                },
                required: c.mode == Mode::Required,
            })
            .collect()
    }

    #[test]
    fn a_table_as_described_has_no_drift() {
        for store in [Store::Sqlite, Store::BigQuery] {
            assert!(compare(&marks(), &live_of(&marks(), store), store).is_empty());
        }
        // BigQuery's legacy names are the same types.
        let mut live = live_of(&batch(), Store::BigQuery);
        live[1].ty = "INTEGER".into();
        assert!(compare(&batch(), &live, Store::BigQuery).is_empty());
    }

    #[test]
    fn a_new_nullable_column_can_be_added_and_every_other_change_is_refused() {
        let mut declared = (*marks()).clone();
        let live = live_of(&declared, Store::BigQuery);
        declared.columns.push(ColumnDef::new(
            "note",
            ColumnType::String,
            Mode::Nullable,
            "x",
        ));
        let d = compare(&declared, &live, Store::BigQuery);
        assert_eq!(
            d.added.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["note"]
        );
        assert!(d.refused.is_empty());

        declared.columns.last_mut().unwrap().mode = Mode::Required;
        let d = compare(&declared, &live, Store::BigQuery);
        assert_eq!(d.refused, ["table suspicious_marks: the declared column note (STRING REQUIRED) is not in the table. An insert-only table evolves by adding NULLABLE columns only (its old rows have no value): declare note with mode: NULLABLE"]);

        let mut declared = (*marks()).clone();
        declared.columns[1].ty = ColumnType::Int64;
        declared.columns[4].mode = Mode::Required;
        declared.columns[2].mode = Mode::Nullable;
        let d = compare(&declared, &live, Store::BigQuery);
        assert_eq!(
            d.refused,
            [
                "table suspicious_marks, column order_id: the table has type STRING, the declaration says INT64. An insert-only table keeps its columns' types: declare order_id with its type again, and put values of the new type in a new NULLABLE column (e.g. order_id_v2)",
                "table suspicious_marks, column classification: the table has it REQUIRED, the declaration says NULLABLE. Declare classification with mode: REQUIRED again (or relax the live column to NULLABLE first: terraform apply / bq update can, the embedded store cannot)",
            ]
        );

        // A REQUIRED declaration over a NULLABLE live column is compatible: nothing to report.
        let mut declared = (*marks()).clone();
        declared.columns[4].mode = Mode::Required;
        assert!(compare(&declared, &live, Store::BigQuery).is_empty());

        // A NULLABLE BigQuery column the declaration lacks (a revision rolled back to after a
        // later file added it) is left NULL; a REQUIRED one, which the hub cannot leave empty, is not.
        let mut declared = (*marks()).clone();
        let live = live_of(&declared, Store::BigQuery);
        declared
            .columns
            .retain(|c| c.name != "acted_by" && c.name != "action");
        let d = compare(&declared, &live, Store::BigQuery);
        assert_eq!(d.undeclared, ["acted_by"]);
        assert_eq!(d.refused.len(), 1);
        assert!(d.refused[0].starts_with("table suspicious_marks, column action (STRING, REQUIRED): the table has it, the declaration no longer does."), "{:?}", d.refused);

        let mut declared = (*marks()).clone();
        declared.columns[4].name = "decided_by".into();
        let d = compare(&declared, &live_of(&marks(), Store::Sqlite), Store::Sqlite);
        assert_eq!(d.added.len(), 1);
        assert_eq!(
            d.refused,
            ["table suspicious_marks, column acted_by (TEXT, NULLABLE): the table has it, the declaration no longer does (acted_by renamed to decided_by?). An insert-only table keeps its columns: declare acted_by again; to rename it, keep it and add the new name as a NULLABLE column"]
        );
    }
}
