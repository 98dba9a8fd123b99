//! The Rust SDK reading the server's answer to its `/media` offer: the JSON
//! body, the ROAP message in `remoteSdp`, the ROAP reply rules, and an
//! ANSWER's SDP applied to the SDK's own offer (str0m, under the SDK's
//! panic guard): never a panic; a refusal is a typed error that says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_meetings::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = fuzzing::media_answer(data) {
        assert!(!e.to_string().is_empty());
    }
});
