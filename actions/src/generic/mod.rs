//! Generic actions: the building blocks every workflow uses, independent of any CI
//! vendor (run a command, call an HTTP endpoint, log, wait for a time or for a human).

pub mod approval;
pub mod http;
pub mod log;
pub mod shell;
pub mod sleep;
