//! The server reading a bearer access token (`Authorization` header or a
//! Mercury authorization frame): `<secret>_<region>_<orgId>`, and an OAuth
//! family id (the grant a refresh token belongs to, `g1.<uuid>.<bound>.<hash>`).
#![no_main]

use std::time::Duration;

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

    // Family ids come from the store, but a refresh token's grant is read
    // from them on every refresh: any text must read as some family.
    let ttl = Duration::from_secs(3600);
    for now in [0, 1_767_225_600_000, i64::MAX] {
        let (not_after, has_source, capped) = fuzzing::family(text, ttl, now);
        if not_after.is_some() {
            assert!(has_source, "a bounded family names its source");
        }
        match not_after {
            None => assert_eq!(capped, Some(ttl)),
            Some(end) if end <= now => assert_eq!(capped, None),
            Some(_) => assert!(capped.is_some_and(|c| c <= ttl && !c.is_zero())),
        }
    }
});
