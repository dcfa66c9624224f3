//! The client wire protocol, with no I/O: framing lines, parsing commands, the numbers they
//! carry, and formatting answers. Everything here is a pure function of bytes.

pub mod answer;
pub mod command;
pub mod frame;
pub mod number;
