//! The `webex` command.
fn main() {}
