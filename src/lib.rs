//! herd: an application server herd.
#![forbid(unsafe_code)]

pub mod places;
pub mod store;
