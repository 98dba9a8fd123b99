//! The server reading a guest JWT (`POST /v1/jwt/login`): header and claims
//! decoding, HS256 verification against a fixed issuer secret, and the
//! claim checks, up to the guest's email and display name.
//!
//! Input: a first byte, then either the raw `Authorization` value (even
//! byte), or a header and claims JSON separated by a newline (odd byte),
//! which this target signs with the issuer's secret so that the fuzzer gets
//! past the signature to the claim checks. In the claims, `$NOW` stands
//! for the current Unix time, so seeds stay valid (`"exp":$NOW`). What is
//! accepted must be valid now: `exp`, `nbf` and `iat` within the leeway,
//! `exp` within the longest lifetime.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use webex_server::fuzzing;

/// Every issuer's secret in this target.
const SECRET: &[u8] = b"fuzz-issuer-secret-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signed = mode % 2 == 1;
    let mut signed_claims = None;
    let value = if signed {
        let (header, claims) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
        };
        let claims = with_now(claims);
        signed_claims = serde_json::from_slice::<serde_json::Value>(&claims).ok();
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(&claims)
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .expect("HMAC signing cannot fail");
        format!("Bearer {message}.{signature}")
    } else {
        // Header values are text.
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        text.to_owned()
    };

    match fuzzing::guest_jwt(&value, SECRET) {
        Ok((claims, email, name)) => {
            // `sub` names a guest: 1 to 64 of A-Z a-z 0-9 . _ -
            assert!(!claims.sub.is_empty() && claims.sub.len() <= 64);
            assert!(
                claims
                    .sub
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            );
            // The email's local part encodes `sub` losslessly in lower case.
            let (local, domain) = email.split_once('@').expect("an email");
            assert!(domain.ends_with(".guest.invalid"));
            assert_eq!(decode(local), claims.sub);
            assert!(!local.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(!name.trim().is_empty() || claims.sub.trim().is_empty());
            // Valid now, within the clock-skew leeway, and short-lived.
            let now = now_secs() as i64;
            let leeway = fuzzing::GUEST_JWT_LEEWAY_SECS as i64;
            assert!(claims.exp >= now - leeway, "expired: {claims:?}");
            assert!(
                claims.exp <= now + fuzzing::GUEST_JWT_MAX_LIFETIME_SECS + 2 * leeway,
                "lives too long: {claims:?}"
            );
            if let Some(sent) = &signed_claims {
                for name in ["nbf", "iat"] {
                    if let Some(t) = sent.get(name).and_then(serde_json::Value::as_f64) {
                        assert!(t <= (now + leeway) as f64, "{name} in the future: {sent}");
                    }
                }
            }
        }
        Err(message) => {
            assert!(!message.is_empty());
            // A JWT signed with the issuer's secret is never refused for its
            // signature.
            if signed {
                assert!(!message.contains("signature is invalid"), "{message}");
            }
        }
    }
});

/// The inverse of the server's `guest_email` encoding (`~x` → `X`).
fn decode(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut chars = local.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => out.extend(chars.next().map(|c| c.to_ascii_uppercase())),
            c => out.push(c),
        }
    }
    out
}

/// `claims` with every `$NOW` replaced by the current Unix time in seconds.
fn with_now(claims: &[u8]) -> Vec<u8> {
    const MARK: &[u8] = b"$NOW";
    let now = now_secs().to_string();
    let mut out = Vec::with_capacity(claims.len() + 8);
    let mut rest = claims;
    while let Some(i) = rest.windows(MARK.len()).position(|w| w == MARK) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(now.as_bytes());
        rest = &rest[i + MARK.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The current Unix time in seconds.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
