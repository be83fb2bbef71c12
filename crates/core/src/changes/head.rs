//! A scope's head: the small JSON document that says which snapshot is the memory, what the last
//! run did, and which run holds the lease now. It is only ever replaced whole, by compare-and-swap
//! on its generation, so lease and memory move together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::format::SnapshotInfo;
use super::hash::Seed;
use super::memory::DecisionCounts;

/// The version of the head's JSON this hub writes and reads.
pub const FORMAT: u32 = 1;
/// Field names kept in the head (enough to name what was added or removed).
pub const FIELDS_KEPT: usize = 200;

/// A scope's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// The scope's seed, as 16 hex digits.
    pub seed: String,
    /// The memory: the snapshot of the last committed run (`None`: no run committed yet).
    pub snapshot: Option<SnapshotRef>,
    /// What the last committed run did.
    pub last_run: Option<LastRun>,
    /// The run sending now (`None`: no run holds the memory).
    pub lease: Option<Lease>,
    /// A run that stopped without saving what it sent: what it sent is unknown.
    pub dirty: Option<Dirty>,
}

/// The snapshot a head names, and the shape of the rows it remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    /// Its name in the store (the id of the run that wrote it).
    pub name: String,
    /// What its parts add up to.
    pub info: SnapshotInfo,
    /// What identified the rows ([`super::run::Shape::key`]).
    pub shape_key: String,
    /// The delivered field names, sorted, at most [`FIELDS_KEPT`].
    pub fields: Vec<String>,
    /// How many field names there were.
    pub field_count: u64,
    /// SHA-256 (16 hex digits) of every sorted field name, each ended by a newline.
    pub fields_hash: String,
}

/// What the last committed run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// Its run id.
    pub run_id: String,
    /// Its send mode (`changed` or `resend`).
    pub mode: String,
    /// Its decisions.
    pub counts: Counts,
    /// Keys of the run before it no longer in its result (`None`: not read to its end).
    pub keys_gone: Option<u64>,
    /// When it committed.
    pub finished_at: DateTime<Utc>,
}

/// [`DecisionCounts`] as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// New keys.
    pub new: u64,
    /// Changed contents.
    pub changed: u64,
    /// Unchanged rows, skipped.
    pub unchanged: u64,
    /// Rows without a key.
    pub unkeyed: u64,
    /// Rows whose key an earlier row had.
    pub repeated: u64,
}

impl From<DecisionCounts> for Counts {
    fn from(c: DecisionCounts) -> Counts {
        Counts {
            new: c.new,
            changed: c.changed,
            unchanged: c.unchanged,
            unkeyed: c.unkeyed,
            repeated: c.repeated,
        }
    }
}

/// The run that holds the memory while it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Its run id.
    pub run_id: String,
    /// When it took the lease.
    pub acquired_at: DateTime<Utc>,
    /// When it last renewed it.
    pub renewed_at: DateTime<Utc>,
    /// When the lease ends unless renewed: after it, the run is taken for dead.
    pub expires_at: DateTime<Utc>,
}

/// A run that stopped without saving what it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dirty {
    /// Its run id.
    pub run_id: String,
    /// Why it stopped, as far as known.
    pub why: String,
}

impl Head {
    /// A scope's first head.
    pub fn new(seed: Seed) -> Head {
        Head {
            format: FORMAT,
            seed: format!("{:016x}", seed.0),
            snapshot: None,
            last_run: None,
            lease: None,
            dirty: None,
        }
    }

    /// Read a stored head; `Err`: why it cannot be used.
    pub fn parse(bytes: &[u8]) -> Result<Head, String> {
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| format!("it is not a head's JSON: {e}"))?;
        if head.format != FORMAT {
            return Err(format!(
                "it is of format {}, this hub reads format {FORMAT}",
                head.format
            ));
        }
        head.seed()?;
        Ok(head)
    }

    /// The JSON stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a head serializes")
    }

    /// The scope's seed.
    pub fn seed(&self) -> Result<Seed, String> {
        (self.seed.len() == 16)
            .then(|| u64::from_str_radix(&self.seed, 16).ok())
            .flatten()
            .map(Seed)
            .ok_or_else(|| "its seed is not 16 hex digits".to_string())
    }

    /// The lease, when another run holds it at `now`.
    pub fn live_lease(&self, now: DateTime<Utc>) -> Option<&Lease> {
        self.lease.as_ref().filter(|l| l.expires_at > now)
    }
}

/// The field names of a shape as a head keeps them: sorted, without repeats, at most
/// [`FIELDS_KEPT`]; their count; the hash of all of them.
pub fn kept_fields(fields: &[String]) -> (Vec<String>, u64, String) {
    let mut sorted: Vec<&String> = fields.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut hash = Sha256::new();
    for f in &sorted {
        hash.update(f.as_bytes());
        hash.update(b"\n");
    }
    let count = sorted.len() as u64;
    let kept = sorted.into_iter().take(FIELDS_KEPT).cloned().collect();
    (kept, count, hex::encode(&hash.finalize()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_a_strange_one_is_refused_with_why() {
        let mut head = Head::new(Seed(0xABCD));
        head.dirty = Some(Dirty {
            run_id: "r1".into(),
            why: "stopped".into(),
        });
        assert_eq!(Head::parse(&head.to_bytes()).unwrap(), head);
        assert_eq!(head.seed(), Ok(Seed(0xABCD)));
        assert!(Head::parse(b"{").unwrap_err().contains("not a head's JSON"));
        let mut newer = head.clone();
        newer.format = 2;
        assert!(Head::parse(&newer.to_bytes())
            .unwrap_err()
            .contains("format 2"));
        let mut bad_seed = head;
        bad_seed.seed = "xyz".into();
        assert!(Head::parse(&bad_seed.to_bytes())
            .unwrap_err()
            .contains("seed"));
    }

    #[test]
    fn fields_are_kept_sorted_once_and_at_most_200() {
        let fields: Vec<String> = (0..250).rev().map(|i| format!("f{i:03}")).collect();
        let (kept, count, hash) = kept_fields(&fields);
        assert_eq!((kept.len(), count), (200, 250));
        assert_eq!(kept[0], "f000");
        let mut twice = fields.clone();
        twice.extend(fields.iter().cloned());
        assert_eq!(kept_fields(&twice).2, hash);
        assert_ne!(kept_fields(&fields[1..]).2, hash);
    }
}
