//! Checks of the module structure (docs/architecture.md): actions and the OAuth client know no
//! HTTP, the top-level modules import each other only as the module map allows, with no cycle,
//! and the files of one module import each other without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module map: each top-level module of `crates/core/src` and the modules it may import
/// (`crate::<module>`). The module map of docs/architecture.md says the same (checked below).
const ALLOWED: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("config", &[]),
    ("routes", &[]),
    ("meta", &[]),
    ("auth", &[]),
    ("retry", &[]),
    ("email", &[]),
    ("capacity", &["config"]),
    ("changes", &["api", "capacity", "config", "net", "retry"]),
    ("net", &[]),
    ("gcp", &["net"]),
    ("rows", &["api", "net"]),
    ("sinks", &["config", "gcp", "retry"]),
    (
        "rudder",
        &["changes", "config", "net", "retry", "rows", "secrets"],
    ),
    ("secrets", &["config", "gcp", "retry"]),
    (
        "actions",
        &[
            "api", "changes", "meta", "net", "routes", "rows", "rudder", "sinks",
        ],
    ),
    (
        "declared",
        &["actions", "api", "changes", "email", "rows", "sinks"],
    ),
    ("error", &["auth", "rudder"]),
    ("lifecycle", &["actions", "api", "capacity", "error"]),
    (
        "oauth",
        &[
            "actions", "api", "config", "email", "net", "routes", "secrets", "sinks",
        ],
    ),
    (
        "settings",
        &[
            "capacity", "changes", "config", "error", "net", "oauth", "routes", "rudder",
            "secrets", "sinks",
        ],
    ),
    ("telemetry", &["settings"]),
    (
        "hub",
        &[
            "actions",
            "api",
            "auth",
            "capacity",
            "changes",
            "declared",
            "gcp",
            "lifecycle",
            "meta",
            "net",
            "oauth",
            "retry",
            "rudder",
            "secrets",
            "settings",
            "sinks",
        ],
    ),
    (
        "http",
        &[
            "actions",
            "api",
            "capacity",
            "error",
            "hub",
            "lifecycle",
            "meta",
            "oauth",
            "routes",
            "settings",
            "sinks",
        ],
    ),
    (
        "startup",
        &["http", "hub", "retry", "routes", "settings", "telemetry"],
    ),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`actions/rudder.rs` → `actions`).
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix(src_dir()).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The code of a file without comment lines and without its `#[cfg(test)] mod tests` (a
/// `tests.rs` file is such a module in its own file: no code of the module). Only the test module
/// goes: code after it is read too. rustfmt closes a top-level module with a `}` alone on a line.
fn code_of(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]" {
            match lines.peek() {
                Some(next) if next.starts_with("mod tests;") => {
                    lines.next();
                    continue;
                }
                Some(next) if next.starts_with("mod tests {") => {
                    for inner in lines.by_ref() {
                        if inner == "}" {
                            break;
                        }
                    }
                    continue;
                }
                _ => {}
            }
        }
        if !line.trim_start().starts_with("//") {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// The `crate::<module>` references of a piece of code, including `use crate::{a, b::c}`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// The import graph among the top-level modules (constants like `crate::HUB_NAME` are skipped).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = top_module(&file);
        if module == "lib" || module == "architecture" {
            continue;
        }
        let refs = crate_refs(&code_of(&file));
        let entry = graph.entry(module.clone()).or_default();
        for r in refs {
            if r != module && r.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                entry.insert(r);
            }
        }
    }
    graph
}

#[test]
fn only_the_test_module_is_left_out_of_a_files_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.rs");
    std::fs::write(
        &file,
        "use crate::a::X;\n#[cfg(test)]\nmod tests {\n    use crate::b::Y;\n    fn f() {\n    }\n}\n\n// crate::c in a comment\npub struct Z(crate::d::W);\n#[cfg(test)]\nmod tests;\nuse crate::e;\n",
    )
    .unwrap();
    let refs: Vec<String> = crate_refs(&code_of(&file)).into_iter().collect();
    assert_eq!(refs, ["a", "d", "e"]);
}

#[test]
fn actions_oauth_and_declared_name_no_http_framework() {
    let mut files = Vec::new();
    rust_files(&src_dir().join("actions"), &mut files);
    rust_files(&src_dir().join("oauth"), &mut files);
    rust_files(&src_dir().join("declared"), &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            if line.contains("actix")
                || line.contains("HttpRequest")
                || line.contains("HttpResponse")
            {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "actions/, oauth/ and declared/ must not know the HTTP framework (that is `crate::http`'s):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn top_level_modules_import_only_what_the_module_map_allows() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let graph = import_graph();
    let mut problems = Vec::new();
    for (module, deps) in &graph {
        let Some(ok) = allowed.get(module.as_str()) else {
            problems.push(format!("module {module} is not in the module map"));
            continue;
        };
        for d in deps {
            if !ok.contains(d.as_str()) {
                problems.push(format!(
                    "{module} imports {d}, which the module map does not allow"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_map_has_no_import_cycle() {
    // Kahn's algorithm on the allowed imports: a cycle leaves modules that never reach in-degree 0.
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    for deps in pending.values() {
        for d in deps {
            assert!(
                ALLOWED.iter().any(|(m, _)| m == d),
                "{d} is allowed as an import but is not in the module map"
            );
        }
    }
    loop {
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(m, _)| *m)
            .collect();
        if ready.is_empty() {
            break;
        }
        for m in ready {
            pending.remove(m);
            for deps in pending.values_mut() {
                deps.remove(m);
            }
        }
    }
    assert!(
        pending.is_empty(),
        "import cycle among: {:?}",
        pending.keys().collect::<Vec<_>>()
    );
}

/// The module map as docs/architecture.md writes it: its table's rows
/// `` | `module` | owns | `a`, `b` | `` (`—` for none).
fn documented_module_map() -> BTreeMap<String, BTreeSet<String>> {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let text = std::fs::read_to_string(&page).expect("docs/architecture.md");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("| module | owns | may import |"));
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .map(|n| n.trim().trim_matches('`').to_string())
            .filter(|n| !n.is_empty() && n != "—")
            .collect()
    };
    lines.next();
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let module = cells[0].trim_matches('`').to_string();
            (module, names(cells.last().expect("a may-import cell")))
        })
        .collect()
}

#[test]
fn the_documented_module_map_is_the_one_checked() {
    let documented = documented_module_map();
    let mut problems = Vec::new();
    for (module, deps) in ALLOWED {
        let deps: BTreeSet<String> = deps.iter().map(|d| d.to_string()).collect();
        match documented.get(*module) {
            None => problems.push(format!("{module}: not in the page's module map")),
            Some(written) if *written != deps => problems.push(format!(
                "{module}: the page says it may import {written:?}, ALLOWED says {deps:?}"
            )),
            Some(_) => {}
        }
    }
    for module in documented.keys() {
        if !ALLOWED.iter().any(|(m, _)| m == module) {
            problems.push(format!("{module}: on the page, not in ALLOWED"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md's module map and ALLOWED differ (change them together):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_import_scanner_sees_grouped_and_path_imports() {
    let refs = crate_refs("use crate::{api::X, sinks};\nlet a = crate::net::Http::new();");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["api", "net", "sinks"]
    );
}

/// A file's place in the module tree: `rudder/mapping.rs` → (`["rudder"]`, `"mapping"`);
/// `rudder/mod.rs` → (`[]`, `"rudder"`), as `crate::rudder` is the module itself.
fn module_path(path: &Path) -> (Vec<String>, String) {
    let rel = path.strip_prefix(src_dir()).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().expect("a file name");
    match file.trim_end_matches(".rs") {
        "mod" => {
            let own = parts.pop().expect("mod.rs in a folder");
            (parts, own)
        }
        name => (parts, name.to_string()),
    }
}

/// The top-level items of a `{ … }` group (`a::{B, C}, d` → `a::{B, C}`, `d`).
fn group_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(group[start..].trim());
    items.retain(|i| !i.is_empty());
    items
}

/// The text of a path that follows `at` in `code`: idents and `::`, and one `{ … }` group.
fn path_text(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..=i];
                }
            }
            c if depth > 0 || c.is_ascii_alphanumeric() || c == '_' || c == ':' => {}
            _ => return &rest[..i],
        }
    }
    rest
}

/// Every absolute path (`crate` first) that `path` names, relative to module `base`: a group
/// gives one path per item.
fn expand(base: &[String], path: &str, out: &mut Vec<Vec<String>>) {
    let mut segs = base.to_vec();
    let mut rest = path;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.strip_suffix('}').unwrap_or(group);
            for item in group_items(inner) {
                expand(&segs, item, out);
            }
            return;
        }
        let (seg, tail) = rest.split_once("::").unwrap_or((rest, ""));
        let seg = seg.split_whitespace().next().unwrap_or("");
        match seg {
            "" => break,
            "super" => {
                segs.pop();
            }
            "self" => {}
            s => segs.push(s.to_string()),
        }
        if tail.is_empty() {
            break;
        }
        rest = tail;
    }
    out.push(segs);
}

/// The items a module's `mod.rs` re-exports from its files: item name → file (`pub use
/// client::{DataPlane, …}` makes `crate::rudder::DataPlane` a use of `client`).
fn reexports(code: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in code.split(';') {
        let line = line.trim();
        let Some(used) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let Some((file, items)) = used.split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in group_items(items) {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            let name = name.rsplit("::").next().unwrap_or(name).trim();
            out.insert(name.to_string(), file.trim().to_string());
        }
    }
    out
}

/// Per module folder (`rudder`, `sinks/bigquery`), the imports among its files other than
/// `mod.rs` (the module itself: it declares its files and re-exports them, they use it): file →
/// the sibling files it names, through a path (`super::report::plural`, `crate::rudder::mapping`)
/// or an item `mod.rs` re-exports from it.
fn file_graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut siblings: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut exported: BTreeMap<Vec<String>, BTreeMap<String, String>> = BTreeMap::new();
    for file in &files {
        let (parent, own) = module_path(file);
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            let mut module = parent.clone();
            module.push(own.clone());
            exported.insert(module, reexports(&code_of(file)));
        }
        if !parent.is_empty() {
            siblings.entry(parent).or_default().insert(own);
        }
    }
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let (parent, own) = module_path(file);
        if parent.is_empty() || file.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        let code = code_of(file);
        let mut here = parent.clone();
        here.push(own.clone());
        let mut paths = Vec::new();
        for prefix in ["crate::", "super::"] {
            for (i, _) in code.match_indices(prefix) {
                if code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                {
                    continue;
                }
                let base = if prefix == "crate::" {
                    &[][..]
                } else {
                    &here[..]
                };
                let text = path_text(&code, i);
                let text = if prefix == "crate::" {
                    &text["crate::".len()..]
                } else {
                    text
                };
                expand(base, text, &mut paths);
            }
        }
        let names = &siblings[&parent];
        let re = exported.get(&parent);
        let deps = graph
            .entry(parent.join("/"))
            .or_default()
            .entry(own.clone())
            .or_default();
        for p in paths {
            let Some(next) = p.strip_prefix(&parent[..]).and_then(|rest| rest.first()) else {
                continue;
            };
            let target = match re.and_then(|r| r.get(next)) {
                Some(file) => file,
                None => next,
            };
            if target != &own && names.contains(target) {
                deps.insert(target.clone());
            }
        }
    }
    graph
}

/// The imports of `graph` that lie on a circle (both ends reach each other), as
/// `folder/importer.rs → folder/imported.rs` pairs relative to `src/`.
fn circle_edges(
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (folder, files) in graph {
        let reaches = |from: &str, to: &str| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.to_string()];
            while let Some(f) = todo.pop() {
                if f == to {
                    return true;
                }
                if seen.insert(f.clone()) {
                    todo.extend(files.get(&f).into_iter().flatten().cloned());
                }
            }
            false
        };
        for (file, deps) in files {
            for d in deps {
                if reaches(d, file) {
                    out.push((format!("{folder}/{file}.rs"), format!("{folder}/{d}.rs")));
                }
            }
        }
    }
    out
}

#[test]
fn the_files_of_a_module_import_each_other_without_a_circle() {
    let circles: Vec<String> = circle_edges(&file_graph())
        .into_iter()
        .map(|(a, b)| {
            format!("{a} imports {b}, which imports it back (directly or through others)")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles between files of one module:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_file_scanner_follows_super_crate_groups_and_reexports() {
    let mut paths = Vec::new();
    let here = ["rudder".to_string(), "naming".to_string()];
    expand(
        &here,
        "super::{report::plural, mapping::{A, B}}",
        &mut paths,
    );
    expand(&[], "rudder::client::Tally", &mut paths);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "rudder::report::plural",
            "rudder::mapping::A",
            "rudder::mapping::B",
            "rudder::client::Tally"
        ]
    );
    let re = reexports(
        "pub use client::{DataPlane, DataPlaneError as E};\npub use report::DeliveryReport;",
    );
    assert_eq!(re.get("E").map(String::as_str), Some("client"));
    assert_eq!(re.get("DeliveryReport").map(String::as_str), Some("report"));
    let code = "use super::report::plural;\nlet x = crate::rudder::mapping::Call::Track;";
    assert_eq!(
        path_text(code, code.find("crate::").unwrap()),
        "crate::rudder::mapping::Call::Track"
    );
}
