//! webex-wire's integration tests, one binary. `proptest_wire`'s saved
//! failure seeds live next to it in `proptest_wire.proptest-regressions`
//! (where proptest looks for them).

mod proptest_wire;
