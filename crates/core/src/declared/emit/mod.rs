//! What follows from an actions file besides the hub itself, each output over the tables' one
//! description (`sinks::TableDef`): the BigQuery table schemas terraform reads ([`terraform`]),
//! LookML over each table ([`lookml`], with the words every generated view uses in
//! [`lookml_words`]) and over the run ledger ([`ledger`]), and the deployable copy of the file
//! ([`bundle`]). Pure functions: the same file gives the same text, so a test can fail when a
//! checked-in copy is stale.

pub mod bundle;
pub mod ledger;
pub mod lookml;
pub mod lookml_words;
pub mod terraform;

pub use bundle::{deployable_file, DEPLOYABLE_MAX_BYTES};
pub use lookml::{lookml_files, lookml_view};
pub use terraform::{
    bigquery_schema, schema_file, table_schema, terraform_files, terraform_files_with,
    warehouse_mode, LEDGER_WRITER, MANIFEST_FILE,
};

#[cfg(test)]
mod tests;
