//! Integration tests of the real `medic` binary, each in a temporary folder.
//! One test binary with modules, as ripgrep does, to keep link times down.

mod support;

mod analyze;
mod bad_input;
mod cli;
mod decide;
mod durability;
mod remediation;
mod running;
