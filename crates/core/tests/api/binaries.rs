//! The real binaries: each serves only its own routes on $PORT and stops on SIGTERM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{client, TOKEN};

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

struct Running {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

async fn start(bin: &str) -> Running {
    start_with(bin, Some(TOKEN)).await
}

async fn start_with(bin: &str, token: Option<&str>) -> Running {
    let path = bin_dir().join(bin);
    assert!(
        path.exists(),
        "binary {} not found: build the binaries first (`cargo build --workspace --bins`, done by scripts/test.sh)",
        path.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = tokio::process::Command::new(&path);
    cmd.env_clear();
    if let Some(t) = token {
        cmd.env("HUB_TOKENS", t);
    }
    let child = cmd
        .env("PORT", port.to_string())
        .env("HUB_BIND", "127.0.0.1")
        .env("HUB_STORE_PATH", dir.path().join("s.sqlite"))
        .env("HUB_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    for _ in 0..100 {
        if c.get(format!("{base}/healthz")).send().await.is_ok() {
            return Running {
                child,
                base,
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bin} did not start on port {port}");
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
    ];
    let own: &[(&str, &[usize])] = &[
        ("actions_list", &[0, 1]),
        ("action_form", &[2]),
        ("action_execute", &[3]),
        ("oauth_initiate", &[4]),
        ("oauth_callback", &[5]),
        ("hub", &[0, 1, 2, 3, 4, 5]),
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
        let pid = running.child.id().unwrap() as i32;
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let exit = tokio::time::timeout(Duration::from_secs(15), running.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(exit.success(), "{bin} exit status {exit:?}");
    }
}

#[tokio::test]
async fn a_binary_without_tokens_refuses_to_start() {
    let path = bin_dir().join("hub");
    assert!(path.exists(), "build the binaries first");
    let out = tokio::process::Command::new(&path)
        .env_clear()
        .env("PORT", free_port().to_string())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HUB_TOKENS"), "{err}");
}

#[tokio::test]
async fn the_browser_only_oauth_initiate_starts_without_hub_tokens() {
    let running = start_with("oauth_initiate", None).await;
    let r = client()
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
