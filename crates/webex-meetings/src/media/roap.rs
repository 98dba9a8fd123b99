//! ROAP over Locus (`media-protocol.md` §2): every message is one
//! `PUT {selfUrl}/media` whose answer carries the server's message and the
//! full Locus (applied to the meeting). TURN discovery first (seq 0), then
//! the OFFER (seq 1 for a new peer connection) answered in the HTTP
//! response; an `OK` follows an answer without `noOkInTransaction`; the
//! re-offerable errors (`DOUBLECONFLICT`, `INVALID_STATE`, `OUT_OF_ORDER`,
//! `RETRY`) are re-offered at most twice, any other is a typed error.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use webex_wire::locus::{JoinDevice, Locus};
use webex_wire::roap::{
    self, ErrorType, LocalMedia, LocalSdp, MediaRequest, MediaResponse, MessageType, RoapMessage,
    TurnServer,
};

use super::MediaError;
use crate::http::Http;
use crate::locus::MeetingError;

/// Re-offers after a re-offerable ROAP error, as the official SDK.
const MAX_REOFFERS: u32 = 2;

/// Applies a Locus from a `/media` answer to the meeting.
pub(crate) type ApplyLocus = Box<dyn Fn(Locus) + Send + Sync>;
/// The Locus `sequence` the meeting holds now (for mute-only requests).
pub(crate) type CurrentSequence = Box<dyn Fn() -> Option<serde_json::Value> + Send + Sync>;

/// Sends `/media` requests for one participant and device.
pub(crate) struct Signal {
    pub(crate) http: Http,
    /// `self.url`: `{locusUrl}/participant/{selfId}`.
    pub(crate) self_url: String,
    pub(crate) device_url: String,
    pub(crate) correlation_id: String,
    /// The `mediaId` the server gave (echoed from then on).
    pub(crate) media_id: Mutex<Option<String>>,
    /// Deadline of one request.
    pub(crate) limit: Duration,
    pub(crate) apply: ApplyLocus,
    pub(crate) sequence: CurrentSequence,
    /// One `/media` request in flight at a time, as the official SDK.
    pub(crate) in_flight: tokio::sync::Mutex<()>,
}

/// The mute flags every request carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) audio_muted: bool,
    pub(crate) video_muted: bool,
}

impl Signal {
    /// One `/media` request: `roap` (or none: mute only); returns the
    /// server's ROAP message, if it sent one.
    pub(crate) async fn put(
        &self,
        roap: Option<RoapMessage>,
        flags: Flags,
    ) -> Result<Option<RoapMessage>, MediaError> {
        let _one = self.in_flight.lock().await;
        let mute_only = roap.is_none();
        let local = LocalSdp {
            audio_muted: flags.audio_muted,
            video_muted: flags.video_muted,
            roap_message: roap,
            reachability: None,
        };
        let local_sdp = serde_json::to_string(&local)
            .map_err(|e| MediaError::Local(format!("encoding localSdp: {e}")))?;
        let media_id = self
            .media_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let body = MediaRequest {
            device: JoinDevice {
                url: self.device_url.clone(),
                device_type: "WEB".into(),
                ..JoinDevice::default()
            },
            correlation_id: Some(self.correlation_id.clone()),
            local_medias: vec![LocalMedia {
                local_sdp,
                media_id,
            }],
            client_media_preferences: Some(serde_json::json!({
                "ipver": 4, "joinCookie": {}, "preferTranscoding": true
            })),
            resp_only_sdp: mute_only.then_some(true),
            sequence: if mute_only { (self.sequence)() } else { None },
        };
        let answer: MediaResponse = tokio::time::timeout(
            self.limit,
            crate::locus::requests::media(&self.http, &self.self_url, &body),
        )
        .await
        .unwrap_or(Err(MeetingError::Timeout {
            operation: "media",
            after: self.limit,
        }))?;
        if let Some(id) = answer
            .media_connections
            .first()
            .and_then(|c| c.media_id.clone())
        {
            *self.media_id.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
        }
        let message = answer
            .roap_message()
            .map_err(|e| MediaError::MalformedAnswer(format!("`remoteSdp` is not ROAP: {e}")))?;
        (self.apply)(answer.locus);
        Ok(message)
    }
}

/// TURN discovery: the TURN server, or `None` (empty values, or a 404:
/// "continuing without TURN", as the official SDK does).
pub(crate) async fn turn_discovery(
    signal: &Signal,
    flags: Flags,
) -> Result<Option<TurnServer>, MediaError> {
    let reply = match signal
        .put(Some(RoapMessage::turn_discovery_request()), flags)
        .await
    {
        Ok(reply) => reply,
        Err(MediaError::Request(e)) if matches!(*e, MeetingError::AddressNotFound { .. }) => {
            tracing::debug!("TURN discovery answered 404: continuing without TURN");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(reply.and_then(|m| turn_of(&m)))
}

/// The TURN server a `TURN_DISCOVERY_RESPONSE` names (all three headers
/// non-empty), else `None`.
pub(crate) fn turn_of(message: &RoapMessage) -> Option<TurnServer> {
    if message.message_type != MessageType::TurnDiscoveryResponse {
        return None;
    }
    let value = |name| {
        message
            .header_value(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Some(TurnServer {
        url: value(roap::TURN_URL_HEADER)?,
        username: value(roap::TURN_USERNAME_HEADER)?,
        password: value(roap::TURN_PASSWORD_HEADER)?,
    })
}

/// What to do with the server's reply to the offer `seq`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The answer's SDP; `ok`: an `OK` must follow.
    Answer { sdp: String, ok: bool },
    /// Offer again with this seq.
    Reoffer { seq: u64 },
}

/// Reads the server's reply to the offer `seq` (`reoffers` made so far).
pub(crate) fn read_reply(
    reply: Option<RoapMessage>,
    seq: u64,
    reoffers: u32,
) -> Result<Reply, MediaError> {
    let Some(m) = reply else {
        return Err(MediaError::MalformedAnswer(
            "the /media answer carries no ROAP message (the SDK asked for it in the HTTP response)"
                .into(),
        ));
    };
    match m.message_type {
        MessageType::Answer => {
            if m.seq != seq {
                return Err(MediaError::MalformedAnswer(format!(
                    "the ANSWER has seq {}, the offer had {seq}",
                    m.seq
                )));
            }
            let sdp = match m.sdps.as_slice() {
                [sdp] if !sdp.trim().is_empty() => sdp.clone(),
                _ => {
                    return Err(MediaError::MalformedAnswer(
                        "the ANSWER must hold exactly one non-empty SDP".into(),
                    ));
                }
            };
            Ok(Reply::Answer {
                sdp,
                ok: !m.has_header(roap::NO_OK_IN_TRANSACTION),
            })
        }
        MessageType::Error => {
            let error_type = m.error_type.unwrap_or(ErrorType::Unknown);
            if error_type.client_reoffers() && reoffers < MAX_REOFFERS {
                // RETRY: the same transaction again; the others: a new one.
                let next = if error_type == ErrorType::Retry {
                    seq
                } else {
                    seq + 1
                };
                return Ok(Reply::Reoffer { seq: next });
            }
            Err(MediaError::Roap {
                error_type,
                cause: m.error_cause.unwrap_or_default(),
            })
        }
        // Glare: the server offered while this offer was in flight. The
        // client's tie-breaker (0xFFFFFFFE) wins; offer again.
        MessageType::Offer if reoffers < MAX_REOFFERS => Ok(Reply::Reoffer { seq: seq + 1 }),
        other => Err(MediaError::MalformedAnswer(format!(
            "expected an ANSWER to the offer, got {other:?}"
        ))),
    }
}

/// Offers `sdp` (seq `first_seq`), following the ROAP rules; the answer's
/// SDP and the seq it answered.
pub(crate) async fn offer(
    signal: &Signal,
    first_seq: u64,
    sdp: &str,
    flags: Flags,
) -> Result<(String, u64), MediaError> {
    let mut seq = first_seq;
    let mut reoffers = 0;
    loop {
        let reply = signal
            .put(Some(RoapMessage::offer(seq, sdp.to_owned())), flags)
            .await?;
        match read_reply(reply, seq, reoffers)? {
            Reply::Answer { sdp, ok } => {
                if ok {
                    signal.put(Some(RoapMessage::ok(seq)), flags).await?;
                }
                return Ok((sdp, seq));
            }
            Reply::Reoffer { seq: next } => {
                tracing::debug!(seq, next, "media: re-offering after a ROAP error or glare");
                reoffers += 1;
                seq = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_matched_by_seq_and_ok_follows_without_the_header() {
        let a = RoapMessage::answer(1, "v=0".into());
        assert_eq!(
            read_reply(Some(a.clone()), 1, 0),
            Ok(Reply::Answer {
                sdp: "v=0".into(),
                ok: false
            })
        );
        assert!(matches!(
            read_reply(Some(a.clone()), 2, 0),
            Err(MediaError::MalformedAnswer(_))
        ));
        let mut with_ok = a;
        with_ok.headers.clear();
        assert!(matches!(
            read_reply(Some(with_ok), 1, 0),
            Ok(Reply::Answer { ok: true, .. })
        ));
        assert!(read_reply(None, 1, 0).is_err());
    }

    #[test]
    fn reofferable_errors_are_reoffered_twice_then_fail() {
        let retry = RoapMessage::error(3, ErrorType::Retry, "anchor moved");
        assert_eq!(
            read_reply(Some(retry.clone()), 3, 0),
            Ok(Reply::Reoffer { seq: 3 })
        );
        let glare = RoapMessage::error(3, ErrorType::Doubleconflict, "glare");
        assert_eq!(read_reply(Some(glare), 3, 1), Ok(Reply::Reoffer { seq: 4 }));
        assert!(matches!(
            read_reply(Some(retry), 3, 2),
            Err(MediaError::Roap {
                error_type: ErrorType::Retry,
                ..
            })
        ));
        let refused = RoapMessage::error(1, ErrorType::Refused, "full");
        let e = read_reply(Some(refused), 1, 0);
        assert!(
            matches!(&e, Err(MediaError::Roap { error_type: ErrorType::Refused, cause }) if cause == "full")
        );
        assert!(e.is_err_and(|e| !e.is_retryable()));
    }

    #[test]
    fn turn_discovery_needs_all_three_values() {
        let none = RoapMessage::turn_discovery_response(0, None);
        assert_eq!(turn_of(&none), None);
        let turn = TurnServer {
            url: "turn:127.0.0.1:3478".into(),
            username: "u".into(),
            password: "p".into(),
        };
        let some = RoapMessage::turn_discovery_response(0, Some(&turn));
        assert_eq!(turn_of(&some), Some(turn));
    }
}
