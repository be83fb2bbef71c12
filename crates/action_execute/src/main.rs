//! Cloud Run service `action_execute`: serves only its own route(s) of the action hub.
use hub_core::routes::Function;

fn main() -> std::io::Result<()> {
    hub_core::startup::run_main(&[Function::ActionExecute])
}
