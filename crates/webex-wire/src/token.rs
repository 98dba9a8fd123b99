//! The Webex access token shape `<secret>_<region>_<orgId>`.
//!
//! The official SDK derives the org id from the third `_`-separated part, so a
//! token must have exactly three parts.

use std::str::FromStr;

/// A token split into its three parts.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessTokenParts {
    secret: String,
    region: String,
    org_id: String,
}

impl AccessTokenParts {
    /// Builds a token from its parts; none may contain `_` or be empty.
    pub fn new(secret: &str, region: &str, org_id: &str) -> Result<Self, TokenFormatError> {
        format!("{secret}_{region}_{org_id}").parse()
    }
    /// The random part.
    pub fn secret(&self) -> &str {
        &self.secret
    }
    /// The region tag, e.g. `PF84`.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The org id.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }
}

impl std::fmt::Display for AccessTokenParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}_{}", self.secret, self.region, self.org_id)
    }
}

impl std::fmt::Debug for AccessTokenParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenParts")
            .field("secret", &"[redacted]")
            .field("region", &self.region)
            .field("org_id", &self.org_id)
            .finish()
    }
}

/// Why a string is not a Webex-shaped access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFormatError {
    /// Not exactly three `_`-separated parts.
    #[error("token must have exactly three `_`-separated parts, found {0}")]
    PartCount(usize),
    /// A part is empty.
    #[error("token part {0} is empty")]
    EmptyPart(usize),
    /// A character outside `[A-Za-z0-9-.]`.
    #[error("token contains a character that is not allowed")]
    BadCharacter,
    /// Longer than any token this crate issues or accepts.
    #[error("token is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// The longest token accepted.
pub const MAX_LEN: usize = 512;

impl FromStr for AccessTokenParts {
    type Err = TokenFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_LEN {
            return Err(TokenFormatError::TooLong { max: MAX_LEN });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(TokenFormatError::BadCharacter);
        }
        let parts: Vec<&str> = s.split('_').collect();
        let [secret, region, org_id] = parts.as_slice() else {
            return Err(TokenFormatError::PartCount(parts.len()));
        };
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() {
                return Err(TokenFormatError::EmptyPart(i));
            }
        }
        Ok(Self {
            secret: (*secret).to_owned(),
            region: (*region).to_owned(),
            org_id: (*org_id).to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_wrong_part_counts() {
        assert_eq!(
            "a_b".parse::<AccessTokenParts>(),
            Err(TokenFormatError::PartCount(2))
        );
        assert_eq!(
            "a_b_c_d".parse::<AccessTokenParts>(),
            Err(TokenFormatError::PartCount(4))
        );
        assert_eq!(
            "a__c".parse::<AccessTokenParts>(),
            Err(TokenFormatError::EmptyPart(1))
        );
        assert_eq!(
            "a b_c_d".parse::<AccessTokenParts>(),
            Err(TokenFormatError::BadCharacter)
        );
    }

    #[test]
    fn debug_redacts_secret() {
        let t: AccessTokenParts = "s3cr3t_PF84_org".parse().unwrap();
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }

    proptest! {
        #[test]
        fn round_trips(secret in "[A-Za-z0-9-]{1,64}", region in "[A-Z0-9]{1,8}", org in "[a-f0-9-]{1,40}") {
            let t = AccessTokenParts::new(&secret, &region, &org).unwrap();
            prop_assert_eq!(t.to_string().parse::<AccessTokenParts>().unwrap(), t);
        }

        #[test]
        fn never_panics(s in ".{0,600}") {
            let _ = s.parse::<AccessTokenParts>();
        }
    }
}
