//! One run's decisions against the records of the schedule's last successful run: a row is sent
//! when its key is new or its content changed, skipped when it is unchanged. A sent row is
//! remembered only once its delivery is confirmed, so a row refused, cut off or never sent is sent
//! again by the next run.

use std::collections::HashMap;

use super::hash::{Fingerprint, KeyHash};

/// A sent row waiting for its delivery to be confirmed or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    key: KeyHash,
    fingerprint: Fingerprint,
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

/// Where a key stands in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not in this result (yet).
    Unseen,
    /// In the result, unchanged.
    Unchanged,
    /// Sent with this content, not confirmed yet.
    Sent(Fingerprint),
    /// Confirmed delivered with this content.
    Confirmed(Fingerprint),
    /// Not to be remembered: refused, or repeated.
    Forget,
}

/// The records of the last run and this run's decisions.
#[derive(Debug, Default)]
pub struct Memory {
    old: HashMap<KeyHash, (Fingerprint, State)>,
    new: HashMap<KeyHash, State>,
    counts: DecisionCounts,
}

impl Memory {
    /// No records: a first run (every keyed row is new).
    pub fn empty() -> Memory {
        Memory::default()
    }

    /// The last run's records, in strictly increasing key order (the decoder checks it).
    pub(super) fn from_sorted(records: Vec<(KeyHash, Fingerprint)>) -> Memory {
        let old = records
            .into_iter()
            .map(|(k, f)| (k, (f, State::Unseen)))
            .collect();
        Memory {
            old,
            ..Memory::default()
        }
    }

    /// Keys remembered from the last run.
    pub fn base_len(&self) -> u64 {
        self.old.len() as u64
    }

    /// Decide one row by its key (`None`: unkeyed) and content.
    pub fn decide(&mut self, key: Option<KeyHash>, fingerprint: Fingerprint) -> Decision {
        let Some(key) = key else {
            self.counts.unkeyed += 1;
            return Decision::Unkeyed;
        };
        let pending = Pending { key, fingerprint };
        if let Some((old, state)) = self.old.get_mut(&key) {
            if *state != State::Unseen {
                *state = State::Forget;
                self.counts.repeated += 1;
                return Decision::Repeated;
            }
            if *old == fingerprint {
                *state = State::Unchanged;
                self.counts.unchanged += 1;
                return Decision::Unchanged;
            }
            *state = State::Sent(fingerprint);
            self.counts.changed += 1;
            return Decision::Changed(pending);
        }
        match self.new.get_mut(&key) {
            Some(state) => {
                *state = State::Forget;
                self.counts.repeated += 1;
                Decision::Repeated
            }
            None => {
                self.new.insert(key, State::Sent(fingerprint));
                self.counts.new += 1;
                Decision::New(pending)
            }
        }
    }

    fn state(&mut self, key: KeyHash) -> Option<&mut State> {
        match self.old.get_mut(&key) {
            Some((_, state)) => Some(state),
            None => self.new.get_mut(&key),
        }
    }

    /// The row was delivered: remember its content.
    pub fn confirm(&mut self, p: Pending) {
        if let Some(state) = self.state(p.key) {
            if *state == State::Sent(p.fingerprint) {
                *state = State::Confirmed(p.fingerprint);
            }
        }
    }

    /// The row was not delivered: forget its key, so the next run sends it again.
    pub fn forget(&mut self, p: Pending) {
        if let Some(state) = self.state(p.key) {
            *state = State::Forget;
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
        let mut gone = 0;
        let mut records: Vec<(KeyHash, Fingerprint)> = Vec::with_capacity(self.old.len());
        for (key, (old, state)) in self.old {
            match state {
                State::Unseen if read_whole => gone += 1,
                State::Unseen | State::Unchanged => records.push((key, old)),
                State::Confirmed(now) => records.push((key, now)),
                State::Sent(_) | State::Forget => {}
            }
        }
        for (key, state) in self.new {
            if let State::Confirmed(now) = state {
                records.push((key, now));
            }
        }
        records.sort_unstable_by_key(|(k, _)| *k);
        Remembered {
            records,
            keys_gone: read_whole.then_some(gone),
        }
    }
}

/// What the next run compares with, sorted by key, and what left the result.
#[derive(Debug)]
pub struct Remembered {
    pub(super) records: Vec<(KeyHash, Fingerprint)>,
    /// Keys of the last run no longer in the result (`None`: the result was not read to its end).
    pub keys_gone: Option<u64>,
}

impl Remembered {
    /// Records kept.
    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
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
        r.records
            .iter()
            .map(|(a, b)| (a.bits(), b.bits()))
            .collect()
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
            key: changed.key,
            fingerprint: f(99),
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
}
