//! Backend-independent decisions of the single-use flows: given the locked
//! row, what a rotation or code exchange must do.

use super::{AuthCodeRecord, Millis, TokenKind, TokenRecord};

/// What to do with a refresh token presented for rotation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rotation {
    /// Valid and unused: mark it used and store the new pair.
    Rotate,
    /// Already exchanged: revoke its family (or the token alone when it has
    /// no family).
    RevokeFamily(Option<String>),
    /// Unknown, not a refresh token, expired or revoked.
    Reject,
}

/// Decides a rotation of `token` (the row as read under lock) at `now`.
///
/// Reuse is checked first: presenting a rotated-away token is a theft signal
/// even after it expired or its family was revoked.
pub(super) fn rotation(token: Option<&TokenRecord>, now: Millis) -> Rotation {
    let Some(t) = token else {
        return Rotation::Reject;
    };
    if t.kind != TokenKind::Refresh {
        return Rotation::Reject;
    }
    if t.used_at.is_some() {
        return Rotation::RevokeFamily(t.family_id.clone());
    }
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= now) {
        return Rotation::Reject;
    }
    Rotation::Rotate
}

/// What to do with an authorization code presented for exchange.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Exchange {
    /// First use within its lifetime: mark it used.
    Consume,
    /// Already spent.
    AlreadyUsed,
    /// Unknown or expired.
    Reject,
}

/// Decides an exchange of `code` (row and `used_at`, read under lock) at `now`.
pub(super) fn exchange(code: Option<&(AuthCodeRecord, Option<Millis>)>, now: Millis) -> Exchange {
    match code {
        None => Exchange::Reject,
        Some((_, Some(_))) => Exchange::AlreadyUsed,
        Some((c, None)) if c.expires_at <= now => Exchange::Reject,
        Some((_, None)) => Exchange::Consume,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretHash;

    fn refresh() -> TokenRecord {
        TokenRecord {
            hash: SecretHash("h".into()),
            kind: TokenKind::Refresh,
            person_id: "p".into(),
            client_id: None,
            family_id: Some("f".into()),
            grant_source: None,
            scope: String::new(),
            created_at: 0,
            expires_at: Some(100),
            revoked_at: None,
            used_at: None,
        }
    }

    #[test]
    fn rotation_cases() {
        assert_eq!(rotation(None, 0), Rotation::Reject);
        assert_eq!(rotation(Some(&refresh()), 99), Rotation::Rotate);
        assert_eq!(rotation(Some(&refresh()), 100), Rotation::Reject);
        let used = TokenRecord {
            used_at: Some(5),
            revoked_at: Some(6),
            ..refresh()
        };
        assert_eq!(
            rotation(Some(&used), 1000),
            Rotation::RevokeFamily(Some("f".into()))
        );
        let revoked = TokenRecord {
            revoked_at: Some(5),
            ..refresh()
        };
        assert_eq!(rotation(Some(&revoked), 0), Rotation::Reject);
        let access = TokenRecord {
            kind: TokenKind::Access,
            ..refresh()
        };
        assert_eq!(rotation(Some(&access), 0), Rotation::Reject);
    }
}
