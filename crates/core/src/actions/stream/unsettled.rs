//! The sent rows of a change-only send waiting for their chunk to settle: a row is remembered
//! only once the sink confirmed the chunk that held it, and given up when that chunk failed or
//! was never handed over (so the next run writes it again).

use std::collections::VecDeque;

use crate::changes::memory::Pending;
use crate::sinks::Settled;

/// Rows sent per chunk, the chunks numbered as the sink numbers them (its `write` calls).
#[derive(Debug, Default)]
pub struct Unsettled {
    /// Rows of the chunk being filled.
    filling: Vec<Pending>,
    /// Chunks handed over and not settled yet, oldest first.
    handed: VecDeque<(u64, Vec<Pending>)>,
    /// The number the next chunk handed over gets.
    next: u64,
}

impl Unsettled {
    /// Nothing sent yet.
    pub fn new() -> Unsettled {
        Unsettled::default()
    }

    /// A row of the chunk being filled.
    pub fn add(&mut self, p: Pending) {
        self.filling.push(p);
    }

    /// The chunk being filled was handed to the sink.
    pub fn handed_over(&mut self) {
        let rows = std::mem::take(&mut self.filling);
        self.handed.push_back((self.next, rows));
        self.next += 1;
    }

    /// A chunk settled: each of its rows, and whether it was written.
    pub fn settle(&mut self, s: Settled, mut each: impl FnMut(Pending, bool)) {
        if let Some(at) = self.handed.iter().position(|(c, _)| *c == s.chunk) {
            if let Some((_, rows)) = self.handed.remove(at) {
                rows.into_iter().for_each(|p| each(p, s.ok));
            }
        }
    }

    /// The rows whose chunk never settled or was never handed over: none was written.
    pub fn abandon(self, mut each: impl FnMut(Pending)) {
        for (_, rows) in self.handed {
            rows.into_iter().for_each(&mut each);
        }
        self.filling.into_iter().for_each(each);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::hash::{Fingerprint, KeyHash};
    use crate::changes::memory::{Decision, Memory};

    /// Keys 1..=6 decided new; chunks {1, 2}, {3, 4} handed over, {5, 6} never.
    fn sent() -> (Memory, Unsettled) {
        let mut m = Memory::empty();
        let mut u = Unsettled::new();
        for k in 1..=6u64 {
            let d = m.decide(KeyHash::from_bits(k), Fingerprint::from_bits(k).unwrap());
            let Decision::New(p) = d else { panic!("{d:?}") };
            u.add(p);
            if k % 2 == 0 && k < 6 {
                u.handed_over();
            }
        }
        (m, u)
    }

    fn remembered(m: Memory) -> u64 {
        m.finish(true).len()
    }

    #[test]
    fn only_rows_of_confirmed_chunks_are_remembered() {
        let (mut m, mut u) = sent();
        // A later chunk may settle first.
        u.settle(Settled { chunk: 1, ok: true }, |p, ok| {
            assert!(ok);
            m.confirm(p)
        });
        u.settle(
            Settled {
                chunk: 0,
                ok: false,
            },
            |p, _| m.forget(p),
        );
        let mut given_up = 0;
        u.abandon(|p| {
            given_up += 1;
            m.forget(p)
        });
        assert_eq!(given_up, 2);
        assert_eq!(remembered(m), 2);
    }

    #[test]
    fn a_chunk_settles_once_and_unknown_chunks_are_ignored() {
        let (mut m, mut u) = sent();
        let mut calls = 0;
        for chunk in [0, 0, 7] {
            u.settle(Settled { chunk, ok: true }, |p, _| {
                calls += 1;
                m.confirm(p)
            });
        }
        assert_eq!(calls, 2);
        u.abandon(|p| m.forget(p));
        assert_eq!(remembered(m), 2);
    }
}
