//! herd: an application server herd.
#![forbid(unsafe_code)]

pub mod bench;
pub mod places;
