//! Shared pieces of the integration tests; each test crate uses only some of them.
#![allow(dead_code)]

pub mod canned_places;
pub mod events;
pub mod fake_google;
pub mod herd;
pub mod memnet;
pub mod netns;
pub mod procs;
