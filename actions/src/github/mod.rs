//! Actions that act on GitHub: pull requests, comments, reruns.

pub mod body;
