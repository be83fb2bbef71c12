//! The `HUB_OUTBOUND_ALLOW` parser and the address check: no text panics; a parsed policy checks
//! any address without panicking; public addresses are always allowed; an allowed non-public
//! address stays allowed when written as IPv4-mapped IPv6; the parse is stable (parsing the same
//! text twice gives the same policy) and a refusal always names the setting.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use hub_core::net::{OutboundPolicy, ALLOW_SETTING};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    text: &'a str,
    v4: [u8; 4],
    v6: [u8; 16],
    host: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(policy) = OutboundPolicy::parse(input.text) else {
        return;
    };
    assert_eq!(OutboundPolicy::parse(input.text).ok(), Some(policy.clone()));
    let v4 = Ipv4Addr::from(input.v4);
    let v6 = Ipv6Addr::from(input.v6);
    for ip in [IpAddr::V4(v4), IpAddr::V6(v6)] {
        let public = OutboundPolicy::public_only().check_ip(ip).is_ok();
        if public {
            assert!(policy.check_ip(ip).is_ok(), "a public address refused: {ip}");
        }
        match policy.check(input.host, ip) {
            Ok(()) => {}
            Err(refused) => assert!(refused.to_string().contains(ALLOW_SETTING)),
        }
    }
    // The same IPv4 address written as IPv6 gets the same answer.
    assert_eq!(
        policy.check_ip(IpAddr::V4(v4)).is_ok(),
        policy.check_ip(IpAddr::V6(v4.to_ipv6_mapped())).is_ok()
    );
});
