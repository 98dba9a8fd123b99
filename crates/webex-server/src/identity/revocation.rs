//! Revoking tokens in the store and telling every node about it, so Mercury
//! closes the sockets the tokens opened (close code 4401).

use crate::bus::{Bus, BusMessage};
use crate::store::{Millis, SecretHash, Store, StoreResult, TokenKind, TokenRecord};

/// Publishes [`BusMessage::TokenRevoked`] for each hash. Best effort: a bus
/// failure is logged, never returned — the store already holds the truth
/// and every new request or socket checks it.
pub(crate) async fn announce<'a>(
    bus: Option<&dyn Bus>,
    hashes: impl IntoIterator<Item = &'a SecretHash>,
) {
    let Some(bus) = bus else { return };
    for hash in hashes {
        let msg = BusMessage::TokenRevoked {
            token_hash: hash.0.clone(),
        };
        if let Err(e) = bus.publish(msg).await {
            tracing::warn!(error = %e, token = ?hash, "could not announce a token revocation");
        }
    }
}

/// Revokes `record` and announces it. A refresh token takes its whole family
/// (every token issued from the same authorization) with it, as RFC 7009
/// §2.1 suggests, and every access token of the family that this call
/// revoked is announced. Returns whether anything was newly revoked.
///
/// A single access token is announced even when it was already revoked:
/// closing sockets is idempotent, and an earlier publish may have failed.
pub(crate) async fn revoke_record(
    store: &dyn Store,
    bus: Option<&dyn Bus>,
    record: &TokenRecord,
    now: Millis,
) -> StoreResult<bool> {
    match (&record.kind, &record.family_id) {
        (TokenKind::Refresh, Some(family)) => {
            let revoked = revoke_family(store, bus, family, now).await?;
            // The refresh token itself is not in `revoked` (not an access
            // token); it was newly revoked if it was live when looked up.
            Ok(record.revoked_at.is_none() || !revoked.is_empty())
        }
        _ => {
            let revoked = store.revoke_token(&record.hash, now).await?;
            announce(bus, [&record.hash]).await;
            Ok(revoked)
        }
    }
}

/// Revokes every token of `family` and announces each access token this
/// call revoked, so the websockets they opened close on every node.
/// Returns those access-token hashes.
pub(crate) async fn revoke_family(
    store: &dyn Store,
    bus: Option<&dyn Bus>,
    family: &str,
    now: Millis,
) -> StoreResult<Vec<SecretHash>> {
    let revoked = store.revoke_family(family, now).await?;
    tracing::info!(
        family,
        access_tokens = revoked.len(),
        "revoked a token family"
    );
    announce(bus, &revoked).await;
    Ok(revoked)
}
