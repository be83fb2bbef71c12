//! Headless Chromium for the browser tests: Debian's `chromium` driven by the npm playwright-core
//! scripts of `scripts/browser/` (`HUB_BROWSER_MODULES`, set up by scripts/services/browser.sh).

use std::time::Duration;

use serde_json::Value;

/// Run the browser script `scripts/browser/<script>` with `args`, for at most `secs` seconds;
/// its one JSON line.
pub(crate) async fn run_browser_script(script: &str, args: &[&str], secs: u64) -> Value {
    let modules = std::env::var("HUB_BROWSER_MODULES").unwrap_or_else(|_| {
        panic!(
            "HUB_BROWSER_MODULES is not set: the browser tests need headless Chromium and \
             playwright-core. Run scripts/test.sh, or first: eval \"$(bash scripts/services/browser.sh)\""
        )
    });
    let script = format!(
        "{}/../../scripts/browser/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::time::timeout(
        Duration::from_secs(secs),
        tokio::process::Command::new("node")
            .arg(&script)
            .args(args)
            .env("HUB_BROWSER_MODULES", modules)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("the browser finishes within {secs} s"))
    .expect("node runs (is it installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser script failed ({}): {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Where the browser tests put their screenshots (`HUB_ARTEFACTS_DIR`; git-ignored).
pub(crate) fn artefacts() -> String {
    std::env::var("HUB_ARTEFACTS_DIR")
        .unwrap_or_else(|_| format!("{}/../../.services/artefacts", env!("CARGO_MANIFEST_DIR")))
}
