//! The records of a run as bytes (format v1), written and read in parts so that neither side
//! holds the whole snapshot twice. The first part starts with the magic `LAHCHG01`; then each
//! record is 11 bytes, big-endian: 44 key bits, 40 fingerprint bits, 4 zero bits, keys strictly
//! increasing. What the parts add up to ([`SnapshotInfo`]: records, parts, CRC-32 of the
//! records) is kept beside them, and reading checks every bit of it.

use serde::{Deserialize, Serialize};

use super::hash::{Fingerprint, KeyHash, FINGERPRINT_BITS};
use super::memory::{Base, Cursor, Memory, Remembered, MAX_RECORDS};

/// The first bytes of a snapshot.
pub const MAGIC: &[u8; 8] = b"LAHCHG01";
/// Bytes of one record.
pub const RECORD_BYTES: usize = 11;
/// Records in one part (about 1.4 MiB: a part is held while written, and a 10 000 000-key run
/// that is all new keys stays within its memory bound only with small parts).
pub const PART_RECORDS: usize = 1 << 17;
/// Bytes of the largest part.
pub const PART_BYTES: usize = MAGIC.len() + PART_RECORDS * RECORD_BYTES;

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

/// A record of (key, fingerprint) bits.
fn record((key, fingerprint): (u64, u64)) -> [u8; RECORD_BYTES] {
    let both: u128 = ((u128::from(key) << FINGERPRINT_BITS) | u128::from(fingerprint)) << 4;
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

/// Writes a run's records as parts, merging the last run's records kept with the new keys
/// confirmed as each part is made.
pub struct Encoder {
    remembered: Remembered,
    cursor: Cursor,
    written: u64,
    /// The records ran out (before `len` said: never, unless a bug).
    dry: bool,
    parts: u32,
    crc: crc32fast::Hasher,
}

impl Encoder {
    /// Encode these records.
    pub fn new(remembered: Remembered) -> Encoder {
        Encoder {
            remembered,
            cursor: Cursor::default(),
            written: 0,
            dry: false,
            parts: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// The next part; `None` once every record is written (a snapshot has at least one part,
    /// holding the magic).
    pub fn next_part(&mut self) -> Option<Vec<u8>> {
        let left = self.remembered.len() - self.written;
        if self.parts > 0 && (left == 0 || self.dry) {
            return None;
        }
        let count = usize::try_from(left).map_or(PART_RECORDS, |l| l.min(PART_RECORDS));
        let mut part = Vec::with_capacity(MAGIC.len() + count * RECORD_BYTES);
        if self.parts == 0 {
            part.extend_from_slice(MAGIC);
        }
        let body = part.len();
        for _ in 0..count {
            let Some(next) = self.cursor.next(&self.remembered) else {
                self.dry = true;
                break;
            };
            part.extend_from_slice(&record(next));
            self.written += 1;
        }
        self.crc.update(&part[body..]);
        self.parts += 1;
        Some(part)
    }

    /// What the parts written add up to (final once `next_part` returned `None`).
    pub fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            records: self.written,
            parts: self.parts,
            crc32: self.crc.clone().finalize(),
        }
    }

    /// Keys of the last run no longer in the result.
    pub fn keys_gone(&self) -> Option<u64> {
        self.remembered.keys_gone
    }
}

/// Reads a snapshot's parts straight into a [`Memory`]'s compact records, checking them against
/// their info.
pub struct Decoder {
    info: SnapshotInfo,
    base: Base,
    parts: u32,
    crc: crc32fast::Hasher,
}

impl Decoder {
    /// Expect the snapshot `info` describes (room for its records is taken at once).
    pub fn new(info: SnapshotInfo) -> Result<Decoder, Damaged> {
        if info.records > MAX_RECORDS {
            return Err(Damaged(format!("it claims {} records", info.records)));
        }
        if info.parts == 0 {
            // Even an empty snapshot is one part: the magic.
            return Err(Damaged("it claims no part".into()));
        }
        let base = Base::with_capacity(info.records).map_err(|_| {
            Damaged(format!(
                "its {} records do not fit in this hub's memory",
                info.records
            ))
        })?;
        Ok(Decoder {
            info,
            base,
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
        if (self.base.len() + body.len() / RECORD_BYTES) as u64 > self.info.records {
            return Err(Damaged(format!(
                "it holds more than {} records",
                self.info.records
            )));
        }
        self.crc.update(body);
        for bytes in body.chunks_exact(RECORD_BYTES) {
            let (key, fingerprint) = unrecord(bytes)
                .ok_or_else(|| Damaged(format!("record {} is malformed", self.base.len() + 1)))?;
            if self.base.last_key().is_some_and(|last| last >= key.bits()) {
                return Err(Damaged(format!(
                    "record {} is out of order",
                    self.base.len() + 1
                )));
            }
            self.base.push(key.bits(), fingerprint.bits());
        }
        Ok(())
    }

    /// The memory, once every part was read.
    pub fn finish(self) -> Result<Memory, Damaged> {
        if self.parts != self.info.parts || self.base.len() as u64 != self.info.records {
            return Err(Damaged(format!(
                "{} records in {} parts were read, {} in {} expected",
                self.base.len(),
                self.parts,
                self.info.records,
                self.info.parts
            )));
        }
        if self.crc.finalize() != self.info.crc32 {
            return Err(Damaged("its checksum does not match".into()));
        }
        Ok(Memory::from_base(self.base))
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
        let expected: Vec<_> = original.records().collect();
        let (parts, info) = encode(original);
        assert_eq!((info.records, info.parts), (n, 2));
        let back = decode(&parts, info).unwrap().finish(false);
        assert_eq!(back.records().collect::<Vec<_>>(), expected);
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
        let nothing = SnapshotInfo {
            records: 0,
            parts: 0,
            crc32: 0,
        };
        assert_eq!(
            decode(&[], nothing).unwrap_err(),
            Damaged("it claims no part".into())
        );
        let mut wrong_magic = parts;
        wrong_magic[0][0] = b'X';
        assert!(decode(&wrong_magic, info).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::changes::memory::properties::{play, run};

    fn config() -> ProptestConfig {
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Every part made, and what they add up to.
    fn encode(r: Remembered) -> (Vec<Vec<u8>>, SnapshotInfo) {
        let mut e = Encoder::new(r);
        let parts = std::iter::from_fn(|| e.next_part()).collect();
        (parts, e.info())
    }

    proptest! {
        #![proptest_config(config())]

        /// The snapshot of a random run holds exactly the records the plain memory keeps, as
        /// the format says (magic, then 11 bytes per record), and reads back to them.
        #[test]
        fn a_run_is_written_as_the_plain_memory_says_and_read_back(run in run()) {
            let (got, want) = play(&run).map_err(TestCaseError::fail)?;
            let gone = got.keys_gone;
            let (parts, info) = encode(got);
            let mut expected = MAGIC.to_vec();
            for &(key, fingerprint) in &want.records {
                expected.extend_from_slice(&record((key.bits(), fingerprint.bits())));
            }
            prop_assert_eq!(parts.concat(), expected.clone());
            prop_assert_eq!(info, SnapshotInfo {
                records: want.records.len() as u64,
                parts: 1,
                crc32: crc32fast::hash(&expected[MAGIC.len()..]),
            });
            prop_assert_eq!(gone, want.keys_gone);
            let mut decoder = Decoder::new(info).unwrap();
            decoder.feed(&parts[0]).unwrap();
            let back = decoder.finish().unwrap();
            prop_assert_eq!(back.base_len(), want.records.len() as u64);
            let back: Vec<_> = back.finish(false).records().collect();
            prop_assert_eq!(back, want.records);
        }

        /// Bytes that are not a snapshot never make the decoder panic; what it accepts is a
        /// snapshot that writes back byte for byte.
        #[test]
        fn garbage_is_refused_without_a_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..64),
                    proptest::collection::vec(any::<u8>(), 0..4)
                        .prop_map(|tail| [MAGIC.as_slice(), &tail].concat()),
                    proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..4)
                        .prop_map(|tail| [MAGIC.as_slice(), &[0; 11], &tail].concat()),
                ],
                0..4,
            ),
            records in prop_oneof![0..8u64, any::<u64>()],
            count in 0..6u32,
            crc32 in any::<u32>(),
            right_crc in any::<bool>(),
        ) {
            let bodies: Vec<u8> = parts.concat().get(MAGIC.len()..).unwrap_or_default().to_vec();
            let crc32 = if right_crc { crc32fast::hash(&bodies) } else { crc32 };
            let info = SnapshotInfo { records, parts: count, crc32 };
            let read = Decoder::new(info).and_then(|mut d| {
                for p in &parts {
                    d.feed(p)?;
                }
                d.finish()
            });
            if let Ok(memory) = read {
                let (again, again_info) = encode(memory.finish(false));
                prop_assert_eq!(again.concat(), parts.concat());
                prop_assert_eq!(again_info.records, info.records);
                prop_assert_eq!(again_info.crc32, info.crc32);
            }
        }
    }
}
