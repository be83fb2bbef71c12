//! `hub runs`: the last runs of the embedded store, one line each, and the rejected rows of one
//! run (`hub runs RUN_ID`, the id Looker's message names).

use std::io::Write;

use super::read::{LedgerReader, Which};
use super::{RejectedRow, RunRecord};
use crate::config::{ProcessEnv, VarSource, Vars};

const USAGE: &str = "usage: hub runs [--failed] [--limit N] [RUN_ID]\n\
    \x20 the last runs recorded in the embedded store (HUB_STORE_PATH), newest first\n\
    \x20 --failed   only runs that did not succeed\n\
    \x20 --limit N  at most N runs (default 20)\n\
    \x20 RUN_ID     one run and its rejected rows (the id Looker's message names)\n";

/// Runs listed when `--limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    which: Which,
    limit: usize,
    run: Option<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        which: Which::All,
        limit: DEFAULT_LIMIT,
        run: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--failed" => parsed.which = Which::NotSucceeded,
            "--limit" => {
                let n = it.next().ok_or("--limit needs a number")?;
                parsed.limit = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--limit: expected a positive number, got {n:?}"))?;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            run if parsed.run.is_none() => parsed.run = Some(run.to_string()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    Ok(parsed)
}

/// When the command line is `runs …`: run [`runs_command`] and exit with its code (the `hub`
/// binary's `main` calls this first); otherwise return.
pub fn exit_after_runs_command(args: &[String]) {
    if args.first().map(String::as_str) == Some("runs") {
        let code = runs_command(&args[1..], &mut std::io::stdout(), &mut std::io::stderr());
        std::process::exit(code);
    }
}

/// `hub runs ARGS` with the process's settings; the exit code.
pub fn runs_command(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    runs_command_with(&ProcessEnv, args, out, err)
}

/// [`runs_command`] with settings from `vars`.
pub fn runs_command_with(
    vars: &dyn VarSource,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(problem) => {
            let _ = write!(err, "{problem}\n{USAGE}");
            return 2;
        }
    };
    let path = Vars(vars)
        .get("HUB_STORE_PATH")
        .unwrap_or_else(|| crate::sinks::sqlite::DEFAULT_STORE_PATH.into());
    let listed =
        LedgerReader::open(std::path::Path::new(&path)).and_then(|reader| match &args.run {
            Some(id) => {
                let run = reader.run(id)?;
                let rejected = reader.rejected_rows(id)?;
                Ok(Listing::One(
                    run.map(|r| Box::new((r, rejected))),
                    id.clone(),
                ))
            }
            None => Ok(Listing::Runs(reader.last_runs(args.which, args.limit)?)),
        });
    let written = match listed {
        Ok(Listing::Runs(runs)) if runs.is_empty() => writeln!(out, "no runs recorded"),
        Ok(Listing::Runs(runs)) => runs.iter().try_for_each(|r| writeln!(out, "{}", line(r))),
        Ok(Listing::One(Some(one), _)) => write_one(out, &one.0, &one.1),
        Ok(Listing::One(None, id)) => {
            let _ = writeln!(err, "no run {id:?} in {path}");
            return 1;
        }
        Err(e) => {
            let _ = writeln!(err, "hub runs: {e}");
            return 1;
        }
    };
    match written {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

enum Listing {
    Runs(Vec<RunRecord>),
    One(Option<Box<(RunRecord, Vec<RejectedRow>)>>, String),
}

/// One run on one line: when, outcome, action, counts, duration, id, first error.
pub fn line(r: &RunRecord) -> String {
    let mut s = format!(
        "{}  {:<11}  {}  {}  read {}  delivered {}  rejected {}  unconfirmed {}  {} ms  run {}",
        r.finished_at.format("%Y-%m-%d %H:%M:%SZ"),
        r.outcome,
        r.action,
        r.kind,
        r.rows_read,
        r.rows_delivered,
        r.rows_rejected,
        r.rows_unconfirmed,
        r.duration_ms,
        r.run_id
    );
    if let Some(kind) = &r.error_kind {
        s.push_str(&format!("  {kind}"));
    }
    if let Some(message) = &r.error_message {
        s.push_str(&format!(": {message}"));
    }
    s
}

fn write_one(
    out: &mut dyn Write,
    run: &RunRecord,
    rejected: &[RejectedRow],
) -> std::io::Result<()> {
    writeln!(out, "{}", line(run))?;
    if run.rows_rejected > 0 {
        writeln!(
            out,
            "rejected rows: {} (the first {} recorded)",
            run.rows_rejected,
            rejected.len()
        )?;
    }
    for r in rejected {
        writeln!(
            out,
            "  row {}  key {}  column {}  {}",
            r.row_index,
            r.key_value.as_deref().unwrap_or("-"),
            r.column_name.as_deref().unwrap_or("-"),
            r.reason
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_or_refused() {
        let a = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&[]),
            Ok(Args {
                which: Which::All,
                limit: DEFAULT_LIMIT,
                run: None
            })
        );
        assert_eq!(
            a(&["--failed", "--limit", "3"]),
            Ok(Args {
                which: Which::NotSucceeded,
                limit: 3,
                run: None
            })
        );
        assert_eq!(a(&["r-1"]).unwrap().run.as_deref(), Some("r-1"));
        assert!(a(&["--limit", "0"]).is_err());
        assert!(a(&["--limit"]).is_err());
        assert!(a(&["--what"]).is_err());
        assert!(a(&["a", "b"]).is_err());
    }
}
