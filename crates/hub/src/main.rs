//! All five functions of the action hub in one process (local runs, single-service deploys), and
//! `hub check-actions FILE` (check a write-back actions file without starting the server) and
//! `hub generate-actions FILE DIR` (its terraform table schemas and LookML).
use hub_core::routes::Function;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check-actions") {
        let code = hub_core::declared::check_actions_command(
            &args[1..],
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        );
        std::process::exit(code);
    }
    if args.first().map(String::as_str) == Some("generate-actions") {
        let code = hub_core::declared::generate_actions_command(
            &args[1..],
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        );
        std::process::exit(code);
    }
    hub_core::sinks::ledger::command::exit_after_runs_command(&args);
    hub_core::startup::run_main(Function::ALL)
}
