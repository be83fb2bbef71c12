//! `hub generate-actions (FILE | --builtin) DIR` and its `--terraform` / `--lookml` form.

use std::io::Write;
use std::path::{Path, PathBuf};

use hub_core::declared::{self, emit, Catalog, Diagnostics};

/// Where `hub generate-actions` writes.
struct Targets {
    terraform: Option<PathBuf>,
    lookml: Option<PathBuf>,
    /// The deployable copy of the file (`DIR/actions.yaml`), when generating into one DIR.
    bundle: Option<PathBuf>,
    /// DIR's own terraform/ and lookml/: stale generated files there are removed.
    dedicated: bool,
}

/// Files to write into one folder, and the suffix of the stale ones to remove there.
type FileSet = (PathBuf, Vec<(String, String)>, Option<&'static str>);

const USAGE: &str = "usage: hub generate-actions (FILE | --builtin) DIR\n       hub generate-actions (FILE | --builtin) [--terraform TF_DIR] [--lookml LOOKML_DIR]\n  DIR: writes DIR/terraform/ (tables.json and one BigQuery JSON schema per table, read by\n  terraform's actions_dir), DIR/lookml/ (a log view and a <table>_current view per table; the run\n  ledger's views, explore and dashboard) and DIR/actions.yaml (the file to deploy: icon files\n  inlined); a DIR/terraform/*.json or DIR/lookml/*.view.lkml it did not write (a removed\n  table's) is removed. --builtin: the hub's built-in actions. TF_DIR / LOOKML_DIR: only written\n  to, nothing removed.";

/// `hub generate-actions (FILE | --builtin) DIR`: write the terraform table schemas
/// (`DIR/terraform/`), the LookML views (`DIR/lookml/`) and the deployable copy of the file
/// (`DIR/actions.yaml`, icon files inlined as data URIs); or, with `--terraform` / `--lookml`,
/// only those into the folders given (how the repository's own copies of the built-in's are
/// written). Exit 1 when the file has a problem or a file cannot be written, 2 on a usage error.
pub fn generate_actions(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let Some((file, rest)) = args.split_first() else {
        return usage(err);
    };
    if file == "-h" || file == "--help" {
        return usage(err);
    }
    let Some(targets) = targets(file, rest) else {
        return usage(err);
    };
    let (actions, text) = match load(file) {
        Ok(loaded) => loaded,
        Err(problems) => {
            let _ = write!(err, "{}", problems.render());
            return 1;
        }
    };
    match file_sets(targets, &actions, text) {
        Ok(sets) => write_sets(sets, out, err),
        Err(e) => {
            let _ = writeln!(err, "{file}: {e}");
            1
        }
    }
}

fn usage(err: &mut dyn Write) -> i32 {
    let _ = writeln!(err, "{USAGE}");
    2
}

/// The folders the arguments after FILE name (`None`: a usage error).
fn targets(file: &str, rest: &[String]) -> Option<Targets> {
    if let [dir] = rest {
        if !dir.starts_with("--") {
            let dir = Path::new(dir);
            return Some(Targets {
                terraform: Some(dir.join("terraform")),
                lookml: Some(dir.join("lookml")),
                bundle: (file != "--builtin").then(|| dir.join("actions.yaml")),
                dedicated: true,
            });
        }
    }
    let mut t = Targets {
        terraform: None,
        lookml: None,
        bundle: None,
        dedicated: false,
    };
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--terraform" => &mut t.terraform,
            "--lookml" => &mut t.lookml,
            _ => return None,
        };
        match it.next() {
            Some(d) if slot.is_none() => *slot = Some(d.into()),
            _ => return None,
        }
    }
    (t.terraform.is_some() || t.lookml.is_some()).then_some(t)
}

/// The compiled file and its text (none for `--builtin`; the deployable copy is made from it),
/// or its problems.
fn load(file: &str) -> Result<(Catalog, Option<String>), Diagnostics> {
    if file == "--builtin" {
        return Ok((declared::builtin::catalog(), None));
    }
    let path = Path::new(file);
    let text = declared::source::read(path)?;
    let actions = declared::source::parse(&text, file, path.parent())?;
    Ok((actions, Some(text)))
}

/// What to write where. DIR's own terraform/ and lookml/ are the generator's alone: a file of
/// its kind this run does not write (a table removed from the file) is stale and removed.
/// Folders named with --terraform / --lookml may hold other files (the repository's lookml/
/// does): left alone.
fn file_sets(
    targets: Targets,
    actions: &Catalog,
    text: Option<String>,
) -> Result<Vec<FileSet>, String> {
    let prune = targets.dedicated;
    let mut sets = vec![];
    if let Some(d) = targets.terraform {
        let files = emit::terraform_files(actions);
        sets.push((d, files, prune.then_some(".json")));
    }
    if let Some(d) = targets.lookml {
        let files = emit::lookml_files(actions);
        sets.push((d, files, prune.then_some(".view.lkml")));
    }
    if let (Some(path), Some(text)) = (targets.bundle, text) {
        let bundle = emit::deployable_file(&text, actions)?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        sets.push((dir, vec![("actions.yaml".to_string(), bundle)], None));
    }
    Ok(sets)
}

/// Write every set (an unchanged file is left alone), then remove the stale files.
fn write_sets(sets: Vec<FileSet>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    for (target, files, stale_suffix) in sets {
        let written: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        if let Err(e) = std::fs::create_dir_all(&target) {
            let _ = writeln!(err, "{}: {e}", target.display());
            return 1;
        }
        for (name, text) in files {
            let path = target.join(&name);
            // Unchanged files are left alone (no new mtime for make-like tools and editors).
            if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
                let _ = writeln!(out, "unchanged {}", path.display());
                continue;
            }
            if let Err(e) = std::fs::write(&path, text) {
                let _ = writeln!(err, "{}: {e}", path.display());
                return 1;
            }
            let _ = writeln!(out, "wrote {}", path.display());
        }
        if let Some(suffix) = stale_suffix {
            if let Err(e) = remove_stale(&target, suffix, &written, out) {
                let _ = writeln!(err, "{}: {e}", target.display());
                return 1;
            }
        }
    }
    0
}

/// Remove the regular files of `dir` named `*suffix` that are not among `written`, each printed.
fn remove_stale(
    dir: &Path,
    suffix: &str,
    written: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut stale = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.ends_with(suffix) && entry.file_type()?.is_file() && !written.contains(&name) {
            stale.push(entry.path());
        }
    }
    stale.sort();
    for path in stale {
        std::fs::remove_file(&path)?;
        let _ = writeln!(
            out,
            "removed {} (stale: not generated from this file)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
