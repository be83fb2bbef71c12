//! Cloud Run service `actions_list`: serves only its own route(s) of the action hub.
use hub_core::routes::Function;

fn main() -> std::io::Result<()> {
    hub_core::startup::run_main(&[Function::ActionsList])
}
