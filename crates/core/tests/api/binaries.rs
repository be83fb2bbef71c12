//! The real binaries: each serves only its own routes on $PORT and stops on SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{client, HubProcess, TOKEN};

pub(crate) fn bin_dir() -> PathBuf {
    // tests run from target/<profile>/deps; the binaries are in target/<profile>.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(bin: &str) -> HubProcess {
    HubProcess::start_bin(bin, &[]).await
}

async fn status(c: &reqwest::Client, method: &str, url: String) -> u16 {
    let req = if method == "GET" {
        c.get(url)
    } else {
        c.post(url).json(&json!({"data": {"value": "1"}}))
    };
    req.header("Authorization", format!("Token token=\"{TOKEN}\""))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_binary_serves_only_its_own_routes() {
    let c = client();
    let all: &[(&str, &str)] = &[
        ("POST", "/"),
        ("POST", "/actions/mark_suspicious"),
        ("POST", "/actions/mark_suspicious/form"),
        ("POST", "/actions/mark_suspicious/execute"),
        ("GET", "/actions/mark_suspicious/oauth"),
        ("GET", "/actions/mark_suspicious/oauth_redirect"),
        ("GET", "/oauth_redirect"),
        ("POST", "/actions/mark_suspicious/oauth_token"),
    ];
    // Looker's OAuth v2 code exchange is the form's (hub token), not the browser callback's.
    let own: &[(&str, &[usize])] = &[
        ("actions_list", &[0, 1]),
        ("action_form", &[2, 7]),
        ("action_execute", &[3]),
        ("oauth_initiate", &[4]),
        ("oauth_callback", &[5, 6]),
        ("hub", &[0, 1, 2, 3, 4, 5, 6, 7]),
    ];
    for (bin, mine) in own {
        let mut running = start(bin).await;
        for (i, (method, path)) in all.iter().enumerate() {
            let s = status(&c, method, format!("{}{path}", running.base)).await;
            if mine.contains(&i) {
                assert_ne!(s, 404, "{bin} must serve {method} {path}");
            } else {
                assert_eq!(s, 404, "{bin} must not serve {method} {path}");
            }
        }
        // SIGTERM: the process stops by itself, cleanly.
        running.sigterm();
        let exit = running.exit_within(Duration::from_secs(15)).await;
        assert!(exit.success(), "{bin} exit status {exit:?}");
    }
}

#[tokio::test]
async fn a_binary_without_tokens_refuses_to_start() {
    let path = bin_dir().join("hub");
    assert!(path.exists(), "build the binaries first");
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(&path)
        .env_clear()
        .env("PORT", free_port().to_string())
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HUB_TOKENS"), "{err}");
    // Refused before anything was touched: no embedded store (data/writeback.sqlite) created.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the refused start left files behind"
    );
}

#[tokio::test]
async fn an_invalid_public_url_refuses_the_start_with_what_to_write() {
    let path = bin_dir().join("hub");
    assert!(path.exists(), "build the binaries first");
    for (public_url, reason) in [
        (
            "hub.example.com",
            "not an absolute URL (relative URL without a base)",
        ),
        ("ftp://hub.example.com", "must be an http(s) URL"),
        (
            "https://hub.example.com/?x=1",
            "must be a base URL without query, fragment or user info",
        ),
    ] {
        let out = tokio::process::Command::new(&path)
            .env_clear()
            .env("PORT", free_port().to_string())
            .env("HUB_TOKENS", TOKEN)
            .env("HUB_PUBLIC_URL", public_url)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{public_url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("HUB_PUBLIC_URL is invalid: {reason}")),
            "{public_url}: {err}"
        );
    }
}

#[tokio::test]
async fn the_browser_facing_oauth_functions_start_without_hub_tokens() {
    for bin in ["oauth_initiate", "oauth_callback"] {
        // An empty value is no value.
        let running = HubProcess::start_bin(bin, &[("HUB_TOKENS", "")]).await;
        let r = client()
            .get(format!("{}/healthz", running.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{bin}");
    }
}

#[tokio::test]
async fn help_prints_the_usage_and_an_unknown_argument_refuses_the_start() {
    for (bin, args, code, stream, wanted) in [
        (
            "hub",
            "--help",
            0,
            "stdout",
            "usage: hub [--local]\n       hub check-actions FILE...",
        ),
        (
            "action_form",
            "-h",
            0,
            "stdout",
            "usage: action_form [--local]\n",
        ),
        (
            "hub",
            "--locl",
            2,
            "stderr",
            "action hub: unknown argument \"--locl\"",
        ),
    ] {
        let out = tokio::process::Command::new(bin_dir().join(bin))
            .env_clear()
            .arg(args)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{bin} {args}");
        let text = String::from_utf8_lossy(if stream == "stdout" {
            &out.stdout
        } else {
            &out.stderr
        })
        .to_string();
        assert!(text.contains(wanted), "{bin} {args}: {text}");
    }
}
