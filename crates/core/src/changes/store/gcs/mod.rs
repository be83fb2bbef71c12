//! The memories of sends in a Cloud Storage bucket (`HUB_CHANGE_BUCKET`), shared by every Cloud
//! Run instance and kept across deploys and scale-to-zero. Objects, under the bucket's prefix:
//!
//! - `<scope>/head`: the scope's head, replaced only with `ifGenerationMatch` on the generation
//!   read (`0`: created only when there is none), so a 412 is another run's write first;
//! - `<scope>/snap/<snapshot>/part-<seq>`: the parts of a snapshot, each written once
//!   (`ifGenerationMatch=0`), listed and deleted by the `snap/<snapshot>/` folder.
//!
//! Calls go through the JSON API ([`client`]); the reasons to use it rather than Google's
//! storage client are there.

mod client;
mod location;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use google_cloud_auth::credentials::Credentials;

use super::{ChangeStore, Generation, StoreError};
pub use client::MAX_OBJECT_BYTES;
use client::{Client, Upload};
pub use location::Location;

/// Cloud Storage's JSON API.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// How long one store call keeps retrying what may heal (429, 5xx, a broken connection).
pub const RETRY_FOR: Duration = Duration::from_secs(30);

/// Longest scope or snapshot name: with the prefix and the part number it stays far below Cloud
/// Storage's 1 024 bytes per object name.
const NAME_MAX: usize = 200;

/// Heads and snapshot parts as objects of one bucket.
pub struct GcsStore {
    client: Client,
}

impl GcsStore {
    /// The store at `location`, through the JSON API at `endpoint` ([`DEFAULT_ENDPOINT`], or an
    /// emulator's), with the hub's Google `credentials` (None: anonymous, for an emulator). A
    /// call retries for at most `retry_for` ([`RETRY_FOR`]).
    pub fn new(
        location: Location,
        endpoint: &str,
        credentials: Option<Credentials>,
        retry_for: Duration,
    ) -> Result<GcsStore, String> {
        Client::new(endpoint, location, credentials, retry_for).map(|client| GcsStore { client })
    }

    fn head_object(&self, scope: &str) -> Result<String, StoreError> {
        self.checked("scope", scope)?;
        Ok(self.client.location().object(&format!("{scope}/head")))
    }

    fn snapshot_folder(&self, scope: &str, snapshot: &str) -> Result<String, StoreError> {
        self.checked("scope", scope)?;
        self.checked("snapshot", snapshot)?;
        Ok(self
            .client
            .location()
            .object(&format!("{scope}/snap/{snapshot}/")))
    }

    fn part_object(&self, scope: &str, snapshot: &str, seq: u32) -> Result<String, StoreError> {
        Ok(format!(
            "{}part-{seq}",
            self.snapshot_folder(scope, snapshot)?
        ))
    }

    /// A scope or snapshot name is one folder of the layout: no slash, no control character,
    /// not `.` or `..`.
    fn checked(&self, what: &str, name: &str) -> Result<(), StoreError> {
        let ok = !name.is_empty()
            && name.len() <= NAME_MAX
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.chars().any(char::is_control);
        match ok {
            true => Ok(()),
            false => Err(self.unavailable(format!(
                "{name:?} cannot be a {what} name (1 to {NAME_MAX} bytes, no '/', no control \
                 character)"
            ))),
        }
    }

    fn unavailable(&self, why: String) -> StoreError {
        StoreError::Unavailable(format!("the memory of sends ({}): {why}", self.place()))
    }
}

#[async_trait]
impl ChangeStore for GcsStore {
    fn place(&self) -> String {
        self.client.location().url()
    }

    async fn read_head(&self, scope: &str) -> Result<Option<(Generation, Vec<u8>)>, StoreError> {
        let name = self.head_object(scope)?;
        let found = self
            .client
            .download(&name)
            .await
            .map_err(|why| self.unavailable(why))?;
        Ok(found.map(|(generation, bytes)| (Generation(generation), bytes)))
    }

    async fn write_head(
        &self,
        scope: &str,
        head: &[u8],
        expected: Generation,
    ) -> Result<Generation, StoreError> {
        let name = self.head_object(scope)?;
        let bytes = Bytes::copy_from_slice(head);
        match self.client.upload(&name, &bytes, expected.0).await {
            Ok(Upload::Written(generation)) => Ok(Generation(generation)),
            Ok(Upload::PreconditionFailed { doubtful: false }) => Err(StoreError::Conflict),
            // An earlier attempt may have written this head before its answer was lost: then the
            // head holds exactly these bytes, and this write is the one that won.
            Ok(Upload::PreconditionFailed { doubtful: true }) => match self.read_head(scope).await?
            {
                Some((generation, now)) if now == head => Ok(generation),
                _ => Err(StoreError::Conflict),
            },
            Err(why) => Err(self.unavailable(why)),
        }
    }

    async fn put_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let name = self.part_object(scope, snapshot, seq)?;
        let bytes = Bytes::from(bytes);
        let written_already = || {
            self.unavailable(format!(
                "part {seq} of snapshot {snapshot} exists already (a part is written once)"
            ))
        };
        match self.client.upload(&name, &bytes, 0).await {
            Ok(Upload::Written(_)) => Ok(()),
            Ok(Upload::PreconditionFailed { doubtful: false }) => Err(written_already()),
            // As for a head: the part may be this call's own write, whose answer was lost.
            Ok(Upload::PreconditionFailed { doubtful: true }) => {
                match self.get_part(scope, snapshot, seq).await? {
                    Some(now) if now == bytes => Ok(()),
                    _ => Err(written_already()),
                }
            }
            Err(why) => Err(self.unavailable(why)),
        }
    }

    async fn get_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let name = self.part_object(scope, snapshot, seq)?;
        let found = self
            .client
            .download(&name)
            .await
            .map_err(|why| self.unavailable(why))?;
        Ok(found.map(|(_, bytes)| bytes))
    }

    async fn snapshots(&self, scope: &str) -> Result<Vec<String>, StoreError> {
        self.checked("scope", scope)?;
        let folder = self.client.location().object(&format!("{scope}/snap/"));
        let mut names = self
            .client
            .list(&folder, true)
            .await
            .map_err(|why| self.unavailable(why))?;
        names.sort();
        Ok(names)
    }

    async fn delete_snapshot(&self, scope: &str, snapshot: &str) -> Result<(), StoreError> {
        let folder = self.snapshot_folder(scope, snapshot)?;
        let objects = self
            .client
            .list(&folder, false)
            .await
            .map_err(|why| self.unavailable(why))?;
        for name in objects {
            self.client
                .delete(&name)
                .await
                .map_err(|why| self.unavailable(why))?;
        }
        Ok(())
    }
}
