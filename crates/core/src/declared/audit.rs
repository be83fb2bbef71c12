//! The columns every row of a declared table has, whatever the action, as data: one entry per
//! column says its name, type, mode, description, which kinds of action have it, where it goes,
//! whether it identifies the row, and where its value comes from. The checks build the table
//! from it, the row builder fills it by its source, and the table key and the generators read
//! it: adding an audit column is adding one entry (and, for a new source, its value).

use super::model::{Audit, ColumnDef, ColumnSource, Kind};
use crate::sinks::table::{ColumnType, Mode};

/// Which kinds of action have a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// Cell and query actions.
    Both,
    /// Query actions only.
    Query,
}

/// Where a column goes in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Before the action's own columns.
    Head,
    /// After them.
    Tail,
}

/// A column's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Description {
    /// The same for both kinds.
    Same(&'static str),
    /// Said differently for a cell and a query action.
    PerKind {
        /// For a cell action.
        cell: &'static str,
        /// For a query action.
        query: &'static str,
    },
    /// The identifying field of a query action: which one depends on its `key_tag`.
    KeyField,
}

/// One audit column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditColumn {
    /// Column name.
    pub name: &'static str,
    /// Type.
    pub column_type: ColumnType,
    /// NULLABLE / REQUIRED.
    pub mode: Mode,
    /// Description.
    pub description: Description,
    /// Which kinds of action have it.
    pub kinds: Kinds,
    /// Before or after the action's own columns.
    pub place: Place,
    /// Part of what identifies a row (the table key; the LookML views' primary key).
    pub key: bool,
    /// Shown in the `<table>_current` LookML view (the row's identity and its JSON are not).
    pub in_current_view: bool,
    /// Part of what the row delivers, compared from run to run by a change-only send: a value
    /// taken from the result row itself. Values of the execute that wrote it (its id, time,
    /// user, schedule) and the row's position are not: they change every run.
    pub row_content: bool,
    /// Where the value comes from.
    pub source: Audit,
}

use ColumnType as T;
use Mode::{Nullable as N, Required as R};

const fn column(
    name: &'static str,
    column_type: ColumnType,
    mode: Mode,
    description: Description,
    kinds: Kinds,
    place: Place,
    source: Audit,
) -> AuditColumn {
    AuditColumn {
        name,
        column_type,
        mode,
        description,
        kinds,
        place,
        key: false,
        in_current_view: true,
        row_content: false,
        source,
    }
}

/// A value of the result row itself (see [`AuditColumn::row_content`]).
const fn of_the_row(c: AuditColumn) -> AuditColumn {
    AuditColumn {
        row_content: true,
        ..c
    }
}

/// Part of the row's identity: a key column, left out of the current-state view.
const fn identifying(c: AuditColumn) -> AuditColumn {
    AuditColumn {
        key: true,
        in_current_view: false,
        ..c
    }
}

/// The audit columns, in table order (the action's own columns go between the head and tail).
pub const AUDIT_COLUMNS: &[AuditColumn] = &[
    identifying(column(
        "request_id",
        T::String,
        R,
        Description::PerKind {
            cell: "Unique id of the execute request (one row per request).",
            query: "Unique id of the execute request.",
        },
        Kinds::Both,
        Place::Head,
        Audit::RequestId,
    )),
    identifying(column(
        "row_index",
        T::Int64,
        R,
        Description::Same("Position of the row in the query result (0-based)."),
        Kinds::Query,
        Place::Head,
        Audit::RowIndex,
    )),
    column(
        "key_field",
        T::String,
        R,
        Description::KeyField,
        Kinds::Query,
        Place::Head,
        Audit::KeyField,
    ),
    of_the_row(column(
        "key_value",
        T::String,
        N,
        Description::Same("Its value in this row."),
        Kinds::Query,
        Place::Head,
        Audit::KeyValue,
    )),
    column(
        "acted_by",
        T::String,
        N,
        Description::PerKind {
            cell: "Email of the Looker user who acted (user attribute or OAuth identity).",
            query: "Email of the Looker user who acted.",
        },
        Kinds::Both,
        Place::Tail,
        Audit::ActedBy,
    ),
    column(
        "scheduled_plan_id",
        T::String,
        N,
        Description::Same("Looker scheduled plan id, when sent by a schedule."),
        Kinds::Query,
        Place::Tail,
        Audit::ScheduledPlanId,
    ),
    column(
        "query_id",
        T::String,
        N,
        Description::Same("Looker query id."),
        Kinds::Query,
        Place::Tail,
        Audit::QueryId,
    ),
    AuditColumn {
        in_current_view: false,
        ..of_the_row(column(
            "row_json",
            T::Json,
            R,
            Description::Same("The whole result row as JSON."),
            Kinds::Query,
            Place::Tail,
            Audit::RowJson,
        ))
    },
    column(
        "ran_at",
        T::String,
        N,
        Description::Same("When Looker ran the query, as Looker sent it (ran_at of the result)."),
        Kinds::Query,
        Place::Tail,
        Audit::RanAt,
    ),
    column(
        "looker_instance",
        T::String,
        N,
        Description::Same("X-Looker-Instance of the request."),
        Kinds::Both,
        Place::Tail,
        Audit::LookerInstance,
    ),
    column(
        "webhook_id",
        T::String,
        N,
        Description::Same("X-Looker-Webhook-Id of the request."),
        Kinds::Both,
        Place::Tail,
        Audit::WebhookId,
    ),
    column(
        "action",
        T::String,
        R,
        Description::Same("Name of the action that wrote the row."),
        Kinds::Both,
        Place::Tail,
        Audit::Action,
    ),
    column(
        "received_at",
        T::Timestamp,
        R,
        Description::Same("When the hub received the execute (UTC)."),
        Kinds::Both,
        Place::Tail,
        Audit::ReceivedAt,
    ),
];

impl AuditColumn {
    /// Whether an action of `kind` has this column.
    pub fn of(&self, kind: Kind) -> bool {
        self.kinds == Kinds::Both || kind == Kind::Query
    }

    /// Its description in a table of an action of `kind` (`key_tag`: a query action's).
    pub fn describe(&self, kind: Kind, key_tag: Option<&str>) -> String {
        match (self.description, kind) {
            (Description::Same(d), _) => d.into(),
            (Description::PerKind { cell, .. }, Kind::Cell) => cell.into(),
            (Description::PerKind { query, .. }, Kind::Query) => query.into(),
            (Description::KeyField, _) => match key_tag {
                Some(t) => {
                    format!("The identifying field: the one tagged {t}, else the first dimension.")
                }
                None => "The identifying field: the first dimension of the result.".into(),
            },
        }
    }
}

/// The audit columns of an action of `kind`, in table order.
pub fn of(kind: Kind) -> impl Iterator<Item = &'static AuditColumn> {
    AUDIT_COLUMNS.iter().filter(move |c| c.of(kind))
}

/// The audit columns of an action of `kind` at `place`, as columns of its table with their
/// sources.
pub fn columns(kind: Kind, place: Place, key_tag: Option<&str>) -> Vec<(ColumnDef, ColumnSource)> {
    of(kind)
        .filter(|c| c.place == place)
        .map(|c| {
            let description = c.describe(kind, key_tag);
            let def = ColumnDef::new(c.name, c.column_type, c.mode, &description);
            (def, ColumnSource::Audit(c.source))
        })
        .collect()
}

/// The columns that identify a row of an action of `kind` (the table key).
pub fn key(kind: Kind) -> Vec<&'static str> {
    of(kind).filter(|c| c.key).map(|c| c.name).collect()
}

/// Whether an audit column of `source` holds part of what the row delivers (see
/// [`AuditColumn::row_content`]).
pub fn is_row_content(source: Audit) -> bool {
    AUDIT_COLUMNS
        .iter()
        .any(|c| c.source == source && c.row_content)
}

/// The column holding when the hub received the execute (the newest row per key is the latest).
pub fn received_at() -> &'static str {
    AUDIT_COLUMNS
        .iter()
        .find(|c| c.source == Audit::ReceivedAt)
        .map(|c| c.name)
        .expect("an audit column holds the time of receipt")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table key and the current view follow the entries: a cell row is identified by its
    /// request, a query row by its request and position; the JSON of a row is not a dimension of
    /// the current state.
    #[test]
    fn keys_and_views_follow_the_entries() {
        assert_eq!(key(Kind::Cell), ["request_id"]);
        assert_eq!(key(Kind::Query), ["request_id", "row_index"]);
        assert_eq!(received_at(), "received_at");
        let hidden: Vec<&str> = of(Kind::Query)
            .filter(|c| !c.in_current_view)
            .map(|c| c.name)
            .collect();
        assert_eq!(hidden, ["request_id", "row_index", "row_json"]);
        let content: Vec<&str> = of(Kind::Query)
            .filter(|c| c.row_content)
            .map(|c| c.name)
            .collect();
        assert_eq!(content, ["key_value", "row_json"]);
        let cell: Vec<&str> = of(Kind::Cell).map(|c| c.name).collect();
        assert_eq!(
            cell,
            [
                "request_id",
                "acted_by",
                "looker_instance",
                "webhook_id",
                "action",
                "received_at"
            ]
        );
    }
}
