//! The plain form of [`super::Memory`], for the tests: hash maps of every key's state, easy to
//! read and check by eye, against which the compact form is compared decision by decision.

use std::collections::HashMap;

use super::{Decision, DecisionCounts, Pending, Place};
use crate::changes::hash::{Fingerprint, KeyHash};

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
pub(in crate::changes) struct Oracle {
    old: HashMap<KeyHash, (Fingerprint, State)>,
    /// Each old key's position among the last run's records, in key order.
    places: HashMap<KeyHash, u32>,
    new: HashMap<KeyHash, State>,
    counts: DecisionCounts,
}

/// What the next run compares with, sorted by key, and what left the result.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::changes) struct OracleRemembered {
    pub records: Vec<(KeyHash, Fingerprint)>,
    pub keys_gone: Option<u64>,
}

impl Oracle {
    /// The last run's records.
    pub fn from_sorted(records: Vec<(KeyHash, Fingerprint)>) -> Oracle {
        Oracle {
            places: places_of(&records),
            old: records
                .into_iter()
                .map(|(k, f)| (k, (f, State::Unseen)))
                .collect(),
            ..Oracle::default()
        }
    }

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
            return Decision::Changed(pending(Place::Old(self.places[&key])));
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
                Decision::New(pending(Place::New))
            }
        }
    }

    fn state(&mut self, key: KeyHash) -> Option<&mut State> {
        match self.old.get_mut(&key) {
            Some((_, state)) => Some(state),
            None => self.new.get_mut(&key),
        }
    }

    pub fn confirm(&mut self, p: Pending) {
        if let Some(state) = self.state(p.key) {
            if *state == State::Sent(p.fingerprint) {
                *state = State::Confirmed(p.fingerprint);
            }
        }
    }

    pub fn forget(&mut self, p: Pending) {
        if let Some(state) = self.state(p.key) {
            *state = State::Forget;
        }
    }

    pub fn counts(&self) -> DecisionCounts {
        self.counts
    }

    pub fn finish(self, read_whole: bool) -> OracleRemembered {
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
        OracleRemembered {
            records,
            keys_gone: read_whole.then_some(gone),
        }
    }
}

/// Each key's position among `records` (sorted by key): where the compact form keeps it.
pub(super) fn places_of(records: &[(KeyHash, Fingerprint)]) -> HashMap<KeyHash, u32> {
    (0u32..)
        .zip(records)
        .map(|(place, &(key, _))| (key, place))
        .collect()
}
