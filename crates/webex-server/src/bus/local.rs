//! The single-node bus: a broadcast channel inside the process.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};

use super::{
    Bus, BusError, BusMessage, ConnectionInfo, PresenceChange, PresenceSource, SUBSCRIBER_CAPACITY,
};

/// In-process bus: what one node publishes, the same node receives.
///
/// ```
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::bus::{Bus, BusMessage, LocalBus};
///
/// let bus = LocalBus::new();
/// let mut rx = bus.subscribe();
/// bus.publish(BusMessage::TokenRevoked { token_hash: "ab".into() }).await?;
/// assert!(matches!(&*rx.recv().await?, BusMessage::TokenRevoked { .. }));
/// # Ok(()) }
/// ```
pub struct LocalBus {
    tx: broadcast::Sender<Arc<BusMessage>>,
    /// Never bumped: nothing stands between a publish and its delivery.
    gaps: watch::Sender<u64>,
}

impl LocalBus {
    /// A bus with no subscribers yet.
    pub fn new() -> Self {
        Self {
            tx: broadcast::Sender::new(SUBSCRIBER_CAPACITY),
            gaps: watch::Sender::new(0),
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        // No subscriber means no socket to deliver to: not an error.
        let _ = self.tx.send(Arc::new(msg));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.tx.subscribe()
    }

    fn gaps(&self) -> watch::Receiver<u64> {
        self.gaps.subscribe()
    }

    fn presence_changed(&self, _change: PresenceChange) {}

    fn attach_presence_source(&self, _source: Arc<dyn PresenceSource>) {}

    async fn online_devices(
        &self,
        _device_ids: &[String],
    ) -> Result<Option<HashSet<String>>, BusError> {
        Ok(None)
    }

    async fn connections(&self) -> Result<Option<Vec<ConnectionInfo>>, BusError> {
        Ok(None)
    }

    async fn close(&self) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_every_message() {
        let bus = LocalBus::new();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(BusMessage::DeviceGone {
            device_id: "d".into(),
        })
        .await
        .unwrap();
        assert_eq!(a.recv().await.unwrap(), b.recv().await.unwrap());
        assert_eq!(bus.online_devices(&["d".into()]).await.unwrap(), None);
        assert_eq!(*bus.gaps().borrow(), 0, "the in-process bus has no gaps");
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_fine() {
        let bus = LocalBus::new();
        bus.publish(BusMessage::DeviceGone {
            device_id: "d".into(),
        })
        .await
        .unwrap();
    }
}
