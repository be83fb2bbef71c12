//! The Looker hosts user tokens may be sent to, and the check of Looker's URLs against them.

use std::net::IpAddr;

use url::Url;

/// The Looker hosts user tokens may be sent to (`HUB_LOOKER_HOSTS`): `host`, `host:port` or
/// `*.domain` (any subdomain). URLs must be https, except on loopback hosts (local runs).
#[derive(Debug, Clone, Default)]
pub struct LookerHosts(Vec<HostPattern>);

#[derive(Debug, Clone)]
struct HostPattern {
    /// Lower-case host, or the `.domain` suffix of a wildcard.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

/// A Looker URL the hub refuses to call or redirect to. Safe to show (no URL parts but the host).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    /// Not an absolute http(s) URL.
    #[error("the Looker state URL is not a valid URL")]
    NotAUrl,
    /// http to a non-loopback host, or credentials in the URL.
    #[error("the Looker state URL must use https")]
    Insecure,
    /// Not on a configured Looker host.
    #[error("{0} is not a configured Looker host (HUB_LOOKER_HOSTS); nothing was sent there")]
    Foreign(String),
}

impl LookerHosts {
    /// Parse a comma-separated list; the error names the bad entry (host names are not secret).
    pub fn parse(list: &str) -> Result<LookerHosts, String> {
        let mut out = vec![];
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let entry = raw
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let (wildcard, rest) = match entry.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, entry.as_str()),
            };
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                    h,
                    Some(
                        p.parse::<u16>()
                            .map_err(|_| format!("bad port in {raw:?}"))?,
                    ),
                ),
                _ => (rest, None),
            };
            if host.is_empty() || host.contains(['/', '@', '*', '?', '#']) {
                return Err(format!("{raw:?} is not a host name"));
            }
            let host = if wildcard {
                format!(".{host}")
            } else {
                host.to_string()
            };
            out.push(HostPattern {
                host,
                wildcard,
                port,
            });
        }
        if out.is_empty() {
            return Err("no host given".into());
        }
        Ok(LookerHosts(out))
    }

    /// The URL, if the hub may send a user's tokens to it (or redirect a browser there).
    pub fn check(&self, raw: &str) -> Result<Url, HostRefused> {
        let url = Url::parse(raw).map_err(|_| HostRefused::NotAUrl)?;
        let host = url
            .host_str()
            .ok_or(HostRefused::NotAUrl)?
            .to_ascii_lowercase();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostRefused::Insecure);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(HostRefused::Insecure),
            _ => return Err(HostRefused::NotAUrl),
        }
        let port = url.port_or_known_default();
        let allowed = self.0.iter().any(|p| {
            let host_ok = if p.wildcard {
                host.ends_with(&p.host)
            } else {
                host == p.host
            };
            host_ok && p.port.is_none_or(|want| Some(want) == port)
        });
        if allowed {
            Ok(url)
        } else {
            Err(HostRefused::Foreign(host))
        }
    }
}

pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
