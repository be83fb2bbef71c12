//! Cloud Run service `action_form`: serves only its own route(s) of the action hub.
use hub_core::routes::Function;

fn main() -> std::io::Result<()> {
    hub_core::startup::run_main(&[Function::ActionForm])
}
