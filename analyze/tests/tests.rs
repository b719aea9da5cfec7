//! Integration tests of medic-analyze, in one test binary (one module per area).

mod suite;
