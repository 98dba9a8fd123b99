//! One authenticated socket: the handshake, then the frame pump (acks,
//! events, ping/pong, sequence numbers) until it drops or is cancelled.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use url::Url;
use webex_wire::close;
use webex_wire::mercury::{BUFFER_STATE, ClientFrame, REGISTRATION_STATUS, ServerFrame};

use super::policy::{self, Step};
use super::transport::{self, Failure, Socket};
use super::{MercuryError, MercuryEvent, MercuryOptions};

/// How long a closing socket waits for the server's close echo.
pub(super) const CLOSE_ECHO_WAIT: Duration = Duration::from_secs(2);

/// Why a live connection ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// `close()` (or dropping the client) asked it to stop; the socket was
    /// closed with 1000 "Done".
    Cancelled,
    /// The socket dropped.
    Dropped(Disconnect),
}

/// A dropped socket.
#[derive(Debug)]
pub(super) struct Disconnect {
    /// Close code from the server, if it sent one.
    pub(super) code: Option<u16>,
    /// Close reason or error text.
    pub(super) reason: String,
    /// What to do about it.
    pub(super) step: Step,
}

impl Disconnect {
    fn network(reason: impl Into<String>) -> Self {
        Self {
            code: None,
            reason: reason.into(),
            step: Step::Retry,
        }
    }

    /// The error reported when this drop ends the client.
    pub(super) fn error(&self) -> MercuryError {
        match self.code {
            Some(code) => MercuryError::Closed {
                code,
                reason: self.reason.clone(),
            },
            None => MercuryError::Connect(self.reason.clone()),
        }
    }
}

/// An open, authenticated socket.
pub(super) struct Connection {
    socket: Socket,
    /// Event frames that arrived before the handshake completed.
    early: Vec<ServerFrame>,
    last_sequence: Option<u64>,
}

impl Connection {
    /// Opens `url`, authenticates with `token` and waits for the server's
    /// buffer_state, within the option's deadlines.
    pub(super) async fn establish(
        url: &Url,
        token: &SecretString,
        options: &MercuryOptions,
    ) -> Result<Self, Failure> {
        let cap = options.backoff_max.saturating_mul(4);
        let socket = timeout(
            options.connect_timeout,
            transport::open(url, options.proxy.as_ref(), &options.root_certificates, cap),
        )
        .await
        .map_err(|_| MercuryError::ConnectTimeout(options.connect_timeout))??;
        let mut conn = Self {
            socket,
            early: Vec::new(),
            last_sequence: None,
        };
        timeout(options.handshake_timeout, conn.authenticate(token))
            .await
            .map_err(|_| MercuryError::HandshakeTimeout(options.handshake_timeout))??;
        Ok(conn)
    }

    /// Sends the authorization frame and reads until the buffer_state (or
    /// registration_status) arrives.
    async fn authenticate(&mut self, token: &SecretString) -> Result<(), MercuryError> {
        let frame = ClientFrame::authorization(
            uuid::Uuid::new_v4().to_string(),
            token.expose_secret(),
            Some(tracking_id()),
        );
        self.send(&frame)
            .await
            .map_err(|e| MercuryError::Connect(format!("sending authorization: {e}")))?;
        loop {
            let message = match self.socket.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    return Err(MercuryError::Connect(format!("during handshake: {e}")));
                }
                None => {
                    return Err(MercuryError::Closed {
                        code: close::ABNORMAL,
                        reason: "connection lost during handshake".into(),
                    });
                }
            };
            match message {
                Message::Close(frame) => {
                    let (code, reason) = close_parts(frame.as_ref());
                    return Err(MercuryError::Closed { code, reason });
                }
                Message::Text(_) | Message::Binary(_) => {
                    let Some(frame) = parse(&message) else {
                        self.ack_unreadable(&message)
                            .await
                            .map_err(|e| MercuryError::Connect(format!("during handshake: {e}")))?;
                        continue;
                    };
                    self.ack(&frame)
                        .await
                        .map_err(|e| MercuryError::Connect(format!("during handshake: {e}")))?;
                    self.note_sequence(&frame);
                    match frame.event_type() {
                        _ if frame.is_pong() => {}
                        Some(BUFFER_STATE) | Some(REGISTRATION_STATUS) => return Ok(()),
                        _ => {
                            tracing::debug!(event_type = ?frame.event_type(), "event before buffer_state; delivering it after the handshake");
                            self.early.push(frame);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Pumps frames until the socket drops or `cancel` fires. Events go to
    /// `events`; pings go out right away and `ping_interval` after each pong.
    pub(super) async fn run(
        mut self,
        options: &MercuryOptions,
        events: &mpsc::UnboundedSender<MercuryEvent>,
        cancel: &CancellationToken,
    ) -> Ended {
        for frame in std::mem::take(&mut self.early) {
            let _ = events.send(MercuryEvent::Message(Box::new(frame)));
        }
        let mut next_ping = Instant::now();
        // The id and deadline of the ping awaiting its pong.
        let mut awaiting: Option<(String, Instant)> = None;
        loop {
            let deadline = awaiting.as_ref().map_or(next_ping, |(_, d)| *d);
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.close(close::NORMAL, "Done").await;
                    return Ended::Cancelled;
                }
                () = sleep_until(deadline) => {
                    if awaiting.is_some() {
                        tracing::info!(timeout = ?options.pong_timeout, "pong not received; reconnecting");
                        self.close(close::NORMAL, "Pong not received").await;
                        return Ended::Dropped(Disconnect::network("pong not received"));
                    }
                    let id = uuid::Uuid::new_v4().to_string();
                    if let Err(e) = self.send(&ClientFrame::Ping { id: id.clone() }).await {
                        return Ended::Dropped(Disconnect::network(format!("sending ping: {e}")));
                    }
                    awaiting = Some((id, Instant::now() + options.pong_timeout));
                }
                message = self.socket.next() => {
                    let message = match message {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Ended::Dropped(Disconnect::network(e.to_string())),
                        None => return Ended::Dropped(Disconnect {
                            code: Some(close::ABNORMAL),
                            reason: "connection closed without a close frame".into(),
                            step: Step::Retry,
                        }),
                    };
                    if let Message::Close(frame) = &message {
                        let (code, reason) = close_parts(frame.as_ref());
                        // Let tungstenite flush its echo of the close.
                        let _ = timeout(CLOSE_ECHO_WAIT, self.socket.close(None)).await;
                        return Ended::Dropped(Disconnect { code: Some(code), reason, step: policy::after_close(code) });
                    }
                    let Some(frame) = parse(&message) else {
                        if let Err(e) = self.ack_unreadable(&message).await {
                            return Ended::Dropped(Disconnect::network(format!("sending ack: {e}")));
                        }
                        continue;
                    };
                    if let Err(e) = self.ack(&frame).await {
                        return Ended::Dropped(Disconnect::network(format!("sending ack: {e}")));
                    }
                    if frame.is_pong() {
                        match &awaiting {
                            Some((id, _)) if *id == frame.id => {
                                awaiting = None;
                                next_ping = Instant::now() + options.ping_interval;
                            }
                            _ => tracing::debug!(pong = %frame.id, "ignoring a pong for another ping"),
                        }
                        continue;
                    }
                    self.note_sequence(&frame);
                    if frame.event_type() == Some(BUFFER_STATE) {
                        continue;
                    }
                    let _ = events.send(MercuryEvent::Message(Box::new(frame)));
                }
            }
        }
    }

    /// Sends a close frame and waits (bounded) for the server's echo.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        let _ = timeout(CLOSE_ECHO_WAIT, async {
            if self.socket.close(Some(frame)).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }

    async fn send(
        &mut self,
        frame: &ClientFrame,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let text = serde_json::to_string(frame)
            .map_err(|e| tokio_tungstenite::tungstenite::Error::Io(std::io::Error::other(e)))?;
        self.socket.send(Message::text(text)).await
    }

    async fn ack(
        &mut self,
        frame: &ServerFrame,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.send(&ClientFrame::Ack {
            message_id: frame.id.clone(),
        })
        .await
    }

    /// Acknowledges a frame this client cannot read but that has an `id`
    /// (the server would otherwise redeliver it); does nothing for one
    /// without.
    async fn ack_unreadable(
        &mut self,
        message: &Message,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let Some(id) = frame_id(message) else {
            return Ok(());
        };
        self.send(&ClientFrame::Ack { message_id: id }).await
    }

    /// Logs a gap in the server's per-connection sequence numbers.
    fn note_sequence(&mut self, frame: &ServerFrame) {
        let Some(seq) = frame.sequence_number else {
            return;
        };
        if let Some(last) = self.last_sequence
            && seq != last.saturating_add(1)
        {
            tracing::debug!(
                expected = last.saturating_add(1),
                got = seq,
                "mercury sequence gap"
            );
        }
        self.last_sequence = Some(seq);
    }
}

/// A server frame from a text (or binary) message; `None` for anything that
/// is not a JSON object with an `id`.
pub(crate) fn parse(message: &Message) -> Option<ServerFrame> {
    let parsed = match message {
        Message::Text(text) => serde_json::from_str(text.as_str()),
        Message::Binary(bytes) => serde_json::from_slice(bytes),
        _ => return None,
    };
    match parsed {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::debug!(error = %e, "ignoring a frame that is not a Mercury frame");
            None
        }
    }
}

/// The string `id` of a JSON object message, whatever else it holds.
fn frame_id(message: &Message) -> Option<String> {
    let value: serde_json::Value = match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok()?,
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok()?,
        _ => return None,
    };
    value.get("id")?.as_str().map(str::to_owned)
}

/// Code and reason of a received close frame (1005 when it had none).
fn close_parts(frame: Option<&CloseFrame>) -> (u16, String) {
    match frame {
        Some(f) => (u16::from(f.code), f.reason.to_string()),
        None => (1005, String::new()),
    }
}

/// A tracking id for the authorization frame: `webex-rs_<uuid>`.
fn tracking_id() -> String {
    format!("webex-rs_{}", uuid::Uuid::new_v4())
}
