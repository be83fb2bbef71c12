//! The built-in actions (`mark_suspicious`, `writeback_batch`): what the hub serves without
//! `HUB_ACTIONS_FILE`, declared in `default_actions.yaml` like any other actions file, and the
//! tables they write (`suspicious_marks`, `suspicious_marks_batch`), described once: by that file.

use std::sync::{Arc, LazyLock};

use super::source::parse;
use super::Catalog;
use crate::sinks::TableDef;

/// The built-in actions file.
pub const YAML: &str = include_str!("default_actions.yaml");
/// Name under which problems of the built-in file are reported.
pub const NAME: &str = "<built-in actions>";

/// The built-in actions.
pub fn catalog() -> Catalog {
    // The unit tests parse this very text: it cannot fail in a build that passed them.
    parse(YAML, NAME, None).expect("the built-in actions file is valid")
}

/// The built-in actions' tables.
pub fn tables() -> Vec<Arc<TableDef>> {
    static TABLES: LazyLock<Vec<Arc<TableDef>>> = LazyLock::new(|| {
        catalog()
            .actions
            .iter()
            .map(|a| Arc::new(a.table.clone()))
            .collect()
    });
    TABLES.clone()
}

/// One built-in table by name (`sinks::table::MARKS_TABLE`, `BATCH_TABLE`).
pub fn table(name: &str) -> Arc<TableDef> {
    tables()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no built-in table {name}"))
}
