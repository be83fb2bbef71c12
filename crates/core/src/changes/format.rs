//! The records of a run as bytes (format v1), written and read in parts so that neither side
//! holds the whole snapshot twice. The first part starts with the magic `LAHCHG01`; then each
//! record is 11 bytes, big-endian: 44 key bits, 40 fingerprint bits, 4 zero bits, keys strictly
//! increasing. What the parts add up to ([`SnapshotInfo`]: records, parts, CRC-32 of the
//! records) is kept beside them, and reading checks every bit of it.

use serde::{Deserialize, Serialize};

use super::hash::{Fingerprint, KeyHash, FINGERPRINT_BITS};
use super::memory::{Memory, Remembered};

/// The first bytes of a snapshot.
pub const MAGIC: &[u8; 8] = b"LAHCHG01";
/// Bytes of one record.
pub const RECORD_BYTES: usize = 11;
/// Records in one part (about 5.5 MiB).
pub const PART_RECORDS: usize = 1 << 19;

/// What a snapshot's parts add up to, kept beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Records in the snapshot.
    pub records: u64,
    /// Parts it was written in.
    pub parts: u32,
    /// CRC-32 of the records' bytes, in order.
    pub crc32: u32,
}

/// Why stored records cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Damaged(pub String);

fn record(key: KeyHash, fingerprint: Fingerprint) -> [u8; RECORD_BYTES] {
    let both: u128 =
        ((u128::from(key.bits()) << FINGERPRINT_BITS) | u128::from(fingerprint.bits())) << 4;
    let bytes = both.to_be_bytes();
    let mut out = [0u8; RECORD_BYTES];
    out.copy_from_slice(&bytes[16 - RECORD_BYTES..]);
    out
}

fn unrecord(bytes: &[u8]) -> Option<(KeyHash, Fingerprint)> {
    let mut wide = [0u8; 16];
    wide[16 - RECORD_BYTES..].copy_from_slice(bytes);
    let both = u128::from_be_bytes(wide);
    if both & 0xF != 0 {
        return None;
    }
    let both = both >> 4;
    let fingerprint = Fingerprint::from_bits((both & ((1 << FINGERPRINT_BITS) - 1)) as u64)?;
    let key = KeyHash::from_bits(u64::try_from(both >> FINGERPRINT_BITS).ok()?)?;
    Some((key, fingerprint))
}

/// Writes a run's records as parts.
pub struct Encoder {
    remembered: Remembered,
    next: usize,
    parts: u32,
    crc: crc32fast::Hasher,
}

impl Encoder {
    /// Encode these records.
    pub fn new(remembered: Remembered) -> Encoder {
        Encoder {
            remembered,
            next: 0,
            parts: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// The next part; `None` once every record is written (a snapshot has at least one part,
    /// holding the magic).
    pub fn next_part(&mut self) -> Option<Vec<u8>> {
        let records = &self.remembered.records;
        if self.parts > 0 && self.next >= records.len() {
            return None;
        }
        let end = (self.next + PART_RECORDS).min(records.len());
        let mut part = Vec::with_capacity(MAGIC.len() + (end - self.next) * RECORD_BYTES);
        if self.parts == 0 {
            part.extend_from_slice(MAGIC);
        }
        let body = part.len();
        for &(key, fingerprint) in &records[self.next..end] {
            part.extend_from_slice(&record(key, fingerprint));
        }
        self.crc.update(&part[body..]);
        self.next = end;
        self.parts += 1;
        Some(part)
    }

    /// What the parts written add up to (final once `next_part` returned `None`).
    pub fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            records: self.next as u64,
            parts: self.parts,
            crc32: self.crc.clone().finalize(),
        }
    }

    /// Keys of the last run no longer in the result.
    pub fn keys_gone(&self) -> Option<u64> {
        self.remembered.keys_gone
    }
}

/// Reads a snapshot's parts back into a [`Memory`], checking them against their info.
pub struct Decoder {
    info: SnapshotInfo,
    records: Vec<(KeyHash, Fingerprint)>,
    parts: u32,
    crc: crc32fast::Hasher,
}

impl Decoder {
    /// Expect the snapshot `info` describes.
    pub fn new(info: SnapshotInfo) -> Result<Decoder, Damaged> {
        let capacity = usize::try_from(info.records)
            .ok()
            .filter(|&n| n <= 1 << 32)
            .ok_or_else(|| Damaged(format!("it claims {} records", info.records)))?;
        Ok(Decoder {
            info,
            records: Vec::with_capacity(capacity),
            parts: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Read the next part.
    pub fn feed(&mut self, part: &[u8]) -> Result<(), Damaged> {
        let mut body = part;
        if self.parts == 0 {
            body = part.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
                Damaged("it does not start as a snapshot of this hub does".into())
            })?;
        }
        self.parts += 1;
        if self.parts > self.info.parts {
            return Err(Damaged(format!(
                "it has more than {} parts",
                self.info.parts
            )));
        }
        if !body.len().is_multiple_of(RECORD_BYTES) {
            return Err(Damaged(format!(
                "part {} is cut inside a record",
                self.parts
            )));
        }
        if self.records.len() + body.len() / RECORD_BYTES > self.records.capacity() {
            return Err(Damaged(format!(
                "it holds more than {} records",
                self.info.records
            )));
        }
        self.crc.update(body);
        for bytes in body.chunks_exact(RECORD_BYTES) {
            let (key, fingerprint) = unrecord(bytes).ok_or_else(|| {
                Damaged(format!("record {} is malformed", self.records.len() + 1))
            })?;
            if self.records.last().is_some_and(|(last, _)| *last >= key) {
                return Err(Damaged(format!(
                    "record {} is out of order",
                    self.records.len() + 1
                )));
            }
            self.records.push((key, fingerprint));
        }
        Ok(())
    }

    /// The memory, once every part was read.
    pub fn finish(self) -> Result<Memory, Damaged> {
        if self.parts != self.info.parts || self.records.len() as u64 != self.info.records {
            return Err(Damaged(format!(
                "{} records in {} parts were read, {} in {} expected",
                self.records.len(),
                self.parts,
                self.info.records,
                self.info.parts
            )));
        }
        if self.crc.finalize() != self.info.crc32 {
            return Err(Damaged("its checksum does not match".into()));
        }
        Ok(Memory::from_sorted(self.records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::hash::{KeyBuilder, Seed};

    fn remembered(n: u64) -> Remembered {
        let mut m = Memory::empty();
        let mut key = KeyBuilder::new();
        for i in 0..n {
            key.clear();
            key.part(Some(i.to_string().as_bytes()));
            let fp = Fingerprint::from_bits(i * 7919 % (1 << 40)).unwrap();
            let p = m.decide(key.finish(Seed(9)), fp).pending().unwrap();
            m.confirm(p);
        }
        m.finish(true)
    }

    fn encode(r: Remembered) -> (Vec<Vec<u8>>, SnapshotInfo) {
        let mut e = Encoder::new(r);
        let mut parts = vec![];
        while let Some(p) = e.next_part() {
            parts.push(p);
        }
        (parts, e.info())
    }

    fn decode(parts: &[Vec<u8>], info: SnapshotInfo) -> Result<Memory, Damaged> {
        let mut d = Decoder::new(info)?;
        for p in parts {
            d.feed(p)?;
        }
        d.finish()
    }

    #[test]
    fn records_round_trip_across_parts() {
        let n = PART_RECORDS as u64 + 3;
        let original = remembered(n);
        let expected = original.records.clone();
        let (parts, info) = encode(original);
        assert_eq!((info.records, info.parts), (n, 2));
        let back = decode(&parts, info).unwrap().finish(false);
        assert_eq!(back.records, expected);
    }

    #[test]
    fn an_empty_snapshot_is_one_part_holding_the_magic() {
        let (parts, info) = encode(remembered(0));
        assert_eq!(parts, vec![MAGIC.to_vec()]);
        assert_eq!(decode(&parts, info).unwrap().base_len(), 0);
    }

    #[test]
    fn damage_is_found() {
        let (parts, info) = encode(remembered(50));
        let mut flipped = parts.clone();
        flipped[0][20] ^= 1;
        assert!(decode(&flipped, info).is_err());
        let mut cut = parts.clone();
        cut[0].pop();
        assert!(decode(&cut, info).is_err());
        let mut unordered = parts.clone();
        let (a, b) = (MAGIC.len(), MAGIC.len() + RECORD_BYTES);
        let first: Vec<u8> = unordered[0][a..b].to_vec();
        unordered[0].copy_within(b..b + RECORD_BYTES, a);
        unordered[0][b..b + RECORD_BYTES].copy_from_slice(&first);
        assert_eq!(
            decode(&unordered, info).unwrap_err(),
            Damaged("record 2 is out of order".into())
        );
        let fewer = SnapshotInfo {
            records: 49,
            ..info
        };
        assert!(decode(&parts, fewer).is_err());
        let mut wrong_magic = parts;
        wrong_magic[0][0] = b'X';
        assert!(decode(&wrong_magic, info).is_err());
    }
}
