//! Black-box tests of the hub: the real app on a random port, called exactly as Looker calls it.

mod download;
mod helpers;
mod receiver;

mod auth;
mod binaries;
mod execute;
mod faults;
mod form;
mod hygiene;
mod list;
mod oauth;
mod paths;
mod properties;
mod rudder;
mod shutdown;
