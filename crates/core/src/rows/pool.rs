//! Chunk buffers handed back by the rows' consumer for the parser to fill again. A chunk holds up
//! to a megabyte of text: allocated afresh for each chunk and freed after it, glibc maps and
//! unmaps its pages every time (sizes past its mmap threshold), and the page faults, page
//! clearing and TLB shootdowns took an eighth of the reading threads' time.

use std::sync::{Arc, Mutex};

/// What a pool keeps: emptied before it is kept.
pub(super) trait Reusable: Default {
    /// Empty it, keeping its room.
    fn clear(&mut self);
    /// Bytes of room it holds.
    fn room(&self) -> usize;
}

/// Buffers kept for reuse, shared by their maker and their users.
#[derive(Debug)]
pub(super) struct Pool<T> {
    kept: Arc<Mutex<Vec<T>>>,
    /// At most this many are kept: as many as can be in use at once (then memory stays as
    /// bounded as without the pool).
    most: usize,
    /// One grown past this many bytes (for an unusually large item) is freed rather than kept.
    largest: usize,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool {
            kept: self.kept.clone(),
            most: self.most,
            largest: self.largest,
        }
    }
}

impl<T: Reusable> Pool<T> {
    /// A pool keeping at most `most` buffers of at most `largest` bytes.
    pub(super) fn new(most: usize, largest: usize) -> Pool<T> {
        Pool {
            kept: Arc::default(),
            most,
            largest,
        }
    }

    /// An empty buffer: one handed back, or a new one.
    pub(super) fn take(&self) -> T {
        self.kept
            .lock()
            .ok()
            .and_then(|mut kept| kept.pop())
            .unwrap_or_default()
    }

    /// Keep `item` for later, emptied; dropped when the pool is full or it grew too large.
    pub(super) fn give_back(&self, mut item: T) {
        if item.room() > self.largest {
            return;
        }
        item.clear();
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() < self.most {
                kept.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Reusable for Vec<u8> {
        fn clear(&mut self) {
            Vec::clear(self)
        }
        fn room(&self) -> usize {
            self.capacity()
        }
    }

    #[test]
    fn buffers_come_back_empty_and_the_pool_stays_bounded() {
        let pool: Pool<Vec<u8>> = Pool::new(3, 100);
        let mut buf = pool.take();
        buf.extend_from_slice(b"abc");
        pool.give_back(buf);
        let again = pool.take();
        assert!(
            again.is_empty() && again.capacity() >= 3,
            "the same buffer, emptied"
        );
        assert!(pool.take().capacity() == 0, "only one was handed back");

        pool.give_back(Vec::with_capacity(101));
        assert_eq!(
            pool.take().capacity(),
            0,
            "a buffer grown too large is not kept"
        );

        for _ in 0..5 {
            pool.give_back(vec![1]);
        }
        let kept: Vec<Vec<u8>> = (0..5).map(|_| pool.take()).collect();
        assert_eq!(kept.iter().filter(|b| b.capacity() > 0).count(), 3);
    }
}
