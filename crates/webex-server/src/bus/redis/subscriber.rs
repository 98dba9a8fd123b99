//! The Redis subscription of one node: feeds the local broadcast, notices
//! when the subscription is lost (the connection drops, or Redis stops
//! answering on it), resubscribes with backoff, and counts each gap.
//!
//! A subscription is live only as long as Redis answers on it: a frozen
//! Redis or a half-open connection (a partition without a reset) would
//! otherwise look like a quiet channel for as long as TCP takes to notice
//! (minutes). So the subscriber pings on the subscription every
//! [`PING_EVERY`] and gives it up when no answer comes within
//! [`PING_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::CHANNEL;
use crate::bus::BusMessage;

/// How often the subscriber checks that Redis still answers on its
/// subscription.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a ping on the subscription may go unanswered before the
/// subscription counts as lost. Generous: giving a live subscription up
/// makes every client of this node reconnect.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a (re)subscription attempt may take (Redis frozen: the TCP
/// connection opens, SUBSCRIBE is never answered).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between two attempts to resubscribe: events are not
/// delivered until the subscription is back, so retry often.
const MAX_SUBSCRIBE_BACKOFF: Duration = Duration::from_secs(2);

/// Where the subscriber reports.
pub(super) struct Outputs {
    /// Every decoded message.
    pub tx: broadcast::Sender<Arc<BusMessage>>,
    /// Bumped once per gap, when the subscription is back.
    pub gaps: Arc<watch::Sender<u64>>,
    /// Notified when the subscription is back (Redis may have lost this
    /// node's presence entries).
    pub resubscribed: Arc<Notify>,
}

/// Opens a pub/sub connection subscribed to [`CHANNEL`], within
/// [`SUBSCRIBE_TIMEOUT`].
pub(super) async fn subscribe(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "SUBSCRIBE was not answered in time",
            )))
        })
}

/// Feeds `out.tx` from the Redis channel until cancelled, starting with
/// `first`; resubscribes with exponential backoff whenever the subscription
/// is lost, and bumps `out.gaps` each time it is back.
pub(super) async fn run(
    client: redis::Client,
    first: redis::aio::PubSub,
    out: Outputs,
    cancel: CancellationToken,
) {
    let mut pubsub = first;
    loop {
        if !listen(pubsub, &out.tx, &cancel).await {
            return;
        }
        metrics::counter!("webex_bus_redis_disconnects_total").increment(1);
        let Some(next) = resubscribe(&client, &cancel).await else {
            return;
        };
        pubsub = next;
        out.gaps.send_modify(|n| *n += 1);
        metrics::counter!("webex_bus_gaps_total").increment(1);
        tracing::warn!(
            "event bus: resubscribed to Redis; events published meanwhile were lost for this node"
        );
        out.resubscribed.notify_one();
    }
}

/// Forwards messages until the subscription is lost (`true`) or `cancel`
/// fires (`false`).
async fn listen(
    pubsub: redis::aio::PubSub,
    tx: &broadcast::Sender<Arc<BusMessage>>,
    cancel: &CancellationToken,
) -> bool {
    let (mut sink, mut stream) = pubsub.split();
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return false,
            msg = stream.next() => {
                let Some(msg) = msg else {
                    tracing::error!("event bus: lost the Redis subscription; reconnecting");
                    return true;
                };
                forward(&msg, tx);
            }
            _ = tick.tick() => {
                // Messages keep flowing on `stream` while the ping waits:
                // the ping is only raced against its deadline and `cancel`.
                let ping = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>());
                let answered = tokio::select! {
                    _ = cancel.cancelled() => return false,
                    r = forward_while(ping, &mut stream, tx) => r,
                };
                if !answered {
                    tracing::error!(timeout_ms = u64::try_from(PING_TIMEOUT.as_millis()).unwrap_or(u64::MAX), "event bus: Redis stopped answering on the subscription; reconnecting");
                    return true;
                }
            }
        }
    }
}

/// Runs `ping` while still forwarding what `stream` delivers; whether the
/// ping was answered in time (a closed stream counts as no).
async fn forward_while(
    ping: impl std::future::Future<
        Output = Result<redis::RedisResult<redis::Value>, tokio::time::error::Elapsed>,
    >,
    stream: &mut redis::aio::PubSubStream,
    tx: &broadcast::Sender<Arc<BusMessage>>,
) -> bool {
    tokio::pin!(ping);
    loop {
        tokio::select! {
            r = &mut ping => return matches!(r, Ok(Ok(_))),
            msg = stream.next() => {
                let Some(msg) = msg else { return false };
                forward(&msg, tx);
            }
        }
    }
}

/// Decodes one message onto the local broadcast.
fn forward(msg: &redis::Msg, tx: &broadcast::Sender<Arc<BusMessage>>) {
    match serde_json::from_slice::<BusMessage>(msg.get_payload_bytes()) {
        Ok(m) => {
            let _ = tx.send(Arc::new(m));
        }
        Err(e) => tracing::warn!(error = %e, "event bus: ignoring an undecodable message"),
    }
}

/// Subscribes again, retrying with backoff; `None` once `cancel` fires.
async fn resubscribe(
    client: &redis::Client,
    cancel: &CancellationToken,
) -> Option<redis::aio::PubSub> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = subscribe(client) => r,
        };
        match attempt {
            Ok(p) => return Some(p),
            Err(e) => {
                tracing::error!(error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "event bus: Redis is unreachable; cross-node events are not delivered until it is back");
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_SUBSCRIBE_BACKOFF);
            }
        }
    }
}
