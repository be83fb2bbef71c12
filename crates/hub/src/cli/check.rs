//! `hub check-actions FILE...`: check write-back actions files without starting the hub.

use std::path::Path;

use hub_core::declared::{self, Kind};

/// Check actions files without starting the hub: every problem to `err` (rendered as rustc
/// renders its errors: [`declared::Diagnostics::render`]), a summary per good file to `out`; the exit code
/// is 1 when any file has a problem, 2 on a usage error.
pub fn check_actions(
    args: &[String],
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = writeln!(
            err,
            "usage: hub check-actions FILE...\n  Checks write-back actions files (HUB_ACTIONS_FILE) and lists every problem; exit 1 on any."
        );
        return 2;
    }
    let mut code = 0;
    for a in args {
        let path = Path::new(a);
        let checked = declared::source::read(path)
            .and_then(|text| declared::source::parse(&text, a, path.parent()));
        match checked {
            Ok(file) => {
                let _ = writeln!(out, "{a}: ok, {} action(s)", file.actions.len());
                for d in &file.actions {
                    let _ = writeln!(
                        out,
                        "  {} ({}) -> table {} ({} columns)",
                        d.name,
                        match d.kind {
                            Kind::Cell => "cell",
                            Kind::Query => "query",
                        },
                        d.table.name,
                        d.table.columns.len()
                    );
                }
            }
            Err(problems) => {
                code = 1;
                let _ = write!(err, "{}", problems.render());
                let _ = writeln!(err, "{a}: {} problem(s)", problems.problems.len());
            }
        }
    }
    code
}

#[cfg(test)]
mod tests;
