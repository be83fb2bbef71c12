//! `hub generate-actions` writes what it is asked, where, and only that.

use std::path::{Path, PathBuf};

use hub_core::declared::{self, emit};

use super::generate_actions;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example_dir() -> PathBuf {
    repo().join("examples/actions")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (vec![], vec![]);
    let code = generate_actions(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// A table removed from the file: `FILE DIR` removes its stale `DIR/terraform/<t>.json` and
/// `DIR/lookml/<t>.view.lkml` (each printed), and nothing else; `--lookml` / `--terraform`
/// folders (the repository's lookml/ holds hand-written views) are only written to.
#[test]
fn generate_actions_into_dir_removes_the_files_of_removed_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let text = std::fs::read_to_string(repo().join("examples/actions/retail.yaml")).unwrap();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, text.replace("icon: icons/reorder.svg", "")).unwrap();
    let file = file.display().to_string();
    let (code, _, err) = run(&[&file, &d("r")]);
    assert_eq!(code, 0, "{err}");
    let r = dir.path().join("r");
    // Files the generator does not make, in its folders: never removed.
    for keep in [
        "terraform/notes.txt",
        "lookml/orders.model.lkml",
        "lookml/x.view.lkml.bak",
    ] {
        std::fs::write(r.join(keep), "mine").unwrap();
    }
    std::fs::create_dir(r.join("lookml/sub.view.lkml")).unwrap();
    let before = |sub: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(r.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let (tf, lk) = (before("terraform"), before("lookml"));
    // The same file with the first action (and its table) gone.
    let parsed =
        declared::source::parse(&text.replace("icon: icons/reorder.svg", ""), "a", None).unwrap();
    let first = &parsed.actions[0].table.name;
    let second_at = text.find("\n  - name: ").unwrap();
    let rest = &text[text[second_at + 1..].find("\n  - name: ").unwrap() + second_at + 1..];
    std::fs::write(
        &file,
        format!("{}{rest}", &text[..second_at]).replace("icon: icons/reorder.svg", ""),
    )
    .unwrap();
    let (code, out, err) = run(&[&file, &d("r")]);
    assert_eq!(code, 0, "{err}");
    let removed: Vec<&str> = out.lines().filter(|l| l.starts_with("removed ")).collect();
    let gone = [
        format!("terraform/{first}.json"),
        format!("lookml/{first}.view.lkml"),
    ];
    assert_eq!(removed.len(), gone.len(), "{out}");
    for g in &gone {
        assert!(!r.join(g).exists(), "{g}");
        assert!(
            out.contains(&format!("removed {}", r.join(g).display())),
            "{out}"
        );
    }
    let after_tf: Vec<String> = tf
        .into_iter()
        .filter(|f| !gone.contains(&format!("terraform/{f}")))
        .collect();
    let after_lk: Vec<String> = lk
        .into_iter()
        .filter(|f| !gone.contains(&format!("lookml/{f}")))
        .collect();
    assert_eq!(
        (before("terraform"), before("lookml")),
        (after_tf, after_lk)
    );

    // --lookml into a shared folder: a view the run does not write stays.
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/orders.view.lkml"), "mine").unwrap();
    let (code, out, _) = run(&[
        "--builtin",
        "--lookml",
        &d("shared"),
        "--terraform",
        &d("shared"),
    ]);
    assert_eq!(code, 0);
    assert!(!out.contains("removed"), "{out}");
    assert!(dir.path().join("shared/orders.view.lkml").is_file());
}

/// `hub generate-actions`: FILE DIR writes the three parts; --builtin with --terraform /
/// --lookml writes only those; a second run leaves unchanged files alone; usage errors exit 2,
/// a file with problems 1 (its problems on stderr, nothing written).
#[test]
fn generate_actions_command_writes_what_it_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let retail = repo()
        .join("examples/actions/retail.yaml")
        .display()
        .to_string();
    let (code, out, err) = run(&[&retail, &d("r")]);
    assert_eq!(code, 0, "{err}");
    // 3 tables, the 2 of the run ledger and the manifest; 3 views and the ledger's 2 views,
    // explore and dashboard; the actions file.
    assert_eq!(out.matches("wrote ").count(), 14, "{out}");
    for f in [
        "terraform/tables.json",
        "lookml/review_flags.view.lkml",
        "actions.yaml",
    ] {
        assert!(dir.path().join("r").join(f).is_file(), "{f}");
    }
    let (code, out, _) = run(&[&retail, &d("r")]);
    assert_eq!((code, out.matches("unchanged ").count()), (0, 14), "{out}");

    let (code, out, err) = run(&["--builtin", "--terraform", &d("tf")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("wrote ").count(), 5, "{out}");
    assert!(!dir.path().join("lookml").exists() && !dir.path().join("actions.yaml").exists());

    for bad in [
        &[][..],
        &["--builtin"][..],
        &["--builtin", "--terraform"][..],
        &["--builtin", "--terraform", "a", "--terraform", "b"][..],
        &["--builtin", "--what", "a"][..],
        &["--builtin", "a", "b"][..],
    ] {
        let (code, _, err) = run(bad);
        assert_eq!(code, 2, "{bad:?}");
        assert!(
            err.starts_with("usage: hub generate-actions"),
            "{bad:?}: {err}"
        );
    }

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "actions:\n  - name: a\n    lable: A\n").unwrap();
    let (code, out, err) = run(&[broken.to_str().unwrap(), &d("b")]);
    assert_eq!(code, 1);
    assert!(
        out.is_empty()
            && err.contains(&format!(
                "error: unknown key `lable` in an action\n --> {}:3:5\n",
                broken.display()
            )),
        "{err}"
    );
    assert!(err.contains("  = help: did you mean `label`?\n"), "{err}");
    assert!(!dir.path().join("b").exists());
}

#[test]
fn generate_actions_writes_the_generators_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = example_dir().join("retail.yaml");
    let args = [
        file.to_str().unwrap().to_string(),
        dir.path().to_str().unwrap().to_string(),
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(generate_actions(&args, &mut out, &mut err), 0);
    let parsed = declared::load(&file).unwrap();
    let want: Vec<_> = emit::terraform_files(&parsed)
        .into_iter()
        .map(|f| ("terraform", f))
        .chain(
            emit::lookml_files(&parsed)
                .into_iter()
                .map(|f| ("lookml", f)),
        )
        .collect();
    assert!(want.len() >= 6);
    for (sub, (name, text)) in want {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(sub).join(&name)).unwrap(),
            text,
            "{sub}/{name}"
        );
    }
    assert_eq!(generate_actions(&args[..1], &mut out, &mut err), 2);
}
