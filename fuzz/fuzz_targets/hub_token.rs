//! The hub-token header parser and check: no header value of any shape panics, a refused header is
//! refused for the right reason, and what is accepted is exactly a configured secret (plain or in
//! the reference hub's `nonce/hex(HMAC-SHA512)` form).
#![no_main]

use arbitrary::Arbitrary;
use hub_core::auth::{parse_token_header, reference_hub_token, AuthError, HubTokens};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    secrets: Vec<&'a str>,
    header: &'a [u8],
    nonce: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let secrets: Vec<&str> = input.secrets.iter().take(4).copied().collect();
    let tokens = HubTokens::new(
        secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect(),
    );

    // Arbitrary bytes.
    let parsed = parse_token_header(input.header);
    match tokens.check_header(Some(input.header)) {
        Ok(()) => {
            let token = parsed.expect("an accepted header parses");
            let plain = secrets
                .iter()
                .any(|s| !s.is_empty() && s.as_bytes() == token);
            let hmac = std::str::from_utf8(token).ok().is_some_and(|t| {
                // Hex digits are accepted in either case.
                t.rsplit_once('/').is_some_and(|(nonce, _)| {
                    secrets.iter().any(|s| {
                        !s.is_empty() && reference_hub_token(s, nonce).eq_ignore_ascii_case(t)
                    })
                })
            });
            assert!(
                plain || hmac,
                "accepted a token that is no configured secret"
            );
        }
        Err(AuthError::Malformed) => assert!(parsed.is_err()),
        Err(AuthError::Invalid) => assert!(parsed.is_ok()),
        Err(AuthError::Missing) => panic!("a present header is never missing"),
    }

    // Every configured secret that fits the header grammar is accepted, plain and HMAC-signed.
    let fits = |t: &str| !t.is_empty() && t.len() <= 4096 && !t.contains('"');
    for s in &secrets {
        if fits(s) {
            let h = format!("Token token=\"{s}\"");
            assert_eq!(
                tokens.check_header(Some(h.as_bytes())),
                Ok(()),
                "secret refused"
            );
        }
        if !s.is_empty() && fits(input.nonce) {
            let t = reference_hub_token(s, input.nonce);
            if fits(&t) {
                let h = format!("Token token=\"{t}\"");
                assert_eq!(
                    tokens.check_header(Some(h.as_bytes())),
                    Ok(()),
                    "HMAC form refused"
                );
            }
        }
    }
});
