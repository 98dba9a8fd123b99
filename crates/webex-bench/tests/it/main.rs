//! webex-bench's integration tests, one binary: the smoke run of every
//! scenario.

mod smoke;
