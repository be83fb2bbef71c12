//! Black-box tests of the hub: the real app on a random port, called exactly as Looker calls it.

mod helpers;
mod stand_ins;

mod auth;
mod bigquery;
mod binaries;
mod execute;
mod form;
mod list;
mod secrets;
mod writeback_batch;
