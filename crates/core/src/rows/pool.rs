//! Chunk buffers handed back by the rows' consumer for the parser to fill again. A chunk holds up
//! to a megabyte of text: allocated afresh for each chunk and freed after it, glibc maps and
//! unmaps its pages every time (sizes past its mmap threshold), and the page faults, page
//! clearing and TLB shootdowns took an eighth of the reading threads' time.

use std::sync::{Arc, Mutex};

/// The buffers of one chunk: its text and the end of each row.
pub(super) type Buffers = (Vec<u8>, Vec<usize>);

/// Buffers kept for reuse: as many as can be in flight between the parser and the consumer
/// (those in the channel, the one being filled, the one being read), so memory stays as bounded
/// as without the pool.
const KEPT: usize = super::parser::CHANNEL_CHUNKS + 2;

/// A buffer grown past this (a row near the row limit) is freed rather than kept.
const LARGEST_KEPT: usize = 4 * super::parser::CHUNK_BYTES;

/// Buffers of one result's chunks, shared by the parser and the chunks it hands out.
#[derive(Debug, Clone, Default)]
pub(super) struct ChunkPool(Arc<Mutex<Vec<Buffers>>>);

impl ChunkPool {
    /// Empty buffers, reused when one was handed back.
    pub(super) fn take(&self) -> Option<Buffers> {
        self.0.lock().ok()?.pop()
    }

    /// Keep `buffers` for a later chunk, emptied; dropped when the pool is full or they grew
    /// past the usual chunk.
    pub(super) fn give_back(&self, (mut text, mut ends): Buffers) {
        if text.capacity() > LARGEST_KEPT {
            return;
        }
        text.clear();
        ends.clear();
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() < KEPT {
                kept.push((text, ends));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_the_pool_stays_bounded() {
        let pool = ChunkPool::default();
        assert!(pool.take().is_none());
        for _ in 0..KEPT + 3 {
            pool.give_back((vec![1, 2, 3], vec![3]));
        }
        pool.give_back((Vec::with_capacity(LARGEST_KEPT + 1), Vec::new()));
        let mut taken = 0;
        while let Some((text, ends)) = pool.take() {
            assert!(text.is_empty() && ends.is_empty());
            assert!(text.capacity() >= 3 && text.capacity() <= LARGEST_KEPT);
            taken += 1;
        }
        assert_eq!(taken, KEPT);
    }
}
