//! All five functions of the action hub in one process (local runs, single-service deploys), and
//! the actions-file commands ([`cli`]: `hub check-actions`, `hub generate-actions`).
use hub_core::routes::Function;

mod cli;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = cli::run(&args) {
        std::process::exit(code);
    }
    hub_core::sinks::ledger::command::exit_after_runs_command(&args);
    hub_core::startup::run_main(Function::ALL)
}
