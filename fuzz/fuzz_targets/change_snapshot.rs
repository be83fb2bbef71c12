//! Reading a change-only snapshot (a schedule's memory of what it sent) from arbitrary parts and
//! an arbitrary description of them. The decoder never panics; a snapshot it accepts is exactly
//! what its records write back (byte for byte, same count and checksum), and a run meeting every
//! one of its keys with the same content finds each unchanged and keeps them all.
#![no_main]

use arbitrary::Arbitrary;
use hub_core::changes::format::{Decoder, Encoder, SnapshotInfo, MAGIC};
use hub_core::changes::hash::{Fingerprint, KeyHash};
use hub_core::changes::memory::{Decision, Memory};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The first part starts with the magic (most do), or is taken as it is.
    with_magic: bool,
    parts: Vec<Vec<u8>>,
    /// Records the description claims; bounded so that room taken for them stays small (claims
    /// up to `u64::MAX` are in the unit tests).
    records: u16,
    /// Parts it claims; `None`: as many as there are.
    claimed_parts: Option<u8>,
    /// Its checksum; `None`: the right one.
    crc32: Option<u32>,
}

fn encode(memory: Memory) -> (Vec<u8>, SnapshotInfo) {
    let mut encoder = Encoder::new(memory.finish(true));
    let bytes = std::iter::from_fn(|| encoder.next_part()).flatten().collect();
    (bytes, encoder.info())
}

fn records(body: &[u8]) -> impl Iterator<Item = (Option<KeyHash>, Fingerprint)> + '_ {
    body.chunks_exact(11).map(|r| {
        let mut wide = [0u8; 16];
        wide[5..].copy_from_slice(r);
        let both = u128::from_be_bytes(wide) >> 4;
        (
            KeyHash::from_bits((both >> 40) as u64),
            Fingerprint::from_bits((both & ((1 << 40) - 1)) as u64).unwrap(),
        )
    })
}

fuzz_target!(|input: Input| {
    let mut parts = input.parts;
    if input.with_magic {
        match parts.first_mut() {
            Some(first) => *first = [MAGIC.as_slice(), first].concat(),
            None => parts.push(MAGIC.to_vec()),
        }
    }
    let all: Vec<u8> = parts.concat();
    let body = all.get(MAGIC.len()..).unwrap_or_default();
    let info = SnapshotInfo {
        records: u64::from(input.records),
        parts: input
            .claimed_parts
            .map_or(parts.len() as u32, u32::from),
        crc32: input.crc32.unwrap_or_else(|| crc32fast::hash(body)),
    };
    let read = Decoder::new(info).and_then(|mut decoder| {
        for part in &parts {
            decoder.feed(part)?;
        }
        decoder.finish()
    });
    let Ok(mut memory) = read else {
        return;
    };
    assert_eq!(memory.base_len(), info.records);
    for (key, fingerprint) in records(body) {
        assert_eq!(memory.decide(key, fingerprint), Decision::Unchanged);
    }
    let (again, again_info) = encode(memory);
    assert_eq!(again, all);
    assert_eq!(
        (again_info.records, again_info.crc32),
        (info.records, info.crc32)
    );
});
