//! A row's key and content, hashed. Every hash is seeded by the schedule's own random seed: two
//! schedules' hashes cannot be compared, and a collision cannot be crafted from the rows.
//!
//! Sizes: a key is 44 bits, a fingerprint 40 bits (11 bytes a record). A key collision only makes
//! both rows be sent again (they look repeated); a fingerprint collision could hide one change,
//! with probability 2^-40 per changed row (one missed row in about 300 years of daily runs that
//! change all 10 million rows).

use twox_hash::XxHash3_64;

/// Bits of a key hash.
pub const KEY_BITS: u32 = 44;
/// Bits of a content fingerprint.
pub const FINGERPRINT_BITS: u32 = 40;

/// A schedule's random seed, made on its first change-only run and kept with its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub u64);

impl Seed {
    /// A fresh random seed.
    pub fn random() -> Seed {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let mut half = [0u8; 8];
        half.copy_from_slice(&bytes[..8]);
        Seed(u64::from_le_bytes(half))
    }

    /// A check of the seed that can be stored beside the records without revealing it.
    pub fn check(self) -> u64 {
        XxHash3_64::oneshot_with_seed(self.0, b"seed check")
    }

    /// The seed of fingerprints: keys and contents never share a hash function.
    fn of_content(self) -> u64 {
        self.0 ^ 0x9E37_79B9_7F4A_7C15
    }
}

/// What identifies a row: 44 bits of the hash of its key's canonical bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyHash(u64);

impl KeyHash {
    /// The key of these 44 bits; `None` when a higher bit is set.
    pub fn from_bits(bits: u64) -> Option<KeyHash> {
        (bits >> KEY_BITS == 0).then_some(KeyHash(bits))
    }

    /// The 44 bits.
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// What a row delivered: 40 bits of the hash of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of these 40 bits; `None` when a higher bit is set.
    pub fn from_bits(bits: u64) -> Option<Fingerprint> {
        (bits >> FINGERPRINT_BITS == 0).then_some(Fingerprint(bits))
    }

    /// The 40 bits.
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// The canonical bytes of a row's key, one part at a time (a part per identifying value, in a
/// fixed order); reused from row to row.
#[derive(Debug, Default)]
pub struct KeyBuilder {
    bytes: Vec<u8>,
    any_present: bool,
}

impl KeyBuilder {
    /// An empty key.
    pub fn new() -> KeyBuilder {
        KeyBuilder::default()
    }

    /// Start the next row's key.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.any_present = false;
    }

    /// Add one identifying value; `None` is an absent value (null, empty), which differs from
    /// every present one. Each part is written as presence, length, bytes, so parts cannot run
    /// into each other.
    pub fn part(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.bytes.push(0),
            Some(v) => {
                self.any_present = true;
                self.bytes.push(1);
                self.bytes
                    .extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.bytes.extend_from_slice(v);
            }
        }
    }

    /// The key's hash; `None` when every part is absent (an unkeyed row: always sent, never
    /// remembered).
    pub fn finish(&self, seed: Seed) -> Option<KeyHash> {
        self.any_present
            .then(|| KeyHash(XxHash3_64::oneshot_with_seed(seed.0, &self.bytes) >> (64 - KEY_BITS)))
    }
}

/// The hash of a field's name, made once per result and used for every row's value of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameHash(u64);

impl NameHash {
    /// The hash of the name as delivered (a trait, property or column name).
    pub fn of(seed: Seed, name: &[u8]) -> NameHash {
        NameHash(XxHash3_64::oneshot_with_seed(seed.of_content(), name))
    }
}

/// A row's delivered content, hashed: ordered parts (an event name) and (name, value) pairs whose
/// order does not matter, so reordering a Look's columns changes nothing while a renamed, added,
/// removed or changed value does.
#[derive(Debug, Clone, Copy)]
pub struct ContentHasher {
    seed: Seed,
    ordered: u64,
    pairs: u64,
}

impl ContentHasher {
    /// Nothing hashed yet.
    pub fn new(seed: Seed) -> ContentHasher {
        ContentHasher {
            seed,
            ordered: seed.of_content(),
            pairs: 0,
        }
    }

    /// A part whose position matters (chained: `a` then `b` differs from `b` then `a`).
    pub fn part(&mut self, bytes: &[u8]) {
        self.ordered = XxHash3_64::oneshot_with_seed(self.ordered, bytes);
    }

    /// A named value; `value` is its delivered form (JSON text). Pairs are summed.
    pub fn pair(&mut self, name: NameHash, value: &[u8]) {
        self.pairs = self
            .pairs
            .wrapping_add(XxHash3_64::oneshot_with_seed(name.0, value));
    }

    /// The content itself as a key, for rows identified by everything they deliver (track
    /// events). Its bits come from another hash of the same state than [`ContentHasher::finish`]'s,
    /// so two contents mistaken for one another must collide in both: 84 bits.
    pub fn key(&self) -> KeyHash {
        KeyHash(XxHash3_64::oneshot_with_seed(self.seed.0, &self.state()) >> (64 - KEY_BITS))
    }

    fn state(&self) -> [u8; 16] {
        let mut both = [0u8; 16];
        both[..8].copy_from_slice(&self.ordered.to_le_bytes());
        both[8..].copy_from_slice(&self.pairs.to_le_bytes());
        both
    }

    /// The fingerprint.
    pub fn finish(&self) -> Fingerprint {
        Fingerprint(
            XxHash3_64::oneshot_with_seed(self.seed.of_content(), &self.state())
                >> (64 - FINGERPRINT_BITS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: Seed = Seed(42);

    fn key(parts: &[Option<&str>]) -> Option<KeyHash> {
        let mut k = KeyBuilder::new();
        for p in parts {
            k.part(p.map(str::as_bytes));
        }
        k.finish(SEED)
    }

    fn content(pairs: &[(&str, &str)]) -> Fingerprint {
        let mut c = ContentHasher::new(SEED);
        for (name, value) in pairs {
            c.pair(NameHash::of(SEED, name.as_bytes()), value.as_bytes());
        }
        c.finish()
    }

    #[test]
    fn keys_separate_parts_and_absence() {
        assert_ne!(key(&[Some("ab"), Some("c")]), key(&[Some("a"), Some("bc")]));
        assert_ne!(key(&[Some(""), None]), key(&[None, Some("")]));
        assert_ne!(key(&[Some("1"), None]), key(&[None, Some("1")]));
        assert_eq!(key(&[None, None]), None);
        assert_eq!(key(&[Some("u1")]), key(&[Some("u1")]));
        assert!(key(&[Some("u1")]).unwrap().bits() >> KEY_BITS == 0);
    }

    #[test]
    fn a_seed_makes_its_own_hashes() {
        let mut k = KeyBuilder::new();
        k.part(Some(b"u1"));
        assert_ne!(k.finish(Seed(1)), k.finish(Seed(2)));
        assert_ne!(Seed(1).check(), Seed(2).check());
    }

    #[test]
    fn content_ignores_pair_order_and_sees_every_change() {
        let base = content(&[("plan", "\"pro\""), ("seats", "3")]);
        assert_eq!(base, content(&[("seats", "3"), ("plan", "\"pro\"")]));
        assert_ne!(base, content(&[("plan", "\"pro\""), ("seats", "4")]));
        assert_ne!(base, content(&[("plan", "\"pro\""), ("seat", "3")]));
        assert_ne!(base, content(&[("plan", "\"pro\"")]));
        assert_ne!(
            base,
            content(&[("plan", "\"pro\""), ("seats", "3"), ("x", "null")])
        );
        // A value moved to another name is a change.
        assert_ne!(
            content(&[("a", "1"), ("b", "2")]),
            content(&[("a", "2"), ("b", "1")])
        );
        assert!(base.bits() >> FINGERPRINT_BITS == 0);
    }

    #[test]
    fn ordered_parts_keep_their_order() {
        let mut ab = ContentHasher::new(SEED);
        ab.part(b"a");
        ab.part(b"b");
        let mut ba = ContentHasher::new(SEED);
        ba.part(b"b");
        ba.part(b"a");
        assert_ne!(ab.finish(), ba.finish());
    }

    #[test]
    fn content_as_a_key_follows_the_content_not_its_order() {
        let key = |pairs: &[(&str, &str)]| {
            let mut c = ContentHasher::new(SEED);
            for (name, value) in pairs {
                c.pair(NameHash::of(SEED, name.as_bytes()), value.as_bytes());
            }
            c.key()
        };
        let base = key(&[("plan", "\"pro\""), ("seats", "3")]);
        assert_eq!(base, key(&[("seats", "3"), ("plan", "\"pro\"")]));
        assert_ne!(base, key(&[("plan", "\"pro\""), ("seats", "4")]));
        assert!(base.bits() >> KEY_BITS == 0);
        assert_ne!(
            base.bits(),
            content(&[("plan", "\"pro\""), ("seats", "3")]).bits()
        );
    }

    #[test]
    fn bits_out_of_range_are_refused() {
        assert!(KeyHash::from_bits(1 << KEY_BITS).is_none());
        assert!(Fingerprint::from_bits(1 << FINGERPRINT_BITS).is_none());
        assert_eq!(KeyHash::from_bits(5).unwrap().bits(), 5);
    }
}
