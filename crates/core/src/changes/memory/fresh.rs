//! Keys this run met that the last run did not have: 9 bytes each, kept sorted in 2^16 segments
//! (by the key's top 16 bits), so that a repeat is found on arrival and the next run's records
//! come out in key order without a sort.
//!
//! Bytes for A keys: 9 per key, in segments that grow by a quarter of their length (never
//! doubling), so at most 9 · (A + A/4 + 2^16) for the entries, plus 24 of allocator header and
//! 24 of `Vec` per segment (3 MiB) once the first key arrives. 10 000 000 keys: at most
//! 113 089 824 + 3 145 728 = 116 235 552 bytes (110.9 MiB). An insert moves on average half a
//! segment (about 76 keys, 690 bytes, at 10 million).

use crate::changes::hash::{FINGERPRINT_BITS, KEY_BITS};

/// Key bits that select a segment.
const SEGMENT_BITS: u32 = 16;
const SEGMENTS: usize = 1 << SEGMENT_BITS;
/// Key bits kept in an entry.
const LOW_BITS: u32 = KEY_BITS - SEGMENT_BITS;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
const FINGERPRINT_MASK: u64 = (1 << FINGERPRINT_BITS) - 1;
/// An entry, big-endian: 28 low key bits, 40 fingerprint bits, 2 state bits, 2 zero bits.
const ENTRY_BYTES: usize = 9;
type Entry = [u8; ENTRY_BYTES];
/// Allocator bookkeeping per segment allocation, at most (glibc: 8 bytes, the whole rounded up
/// to 16, at least 32).
const ALLOCATION_OVERHEAD: usize = 24;

/// Where a new key stands in this run (2 bits; 0 is never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Fresh {
    /// Sent, not confirmed yet (dropped unless confirmed).
    Sent = 1,
    /// Confirmed delivered: remembered.
    Confirmed = 2,
    /// Not to be remembered: refused, or repeated.
    Forget = 3,
}

fn pack(low: u64, fingerprint: u64, state: Fresh) -> Entry {
    let both = (u128::from(low) << (FINGERPRINT_BITS + 4))
        | (u128::from(fingerprint) << 4)
        | (u128::from(state as u8) << 2);
    let bytes = both.to_be_bytes();
    let mut entry = [0; ENTRY_BYTES];
    entry.copy_from_slice(&bytes[16 - ENTRY_BYTES..]);
    entry
}

/// (low key bits, fingerprint, state) of an entry.
fn unpack(entry: &Entry) -> (u64, u64, Fresh) {
    let mut wide = [0u8; 16];
    wide[16 - ENTRY_BYTES..].copy_from_slice(entry);
    let both = u128::from_be_bytes(wide);
    let state = match (both >> 2) & 3 {
        1 => Fresh::Sent,
        2 => Fresh::Confirmed,
        _ => Fresh::Forget,
    };
    (
        (both >> (FINGERPRINT_BITS + 4)) as u64,
        (both >> 4) as u64 & FINGERPRINT_MASK,
        state,
    )
}

/// The keys new in this run.
#[derive(Debug, Default)]
pub(super) struct NewKeys {
    /// Empty until the first new key; then one sorted segment per top 16 key bits.
    segments: Vec<Vec<Entry>>,
}

/// What a key's arrival made of it.
pub(super) enum Arrival {
    /// First time: sent.
    First,
    /// Met before in this run: now forgotten.
    Again,
}

impl NewKeys {
    /// The key's segment (`None` before the first new key) and its place in it.
    fn locate(&self, key: u64) -> Option<(usize, Result<usize, usize>)> {
        let s = (key >> LOW_BITS) as usize;
        let low = key & LOW_MASK;
        let at = self
            .segments
            .get(s)?
            .binary_search_by_key(&low, |e| unpack(e).0);
        Some((s, at))
    }

    /// A key arrives with this content.
    pub(super) fn arrive(&mut self, key: u64, fingerprint: u64) -> Arrival {
        if self.segments.is_empty() {
            self.segments = (0..SEGMENTS).map(|_| Vec::new()).collect();
        }
        let segment = &mut self.segments[(key >> LOW_BITS) as usize];
        match segment.binary_search_by_key(&(key & LOW_MASK), |e| unpack(e).0) {
            Ok(i) => {
                let (low, fingerprint, _) = unpack(&segment[i]);
                segment[i] = pack(low, fingerprint, Fresh::Forget);
                Arrival::Again
            }
            Err(i) => {
                if segment.len() == segment.capacity() {
                    // By a quarter, not doubling: at most 25 % unused.
                    segment.reserve_exact((segment.len() / 4).max(1));
                }
                segment.insert(i, pack(key & LOW_MASK, fingerprint, Fresh::Sent));
                Arrival::First
            }
        }
    }

    /// The key's delivery with this content was confirmed (any other content: nothing).
    pub(super) fn confirm(&mut self, key: u64, fingerprint: u64) {
        if let Some((s, Ok(i))) = self.locate(key) {
            let entry = &mut self.segments[s][i];
            let (low, sent, state) = unpack(entry);
            if state == Fresh::Sent && sent == fingerprint {
                *entry = pack(low, sent, Fresh::Confirmed);
            }
        }
    }

    /// The key is not to be remembered.
    pub(super) fn forget(&mut self, key: u64) {
        if let Some((s, Ok(i))) = self.locate(key) {
            let entry = &mut self.segments[s][i];
            let (low, fingerprint, _) = unpack(entry);
            *entry = pack(low, fingerprint, Fresh::Forget);
        }
    }

    /// Keys confirmed.
    pub(super) fn confirmed(&self) -> u64 {
        self.segments
            .iter()
            .flatten()
            .filter(|e| unpack(e).2 == Fresh::Confirmed)
            .count() as u64
    }

    /// The next confirmed key at or after `cursor`, as (key, fingerprint) bits; `cursor` moves
    /// past it.
    pub(super) fn next_confirmed(&self, cursor: &mut (usize, usize)) -> Option<(u64, u64)> {
        while let Some(segment) = self.segments.get(cursor.0) {
            while let Some(entry) = segment.get(cursor.1) {
                cursor.1 += 1;
                let (low, fingerprint, state) = unpack(entry);
                if state == Fresh::Confirmed {
                    return Some((((cursor.0 as u64) << LOW_BITS) | low, fingerprint));
                }
            }
            *cursor = (cursor.0 + 1, 0);
        }
        None
    }

    /// At most the bytes `keys` new keys hold.
    pub(super) fn bytes_for(keys: usize) -> usize {
        if keys == 0 {
            return 0;
        }
        let entries = keys + keys / 4 + SEGMENTS;
        entries * ENTRY_BYTES + SEGMENTS * (ALLOCATION_OVERHEAD + std::mem::size_of::<Vec<Entry>>())
    }

    /// The bytes held now.
    pub(super) fn bytes(&self) -> usize {
        let segments = self.segments.capacity() * std::mem::size_of::<Vec<Entry>>();
        let entries: usize = self
            .segments
            .iter()
            .filter(|s| s.capacity() > 0)
            .map(|s| s.capacity() * ENTRY_BYTES + ALLOCATION_OVERHEAD)
            .sum();
        segments + entries
    }
}
