//! Cross-node event bus: in-process by default, Redis pub/sub with `--redis`.
//!
//! Everything one node must tell the others goes through [`Bus::publish`]:
//! events for devices or people, token revocations and device removals (so the
//! node holding the socket closes it). Every node, the publisher included,
//! receives each message through [`Bus::subscribe`].
//!
//! The bus also keeps the *presence registry*: which devices hold a socket on
//! which node, so an operator publishing an event learns whether anyone will
//! receive it. The in-process bus has no registry of its own (the local
//! [`Hub`](crate::mercury::Hub) is the whole truth); the Redis bus keeps one
//! per node, refreshed by a heartbeat and dropped when the node stops.
//!
//! A node's subscription can break (Redis restarted, a partition) and come
//! back; what others published meanwhile is lost for it. The bus reports
//! each such *gap* through [`Bus::gaps`], and the node's bus listener
//! ([`crate::delivery`]) then tells this node's clients to resynchronise
//! (`mercury::resync`). A publish that failed is the publisher's to repair
//! ([`BusError::Unavailable`]; for Locus events, `locus::republish`). The
//! in-process bus never has gaps.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

mod local;
mod redis;

pub use local::LocalBus;
pub use redis::RedisBus;

/// Messages a node's subscriber may fall behind by before it loses some.
pub const SUBSCRIBER_CAPACITY: usize = 16 * 1024;

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
    /// One Locus event for every participant of a meeting, in one message
    /// whatever the meeting's size. Each node renders it for its own
    /// sockets: a recipient whose participant is in `data.locus.participants`
    /// gets that participant as `data.locus.self`; the others share one
    /// rendering.
    Locus {
        /// Envelope id (unique per event; the same on every socket).
        id: String,
        /// The envelope's `data`: `{eventType, locusUrl, locus}` without `self`.
        data: serde_json::Value,
        /// Who receives it.
        recipients: Vec<LocusRecipient>,
        /// Unix ms at publish time.
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
    /// Events were lost for an unknown set of clients (a node could not
    /// publish more changes than it can remember while Redis was
    /// unreachable): every node asks all its sockets to reconnect, so
    /// clients resynchronise (`mercury::resync`).
    Resync {
        /// The node that lost the events.
        origin: String,
    },
    /// A `/media` offer for a meeting whose media another node carries
    /// (`crate::media::relay`): only node `to` answers it.
    MediaOffer {
        /// The anchor node.
        to: String,
        /// The asking node.
        from: String,
        /// Matches the [`BusMessage::MediaAnswer`].
        request_id: String,
        /// The offer.
        offer: crate::media::RelayedOffer,
    },
    /// The anchor's answer to a [`BusMessage::MediaOffer`].
    MediaAnswer {
        /// The asking node.
        to: String,
        /// The offer's `request_id`.
        request_id: String,
        /// The SDP answer, or why not.
        result: Result<crate::media::Answered, crate::media::MediaFailure>,
    },
}

/// One recipient of a [`BusMessage::Locus`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocusRecipient {
    /// Every connected device of this person receives the event.
    pub person_id: String,
    /// The person's participant id in that Locus.
    pub participant_id: String,
    /// `true`: the person is not admitted (lobby, removed) and receives
    /// only their own participant, with the lobby's `info`, and nothing
    /// when the event does not carry their participant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_only: bool,
}

/// One live Mercury socket, as the admin API and the presence registry
/// describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Connection id, unique on its node.
    pub id: u64,
    /// Device the socket belongs to.
    pub device_id: String,
    /// Owner of the device.
    pub person_id: String,
    /// Node holding the socket.
    pub node: String,
    /// When the socket authenticated (RFC 3339).
    pub connected_at: String,
    /// Always true: unauthenticated sockets are not listed.
    pub authenticated: bool,
    /// Whether the client asked for `multipleConnections=true`.
    pub multiple_connections: bool,
}

/// A change in this node's sockets, for the presence registry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceChange {
    /// A socket authenticated.
    Connected(ConnectionInfo),
    /// A socket closed.
    Disconnected {
        /// Its connection id.
        id: u64,
        /// Its device.
        device_id: String,
        /// Whether it was the device's last socket on this node.
        device_offline: bool,
    },
}

/// Where the presence registry gets a full picture of this node's sockets
/// when it has to rebuild its entries (e.g. after Redis came back).
pub trait PresenceSource: Send + Sync + 'static {
    /// Every authenticated socket of this node.
    fn snapshot(&self) -> Vec<ConnectionInfo>;
}

/// Why a bus call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The bus backend (Redis) is unreachable; retrying later may help.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The message could not be encoded; retrying does not help.
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl BusError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Carries [`BusMessage`]s to every node, this one included, and keeps the
/// presence registry.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `msg` to every node (including this one).
    ///
    /// Fails promptly with [`BusError::Unavailable`] when the message cannot
    /// be delivered (Redis unreachable, frozen, or this node not yet
    /// resubscribed after an outage) rather than waiting for it to recover.
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError>;

    /// A receiver of every message published from now on, by any node.
    fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>>;

    /// How many times this node's subscription was re-established after
    /// being lost: each increment means messages published meanwhile may
    /// never reach [`Bus::subscribe`]rs. It increments once the
    /// subscription is back (so clients told to resynchronise then miss
    /// nothing more); the in-process bus stays at 0.
    fn gaps(&self) -> watch::Receiver<u64>;

    /// Records a change in this node's sockets. Never blocks; the registry is
    /// updated in the background.
    fn presence_changed(&self, change: PresenceChange);

    /// Gives the registry a way to rebuild this node's entries.
    fn attach_presence_source(&self, source: Arc<dyn PresenceSource>);

    /// Which of `device_ids` hold a socket on any node, per the registry.
    /// `None`: this bus has no registry (single node; ask the local hub).
    async fn online_devices(
        &self,
        device_ids: &[String],
    ) -> Result<Option<HashSet<String>>, BusError>;

    /// Every socket of every live node, per the registry. `None`: this bus
    /// has no registry.
    async fn connections(&self) -> Result<Option<Vec<ConnectionInfo>>, BusError>;

    /// Whether the bus can carry messages now (Redis answers a `PING`
    /// within the bus's bound); the in-process bus always can.
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    /// Stops background tasks and removes this node from the registry.
    async fn close(&self);
}

/// The in-process bus, or Redis pub/sub when `redis_url` is set.
///
/// ```
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::bus::{self, BusMessage};
///
/// let bus = bus::connect(None, "node-1").await?;
/// let mut rx = bus.subscribe();
/// bus.publish(BusMessage::DeviceGone { device_id: "d1".into() }).await?;
/// assert!(matches!(&*rx.recv().await?, BusMessage::DeviceGone { .. }));
/// # Ok(()) }
/// ```
pub async fn connect(redis_url: Option<&str>, node_id: &str) -> anyhow::Result<Arc<dyn Bus>> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisBus::connect(url, node_id).await?)),
        None => Ok(Arc::new(LocalBus::new())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let msg = BusMessage::Event {
            target: Target::Person("p1".into()),
            id: "e1".into(),
            data: serde_json::json!({"eventType": "x.y"}),
            published_at: 5,
            tracking_id: None,
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert!(text.contains(r#""type":"event""#), "{text}");
        assert!(
            text.contains(r#""target":{"kind":"person","id":"p1"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<BusMessage>(&text).unwrap(), msg);
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(BusError::Unavailable("down".into()).is_retryable());
        let bad = serde_json::from_str::<BusMessage>("{").unwrap_err();
        assert!(!BusError::Encode(bad).is_retryable());
    }
}
