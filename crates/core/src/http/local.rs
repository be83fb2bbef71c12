//! Local mode answers this machine only. Its hub token is public (the dev token, written into the
//! playground page), so a hub in local mode must not answer a request meant for another host: a
//! web page can point a name it controls at 127.0.0.1 (DNS rebinding) and then call the hub as
//! the same origin. Such a request carries the page's host name, so requests are answered only
//! when every host they name (`Host`, or the authority of an absolute or HTTP/2 request target)
//! is a loopback name or the host of `HUB_PUBLIC_URL`. `X-Forwarded-Host` and `Forwarded` are
//! never read here: a page can set them.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use crate::api::ErrorBody;
use crate::hub::Hub;

/// What a request for another host is told (the host it named is not repeated).
pub const MISDIRECTED: &str = "this hub runs in local mode and answers only requests addressed to \
     this machine (localhost, 127.0.0.1, [::1]) or to the host of HUB_PUBLIC_URL";

/// Whether `host` (a `Host` value: a name or address, with or without a port) names this machine
/// or `public_host`.
pub fn allowed_host(host: &str, public_host: Option<&str>) -> bool {
    let name = host_without_port(host.trim());
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    let loopback_name = name == "localhost" || name.ends_with(".localhost");
    let loopback_ip = name
        .trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    let public = public_host.is_some_and(|p| {
        let p = p.strip_suffix('.').unwrap_or(p);
        p.eq_ignore_ascii_case(&name)
    });
    loopback_name || loopback_ip || public
}

/// `name:port` → `name`, `[v6]:port` → `[v6]`; a name without a port unchanged.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        // A bare IPv6 address (no brackets) has several colons: not a name with a port.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Every host the request names: the request target's authority and the `Host` header (each
/// `None` when absent); `None` overall when a `Host` header is not text.
fn named_hosts(req: &ServiceRequest) -> Option<Vec<String>> {
    let mut hosts = Vec::with_capacity(2);
    if let Some(authority) = req.uri().authority() {
        hosts.push(authority.as_str().to_string());
    }
    for value in req.headers().get_all(actix_web::http::header::HOST) {
        hosts.push(value.to_str().ok()?.to_string());
    }
    Some(hosts)
}

/// The middleware: in local mode, a request that names no host, or a host other than this
/// machine's or `HUB_PUBLIC_URL`'s, is answered 421 Misdirected Request before any route runs.
pub async fn this_machine_only(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = req.app_data::<web::Data<Hub>>().is_some_and(|hub| {
        if !hub.settings.local {
            return false;
        }
        let public = hub.settings.public_url.url().host_str();
        match named_hosts(&req) {
            Some(hosts) => hosts.is_empty() || !hosts.iter().all(|h| allowed_host(h, public)),
            None => true,
        }
    });
    if refused {
        tracing::warn!(
            http.path = %req.path(),
            "local mode: request for another host refused (DNS rebinding?)"
        );
        let resp = super::json_response(
            StatusCode::MISDIRECTED_REQUEST,
            &ErrorBody {
                error: MISDIRECTED.into(),
            },
        );
        return Ok(req.into_response(resp).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_the_public_host_are_this_machine() {
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.:8080",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.8.9.10:1",
            "[::1]",
            "[::1]:8080",
            "hub.test:8080",
            "HUB.test",
        ] {
            assert!(allowed_host(ok, Some("hub.test")), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.5:8080",
            "0.0.0.0:8080",
            "[::ffff:127.0.0.1]:8080",
            "[::2]:8080",
            "hub.test.evil:8080",
            "localhost:80:80",
        ] {
            assert!(!allowed_host(bad, Some("hub.test")), "{bad}");
        }
        assert!(!allowed_host("hub.test", None));
    }
}
