//! The hub's outgoing HTTPS: rustls with the ring provider and the system's certificate store.
//! A RudderStack data plane on 127.0.0.1 speaks TLS with a certificate made for the test: trusted
//! (through `SSL_CERT_FILE`, which the system store honours) every event arrives over TLS; not
//! trusted, the delivery stops at once and says why, with nothing sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hub_core::routes::Function;

use crate::download;
use crate::helpers::TestHub;
use crate::support::rudder::{execute_raw, outcome, parse, request, Source, FAST_RETRIES};

/// A data plane behind TLS: answers `200 OK` to every request and counts the events it got.
struct TlsPlane {
    url: String,
    cert_pem: String,
    requests: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
}

fn tls_plane() -> TlsPlane {
    hub_core::gcp::install_crypto();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let (requests, events) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, e) = (requests.clone(), events.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, r, e) = (config.clone(), r.clone(), e.clone());
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
                // One request per connection is enough; the hub opens another when needed.
                let mut length = 0;
                let mut gzip = false;
                loop {
                    let mut line = String::new();
                    if tls.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // handshake refused by the hub, or the connection closed
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    gzip |= lower.starts_with("content-encoding:") && lower.contains("gzip");
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                if tls.read_exact(&mut body).is_err() {
                    return;
                }
                if gzip {
                    let mut plain = vec![];
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                    body = plain;
                }
                let batch: serde_json::Value = serde_json::from_slice(&body).unwrap();
                r.fetch_add(1, Ordering::SeqCst);
                e.fetch_add(batch["batch"].as_array().unwrap().len(), Ordering::SeqCst);
                let tls = tls.get_mut();
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    TlsPlane {
        url,
        cert_pem: cert.pem(),
        requests,
        events,
    }
}

#[tokio::test]
async fn an_https_data_plane_with_a_trusted_certificate_gets_every_event() {
    let plane = tls_plane();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &plane.cert_pem).unwrap();
    // The system store honours SSL_CERT_FILE; nextest runs each test in its own process.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let mut settings = FAST_RETRIES.to_vec();
    settings.push(("RUDDER_MAX_BATCH_EVENTS", "50"));
    let hub = TestHub::spawn_with(&settings, Function::ALL).await;
    let doc = download::users_result(120, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (status, text) = execute_raw(&hub, "rudder_event", &body, "webhook-tls").await;
    let (ok, message) = outcome(&parse(&text));
    assert_eq!(status, 200);
    assert!(ok, "{message}");
    assert_eq!(message, "sent 120 of 120 events to RudderStack");
    assert_eq!(plane.events.load(Ordering::SeqCst), 120);
    assert_eq!(plane.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_untrusted_certificate_stops_the_delivery_and_says_why() {
    let plane = tls_plane();
    let mut settings = FAST_RETRIES.to_vec();
    settings.push(("RUDDER_MAX_BATCH_EVENTS", "10"));
    let hub = TestHub::spawn_with(&settings, Function::ALL).await;
    let doc = download::users_result(100, 3);
    let body = request(&plane.url, Source::Base64(&doc), &[], None);
    let (_, text) = execute_raw(&hub, "rudder_event", &body, "webhook-untrusted").await;
    let (ok, message) = outcome(&parse(&text));
    assert!(!ok, "{message}");
    assert!(
        message.starts_with("sent 0 of 100 events to RudderStack"),
        "{message}"
    );
    assert!(
        message.contains("TLS: invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
    assert!(message.contains("refused the delivery"), "{message}");
    // Not retried five times per batch: the first attempts show the certificate is refused.
    assert_eq!(plane.requests.load(Ordering::SeqCst), 0);
    assert!(!message.contains("after 5 attempts"), "{message}");
}
