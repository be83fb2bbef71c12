//! Fixtures shared by the API tests: rows of the write-back tables and the sink calls that write
//! them (`rows`); the OAuth server, Looker's state receiver and login flows (`oauth`); Looker's
//! requests to the RudderStack actions and checks of the events delivered (`rudder`); the BigQuery
//! emulator (`emulator`); Looker query results and a `download_url` server generating them
//! (`results`); headless Chromium running the browser scripts (`browser`).
//! The benchmarks (`examples/`) include the files that stand alone (those using nothing of
//! `crate::helpers`) one by one by path. Each user takes what it needs, so parts are unused in
//! some of them.
#![allow(dead_code)]

pub mod browser;
pub mod emulator;
pub mod oauth;
pub mod results;
pub mod rows;
pub mod rudder;
