//! One Mercury socket: the upgrade, the authorization handshake, then the
//! loop that answers pings and writes queued events until someone closes.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::SinkExt as _;
use serde::Deserialize;
use webex_wire::close;
use webex_wire::mercury::ClientFrame;

use crate::auth::{authenticate_token, hash_secret, strip_bearer};
use crate::bus::PresenceChange;
use crate::error::Query;
use crate::state::AppState;
use crate::store::Millis;
use crate::time::now_millis;

use super::frame;
use super::hub::{CloseReason, NewConn, Outbound, Registered};
use super::keepalive::{Due, Keepalive, SILENT_REASON};

/// Capacity of a socket's read buffer. Clients send only small frames
/// (authorization, pings, acks), and every idle socket pays for it.
pub const READ_BUFFER: usize = 1024;
/// How many bytes of queued frames a socket gathers before writing them
/// out. Events queued together (a group-committed batch of roster changes,
/// a burst of publishes) then leave in one write instead of one system
/// call per frame; an idle socket never allocates it.
pub const WRITE_BUFFER: usize = 16 * 1024;
/// The most queued events written before one flush.
const MAX_BATCH: usize = 64;
/// How long the server waits for its close frame to be written.
const CLOSE_WRITE_GRACE: Duration = Duration::from_secs(5);
/// How long the server waits for the client to answer a close.
const CLOSE_REPLY_GRACE: Duration = Duration::from_secs(2);
/// How long a socket closed with 1009 stays open so the client can read the
/// close frame (found by tests/it/mercury_fuzz.rs: without it, the client often
/// saw a connection reset instead of 1009).
const TOO_BIG_LINGER: Duration = Duration::from_secs(1);

/// Query parameters the official SDK adds to `webSocketUrl`. Only
/// `multipleConnections` changes behaviour; unknown ones are ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct MercuryParams {
    /// `text` (the only format served).
    pub outbound_wire_format: Option<String>,
    /// Accepted; the first frame is always `mercury.buffer_state`.
    pub buffer_states: Option<String>,
    /// Accepted and ignored.
    pub alias_http_status: Option<String>,
    /// `true`: keep other sockets of the device open (up to 8).
    pub multiple_connections: Option<String>,
    /// Client clock, accepted and ignored.
    pub client_timestamp: Option<String>,
    /// Shared-Mercury flag, accepted and ignored.
    pub mercury_registration_status: Option<String>,
}

impl MercuryParams {
    fn multiple(&self) -> bool {
        self.multiple_connections
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// Opens a device's Mercury websocket.
///
/// The upgrade carries no credentials. The client's first frame must be
/// `{"id","type":"authorization","data":{"token":"Bearer …"}}` within the
/// configured auth timeout; the server then sends
/// `{"id","sequenceNumber":1,"data":{"eventType":"mercury.buffer_state"}}`
/// and, from then on, event envelopes and pongs, each with an `id` and an
/// increasing `sequenceNumber`. Close codes: 4400 bad first frame, 4401
/// authentication failed or token revoked, 4404 unknown, deleted or expired
/// device or a device of another user (the same answer, so device ids do not
/// leak), 4000 replaced by a newer socket, 1001 server
/// shutdown, 1008 slow consumer, 1009 frame too large, 1000 `idle` for a
/// socket that answered no ping (the server pings a socket quiet for
/// `mercury_ping_interval`, 30 s by default, and closes it after twice that).
#[utoipa::path(
    get,
    path = "/mercury/v1/apps/wx2/registrations/{deviceId}/messages",
    tag = "mercury",
    params(("deviceId" = String, Path, description = "Device id from WDM"), MercuryParams),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, description = "Not a websocket upgrade request"),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    Query(params): Query<MercuryParams>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = state.config.max_frame_bytes;
    let multiple = params.multiple();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(socket, state, device_id, multiple))
}

/// How a socket's life ends.
#[derive(Debug)]
enum Ending {
    /// The server closes with this code and reason.
    Close(u16, Cow<'static, str>),
    /// The client sent a close frame; echo it.
    PeerClosed,
    /// The connection is gone (reset, EOF, write failure).
    Gone,
}

impl From<CloseReason> for Ending {
    fn from(r: CloseReason) -> Self {
        Self::Close(r.code, Cow::Borrowed(r.reason))
    }
}

async fn run(mut ws: WebSocket, state: AppState, device_id: String, multiple: bool) {
    let _session = state.hub.session();
    let ending = match handshake(&mut ws, &state, device_id, multiple).await {
        Ok((registered, expires_at)) => serve(&mut ws, &state, registered, expires_at).await,
        Err(ending) => {
            if let Ending::Close(code, _) = &ending {
                metrics::counter!("webex_mercury_auth_failures_total", "code" => code.to_string())
                    .increment(1);
            }
            ending
        }
    };
    finish(&mut ws, ending).await;
}

/// Reads the authorization frame, checks token and device, registers the
/// socket and sends `mercury.buffer_state`.
async fn handshake(
    ws: &mut WebSocket,
    state: &AppState,
    device_id: String,
    multiple: bool,
) -> Result<(Registered, Option<Millis>), Ending> {
    let revocations = state.hub.revocations();
    let text = match tokio::time::timeout(state.config.auth_timeout, next_text(ws)).await {
        Ok(text) => text?,
        Err(_) => {
            return Err(Ending::Close(
                close::AUTH_FAILED,
                "authentication did not happen within the timeout".into(),
            ));
        }
    };
    let token =
        authorization(&text).map_err(|(code, reason)| Ending::Close(code, reason.into()))?;
    let token = strip_bearer(&token);
    let (person_id, expires_at) = verify(state, token, &device_id).await?;
    let Some(registered) = state.hub.register(NewConn {
        device_id: device_id.clone(),
        person_id,
        token_hash: hash_secret(token).0,
        multiple,
    }) else {
        return Err(CloseReason::SHUTDOWN.into());
    };
    // A revocation published between `verify` and `register` did not see
    // this socket: check again.
    if state.hub.revocations() != revocations
        && let Err(e) = verify(state, token, &device_id).await
    {
        state.hub.unregister(&registered.conn);
        return Err(e);
    }
    state.bus.presence_changed(PresenceChange::Connected(
        registered.conn.info(state.hub.node_id()),
    ));
    let first = frame::buffer_state(&uuid::Uuid::new_v4().to_string(), 1, now_millis());
    if let Err(e) = send(ws, &registered, first).await {
        leave(state, &registered);
        return Err(e);
    }
    tracing::debug!(device = %device_id, conn = registered.conn.id, "mercury: socket authenticated");
    Ok((registered, expires_at))
}

/// The `data.token` of the client's first frame (`Bearer …`, as sent), or
/// the close (4400 and its reason) when it is not an authorization frame.
pub(crate) fn authorization(text: &str) -> Result<String, (u16, &'static str)> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Authorization { data, .. }) => Ok(data.token),
        Ok(_) => Err((
            close::BAD_REQUEST,
            "the first frame must be an authorization frame",
        )),
        Err(_) => Err((
            close::BAD_REQUEST,
            "the first frame is not a valid authorization frame",
        )),
    }
}

/// Checks the token and that its owner owns the device; returns the owner
/// and the device's expiry.
///
/// A device of another user closes exactly like a device that does not
/// exist (4404, "unknown device"), as HTTP answers 404 for both: the close
/// code must not tell an attacker which device ids are real.
async fn verify(
    state: &AppState,
    token: &str,
    device_id: &str,
) -> Result<(String, Option<Millis>), Ending> {
    let now = now_millis();
    let caller = match authenticate_token(state, token, now).await {
        Ok(Ok(caller)) => caller,
        Ok(Err(e)) => return Err(Ending::Close(close::AUTH_FAILED, e.to_string().into())),
        Err(_) => return Err(internal_error()),
    };
    match state.store.device(device_id).await {
        Err(e) => {
            tracing::error!(error = %e, "mercury: device lookup failed");
            Err(internal_error())
        }
        Ok(Some(d))
            if d.person_id == caller.person.id && d.expires_at.is_none_or(|exp| exp > now) =>
        {
            Ok((caller.person.id, d.expires_at))
        }
        Ok(_) => Err(Ending::Close(
            close::UNKNOWN_DEVICE,
            "unknown device".into(),
        )),
    }
}

fn internal_error() -> Ending {
    Ending::Close(
        close::INTERNAL_ERROR,
        "the server could not check the credentials; retry".into(),
    )
}

/// How long until `at` (ms since the epoch); a day when there is no expiry
/// (the timer is then re-armed and never fires on its own).
fn until(at: Option<Millis>) -> tokio::time::Instant {
    let ms = match at {
        Some(at) => u64::try_from(at.saturating_sub(now_millis())).unwrap_or(0),
        None => 24 * 3600 * 1000,
    };
    tokio::time::Instant::now() + Duration::from_millis(ms)
}

/// Serves an authenticated socket until it ends. An ephemeral device's
/// socket closes (4404) at the device's expiry, unless a refresh moved it;
/// a socket silent for two ping intervals closes with 1000 `idle`
/// ([`super::keepalive`]).
async fn serve(
    ws: &mut WebSocket,
    state: &AppState,
    mut registered: Registered,
    mut expires_at: Option<Millis>,
) -> Ending {
    // 1 was the buffer_state.
    let mut seq: u64 = 1;
    let conn = Arc::clone(&registered.conn);
    let expiry = tokio::time::sleep_until(until(expires_at));
    tokio::pin!(expiry);
    let mut keepalive = Keepalive::new(state.config.mercury_ping_interval, Instant::now());
    let check = tokio::time::sleep_until(keepalive.next_check().into());
    tokio::pin!(check);
    let ending = loop {
        tokio::select! {
            biased;
            reason = conn.close_requested() => break reason.into(),
            () = &mut check => {
                match keepalive.due(Instant::now()) {
                    Due::Close => {
                        metrics::counter!("webex_mercury_silent_closes_total").increment(1);
                        break Ending::Close(close::NORMAL, SILENT_REASON.into());
                    }
                    Due::Ping => {
                        keepalive.pinged(Instant::now());
                        let ping = tokio::select! {
                            biased;
                            reason = conn.close_requested() => Err(reason.into()),
                            sent = ws.send(Message::Ping(Default::default())) => {
                                sent.map_err(|_| Ending::Gone)
                            }
                        };
                        if let Err(e) = ping {
                            break e;
                        }
                    }
                    _ => {}
                }
                check.as_mut().reset(keepalive.next_check().into());
            }
            () = &mut expiry => {
                if expires_at.is_some() {
                    match state.store.device(&conn.device_id).await {
                        Ok(Some(d)) if d.expires_at.is_none_or(|e| e > now_millis()) => {
                            expires_at = d.expires_at;
                        }
                        Ok(_) => {
                            metrics::counter!("webex_mercury_expired_closes_total").increment(1);
                            break Ending::Close(close::UNKNOWN_DEVICE, "device expired".into());
                        }
                        // Look again shortly.
                        Err(_) => expires_at = Some(now_millis() + 1000),
                    }
                }
                expiry.as_mut().reset(until(expires_at));
            }
            incoming = ws.recv() => {
                // The check timer is not moved: when it fires early, it
                // finds nothing due and re-arms for the later time.
                if matches!(incoming, Some(Ok(_))) {
                    keepalive.heard(Instant::now());
                }
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        metrics::counter!("webex_mercury_frames_in_total").increment(1);
                        if let Some(id) = ping_id(&text) {
                            seq += 1;
                            if let Err(e) = send(ws, &registered, frame::pong(&id, seq)).await {
                                break e;
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) => break Ending::PeerClosed,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break read_error(e),
                    None => break Ending::Gone,
                }
            }
            Some(out) = registered.rx.recv() => {
                if let Err(e) = send_queued(ws, &mut registered, &mut seq, out).await {
                    break e;
                }
            }
        }
    };
    leave(state, &registered);
    ending
}

fn leave(state: &AppState, registered: &Registered) {
    let conn = &registered.conn;
    let device_offline = state.hub.unregister(conn);
    state.bus.presence_changed(PresenceChange::Disconnected {
        id: conn.id,
        device_id: conn.device_id.to_string(),
        device_offline,
    });
}

/// The id of a ping frame; `None` for anything else (acks, unknown frames,
/// non-JSON text), which is ignored.
pub(crate) fn ping_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Incoming<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow)]
        id: Option<Cow<'a, str>>,
    }
    let incoming: Incoming<'_> = serde_json::from_str(text).ok()?;
    if incoming.kind.as_deref() == Some("ping") {
        incoming.id.map(Cow::into_owned)
    } else {
        None
    }
}

/// Writes one text frame, unless a close is requested meanwhile (a client
/// that stopped reading must not hold the task forever).
async fn send(ws: &mut WebSocket, registered: &Registered, text: String) -> Result<(), Ending> {
    tokio::select! {
        biased;
        reason = registered.conn.close_requested() => Err(reason.into()),
        sent = ws.send(Message::Text(text.into())) => {
            metrics::counter!("webex_mercury_frames_out_total").increment(1);
            sent.map_err(|_| Ending::Gone)
        }
    }
}

/// Writes `first` and the events already queued behind it (at most
/// [`MAX_BATCH`]), numbered from `seq`, then flushes once: a burst costs a
/// socket a few writes instead of one per frame. A requested close still
/// interrupts it.
async fn send_queued(
    ws: &mut WebSocket,
    registered: &mut Registered,
    seq: &mut u64,
    first: Outbound,
) -> Result<(), Ending> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(out) = next.take() {
        *seq += 1;
        let text = match out {
            Outbound::Event(event) => event.render(*seq),
        };
        tokio::select! {
            biased;
            reason = registered.conn.close_requested() => return Err(reason.into()),
            fed = ws.feed(Message::Text(text.into())) => fed.map_err(|_| Ending::Gone)?,
        }
        written += 1;
        if written < MAX_BATCH {
            next = registered.rx.try_recv().ok();
        }
    }
    metrics::counter!("webex_mercury_frames_out_total").increment(written as u64);
    tokio::select! {
        biased;
        reason = registered.conn.close_requested() => Err(reason.into()),
        flushed = ws.flush() => flushed.map_err(|_| Ending::Gone),
    }
}

/// The next text frame of the handshake.
async fn next_text(ws: &mut WebSocket) -> Result<Utf8Bytes, Ending> {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Binary(_))) => {
                return Err(Ending::Close(
                    close::BAD_REQUEST,
                    "the first frame must be a JSON text authorization frame".into(),
                ));
            }
            Some(Ok(Message::Close(_))) => return Err(Ending::PeerClosed),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(read_error(e)),
            None => return Err(Ending::Gone),
        }
    }
}

fn read_error(e: axum::Error) -> Ending {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) if matches!(*e, tungstenite::Error::Capacity(_)) => Ending::Close(
            close::MESSAGE_TOO_BIG,
            "frame larger than the server accepts".into(),
        ),
        _ => Ending::Gone,
    }
}

/// Closes the socket the way `ending` says, bounded in time.
///
/// A client's close is echoed by tungstenite with the client's own code
/// (1000, 3050 and 3000–4999 as sent). Codes a websocket may not carry on the
/// wire, such as 1050 which the official SDK can send on logout, are answered
/// with 1002 instead, just as promptly.
async fn finish(ws: &mut WebSocket, ending: Ending) {
    match ending {
        Ending::Gone => {}
        Ending::PeerClosed => {
            let _ = tokio::time::timeout(CLOSE_REPLY_GRACE, drain(ws)).await;
        }
        Ending::Close(code, reason) => {
            tracing::debug!(code, reason = %reason, "mercury: closing socket");
            let frame = CloseFrame {
                code,
                reason: frame::close_reason(&reason).to_owned().into(),
            };
            let sent =
                tokio::time::timeout(CLOSE_WRITE_GRACE, ws.send(Message::Close(Some(frame)))).await;
            if matches!(sent, Ok(Ok(()))) {
                let _ = tokio::time::timeout(CLOSE_REPLY_GRACE, drain(ws)).await;
                if code == close::MESSAGE_TOO_BIG {
                    // The rest of the oversized frame is still unread and
                    // cannot be drained. Closing now makes the kernel answer
                    // with a reset, which can discard the close frame before
                    // the client reads it; let the client read it first.
                    tokio::time::sleep(TOO_BIG_LINGER).await;
                }
            }
        }
    }
}

/// Reads until the stream ends: this drives tungstenite's automatic echo of
/// the client's close, and receives the client's answer to ours.
async fn drain(ws: &mut WebSocket) {
    while let Some(Ok(_)) = ws.recv().await {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_recognized_and_everything_else_ignored() {
        assert_eq!(ping_id(r#"{"id":"a","type":"ping"}"#), Some("a".into()));
        assert_eq!(
            ping_id(r#"{"id":"a\"b","type":"ping"}"#),
            Some("a\"b".into())
        );
        assert_eq!(ping_id(r#"{"messageId":"a","type":"ack"}"#), None);
        assert_eq!(ping_id(r#"{"type":"ping"}"#), None);
        assert_eq!(ping_id("not json"), None);
        assert_eq!(ping_id(r#"{"type":"ping","id":5}"#), None);
    }

    #[test]
    fn multiple_connections_flag() {
        let p = |v: &str| MercuryParams {
            multiple_connections: Some(v.into()),
            ..MercuryParams::default()
        };
        assert!(p("true").multiple());
        assert!(p("TRUE").multiple());
        assert!(!p("false").multiple());
        assert!(!MercuryParams::default().multiple());
    }
}
