//! meetingInfo's `permissionToken`: a JWT that entitles the user to join
//! that meeting. The join body carries it; the official SDK asks meetingInfo
//! again (sending the old token) when it expires within 30 s of a join
//! (`locus-protocol.md` §2.2, §3.1).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

/// Refresh a token that expires within this long of a join.
pub(crate) const REFRESH_THRESHOLD: Duration = Duration::from_secs(30);

/// The token's `exp` (seconds since the epoch), if it is a JWT that has one.
pub(crate) fn expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Whether `token` must be refreshed before a join at `now`: it expires
/// within [`REFRESH_THRESHOLD`]. A token whose expiry cannot be read is
/// used as it is (the join's answer says whether it is still good).
pub(crate) fn needs_refresh(token: &str, now: SystemTime) -> bool {
    let Some(exp) = expiry(token) else {
        return false;
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    exp < now.saturating_add(REFRESH_THRESHOLD.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"none"}"#),
            enc(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn reads_exp_and_refreshes_within_the_threshold() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(!needs_refresh(
            &jwt(&serde_json::json!({"exp": 1_000_031})),
            now
        ));
        assert!(needs_refresh(
            &jwt(&serde_json::json!({"exp": 1_000_029})),
            now
        ));
        assert!(needs_refresh(&jwt(&serde_json::json!({"exp": 10.5})), now));
        assert!(!needs_refresh("not-a-jwt", now));
        assert!(!needs_refresh(&jwt(&serde_json::json!({"sub": "x"})), now));
        assert_eq!(expiry(&jwt(&serde_json::json!({"exp": 5}))), Some(5));
    }
}
