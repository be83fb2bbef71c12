//! Fixtures shared by the API tests and the benchmarks (`examples/` include this folder by path):
//! rows of the write-back tables and the sink calls that write them.
//! Each user takes what it needs, so parts are unused in some of them.
#![allow(dead_code)]

pub mod rows;
