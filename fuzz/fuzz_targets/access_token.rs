//! The server reading a bearer access token (`Authorization` header or a
//! Mercury authorization frame): `<secret>_<region>_<orgId>`. (OAuth family
//! ids are opaque since the grant's bound and source became columns: nothing
//! parses them any more.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_server::fuzzing;
use webex_wire::token::AccessTokenParts;

fuzz_target!(|data: &[u8]| {
    // Header values that are not text are refused before this point.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    match fuzzing::access_token(text) {
        Ok(token) => {
            let parts: AccessTokenParts = token.parse().expect("an accepted token parses");
            assert_eq!(parts.to_string(), token, "parsing loses nothing");
            let rebuilt = AccessTokenParts::new(parts.secret(), parts.region(), parts.org_id());
            assert_eq!(rebuilt.as_ref(), Ok(&parts));
            assert!(token.len() <= webex_wire::token::MAX_LEN);
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
