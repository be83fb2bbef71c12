//! Looker Action Hub core: every piece of logic the hub binaries share.
//!
//! The binaries only pick which [`routes::Function`]s they serve; everything else lives here.

pub mod actions;
pub mod api;
pub mod auth;
pub mod capacity;
pub mod changes;
pub mod config;
pub mod declared;
pub mod email;
pub mod error;
pub mod gcp;
pub mod http;
pub mod hub;
pub mod lifecycle;
pub mod meta;
pub mod net;
pub mod oauth;
pub mod retry;
pub mod routes;
pub mod rows;
pub mod rudder;
pub mod secrets;
pub mod settings;
pub mod sinks;
pub mod startup;
pub mod telemetry;

/// Name of this hub, sent to partners (e.g. RudderStack `context.library.name`).
pub const HUB_NAME: &str = "looker-action-hub-rs";
/// Version of this hub (the crate version).
pub const HUB_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod architecture;
