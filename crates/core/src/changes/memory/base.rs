//! The last run's records, as compact as a sorted array allows: one `u64` per key (the key's low
//! 24 bits above its 40-bit fingerprint), in key order, found through a directory indexed by the
//! key's top 20 bits, and 2 bits per key of where it stands in this run.
//!
//! Bytes for N keys: 8·N (records) + N/4 (states) + 4 MiB (directory, (2^20 + 1) · 4 bytes,
//! whatever N is; none when N is 0). 10 000 000 keys: 80 000 000 + 2 500 000 + 4 194 308 =
//! 86 694 308 bytes (82.7 MiB).

use std::collections::TryReserveError;

use crate::changes::hash::{FINGERPRINT_BITS, KEY_BITS};

/// Key bits that select a bucket of the directory.
const BUCKET_BITS: u32 = 20;
/// Key bits kept in a record, beside the fingerprint.
const LOW_BITS: u32 = KEY_BITS - BUCKET_BITS;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
const FINGERPRINT_MASK: u64 = (1 << FINGERPRINT_BITS) - 1;
/// Entries of the directory: where each bucket starts, and where the last one ends.
const DIRECTORY_LEN: usize = (1 << BUCKET_BITS) + 1;
/// Bytes of the directory.
pub(super) const DIRECTORY_BYTES: usize = DIRECTORY_LEN * std::mem::size_of::<u32>();
/// Most records a base holds (its directory's offsets are `u32`).
pub(in crate::changes) const MAX_RECORDS: u64 = u32::MAX as u64;

/// Where an old key stands in this run (2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Old {
    /// Not in the result (yet).
    Unseen = 0,
    /// To be kept with its (possibly new) fingerprint: unchanged, or changed and confirmed.
    Kept = 1,
    /// Changed, its new fingerprint in place, not confirmed yet (dropped unless confirmed).
    Sent = 2,
    /// Not to be remembered: refused, or repeated.
    Forget = 3,
}

impl Old {
    fn of(bits: u64) -> Old {
        match bits & 3 {
            0 => Old::Unseen,
            1 => Old::Kept,
            2 => Old::Sent,
            _ => Old::Forget,
        }
    }
}

/// The records of the last run, read in key order, then decided against.
#[derive(Debug, Default)]
pub(in crate::changes) struct Base {
    records: Vec<u64>,
    /// `directory[b]..directory[b + 1]`: the records of bucket `b`. Empty while no record is in.
    directory: Vec<u32>,
    /// Directory entries set so far while reading (buckets up to the last record's).
    filled: usize,
    /// 2 bits per record ([`Old`]), made when reading ends.
    states: Vec<u64>,
}

impl Base {
    /// Room for exactly `records` records (a snapshot says how many it holds).
    pub(in crate::changes) fn with_capacity(records: u64) -> Result<Base, TryReserveError> {
        let mut base = Base::default();
        let records = usize::try_from(records.min(MAX_RECORDS)).unwrap_or(usize::MAX);
        base.records.try_reserve_exact(records)?;
        if records > 0 {
            base.directory.try_reserve_exact(DIRECTORY_LEN)?;
        }
        Ok(base)
    }

    /// Records held.
    pub(in crate::changes) fn len(&self) -> usize {
        self.records.len()
    }

    /// The last key read, if any.
    pub(in crate::changes) fn last_key(&self) -> Option<u64> {
        let last = *self.records.last()?;
        Some(((self.filled as u64 - 1) << LOW_BITS) | (last >> FINGERPRINT_BITS))
    }

    /// Append a record; keys must come strictly increasing (the caller checks with
    /// [`Base::last_key`]) and no more than the capacity asked for.
    pub(in crate::changes) fn push(&mut self, key: u64, fingerprint: u64) {
        debug_assert!(self.last_key().is_none_or(|last| last < key));
        let bucket = (key >> LOW_BITS) as usize;
        if self.filled <= bucket {
            self.directory.resize(bucket + 1, self.records.len() as u32);
            self.filled = bucket + 1;
        }
        self.records
            .push(((key & LOW_MASK) << FINGERPRINT_BITS) | fingerprint);
    }

    /// Reading is over: close the directory, and start every key unseen.
    pub(super) fn close(&mut self) {
        if !self.records.is_empty() {
            self.directory
                .resize(DIRECTORY_LEN, self.records.len() as u32);
            self.filled = DIRECTORY_LEN;
        }
        // Zeroed in one allocation: pages no key touches cost nothing.
        self.states = vec![0; self.records.len().div_ceil(32)];
    }

    /// Where `key` is, if the last run had it.
    pub(super) fn find(&self, key: u64) -> Option<usize> {
        if self.records.is_empty() {
            return None;
        }
        let bucket = (key >> LOW_BITS) as usize;
        let (start, end) = (
            self.directory[bucket] as usize,
            self.directory[bucket + 1] as usize,
        );
        let low = key & LOW_MASK;
        self.records[start..end]
            .binary_search_by_key(&low, |r| r >> FINGERPRINT_BITS)
            .ok()
            .map(|i| start + i)
    }

    /// Read the directory entries of `keys`, then their first records and states (see
    /// `Memory::warm`).
    pub(super) fn warm(&self, keys: impl Iterator<Item = u64>) {
        if self.records.is_empty() {
            return;
        }
        // The directory entries first, all of them: their reads overlap.
        let starts: Vec<u32> = keys
            .map(|key| self.directory[(key >> LOW_BITS) as usize])
            .collect();
        self.warm_places(starts.into_iter().map(|start| start as usize));
    }

    /// Touch the records and states at `places` (see `Memory::confirm_all`).
    pub(super) fn warm_places(&self, places: impl Iterator<Item = usize>) {
        let touched = places.fold(0u64, |sum, i| {
            let record = self.records.get(i).copied().unwrap_or(0);
            let state = self.states.get(i / 32).copied().unwrap_or(0);
            sum ^ record ^ state
        });
        // Reads whose result is unused would be optimized away.
        std::hint::black_box(touched);
    }

    /// Whether the record at `i` can be `key`'s: it exists and holds the key's low bits (a place
    /// handed out by this run's decisions always does; the check costs nothing, the record being
    /// read anyway).
    pub(super) fn holds(&self, i: usize, key: u64) -> bool {
        self.records
            .get(i)
            .is_some_and(|r| r >> FINGERPRINT_BITS == key & LOW_MASK)
    }

    pub(super) fn fingerprint(&self, i: usize) -> u64 {
        self.records[i] & FINGERPRINT_MASK
    }

    pub(super) fn set_fingerprint(&mut self, i: usize, fingerprint: u64) {
        self.records[i] = (self.records[i] & !FINGERPRINT_MASK) | fingerprint;
    }

    pub(super) fn state(&self, i: usize) -> Old {
        Old::of(self.states[i / 32] >> ((i % 32) * 2))
    }

    pub(super) fn set_state(&mut self, i: usize, state: Old) {
        let shift = (i % 32) * 2;
        let word = &mut self.states[i / 32];
        *word = (*word & !(3 << shift)) | ((state as u64) << shift);
    }

    /// Keys in each state.
    pub(super) fn tally(&self) -> [u64; 4] {
        let mut tally = [0; 4];
        for i in 0..self.len() {
            tally[self.state(i) as usize] += 1;
        }
        tally
    }

    /// The record at `i` as (key, fingerprint) bits, with `bucket` the bucket of a record at or
    /// before it (moved forward to its own): reading in order costs no search.
    pub(super) fn record(&self, i: usize, bucket: &mut usize) -> (u64, u64) {
        while self.directory[*bucket + 1] as usize <= i {
            *bucket += 1;
        }
        let r = self.records[i];
        (
            ((*bucket as u64) << LOW_BITS) | (r >> FINGERPRINT_BITS),
            r & FINGERPRINT_MASK,
        )
    }

    /// Bytes held for `records` keys.
    pub(super) fn bytes_for(records: usize) -> usize {
        let directory = if records > 0 { DIRECTORY_BYTES } else { 0 };
        records * 8 + records.div_ceil(32) * 8 + directory
    }
}
