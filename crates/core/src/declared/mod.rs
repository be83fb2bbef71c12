//! Write-back actions declared in one YAML file, compiled once: [`load`] reads the file
//! ([`source`]), reads its syntax ([`syntax`]), checks every action ([`check`]) into the typed
//! model ([`model`]) — a [`Catalog`] — or gives every problem of the file ([`Diagnostics`]). The
//! runtime serves the actions ([`action`], [`form`]); [`emit`] writes what is deployed beside them
//! (terraform schemas, LookML, the deployable bundle). Everything but the runtime is pure: the
//! hub, `hub check-actions` and the tests share it.
//!
//! Without `HUB_ACTIONS_FILE` the hub serves [`builtin`]: `mark_suspicious` and `writeback_batch`,
//! declared like any other actions file.

pub mod action;
pub mod audit;
pub mod builtin;
mod check;
pub mod diagnostics;
pub mod emit;
pub mod form;
pub mod icon;
pub mod model;
pub mod names;
mod report;
pub mod source;
mod syntax;

pub use diagnostics::{Diagnostics, Problem};
pub use model::{
    ActionDef, Catalog, ColumnDef, ColumnSource, ColumnType, Field, Kind, Mode, TableDef,
};
pub use syntax::Pos;

/// Read and compile the actions file at `path` (icons relative to its folder): its actions, or
/// every problem of it with its text.
pub fn load(path: &std::path::Path) -> Result<Catalog, Diagnostics> {
    let text = source::read(path)?;
    source::parse(&text, &path.display().to_string(), path.parent())
}

#[cfg(test)]
mod tests;
