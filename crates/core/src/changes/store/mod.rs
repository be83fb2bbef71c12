//! Where schedules' memories live: one small *head* per scope (which snapshot is current, the
//! lease of the run in progress), replaced only by compare-and-swap on its generation, and
//! snapshots written once in parts. Locally an SQLite file; in production a Cloud Storage bucket
//! that every instance shares and that survives deploys and scale-to-zero.

#[cfg(test)]
pub(crate) mod conformance;
pub mod gcs;
pub mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The version of a scope's head: a write names the generation it read, and fails with
/// [`StoreError::Conflict`] when another write came first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Generation(pub i64);

impl Generation {
    /// The generation of a head that does not exist: writing with it creates the head only when
    /// there is none.
    pub const ABSENT: Generation = Generation(0);
}

/// Why the store did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The head's generation is no longer the one named: another run wrote it first.
    #[error("another run changed the memory first")]
    Conflict,
    /// The store cannot be read or written (unreachable, permission denied, no such bucket),
    /// worded for the Looker admin, never with a credential or a peer's body.
    #[error("{0}")]
    Unavailable(String),
}

/// A store of heads and snapshot parts, shared by every instance of the hub.
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// Where the memory lives, for messages (`gs://bucket/prefix`, a file path).
    fn place(&self) -> String;

    /// The scope's head and its generation; `None` when the scope has no head.
    async fn read_head(&self, scope: &str) -> Result<Option<(Generation, Vec<u8>)>, StoreError>;

    /// Replace the scope's head if its generation is still `expected` ([`Generation::ABSENT`]:
    /// create it only if there is none); the new generation.
    async fn write_head(
        &self,
        scope: &str,
        head: &[u8],
        expected: Generation,
    ) -> Result<Generation, StoreError>;

    /// Store part `seq` of the scope's snapshot `snapshot` (written once, never replaced).
    async fn put_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// Part `seq` of the scope's snapshot `snapshot`; `None` when it does not exist.
    async fn get_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The names of the scope's snapshots (the current one and any left by runs that stopped
    /// before committing).
    async fn snapshots(&self, scope: &str) -> Result<Vec<String>, StoreError>;

    /// Delete every part of the scope's snapshot `snapshot`.
    async fn delete_snapshot(&self, scope: &str, snapshot: &str) -> Result<(), StoreError>;
}
