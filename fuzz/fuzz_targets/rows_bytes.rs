//! The streaming json_detail reader over arbitrary bytes (as pushed, and base64-encoded): it never
//! panics or hangs, and it agrees with serde reading the same bytes as one whole document — a valid
//! document yields exactly its header and rows, an invalid one ends with an error.
#![no_main]

use base64::Engine as _;
use bytes::Bytes;
use hub_core::rows::RowSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, doc)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // The document as pushed.
        0 => {
            let bytes = Bytes::copy_from_slice(doc);
            let got = hub_fuzz::drain(RowSource::Bytes(bytes.clone()));
            hub_fuzz::check_against_reference(doc, &got);
            // The RudderStack pipeline's way: raw rows, each parsed on its own.
            let raw = hub_fuzz::drain_raw(RowSource::Bytes(bytes));
            hub_fuzz::check_against_reference(doc, &raw);
        }
        // The same document base64-encoded (`;base64` mimetype), wrapped at 76 columns.
        1 => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(doc);
            let wrapped: Vec<u8> = b64
                .as_bytes()
                .chunks(76)
                .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
                .collect();
            let got = hub_fuzz::drain(RowSource::Base64(Bytes::from(wrapped)));
            hub_fuzz::check_against_reference(doc, &got);
        }
        // Arbitrary text where base64 is expected.
        _ => {
            let got = hub_fuzz::drain(RowSource::Base64(Bytes::copy_from_slice(doc)));
            if got.error.is_none() {
                assert!(got.header.is_some());
            }
        }
    }
});
