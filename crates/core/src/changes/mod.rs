//! Change-only sends: what a schedule delivered, remembered as one fingerprint per row key, so
//! that a run sends only the rows that are new or changed since its last successful run.
//!
//! - [`mode`]: the choice on the form (send every row, only new or changed rows, resend all).
//! - [`hash`]: a row's key and content, hashed (seeded per schedule).
//! - [`memory`]: the decisions of one run against the last run's records, what is confirmed
//!   delivered, and the records of the next run.
//! - [`format`]: those records as bytes, in parts, checked when read back.
//! - [`store`]: where the memories live (heads replaced by compare-and-swap, snapshot parts).
//! - [`run`]: the façade every engine uses: a run begins (lease, memory read), decides rows,
//!   learns what was delivered and commits; [`head`] is the JSON a scope's head holds, [`lease`]
//!   how runs of one schedule take turns, [`base`] what a run compares with and says about it,
//!   [`refused`] why a run may send nothing, [`scope`] whose memory, [`settings`] where it lives.

mod base;
pub mod format;
pub mod hash;
pub mod head;
pub mod lease;
pub mod memory;
pub mod mode;
pub mod refused;
pub mod run;
pub mod scope;
pub mod settings;
pub mod store;
