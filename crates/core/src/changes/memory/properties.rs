//! Random runs played on the compact [`Memory`] and on the plain [`Oracle`]: every decision, the
//! counts, the keys gone and the records kept must agree. proptest's own environment variables choose how many cases run.

use proptest::prelude::*;

use super::oracle::{places_of, Oracle, OracleRemembered};
use super::{Memory, Pending, Place, Remembered};
use crate::changes::hash::{Fingerprint, KeyHash, KEY_BITS};

/// What happens to a sent row's delivery.
#[derive(Debug, Clone, Copy)]
pub(in crate::changes) enum Settle {
    Confirm,
    Forget,
    /// Cut off: never settled.
    Never,
    /// Confirmed with other content than was sent (only a bug could: it must not count).
    ConfirmOther,
    /// Confirmed, then given up (a later batch's failure naming it).
    ConfirmThenForget,
    Twice,
}

/// One row: its key (an index into the run's keys, or none), its content, what becomes of it,
/// and whether that is known at once or only at the end of the run.
#[derive(Debug, Clone)]
pub(in crate::changes) struct Row {
    key: Option<usize>,
    fingerprint: u64,
    settle: Settle,
    late: bool,
}

/// A run: the keys it may meet, the last run's records among them, its rows, whether its
/// result was read to the end, and stray confirmations of keys never decided.
#[derive(Debug, Clone)]
pub(in crate::changes) struct Run {
    keys: Vec<u64>,
    base: Vec<(u64, u64)>,
    rows: Vec<Row>,
    pub read_whole: bool,
    strays: Vec<(u64, u64, bool)>,
}

/// Keys spread over the whole 44 bits, at both ends, and crowded into a few buckets and
/// segments (the compact form's edges).
fn key() -> impl Strategy<Value = u64> {
    let top = (1u64 << KEY_BITS) - 1;
    prop_oneof![
        0..1u64 << KEY_BITS,
        0..64u64,
        top - 63..=top,
        (0..4u64, 0..4u64, 0..8u64).prop_map(|(s, b, low)| (s << 28) | (b << 24) | low),
        (0..4u64, 0..4u64).prop_map(|(b, low)| ((b + 1) << 24) - 1 - low),
    ]
}

/// Few fingerprints, so that unchanged rows are common; the largest one too.
fn fingerprint() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0..4u64, 1 => Just((1u64 << 40) - 1)]
}

fn settle() -> impl Strategy<Value = Settle> {
    prop_oneof![
        6 => Just(Settle::Confirm),
        2 => Just(Settle::Forget),
        2 => Just(Settle::Never),
        1 => Just(Settle::ConfirmOther),
        1 => Just(Settle::ConfirmThenForget),
        1 => Just(Settle::Twice),
    ]
}

pub(in crate::changes) fn run() -> impl Strategy<Value = Run> {
    proptest::collection::btree_set(key(), 1..48)
        .prop_flat_map(|keys| {
            let keys: Vec<u64> = keys.into_iter().collect();
            let n = keys.len();
            let row = (
                proptest::option::weighted(0.95, 0..n),
                fingerprint(),
                settle(),
                any::<bool>(),
            )
                .prop_map(|(key, fingerprint, settle, late)| Row {
                    key,
                    fingerprint,
                    settle,
                    late,
                });
            (
                Just(keys),
                proptest::collection::vec(proptest::option::of(fingerprint()), n),
                proptest::collection::vec(row, 0..96),
                any::<bool>(),
                proptest::collection::vec((key(), fingerprint(), any::<bool>()), 0..4),
            )
        })
        .prop_map(|(keys, in_base, rows, read_whole, strays)| Run {
            base: keys
                .iter()
                .zip(&in_base)
                .filter_map(|(k, f)| f.map(|f| (*k, f)))
                .collect(),
            keys,
            rows,
            read_whole,
            strays,
        })
}

fn typed(key: u64, fingerprint: u64) -> (KeyHash, Fingerprint) {
    (
        KeyHash::from_bits(key).unwrap(),
        Fingerprint::from_bits(fingerprint).unwrap(),
    )
}

fn base(run: &Run) -> Vec<(KeyHash, Fingerprint)> {
    run.base.iter().map(|&(k, f)| typed(k, f)).collect()
}

/// The two memories side by side.
struct Both {
    memory: Memory,
    oracle: Oracle,
}

impl Both {
    fn confirm(&mut self, p: Pending) {
        self.memory.confirm(p);
        self.oracle.confirm(p);
    }

    fn forget(&mut self, p: Pending) {
        self.memory.forget(p);
        self.oracle.forget(p);
    }

    fn settle(&mut self, p: Pending, how: Settle) {
        match how {
            Settle::Confirm => self.confirm(p),
            Settle::Forget => self.forget(p),
            Settle::Never => {}
            Settle::ConfirmOther => self.confirm(Pending {
                fingerprint: Fingerprint::from_bits(p.fingerprint.bits() ^ 1).unwrap(),
                ..p
            }),
            Settle::ConfirmThenForget => {
                self.confirm(p);
                self.forget(p);
            }
            Settle::Twice => {
                self.confirm(p);
                self.confirm(p);
            }
        }
    }
}

/// Play `run` on both; the first disagreement is the error. On agreement, both ends.
pub(in crate::changes) fn play(run: &Run) -> Result<(Remembered, OracleRemembered), String> {
    let mut both = Both {
        memory: Memory::from_sorted(base(run)),
        oracle: Oracle::from_sorted(base(run)),
    };
    let mut late = Vec::new();
    for (i, row) in run.rows.iter().enumerate() {
        let key = row.key.map(|k| typed(run.keys[k], 0).0);
        let fingerprint = typed(0, row.fingerprint).1;
        let got = both.memory.decide(key, fingerprint);
        let want = both.oracle.decide(key, fingerprint);
        if got != want {
            return Err(format!("row {i}: decided {got:?}, the oracle {want:?}"));
        }
        match (got.pending(), row.late) {
            (Some(p), false) => both.settle(p, row.settle),
            (Some(p), true) => late.push((p, row.settle)),
            (None, _) => {}
        }
    }
    // Late deliveries settle in the reverse order of sending (batches finish in any order).
    for (p, how) in late.into_iter().rev() {
        both.settle(p, how);
    }
    // A stray names its key where the memory keeps it, as a decision would have.
    let places = places_of(&base(run));
    for &(key, fingerprint, confirm) in &run.strays {
        let (key, fingerprint) = typed(key, fingerprint);
        let place = places.get(&key).map_or(Place::New, |&at| Place::Old(at));
        let p = Pending {
            key,
            fingerprint,
            place,
        };
        if confirm {
            both.confirm(p);
        } else {
            both.forget(p);
        }
    }
    let (got, want) = (both.memory.counts(), both.oracle.counts());
    if got != want {
        return Err(format!("counts {got:?}, the oracle {want:?}"));
    }
    let got = both.memory.finish(run.read_whole);
    let want = both.oracle.finish(run.read_whole);
    let records: Vec<_> = got.records().collect();
    if records != want.records || got.len() != want.records.len() as u64 {
        return Err(format!(
            "kept {records:?} (len {}), the oracle {:?}",
            got.len(),
            want.records
        ));
    }
    if got.keys_gone != want.keys_gone {
        return Err(format!(
            "keys gone {:?}, the oracle {:?}",
            got.keys_gone, want.keys_gone
        ));
    }
    Ok((got, want))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // No regression files in the source tree: a failure prints its minimal input, which goes
        // into a plain test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the base, the rows (repeated, unkeyed, changed or not), the order and outcome
    /// of their deliveries and whether the result was read whole, the compact memory decides,
    /// counts and keeps exactly what the plain one does.
    #[test]
    fn the_compact_memory_agrees_with_the_plain_one(run in run()) {
        if let Err(why) = play(&run) {
            prop_assert!(false, "{}", why);
        }
    }
}

#[test]
fn a_decision_at_the_edges_of_buckets_and_segments() {
    let top = (1u64 << KEY_BITS) - 1;
    let keys = [0, (1 << 24) - 1, 1 << 24, (1 << 28) - 1, 1 << 28, top];
    let run = Run {
        keys: keys.to_vec(),
        base: vec![(keys[1], 1), (keys[2], 2), (keys[5], 5)],
        rows: (0..keys.len())
            .map(|i| Row {
                key: Some(i),
                fingerprint: if i == 2 { 3 } else { i as u64 },
                settle: Settle::Confirm,
                late: i % 2 == 0,
            })
            .collect(),
        read_whole: true,
        strays: vec![],
    };
    let (got, _) = play(&run).unwrap();
    let kept: Vec<(u64, u64)> = got.records().map(|(k, f)| (k.bits(), f.bits())).collect();
    assert_eq!(
        kept,
        [
            (0, 0),
            (keys[1], 1),
            (keys[2], 3),
            (keys[3], 3),
            (keys[4], 4),
            (top, 5)
        ]
    );
    assert_eq!(got.keys_gone, Some(0));
}
