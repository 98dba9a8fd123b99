//! The Rust SDK reading the server's answer to its `/media` offer: the JSON
//! body, the ROAP message in `remoteSdp`, the ROAP reply rules, and an
//! ANSWER's SDP applied to the SDK's own offer (str0m, under the SDK's
//! panic guard): never a panic; a refusal is a typed error that says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_meetings::fuzzing;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts on every panic, even one the SDK's
    // guard catches and turns into an error (str0m panics on some answers).
    // What must hold is that none escapes the SDK; one that does still ends
    // in libfuzzer-sys's own catch_unwind, which aborts: a finding.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic (an error if the SDK's guard caught it): {info}");
        }));
    });
    if let Err(e) = fuzzing::media_answer(data) {
        assert!(!e.to_string().is_empty());
    }
});
