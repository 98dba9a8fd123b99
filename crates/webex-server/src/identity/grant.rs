//! What an OAuth grant may be made from, and how long it may live.
//!
//! The consent page signs a person in with a credential; the grant it makes
//! (an authorization code, then rotating access and refresh tokens) must
//! never be worth more than that credential:
//!
//! - **Who may consent.** Only a person's own personal access token: not a
//!   token an integration obtained through OAuth (an integration must not
//!   grant itself or another more access), not a guest (`appuser`) token
//!   from `jwt/login`, not a refresh token.
//! - **Scope.** The grant gets the requested scopes that the presented token
//!   also carries (the token response's `scope` says which); a request with
//!   no scope in common is refused.
//! - **Lifetime.** Every token of the grant expires no later than the token
//!   it was made from: a grant made from a token with `--expires-in 1h` is
//!   over within the hour, however often it is refreshed. A grant made from
//!   a token that never expires lives by the configured TTLs (refresh tokens
//!   rotate).
//! - **Revocation.** Revoking the token a grant was made from ends the
//!   grant: its code can no longer be exchanged and its refresh token no
//!   longer refreshes; the attempt revokes every token of the grant. Access
//!   tokens already issued stay valid until their own expiry (at most
//!   `access_token_ttl`, and never past the source token's expiry), or until
//!   they are revoked themselves.
//!
//! The bound and the source travel with the grant: its authorization code
//! and each of its tokens record them ([`GrantSource`]: the store's columns
//! `source_token_hash` and `family_not_after`), and the family id is an
//! opaque id. Grants made before this policy record neither and are not
//! bounded. (For a while the two were packed into the family id,
//! `g1.<uuid>.<not-after>.<hash>`; the migration `grant_source_columns`
//! unpacked the rows holding such ids into the columns.)

use std::time::Duration;

use crate::auth::Caller;
use crate::store::{AuthCodeRecord, GrantSource, Millis, TokenKind, TokenRecord};
use webex_wire::people::PersonType;

/// A grant's family: its id and the token it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Family {
    /// The family id (opaque), shared by the grant's code and tokens.
    pub id: String,
    /// The personal access token the grant was made from, and its bound;
    /// `None` for a grant made before grants recorded it (unbounded).
    pub source: Option<GrantSource>,
}

impl Family {
    /// A new family for a grant made from `source`.
    pub fn new(source: &TokenRecord) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            source: Some(GrantSource {
                token_hash: source.hash.clone(),
                not_after: source.expires_at,
            }),
        }
    }

    /// The family an authorization code was issued for.
    pub fn of_code(code: &AuthCodeRecord) -> Self {
        Self {
            id: code.family_id.clone(),
            source: code.grant_source.clone(),
        }
    }

    /// The family of a token of a grant; `None` for a token of no grant.
    pub fn of_token(token: &TokenRecord) -> Option<Self> {
        Some(Self {
            id: token.family_id.clone()?,
            source: token.grant_source.clone(),
        })
    }

    /// No token of the grant may live past this.
    pub fn not_after(&self) -> Option<Millis> {
        self.source.as_ref().and_then(|s| s.not_after)
    }

    /// `ttl` shortened so a token minted at `now` ends by the bound; `None`
    /// when the bound has passed.
    pub fn cap(&self, ttl: Duration, now: Millis) -> Option<Duration> {
        match self.not_after() {
            None => Some(ttl),
            Some(end) if end <= now => None,
            Some(end) => {
                let left = Duration::from_millis(u64::try_from(end - now).unwrap_or(0));
                Some(ttl.min(left))
            }
        }
    }
}

/// Why a credential may not sign in to the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Refused {
    /// A token an integration obtained through OAuth, or a refresh token.
    #[error("Sign in with a personal access token, not a token issued to an application.")]
    NotPersonal,
    /// A guest token from `jwt/login`.
    #[error("Guest tokens cannot authorize applications.")]
    Guest,
    /// The token carries none of the requested scopes.
    #[error("Your personal access token carries none of the scopes this application asks for.")]
    NoScope,
}

/// Whether `caller` may consent, and the scope the grant gets when asking
/// for `requested` (normalized).
pub(crate) fn consent_scope(caller: &Caller, requested: &str) -> Result<String, Refused> {
    if caller.token.client_id.is_some()
        || caller.token.family_id.is_some()
        || caller.token.kind != TokenKind::Access
    {
        return Err(Refused::NotPersonal);
    }
    if caller.person.kind == PersonType::Appuser {
        return Err(Refused::Guest);
    }
    let held: std::collections::BTreeSet<&str> = caller.token.scope.split_whitespace().collect();
    let granted: Vec<&str> = requested
        .split_whitespace()
        .filter(|s| held.contains(s))
        .collect();
    if granted.is_empty() {
        return Err(Refused::NoScope);
    }
    Ok(granted.join(" "))
}

/// Whether the token a grant was made from still stands at `now`:
/// `Err` with a description for `invalid_grant` otherwise.
pub(crate) fn source_alive(source: Option<&TokenRecord>, now: Millis) -> Result<(), &'static str> {
    match source {
        None => Err("The token this grant was made from no longer exists"),
        Some(t) if t.revoked_at.is_some() => {
            Err("The token this grant was made from has been revoked")
        }
        Some(t) if t.expires_at.is_some_and(|e| e <= now) => {
            Err("The token this grant was made from has expired")
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretHash;

    fn token(expires_at: Option<Millis>) -> TokenRecord {
        TokenRecord {
            hash: SecretHash("ab".repeat(32)),
            kind: TokenKind::Access,
            person_id: "p".into(),
            client_id: None,
            family_id: None,
            grant_source: None,
            scope: "spark:all spark:kms".into(),
            created_at: 0,
            expires_at,
            revoked_at: None,
            used_at: None,
        }
    }

    #[test]
    fn families_are_opaque_and_bounded_by_their_source() {
        let source = token(Some(60_000));
        let f = Family::new(&source);
        assert!(uuid::Uuid::parse_str(&f.id).is_ok(), "{}", f.id);
        assert_ne!(Family::new(&source).id, f.id);
        let recorded = f.source.clone().unwrap();
        assert_eq!(recorded.token_hash, source.hash);
        assert_eq!(f.not_after(), Some(60_000));
        assert_eq!(
            f.cap(Duration::from_secs(3600), 0),
            Some(Duration::from_secs(60))
        );
        assert_eq!(f.cap(Duration::from_secs(3600), 60_000), None);
        let forever = Family::new(&token(None));
        assert_eq!(forever.not_after(), None);
        assert!(forever.cap(Duration::from_secs(5), i64::MAX - 1).is_some());
        // A token carries its family and source along.
        let issued = TokenRecord {
            family_id: Some(f.id.clone()),
            grant_source: f.source.clone(),
            ..token(None)
        };
        assert_eq!(Family::of_token(&issued), Some(f));
        assert_eq!(Family::of_token(&token(None)), None);
        // A grant from before sources were recorded is unbounded.
        let legacy = TokenRecord {
            family_id: Some("5e0c2d5a-8a3b-4c58-9d1c-3f1a2b4c5d6e".into()),
            ..token(None)
        };
        let legacy = Family::of_token(&legacy).unwrap();
        assert_eq!((legacy.not_after(), legacy.source), (None, None));
    }
}
