//! The documentation checks itself against the repository: every relative link and anchor of the
//! README and of `docs/` resolves, every page of `docs/` that code, scripts or configuration name
//! exists, and every setting the hub reads has exactly one row in a settings table. No network:
//! external links (`https:`, `mailto:`, …) are not followed.
//!
//! Anchors follow GitHub's rules: the heading's text, lower-cased, with every character other than
//! a letter, a digit, `-`, `_` and a space removed, spaces turned into `-`; a repeated heading gets
//! `-1`, `-2`, … in order.
//!
//! A setting is a name the code reads from the environment, found in the code itself (the code of
//! `crates/*/src` without comments, `#[cfg(test)] mod tests { … }` blocks and the files of modules
//! declared `#[cfg(test)] mod NAME;`): every string literal in the hub's own namespaces (`"HUB_…"`,
//! `"OAUTH_…"`, `"RUDDER_…"`, however it reaches the reading call: directly, through a constant or
//! a helper), and every upper-case literal given straight to a reading call (`.get("…")`,
//! `.bool("…"`, `.num("…"`, `.secret_list("…")`, `.var("…")`, `env::var("…")`), which finds the
//! platform's variables the hub reads (`PORT`, …).
//!
//! A setting is documented by a row of a settings table (a table whose header starts with
//! `| variable |`) whose first cell is the name in backticks, `` | `NAME` | default | … | ``.
//! Every setting read has exactly one such row, and every row names a setting the hub reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The pages checked: the README and every Markdown file under `docs/`, by path from the root.
fn pages(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).expect("docs/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf();
                out.insert(
                    rel,
                    std::fs::read_to_string(&path).expect("a readable page"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    out.insert(PathBuf::from("README.md"), readme);
    walk(root, &root.join("docs"), &mut out);
    out
}

/// The lines of a page outside fenced code blocks, with their line numbers (from 1).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((n + 1, line)),
            _ => {}
        }
    }
    out
}

/// GitHub's anchor of a heading's text (see the module comment).
fn slug(heading: &str) -> String {
    static LINK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"!?\[([^\]]*)\]\([^)]*\)").unwrap());
    let text = LINK.replace_all(heading, "$1").to_lowercase();
    text.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a page has: one per heading, repeated headings numbered as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    static HEADING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$").unwrap());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        if let Some(c) = HEADING.captures(line) {
            let base = slug(&c[1]);
            let count = seen.entry(base.clone()).or_insert(0);
            out.insert(if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            });
            *count += 1;
        }
    }
    out
}

/// The link targets of a page, with their line numbers: inline links and images `[t](target)`
/// and reference definitions `[t]: target`, outside code blocks and code spans.
fn links(text: &str) -> Vec<(usize, String)> {
    static CODE_SPAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`+[^`]*`+").unwrap());
    static INLINE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)"#).unwrap());
    static DEFINITION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)").unwrap());
    let mut out = Vec::new();
    for (n, line) in prose_lines(text) {
        let line = CODE_SPAN.replace_all(line, "");
        for c in INLINE.captures_iter(&line) {
            out.push((n, c[1].to_string()));
        }
        if let Some(c) = DEFINITION.captures(&line) {
            out.push((n, c[1].to_string()));
        }
    }
    out
}

/// `a/b/../c` → `a/c`; `None` when the path leaves the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Every link of `pages` that does not resolve: a missing file (asked with `exists`, the path from
/// the root) or a missing anchor of a page.
fn broken_links(pages: &BTreeMap<PathBuf, String>, exists: impl Fn(&Path) -> bool) -> Vec<String> {
    static SCHEME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*:").unwrap());
    let anchors_of: BTreeMap<&PathBuf, BTreeSet<String>> =
        pages.iter().map(|(p, text)| (p, anchors(text))).collect();
    let mut problems = Vec::new();
    for (page, text) in pages {
        for (n, target) in links(text) {
            if SCHEME.is_match(&target) {
                continue;
            }
            let at = format!("{}:{n}: {target}", page.display());
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                Some(page.clone())
            } else {
                normalize(&page.parent().unwrap_or(Path::new("")).join(path))
            };
            let Some(file) = file.filter(|f| pages.contains_key(f) || exists(f)) else {
                problems.push(format!("{at}: no such file"));
                continue;
            };
            let Some(anchor) = anchor else { continue };
            match anchors_of.get(&file) {
                Some(known) if known.contains(anchor) => {}
                Some(_) => {
                    problems.push(format!("{at}: {} has no heading #{anchor}", file.display()))
                }
                None => problems.push(format!(
                    "{at}: an anchor into a file that is not a checked page"
                )),
            }
        }
    }
    problems
}

/// The code of a source file without comment lines and without its `#[cfg(test)] mod tests`
/// (rustfmt closes a top-level module with a `}` alone on a line).
fn code_of(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.starts_with("mod tests")) {
            if lines.next().is_some_and(|l| l.ends_with('{')) {
                lines.by_ref().find(|l| *l == "}");
            }
            continue;
        }
        if !line.trim_start().starts_with("//") {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// The settings a piece of code reads (see the module comment).
fn settings_read(code: &str) -> BTreeSet<String> {
    static OWN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""((?:HUB|OAUTH|RUDDER)_[A-Z0-9_]+)""#).unwrap());
    static READ: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?:\.(?:get|bool|num|secret_list|var)|env::var)\(\s*"([A-Z][A-Z0-9_]*)""#)
            .unwrap()
    });
    let code = code_of(code);
    OWN.captures_iter(&code)
        .chain(READ.captures_iter(&code))
        .map(|c| c[1].to_string())
        .collect()
}

/// The files of the modules a source file declares test-only (`#[cfg(test)] mod NAME;`): the
/// module's file and its folder.
fn test_only_modules(file: &Path, code: &str) -> Vec<PathBuf> {
    static TEST_MOD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^\s*#\[cfg\(test\)\]\s*\n\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
            .unwrap()
    });
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let parent = file.parent().unwrap_or(Path::new(""));
    let dir = match stem {
        "mod" | "lib" | "main" => parent.to_path_buf(),
        _ => parent.join(stem),
    };
    TEST_MOD
        .captures_iter(code)
        .flat_map(|c| [dir.join(format!("{}.rs", &c[1])), dir.join(&c[1])])
        .collect()
}

/// The settings the code under `src` folders reads, test-only modules left out.
fn settings_in_sources(srcs: &[PathBuf]) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a readable source folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for src in srcs {
        walk(src, &mut files);
    }
    let code: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("a readable source file");
            (f, text)
        })
        .collect();
    let test_only: Vec<PathBuf> = code
        .iter()
        .flat_map(|(f, text)| test_only_modules(f, text))
        .collect();
    code.iter()
        .filter(|(f, _)| !test_only.iter().any(|t| f.starts_with(t)))
        .flat_map(|(_, text)| settings_read(text))
        .collect()
}

/// The settings the hub's code reads: the `src` folder of every crate.
fn settings_in_code(root: &Path) -> BTreeSet<String> {
    let srcs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|krate| krate.expect("a crate").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    settings_in_sources(&srcs)
}

/// The names of the rows of a page's settings tables, with their line numbers.
fn settings_rows(text: &str) -> Vec<(usize, String)> {
    static HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\|\s*variable\s*\|").unwrap());
    static ROW: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\|\s*`([^`]+)`\s*\|").unwrap());
    let mut out = Vec::new();
    let mut in_table = false;
    for (n, line) in prose_lines(text) {
        if !line.starts_with('|') {
            in_table = false;
        } else if HEADER.is_match(line) {
            in_table = true;
        } else if in_table {
            if let Some(c) = ROW.captures(line) {
                out.push((n, c[1].to_string()));
            }
        }
    }
    out
}

/// What is wrong between the settings read and the rows of the pages: a setting without a row, a
/// setting with several, a row for a name the code does not read.
fn settings_problems(read: &BTreeSet<String>, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (page, text) in pages {
        for (n, name) in settings_rows(text) {
            rows.entry(name)
                .or_default()
                .push(format!("{}:{n}", page.display()));
        }
    }
    let mut problems = Vec::new();
    for name in read {
        match rows.get(name).map(Vec::len) {
            None => problems.push(format!(
                "{name} is read by the hub but has no row in a settings table (docs/settings.md)"
            )),
            Some(1) => {}
            Some(_) => problems.push(format!(
                "{name} has several rows: {} (keep one)",
                rows[name].join(", ")
            )),
        }
    }
    for (name, at) in &rows {
        if !read.contains(name) {
            problems.push(format!(
                "{}: {name} has a row but the hub does not read it",
                at.join(", ")
            ));
        }
    }
    problems
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = repo_root();
    let pages = pages(&root);
    assert!(pages.len() > 1, "the README and the pages of docs/");
    let problems = broken_links(&pages, |p| root.join(p).exists());
    assert!(
        problems.is_empty(),
        "links that do not resolve:\n{}",
        problems.join("\n")
    );
}

/// Where the repository's code, scripts and configuration live (build output and installed tools
/// left out): the files that may name a page of `docs/`.
const SOURCE_FOLDERS: &[&str] = &[
    ".ci",
    ".config",
    "apigee",
    "crates",
    "deploy",
    "examples",
    "fuzz/fuzz_targets",
    "fuzz/seeds",
    "fuzz/src",
    "lookml",
    "scripts",
    "terraform",
];

/// Every `docs/….md` a text file under `folders` (but `skip`) names that is not a checked page.
fn pages_named_but_missing(
    root: &Path,
    folders: &[&str],
    skip: &Path,
    pages: &BTreeMap<PathBuf, String>,
) -> Vec<String> {
    static NAMED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\bdocs/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b").unwrap());
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for folder in folders {
        walk(&root.join(folder), &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let at = file.strip_prefix(root).expect("under the root");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // not text
        };
        if at == skip {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            for named in NAMED.find_iter(line) {
                if !pages.contains_key(Path::new(named.as_str())) {
                    let (at, named) = (at.display(), named.as_str());
                    problems.push(format!("{at}:{}: {named} is not a page", n + 1));
                }
            }
        }
    }
    problems
}

#[test]
fn every_page_the_code_scripts_and_configuration_name_exists() {
    let root = repo_root();
    let this_file = Path::new("crates/core/tests/docs.rs"); // its examples name missing pages
    let problems = pages_named_but_missing(&root, SOURCE_FOLDERS, this_file, &pages(&root));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_page_named_in_a_source_file_that_does_not_exist_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("terraform")).unwrap();
    std::fs::write(
        dir.path().join("terraform/main.tf"),
        "# See docs/deployment.md.\n# and docs/gone.md, \"State\"\n",
    )
    .unwrap();
    let pages: BTreeMap<PathBuf, String> =
        [(PathBuf::from("docs/deployment.md"), String::new())].into();
    assert_eq!(
        pages_named_but_missing(dir.path(), &["terraform", "absent"], Path::new(""), &pages),
        ["terraform/main.tf:2: docs/gone.md is not a page"]
    );
}

#[test]
fn every_setting_the_hub_reads_is_documented_exactly_once() {
    let root = repo_root();
    let read = settings_in_code(&root);
    // The scan must see each way a setting is read: a literal in a reading call, a platform
    // variable, one passed through a constant, one read straight from the process environment.
    for name in ["HUB_TOKENS", "PORT", "RUDDER_SOURCES", "HUB_PLAYGROUND"] {
        assert!(
            read.contains(name),
            "the source scan misses {name}: {read:?}"
        );
    }
    let problems = settings_problems(&read, &pages(&root));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_follow_githubs_rules() {
    let text = "# Your own actions (`HUB_ACTIONS_FILE`)\n\
                ## Embedded store durability (`synchronous=FULL`)\n\
                ### The current state: \"what is the latest decision for order 42?\"\n\
                ## Notes\n## Notes\n## Notes ##\n\
                ## See [Logins](#logins) — twice\n\
                ```sh\n# a shell comment, not a heading\n```\n\
                #not-a-heading\n";
    let got: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(
        got,
        [
            "embedded-store-durability-synchronousfull",
            "notes",
            "notes-1",
            "notes-2",
            "see-logins--twice",
            "the-current-state-what-is-the-latest-decision-for-order-42",
            "your-own-actions-hub_actions_file",
        ]
    );
}

#[test]
fn a_missing_file_or_anchor_is_reported_with_its_line() {
    let pages: BTreeMap<PathBuf, String> = [
        (
            PathBuf::from("README.md"),
            "# Hub\n[ok](docs/a.md#part-two) [ok](#hub) [web](https://example.com/x#y)\n\
             [gone](docs/b.md) [no anchor](docs/a.md#part-three)\n\
             `[in code](nowhere.md)`\n![picture](docs/p.png) [folder](docs/)\n"
                .to_string(),
        ),
        (
            PathBuf::from("docs/a.md"),
            "# A\n## Part two\n[back](../README.md#hub) [up and out](../../x.md) [self](#a)\n\
             [ref]: ../README.md#nothing\n"
                .to_string(),
        ),
    ]
    .into();
    let on_disk = |p: &Path| p == Path::new("docs/p.png") || p == Path::new("docs");
    assert_eq!(
        broken_links(&pages, on_disk),
        [
            "README.md:3: docs/b.md: no such file",
            "README.md:3: docs/a.md#part-three: docs/a.md has no heading #part-three",
            "docs/a.md:3: ../../x.md: no such file",
            "docs/a.md:4: ../README.md#nothing: README.md has no heading #nothing",
        ]
    );
}

#[test]
fn the_source_scan_finds_settings_read_every_way_and_skips_tests_and_comments() {
    let code = r#"
pub const SETTING: &str = "RUDDER_SOURCES";
fn load(v: &Vars) {
    let port: u16 = v.num("PORT", 8080)?;
    let url = provider_url("OAUTH_AUTH_URL", GOOGLE_AUTH_URL);
    let filter = v
        .get("RUST_LOG");
    let project = std::env::var("GOOGLE_CLOUD_PROJECT");
    let not_a_setting = v.get("name");
    let version = env!("CARGO_PKG_VERSION");
}
// "HUB_IN_A_COMMENT" is not read
#[cfg(test)]
mod tests {
    fn t() { with(&[("HUB_ONLY_IN_TESTS", "1")]); }
}
"#;
    let got: Vec<String> = settings_read(code).into_iter().collect();
    assert_eq!(
        got,
        [
            "GOOGLE_CLOUD_PROJECT",
            "OAUTH_AUTH_URL",
            "PORT",
            "RUDDER_SOURCES",
            "RUST_LOG"
        ]
    );
}

#[test]
fn a_missing_repeated_or_stale_settings_row_is_reported() {
    let read: BTreeSet<String> = ["PORT", "HUB_TOKENS", "HUB_LABEL"].map(String::from).into();
    let pages: BTreeMap<PathBuf, String> = [
        (
            PathBuf::from("docs/settings.md"),
            "| variable | default | meaning |\n|---|---|---|\n\
             | `PORT` | `8080` | port |\n| `HUB_TOKENS` | — | tokens |\n| `HUB_GONE` | — | x |\n"
                .to_string(),
        ),
        (
            PathBuf::from("docs/other.md"),
            "| variable | default | meaning |\n|---|---|---|\n| `HUB_TOKENS` | — | again |\n\n\
             | setting | what |\n|---|---|\n| `HUB_LABEL` | not a settings table |\n"
                .to_string(),
        ),
    ]
    .into();
    assert_eq!(
        settings_problems(&read, &pages),
        [
            "HUB_LABEL is read by the hub but has no row in a settings table (docs/settings.md)",
            "HUB_TOKENS has several rows: docs/other.md:3, docs/settings.md:4 (keep one)",
            "docs/settings.md:5: HUB_GONE has a row but the hub does not read it",
        ]
    );
}

#[test]
fn a_module_declared_for_tests_only_is_not_read_for_settings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("declared/tests")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
    write(
        "lib.rs",
        "mod declared;\n#[cfg(test)]\npub(crate) mod testing;\n",
    );
    write("testing.rs", "const A: &str = \"HUB_STAND_IN\";\n");
    write(
        "declared/mod.rs",
        "fn f(v: &Vars) { v.get(\"HUB_READ\"); }\n#[cfg(test)]\nmod tests;\n",
    );
    write(
        "declared/tests/mod.rs",
        "const B: &str = \"HUB_RECORD_IN_TESTS\";\n",
    );
    let got: Vec<String> = settings_in_sources(&[src]).into_iter().collect();
    assert_eq!(got, ["HUB_READ"]);
}
