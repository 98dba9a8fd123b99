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
/// §2.1 suggests. Returns whether anything was newly revoked.
///
/// The announcement goes out even when the token was already revoked:
/// closing sockets is idempotent, and an earlier publish may have failed.
pub(crate) async fn revoke_record(
    store: &dyn Store,
    bus: Option<&dyn Bus>,
    record: &TokenRecord,
    now: Millis,
) -> StoreResult<bool> {
    match (&record.kind, &record.family_id) {
        (TokenKind::Refresh, Some(family)) => {
            Ok(
                revoke_family(store, bus, family, std::slice::from_ref(&record.hash), now).await?
                    > 0,
            )
        }
        _ => {
            let revoked = store.revoke_token(&record.hash, now).await?;
            announce(bus, [&record.hash]).await;
            Ok(revoked)
        }
    }
}

/// Revokes every token of `family` and announces the hashes in `known`
/// (the tokens this request has seen).
///
/// Limitation: the store cannot list a family's tokens, so only `known`
/// hashes are announced. The family's other access tokens are revoked in
/// the store — every later request and new websocket is refused — but a
/// websocket already open with one of them stays open until it reconnects.
pub(crate) async fn revoke_family(
    store: &dyn Store,
    bus: Option<&dyn Bus>,
    family: &str,
    known: &[SecretHash],
    now: Millis,
) -> StoreResult<u64> {
    let revoked = store.revoke_family(family, now).await?;
    tracing::info!(family, revoked, "revoked a token family");
    announce(bus, known).await;
    Ok(revoked)
}
