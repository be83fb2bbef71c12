//! One run's decisions against the records of the schedule's last successful run: a row is sent
//! when its key is new or its content changed, skipped when it is unchanged. A sent row is
//! remembered only once its delivery is confirmed, so a row refused, cut off or never sent is sent
//! again by the next run.

use super::hash::{Fingerprint, KeyHash};

mod base;
mod fresh;
#[cfg(test)]
pub(super) mod oracle;
#[cfg(test)]
pub(super) mod properties;

use base::Old;
pub(super) use base::{Base, MAX_RECORDS};
use fresh::{Arrival, NewKeys};

/// Keys warmed at once: their places stay in cache until they are used.
const WARM_GROUP: usize = 256;

/// A sent row waiting for its delivery to be confirmed or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    key: KeyHash,
    fingerprint: Fingerprint,
    place: Place,
}

/// Where a sent key is remembered: confirming or forgetting it goes straight there instead of
/// looking the key up again (at 10 000 000 keys a lookup misses the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Among the last run's records, at this position (in key order).
    Old(u32),
    /// Among the keys new in this run.
    New,
}

/// What to do with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Delivered before with this content: skip it.
    Unchanged,
    /// A key the last run did not deliver: send it.
    New(Pending),
    /// Delivered before with other content: send it.
    Changed(Pending),
    /// The row has no key: send it, remember nothing.
    Unkeyed,
    /// A key seen earlier in this result: send it, and forget the key (sent again next run), as
    /// rows sharing a key cannot be told apart.
    Repeated,
}

impl Decision {
    /// Whether the row is sent.
    pub fn sends(&self) -> bool {
        !matches!(self, Decision::Unchanged)
    }

    /// What to confirm or give up once the row's delivery is known.
    pub fn pending(self) -> Option<Pending> {
        match self {
            Decision::New(p) | Decision::Changed(p) => Some(p),
            _ => None,
        }
    }
}

/// How many rows got each decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecisionCounts {
    /// Keys the last run did not deliver.
    pub new: u64,
    /// Keys whose content changed.
    pub changed: u64,
    /// Rows skipped: delivered before with this content.
    pub unchanged: u64,
    /// Rows without a key.
    pub unkeyed: u64,
    /// Rows whose key an earlier row of the result had.
    pub repeated: u64,
}

/// The records of the last run and this run's decisions.
///
/// Bytes: the last run's N keys take 8.25 each plus a 4 MiB directory ([`base`]); each key new
/// in this run at most 11.25 more, plus 3.6 MiB once the first arrives ([`fresh`]). A 10 000 000-key
/// run costs 86 694 308 bytes (82.7 MiB) for its base, and at most 116 235 552 bytes (110.9 MiB)
/// more if all 10 000 000 keys are new; [`Memory::bytes_for`] says it for any size.
#[derive(Debug, Default)]
pub struct Memory {
    base: Base,
    fresh: NewKeys,
    counts: DecisionCounts,
}

impl Memory {
    /// No records: a first run (every keyed row is new).
    pub fn empty() -> Memory {
        Memory::default()
    }

    /// The last run's records, read (sorted, checked) into their compact form.
    pub(super) fn from_base(mut base: Base) -> Memory {
        base.close();
        Memory {
            base,
            ..Memory::default()
        }
    }

    /// The last run's records, in strictly increasing key order.
    #[cfg(test)]
    pub(super) fn from_sorted(records: Vec<(KeyHash, Fingerprint)>) -> Memory {
        let mut base = Base::with_capacity(records.len() as u64).expect("room for the test");
        for (key, fingerprint) in records {
            assert!(base.last_key().is_none_or(|last| last < key.bits()));
            base.push(key.bits(), fingerprint.bits());
        }
        Memory::from_base(base)
    }

    /// Bytes a run needs whose last run remembered `base_records` keys and which meets up to as
    /// many new keys: what the state of the run holds at its peak, without the snapshot part
    /// being read or written ([`super::format::PART_BYTES`]). Each new key beyond that adds at
    /// most 11.25 bytes.
    pub fn bytes_for(base_records: u64) -> usize {
        let n = usize::try_from(base_records).unwrap_or(usize::MAX / 64);
        Base::bytes_for(n) + NewKeys::bytes_for(n) + std::mem::size_of::<Memory>()
    }

    /// The bytes this memory holds now (its base, and the new keys met so far).
    pub fn heap_bytes(&self) -> usize {
        Base::bytes_for(self.base.len()) + self.fresh.bytes()
    }

    /// Keys remembered from the last run.
    pub fn base_len(&self) -> u64 {
        self.base.len() as u64
    }

    /// Read where each of `keys` is remembered, so that deciding them right after finds it in
    /// cache. The keys' reads do not depend on each other, so the processor overlaps their
    /// cache misses, which one decision after another cannot (a lookup of a large memory
    /// otherwise waits on two or three misses per row).
    pub fn warm(&self, keys: impl Iterator<Item = KeyHash>) {
        self.base.warm(keys.map(KeyHash::bits));
    }

    /// Decide one row by its key (`None`: unkeyed) and content.
    pub fn decide(&mut self, key: Option<KeyHash>, fingerprint: Fingerprint) -> Decision {
        let Some(key) = key else {
            self.counts.unkeyed += 1;
            return Decision::Unkeyed;
        };
        let pending = |place| Pending {
            key,
            fingerprint,
            place,
        };
        let (key, fingerprint) = (key.bits(), fingerprint.bits());
        let Some(i) = self.base.find(key) else {
            return match self.fresh.arrive(key, fingerprint) {
                Arrival::First => {
                    self.counts.new += 1;
                    Decision::New(pending(Place::New))
                }
                Arrival::Again => {
                    self.counts.repeated += 1;
                    Decision::Repeated
                }
            };
        };
        if self.base.state(i) != Old::Unseen {
            self.base.set_state(i, Old::Forget);
            self.counts.repeated += 1;
            return Decision::Repeated;
        }
        if self.base.fingerprint(i) == fingerprint {
            self.base.set_state(i, Old::Kept);
            self.counts.unchanged += 1;
            return Decision::Unchanged;
        }
        // The old fingerprint is never needed again: a changed key not confirmed is dropped.
        self.base.set_fingerprint(i, fingerprint);
        self.base.set_state(i, Old::Sent);
        self.counts.changed += 1;
        // A base holds at most u32::MAX records (`MAX_RECORDS`).
        Decision::Changed(pending(Place::Old(i as u32)))
    }

    /// The row was delivered: remember its content.
    pub fn confirm(&mut self, p: Pending) {
        let (key, fingerprint) = (p.key.bits(), p.fingerprint.bits());
        match p.place {
            Place::Old(i) => {
                let i = i as usize;
                if self.base.holds(i, key)
                    && self.base.state(i) == Old::Sent
                    && self.base.fingerprint(i) == fingerprint
                {
                    self.base.set_state(i, Old::Kept);
                }
            }
            Place::New => self.fresh.confirm(key, fingerprint),
        }
    }

    /// Rows delivered together, confirmed a group at a time with their places warmed (a batch is
    /// confirmed long after its rows were decided: their places are cold).
    pub fn confirm_all(&mut self, pending: &[Pending]) {
        for group in pending.chunks(WARM_GROUP) {
            self.base
                .warm_places(group.iter().filter_map(|p| match p.place {
                    Place::Old(i) => Some(i as usize),
                    Place::New => None,
                }));
            for &p in group {
                self.confirm(p);
            }
        }
    }

    /// The row was not delivered: forget its key, so the next run sends it again.
    pub fn forget(&mut self, p: Pending) {
        match p.place {
            Place::Old(i) => {
                let i = i as usize;
                if self.base.holds(i, p.key.bits()) {
                    self.base.set_state(i, Old::Forget);
                }
            }
            Place::New => self.fresh.forget(p.key.bits()),
        }
    }

    /// The decisions so far.
    pub fn counts(&self) -> DecisionCounts {
        self.counts
    }

    /// The records the next run compares with. With the whole result read, keys not in it are
    /// dropped (and counted as gone); otherwise they are kept, and what is gone is unknown. A row
    /// sent but not confirmed is never kept.
    pub fn finish(self, read_whole: bool) -> Remembered {
        let tally = self.base.tally();
        let unseen = tally[Old::Unseen as usize];
        let kept_old = tally[Old::Kept as usize] + if read_whole { 0 } else { unseen };
        Remembered {
            len: kept_old + self.fresh.confirmed(),
            base: self.base,
            fresh: self.fresh,
            read_whole,
            keys_gone: read_whole.then_some(unseen),
        }
    }
}

/// What the next run compares with, and what left the result: the last run's records still
/// kept and the new keys confirmed, merged in key order only as they are read
/// ([`Remembered::records`]).
#[derive(Debug)]
pub struct Remembered {
    base: Base,
    fresh: NewKeys,
    /// Unseen old keys are dropped.
    read_whole: bool,
    len: u64,
    /// Keys of the last run no longer in the result (`None`: the result was not read to its end).
    pub keys_gone: Option<u64>,
}

impl Remembered {
    /// Records kept.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records, in strictly increasing key order.
    #[cfg(test)]
    pub(super) fn records(&self) -> impl Iterator<Item = (KeyHash, Fingerprint)> + '_ {
        let mut cursor = Cursor::default();
        std::iter::from_fn(move || cursor.next(self)).map(|(key, fingerprint)| {
            (
                KeyHash::from_bits(key).expect("44 bits"),
                Fingerprint::from_bits(fingerprint).expect("40 bits"),
            )
        })
    }

    /// The next old record kept at or after `*i`, as (key, fingerprint) bits.
    fn next_old(&self, i: &mut usize, bucket: &mut usize) -> Option<(u64, u64)> {
        while *i < self.base.len() {
            let at = *i;
            *i += 1;
            let keep = match self.base.state(at) {
                Old::Kept => true,
                Old::Unseen => !self.read_whole,
                Old::Sent | Old::Forget => false,
            };
            if keep {
                return Some(self.base.record(at, bucket));
            }
        }
        None
    }
}

/// A place in [`Remembered`]'s records: the old ones and the new ones, merged by key.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    old: usize,
    bucket: usize,
    fresh: (usize, usize),
    /// The next of each side, read but not yet handed out.
    old_head: Option<Option<(u64, u64)>>,
    fresh_head: Option<Option<(u64, u64)>>,
}

impl Cursor {
    /// The next record as (key, fingerprint) bits. The two sides never share a key: a key is new
    /// only when the base lacks it.
    pub(super) fn next(&mut self, r: &Remembered) -> Option<(u64, u64)> {
        let old = *self
            .old_head
            .get_or_insert_with(|| r.next_old(&mut self.old, &mut self.bucket));
        let fresh = *self
            .fresh_head
            .get_or_insert_with(|| r.fresh.next_confirmed(&mut self.fresh));
        match (old, fresh) {
            (Some(o), Some(f)) if f.0 < o.0 => self.fresh_head.take().flatten(),
            (Some(_), _) => self.old_head.take().flatten(),
            (None, _) => self.fresh_head.take().flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u64) -> Option<KeyHash> {
        KeyHash::from_bits(n)
    }

    fn f(n: u64) -> Fingerprint {
        Fingerprint::from_bits(n).unwrap()
    }

    fn base(records: &[(u64, u64)]) -> Memory {
        Memory::from_sorted(
            records
                .iter()
                .map(|&(a, b)| (k(a).unwrap(), f(b)))
                .collect(),
        )
    }

    fn kept(r: &Remembered) -> Vec<(u64, u64)> {
        r.records().map(|(a, b)| (a.bits(), b.bits())).collect()
    }

    #[test]
    fn unchanged_rows_are_skipped_and_changed_or_new_ones_sent() {
        let mut m = base(&[(1, 10), (2, 20)]);
        assert_eq!(m.decide(k(1), f(10)), Decision::Unchanged);
        let changed = m.decide(k(2), f(21));
        assert!(matches!(changed, Decision::Changed(_)));
        let new = m.decide(k(3), f(30));
        assert!(matches!(new, Decision::New(_)));
        assert_eq!(m.decide(None, f(0)), Decision::Unkeyed);
        m.confirm(changed.pending().unwrap());
        m.confirm(new.pending().unwrap());
        let c = m.counts();
        assert_eq!((c.new, c.changed, c.unchanged, c.unkeyed), (1, 1, 1, 1));
        let r = m.finish(true);
        assert_eq!(kept(&r), [(1, 10), (2, 21), (3, 30)]);
        assert_eq!(r.keys_gone, Some(0));
    }

    #[test]
    fn a_row_not_confirmed_is_not_remembered() {
        let mut m = base(&[(1, 10)]);
        let changed = m.decide(k(1), f(11)).pending().unwrap();
        let refused = m.decide(k(2), f(20)).pending().unwrap();
        let _never_settled = m.decide(k(3), f(30));
        m.forget(refused);
        m.confirm(Pending {
            fingerprint: f(99),
            ..changed
        });
        // Confirming other content than was sent does not count.
        let r = m.finish(true);
        assert!(r.is_empty(), "{:?}", kept(&r));
    }

    #[test]
    fn repeated_keys_are_sent_and_forgotten() {
        let mut m = base(&[(1, 10)]);
        assert_eq!(m.decide(k(1), f(10)), Decision::Unchanged);
        assert_eq!(m.decide(k(1), f(10)), Decision::Repeated);
        let first = m.decide(k(2), f(20)).pending().unwrap();
        assert_eq!(m.decide(k(2), f(20)), Decision::Repeated);
        m.confirm(first);
        assert_eq!(m.counts().repeated, 2);
        assert!(m.finish(true).is_empty());
    }

    #[test]
    fn keys_left_out_are_gone_only_when_the_whole_result_was_read() {
        let m = base(&[(1, 10), (2, 20)]);
        let r = m.finish(true);
        assert_eq!((r.len(), r.keys_gone), (0, Some(2)));
        let mut m = base(&[(1, 10), (2, 20)]);
        m.decide(k(1), f(10));
        let r = m.finish(false);
        assert_eq!(kept(&r), [(1, 10), (2, 20)]);
        assert_eq!(r.keys_gone, None);
    }

    #[test]
    fn the_bytes_of_a_run_are_known_before_it_starts() {
        assert_eq!(Memory::bytes_for(0), std::mem::size_of::<Memory>());
        // 80 000 000 (records) + 2 500 000 (states) + 4 194 308 (directory) + 116 235 552 (as
        // many new keys, at most).
        assert_eq!(
            Memory::bytes_for(10_000_000) - std::mem::size_of::<Memory>(),
            86_694_308 + 116_235_552
        );
        // What a run holds stays within what was reserved for it.
        let mut m = base(&[(1, 10), (1 << 30, 20)]);
        for key in 2..4 {
            m.decide(k(key << 28), f(0));
        }
        assert!(m.heap_bytes() <= Memory::bytes_for(2), "{}", m.heap_bytes());
    }
}
