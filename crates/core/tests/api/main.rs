//! Black-box tests of the hub: the real app on a random port, called exactly as Looker calls it.

mod download;
mod helpers;
mod receiver;
mod stand_ins;
mod support;

mod auth;
mod bigquery;
mod binaries;
mod capacity;
mod declared;
mod declared_user;
mod drift;
mod execute;
mod faults;
mod form;
mod google;
mod header_flood;
mod hygiene;
mod keywords;
mod list;
mod login_checks;
mod logins;
mod memory;
mod oauth;
mod outbound;
mod paths;
mod playground;
mod properties;
mod rudder;
mod rudder_sources;
mod saved_logins;
mod secrets;
mod shutdown;
mod tls;
mod writeback_batch;
