//! Shared pieces of the integration tests.
#![allow(dead_code)]

pub mod herd;
pub mod procs;
