//! All five functions of the action hub in one process (local runs, single-service deploys).
use hub_core::routes::Function;

fn main() -> std::io::Result<()> {
    hub_core::startup::run_main(Function::ALL)
}
