//! Offers carried to the meeting's anchor node over the bus, and the
//! anchor's answers carried back.
//!
//! A request is one [`BusMessage::MediaOffer`] naming the anchor; the
//! anchor answers with one [`BusMessage::MediaAnswer`] naming the asker.
//! Every node sees both (the bus is a broadcast); only the named one acts.
//! The asker waits [`RELAY_TIMEOUT`]; no answer means the anchor is gone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Answered, MediaFailure, RelayedOffer};
use crate::bus::BusMessage;
use crate::state::AppState;

/// How long an offer waits for its anchor's answer.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

type Reply = Result<Answered, MediaFailure>;

/// Offers this node relayed and waits answers for.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, oneshot::Sender<Reply>>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Reply>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The anchor did not answer (or the bus could not carry the offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoAnswer;

/// Carries `offer` to `anchor` and waits for its answer.
pub async fn ask(state: &AppState, anchor: &str, offer: RelayedOffer) -> Result<Reply, NoAnswer> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    state.media.relay.lock().insert(request_id.clone(), tx);
    let msg = BusMessage::MediaOffer {
        to: anchor.to_owned(),
        from: state.config.node_id.clone(),
        request_id: request_id.clone(),
        offer,
    };
    let result = match state.bus.publish(msg).await {
        Ok(()) => match tokio::time::timeout(RELAY_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(NoAnswer),
        },
        Err(e) => {
            tracing::warn!(error = %e, "media: could not relay an offer");
            Err(NoAnswer)
        }
    };
    state.media.relay.lock().remove(&request_id);
    metrics::counter!("webex_media_relayed_offers_total", "outcome" => if result.is_ok() { "answered" } else { "unanswered" }).increment(1);
    result
}

/// Handles the relay messages of the bus on this node: answers offers
/// addressed to it (in a task of their own), completes its waiting asks.
pub fn on_bus_message(state: &AppState, msg: &BusMessage) {
    match msg {
        BusMessage::MediaOffer {
            to,
            from,
            request_id,
            offer,
        } if *to == state.config.node_id => {
            let (state, from, request_id, offer) = (
                state.clone(),
                from.clone(),
                request_id.clone(),
                offer.clone(),
            );
            tokio::spawn(async move {
                let result = super::answer_here(&state, offer).await;
                let reply = BusMessage::MediaAnswer {
                    to: from,
                    request_id,
                    result,
                };
                if let Err(e) = state.bus.publish(reply).await {
                    tracing::warn!(error = %e, "media: could not send a relayed answer back");
                }
            });
        }
        BusMessage::MediaAnswer {
            to,
            request_id,
            result,
        } if *to == state.config.node_id => {
            if let Some(tx) = state.media.relay.lock().remove(request_id) {
                let _ = tx.send(result.clone());
            }
        }
        _ => {}
    }
}
