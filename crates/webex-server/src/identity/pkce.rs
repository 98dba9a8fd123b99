//! PKCE (RFC 7636): checking a `code_verifier` against the stored challenge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How the challenge was derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// `BASE64URL(SHA256(verifier))`.
    S256,
    /// The verifier itself.
    Plain,
}

impl Method {
    /// Parses `S256` or `plain`; an absent method means `plain` (RFC 7636 §4.3).
    pub(crate) fn parse(method: Option<&str>) -> Option<Self> {
        match method {
            None | Some("plain") => Some(Self::Plain),
            Some("S256") => Some(Self::S256),
            Some(_) => None,
        }
    }

    /// The wire name, as stored with the code.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// Whether `s` has the shape RFC 7636 requires of verifiers and challenges:
/// 43 to 128 unreserved characters.
pub(crate) fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers `challenge` under `method` (constant time).
pub(crate) fn verify(method: Method, challenge: &str, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let derived = match method {
        Method::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        Method::Plain => verifier.to_owned(),
    };
    derived.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_example() {
        assert!(verify(Method::S256, CHALLENGE, VERIFIER));
        assert!(!verify(
            Method::S256,
            CHALLENGE,
            &VERIFIER.replace('d', "e")
        ));
    }

    #[test]
    fn plain_compares_verbatim() {
        assert!(verify(Method::Plain, VERIFIER, VERIFIER));
        assert!(!verify(Method::Plain, CHALLENGE, VERIFIER));
    }

    #[test]
    fn short_verifiers_are_rejected() {
        assert!(!verify(Method::Plain, "short", "short"));
        assert!(!well_formed(&"a".repeat(129)));
        assert!(!well_formed(&format!("{}!", "a".repeat(43))));
    }

    #[test]
    fn method_defaults_to_plain() {
        assert_eq!(Method::parse(None), Some(Method::Plain));
        assert_eq!(Method::parse(Some("S256")), Some(Method::S256));
        assert_eq!(Method::parse(Some("s256")), None);
    }
}
