//! Outgoing HTTP: the one place that builds the client every outgoing call of the hub uses (data
//! planes, `download_url`, Looker's `state_url`, the OAuth token endpoint), and the policy of where
//! that client may connect.
//!
//! Whoever holds the hub token chooses some of these URLs (a data plane URL, a download URL), so
//! the client must not become a way to probe the hub's network:
//! - redirects are not followed (a 3xx is reported as such) and no `Referer` is sent;
//! - every new connection goes to an address the [`OutboundPolicy`] allows: host names through a
//!   resolver that drops refused addresses (so DNS rebinding cannot bypass the check), literal IP
//!   URLs in [`Http::request`];
//! - a peer's reply body is read up to [`PEER_BODY_MAX`] bytes and only logged (size-capped),
//!   never put into an answer or a page.
//!
//! The Google client libraries (BigQuery, Secret Manager) use their own clients to fixed Google
//! endpoints; this policy is not theirs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// The setting that lets the hub call non-public addresses.
pub const ALLOW_SETTING: &str = "HUB_OUTBOUND_ALLOW";

/// Most bytes of a peer's reply body the hub reads (the rest is not read).
pub const PEER_BODY_MAX: usize = 16 * 1024;

/// Most characters of a peer's reply body written to the log.
pub const PEER_BODY_LOGGED: usize = 1024;

/// Longest entry list accepted in [`ALLOW_SETTING`] (a setting, not a database).
const MAX_ENTRIES: usize = 256;

/// Which non-public addresses the hub may call: networks (`10.0.0.0/8`, `127.0.0.1`) and host
/// names (`rudder.internal.example`, allowed whatever they resolve to). Public addresses are
/// always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

/// Why an [`OutboundPolicy`] cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl OutboundPolicy {
    /// Nothing but public addresses.
    pub fn public_only() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    /// Public addresses and this machine (`127.0.0.0/8`, `::1`): local mode.
    pub fn loopback() -> OutboundPolicy {
        OutboundPolicy::parse("127.0.0.0/8,::1").unwrap_or_default()
    }

    /// Parse a comma-separated list of CIDR networks, IP addresses and host names.
    pub fn parse(text: &str) -> Result<OutboundPolicy, PolicyError> {
        let mut policy = OutboundPolicy::default();
        for (i, entry) in text.split(',').map(str::trim).enumerate() {
            if i >= MAX_ENTRIES {
                return Err(PolicyError(format!("more than {MAX_ENTRIES} entries")));
            }
            if entry.is_empty() {
                continue;
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.nets.push(net.trunc());
            } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                policy.nets.push(IpNet::from(canonical(ip)));
            } else if is_host_name(entry) {
                policy
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                let shown: String = entry.chars().take(64).collect();
                return Err(PolicyError(format!(
                    "{shown:?} is neither a network (10.0.0.0/8), an IP address nor a host name"
                )));
            }
        }
        Ok(policy)
    }

    /// This policy plus another's entries.
    pub fn union(mut self, other: &OutboundPolicy) -> OutboundPolicy {
        self.nets.extend(other.nets.iter().copied());
        self.hosts.extend(other.hosts.iter().cloned());
        self
    }

    /// Whether a host name is allowed whatever it resolves to.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// `Ok` for a public address or one the policy names; else the kind of address it is. An IPv6
    /// address that embeds IPv4 addresses ([`embedded_ipv4`]) is refused when one of them is
    /// (by the IPv4 rules) unless the policy names that IPv4 address or the IPv6 address itself.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = canonical(ip);
        let named = |a: IpAddr| self.nets.iter().any(|n| n.contains(&a));
        if let Some(kind) = non_public(ip) {
            if !named(ip) {
                return Err(kind);
            }
        }
        if let IpAddr::V6(v6) = ip {
            for v4 in embedded_ipv4(v6).into_iter().flatten() {
                match non_public(IpAddr::V4(v4)) {
                    Some(kind) if !named(IpAddr::V4(v4)) && !named(ip) => return Err(kind),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Check a connection to `host` at `ip`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allows_host(host) {
            return Ok(());
        }
        self.check_ip(ip).map_err(|kind| Refused {
            host: host.chars().take(253).collect(),
            addr: canonical(ip),
            kind,
        })
    }
}

/// A letters-digits-dots-hyphens name (what DNS can resolve).
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        || s.ends_with('.') && s.len() > 1 && is_host_name(&s[..s.len() - 1])
}

/// An IPv6 address that only spells an IPv4 address is that IPv4 address: IPv4-mapped
/// (`::ffff:0:0/96`), IPv4-translated (`::ffff:0:0:0/96`), IPv4-compatible (`::/96`, deprecated)
/// and the NAT64 well-known prefix (`64:ff9b::/96`).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let aliased = matches!(
        s[..6],
        [0, 0, 0, 0, 0, 0xffff] | [0, 0, 0, 0, 0xffff, 0] | [0x64, 0xff9b, 0, 0, 0, 0]
    ) || s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
    if aliased {
        IpAddr::V4(last_32_bits(v6))
    } else {
        ip
    }
}

fn last_32_bits(v6: std::net::Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// The IPv4 addresses an IPv6 address carries to a tunnel or translator, which is where a
/// connection to it ends up: 6to4 (`2002::/16`, bits 16..48), Teredo (`2001::/32`: the server at
/// bits 32..64, the client bit-inverted in the last 32 bits) and ISATAP (an interface identifier
/// `0:5efe` / `200:5efe` followed by the IPv4 address).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let o = v6.octets();
    let s = v6.segments();
    let at = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    if s[0] == 0x2002 {
        [Some(at(2)), None]
    } else if s[..2] == [0x2001, 0] {
        let client = Ipv4Addr::from(!u32::from(last_32_bits(v6)));
        [Some(at(4)), Some(client)]
    } else if s[4] & 0xfcff == 0 && s[5] == 0x5efe {
        [Some(last_32_bits(v6)), None]
    } else {
        [None, None]
    }
}

/// What kind of non-public address `ip` is, if it is one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        // 169.254.169.254 is the metadata server of Google Cloud (and others).
        Some("link-local (metadata server)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if v4.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 192 && b == 0 && c == 0 {
        Some("IETF protocol")
    } else if a == 198 && (b & 0xfe) == 18 {
        Some("benchmarking")
    } else if matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)) {
        Some("documentation")
    } else if (a, b, c) == (192, 88, 99) {
        // The deprecated 6to4 relay anycast prefix: a relay, not a destination.
        Some("6to4 relay")
    } else {
        None
    }
}

fn non_public_v6(v6: std::net::Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    if v6.is_loopback() {
        Some("loopback")
    } else if v6.is_unspecified() {
        Some("unspecified")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if v6.is_multicast() {
        Some("multicast or reserved")
    } else if s[..3] == [0x64, 0xff9b, 1] {
        // Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's
        // prefix length (RFC 6052), so it cannot be checked; it is never a public destination.
        Some("local-use NAT64")
    } else if s[..2] == [0x64, 0xff9b] {
        // The rest of 64:ff9b::/32 but the well-known /96 (an alias, see `canonical`).
        Some("reserved (NAT64)")
    } else if s[..4] == [0x100, 0, 0, 0] {
        Some("discard-only")
    } else if s[..2] == [0x2001, 0xdb8] || s[0] == 0x3fff && s[1] < 0x1000 {
        Some("documentation")
    } else if s[..3] == [0x2001, 2, 0] {
        Some("benchmarking")
    } else {
        None
    }
}

/// A connection the policy refused: which host, which address, what kind, and the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    host: String,
    addr: IpAddr,
    kind: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = if self.host == self.addr.to_string() {
            self.host.clone()
        } else {
            format!("{} ({})", self.host, self.addr)
        };
        let article = if self.kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        write!(
            f,
            "{target} is {article} {} address, which the hub does not call unless {ALLOW_SETTING} names it",
            self.kind
        )
    }
}

impl std::error::Error for Refused {}

/// Resolves host names with the system resolver and drops the addresses the policy refuses; every
/// new connection resolves again, so a name that later points inside is refused then too.
struct PolicyResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(&host, a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(r)) => {
                    tracing::warn!(refused = %r, "outgoing connection refused");
                    Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The hub's outgoing HTTP client with its address policy.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    read_timeout: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Http {
    /// Build the client: rustls, no redirects, no `Referer`, the policy's resolver, timeouts.
    pub fn new(policy: OutboundPolicy, read_timeout: Duration) -> Result<Http, String> {
        // reqwest's rustls needs the process's crypto provider (ring) before a client is built.
        install_crypto();
        let policy = Arc::new(policy);
        let client = Http::client(&policy, read_timeout, true)?;
        Ok(Http {
            client,
            policy,
            read_timeout,
        })
    }

    /// The same client, except that every request opens a new connection: for a one-time,
    /// non-idempotent request (Looker's `state_url`) that must not go on a kept-alive connection
    /// the peer may be closing, since once written it cannot be sent again.
    pub fn fresh_connections(&self) -> Result<Http, String> {
        Ok(Http {
            client: Http::client(&self.policy, self.read_timeout, false)?,
            policy: self.policy.clone(),
            read_timeout: self.read_timeout,
        })
    }

    fn client(
        policy: &Arc<OutboundPolicy>,
        read_timeout: Duration,
        reuse_connections: bool,
    ) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder();
        if !reuse_connections {
            builder = builder.pool_max_idle_per_host(0);
        }
        builder
            .user_agent(format!("{}/{}", crate::HUB_NAME, crate::HUB_VERSION))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .connect_timeout(Duration::from_secs(10))
            // A peer that stops sending (a stalled download_url) fails the read instead of hanging.
            .read_timeout(read_timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))
    }

    /// The address policy.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// A request to `url`, refused at once when its host is a literal IP address the policy does
    /// not allow (names are checked by the resolver, on every new connection).
    pub fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> Result<reqwest::RequestBuilder, Refused> {
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.policy
                .check(&ip.to_string(), ip)
                .inspect_err(|r| tracing::warn!(refused = %r, "outgoing connection refused"))?;
        }
        Ok(self.client.request(method, url))
    }

    /// Check up front where a request to `url` would go (the resolver checks again on every
    /// connection): a refused address gives a clear error before any work is done. A name that
    /// does not resolve passes: the request itself reports that.
    pub async fn preflight(&self, url: &url::Url) -> Result<(), Refused> {
        self.preflight_inner(url)
            .await
            .inspect_err(|r| tracing::warn!(refused = %r, "outgoing connection refused"))
    }

    async fn preflight_inner(&self, url: &url::Url) -> Result<(), Refused> {
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => return self.policy.check(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.policy.check(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => d.to_string(),
            None => return Ok(()),
        };
        if self.policy.allows_host(&host) {
            return Ok(());
        }
        let Ok(found) = tokio::net::lookup_host((host.as_str(), 0)).await else {
            return Ok(());
        };
        let mut refused = None;
        for addr in found {
            match self.policy.check(&host, addr.ip()) {
                Ok(()) => return Ok(()),
                Err(r) => refused = refused.or(Some(r)),
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// [`Http::request`] with GET.
    pub fn get(&self, url: url::Url) -> Result<reqwest::RequestBuilder, Refused> {
        self.request(reqwest::Method::GET, url)
    }

    /// [`Http::request`] with POST.
    pub fn post(&self, url: url::Url) -> Result<reqwest::RequestBuilder, Refused> {
        self.request(reqwest::Method::POST, url)
    }
}

/// The refusal inside a request error, if the policy refused the connection.
pub fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        cause = err.source();
    }
    None
}

/// What the user is told about a 3xx answer.
pub fn redirect_message(status: u16) -> String {
    format!("the server answered a redirect ({status}), which the hub does not follow")
}

/// Read at most [`PEER_BODY_MAX`] bytes of a reply body (the rest is dropped unread with the
/// connection) and log them, size-capped, under `peer`. The text is for the log only: it never
/// goes into an answer or a page.
pub async fn log_reply_body(peer: &str, mut resp: reqwest::Response) {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = PEER_BODY_MAX - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let text: String = String::from_utf8_lossy(&body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(PEER_BODY_LOGGED)
        .collect();
    tracing::info!(
        peer,
        status,
        body_bytes_read = body.len(),
        truncated,
        body = %text,
        "peer answered with an error"
    );
}

/// Read a whole reply body of at most `limit` bytes; `None` when it is longer (or breaks off).
pub async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return None;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Some(body),
            Err(_) => return None,
        }
    }
}

/// Install rustls' ring crypto provider once. The Google crates are built without their default
/// provider (aws-lc, a C build) and use whichever provider the process installed.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error only means another provider is installed already: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Why a connection could not be made, named without any URL (a `download_url` is a one-time
/// credential): `connection refused`, `TLS: invalid peer certificate: UnknownIssuer`, a DNS
/// failure… The flag says whether the peer's TLS certificate was refused, or the address policy
/// refused the address — a setting to fix (a wrong host name, a private CA, `HUB_OUTBOUND_ALLOW`),
/// not worth retrying.
pub fn connect_cause(e: &reqwest::Error) -> (String, bool) {
    if let Some(refused) = refusal(e) {
        // The address policy refused the connection: a setting to change, not worth retrying.
        return (refused.to_string(), true);
    }
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    let mut last = None;
    while let Some(err) = cause {
        // rustls' error arrives wrapped in an io::Error, itself wrapped in another.
        let mut tls = err.downcast_ref::<rustls::Error>();
        let mut io = err.downcast_ref::<std::io::Error>();
        while let (None, Some(inner)) = (tls, io.and_then(|i| i.get_ref())) {
            tls = inner.downcast_ref::<rustls::Error>();
            io = inner.downcast_ref::<std::io::Error>();
        }
        if let Some(tls) = tls {
            let certificate = matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
            return (format!("TLS: {tls}"), certificate);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return ("connection refused".into(), false);
            }
        }
        last = Some(err);
        cause = err.source();
    }
    // The innermost cause, unless it is the request error itself (whose text names the URL).
    match last
        .filter(|c| !std::ptr::addr_eq(*c, e))
        .map(|c| c.to_string())
    {
        Some(text) if !text.is_empty() && !text.contains("://") => {
            (text.chars().take(160).collect(), false)
        }
        _ => ("connection failed".into(), false),
    }
}

/// A reqwest error without its URL: URLs may be credentials (a `download_url` is one-time).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("connection failed: {}", connect_cause(e).0)
    } else if let Some(status) = e.status() {
        format!("HTTP {}", status.as_u16())
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused_by_default() {
        let p = OutboundPolicy::public_only();
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local (metadata server)"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local (metadata server)"),
            ("64:ff9b::a00:1", "private"),
            ("fd00:ec2::254", "private (unique local)"),
        ] {
            assert_eq!(p.check_ip(ip(addr)), Err(kind), "{addr}");
        }
        for addr in [
            "8.8.8.8",
            "142.250.74.78",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",
        ] {
            assert_eq!(p.check_ip(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn every_ipv6_form_that_embeds_ipv4_is_checked_as_that_ipv4_address() {
        let p = OutboundPolicy::public_only();
        for (addr, kind) in [
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::ffff:0:a9fe:a9fe", "link-local (metadata server)"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:a9fe:a9fe::", "link-local (metadata server)"),
            // Teredo: server 10.0.0.1; client 127.0.0.1 stored bit-inverted.
            ("2001:0:a00:1::", "private"),
            ("2001:0:808:808:0:0:80ff:fffe", "loopback"),
            ("2001:4860:0:1:0:5efe:c0a8:101", "private"),
            ("2001:4860:0:1:200:5efe:7f00:1", "loopback"),
            ("64:ff9b:1::808:808", "local-use NAT64"),
            ("64:ff9b:2::808:808", "reserved (NAT64)"),
            ("2001:db8::1", "documentation"),
            ("100::1", "discard-only"),
            ("198.18.0.1", "benchmarking"),
            ("203.0.113.9", "documentation"),
        ] {
            assert_eq!(p.check_ip(ip(addr)), Err(kind), "{addr}");
        }
        for addr in [
            "::ffff:0:8.8.8.8",
            "2002:808:808::1",
            "2001:0:808:808:0:0:f7f7:f7f7",
            "2001:4860:0:1:0:5efe:808:808",
        ] {
            assert_eq!(p.check_ip(ip(addr)), Ok(()), "{addr}");
        }
        // Local mode allows the loopback embeddings; naming the IPv6 address allows it too.
        let lo = OutboundPolicy::loopback();
        assert_eq!(lo.check_ip(ip("::ffff:0:127.0.0.1")), Ok(()));
        assert_eq!(lo.check_ip(ip("2002:7f00:1::1")), Ok(()));
        assert_eq!(lo.check_ip(ip("64:ff9b:1::7f00:1")), Err("local-use NAT64"));
        let named = OutboundPolicy::parse("64:ff9b:1::/48,2002:a00:1::/48").unwrap();
        assert_eq!(named.check_ip(ip("64:ff9b:1::a00:1")), Ok(()));
        assert_eq!(named.check_ip(ip("2002:a00:1::5")), Ok(()));
    }

    #[test]
    fn the_allowlist_names_networks_addresses_and_hosts() {
        let p = OutboundPolicy::parse(" 10.0.0.0/8, 127.0.0.1 ,[::1], Rudder.Internal. ,").unwrap();
        assert_eq!(p.check_ip(ip("10.9.9.9")), Ok(()));
        assert_eq!(p.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check_ip(ip("127.0.0.2")), Err("loopback"));
        assert_eq!(p.check_ip(ip("::1")), Ok(()));
        assert_eq!(p.check_ip(ip("::ffff:10.0.0.1")), Ok(()));
        assert!(p.check("rudder.internal", ip("192.168.0.1")).is_ok());
        let r = p.check("other.internal", ip("192.168.0.1")).unwrap_err();
        assert_eq!(
            r.to_string(),
            "other.internal (192.168.0.1) is a private address, which the hub does not call \
             unless HUB_OUTBOUND_ALLOW names it"
        );
        let lo = OutboundPolicy::loopback();
        assert_eq!(lo.check_ip(ip("127.8.0.1")), Ok(()));
        assert_eq!(lo.check_ip(ip("10.0.0.1")), Err("private"));
        for bad in ["10.0.0.0/33", "http://x", "a b", "x/8", "1.2.3.4:80"] {
            let e = OutboundPolicy::parse(bad).unwrap_err().to_string();
            assert!(e.contains("neither"), "{bad}: {e}");
        }
        assert_eq!(
            OutboundPolicy::parse("").unwrap(),
            OutboundPolicy::default()
        );
    }
}
