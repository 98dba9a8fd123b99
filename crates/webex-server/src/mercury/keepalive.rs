//! Keeping authenticated Mercury sockets honest: the server pings a socket
//! it has not heard from for one interval, and closes one it has not heard
//! from for two (its ping went unanswered for a whole interval).
//!
//! Any frame from the client counts as hearing from it: a pong (browsers,
//! Node's `ws` and tungstenite answer pings on their own), an application
//! `ping`, an ack.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use webex_server::mercury::keepalive::{Keepalive, Due};
//!
//! let start = Instant::now();
//! let s = Duration::from_secs(1);
//! let mut k = Keepalive::new(s, start);
//! assert_eq!(k.due(start), Due::Nothing);
//! assert_eq!(k.due(start + s), Due::Ping);
//! k.pinged(start + s);
//! assert_eq!(k.due(start + s + s / 2), Due::Nothing);
//! assert_eq!(k.due(start + 2 * s), Due::Close);
//! k.heard(start + 2 * s);
//! assert_eq!(k.due(start + 2 * s), Due::Nothing);
//! ```

use std::time::{Duration, Instant};

/// The reason sent with the close of a silent socket (code
/// [`webex_wire::close::NORMAL`]): the official SDK reconnects on a 1000
/// whose reason is `idle`, as it does with Webex's own Mercury.
pub const SILENT_REASON: &str = "idle";

/// What a socket's keepalive asks for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Due {
    /// Nothing until [`Keepalive::next_check`].
    Nothing,
    /// Send a ping.
    Ping,
    /// The client has been silent too long: close.
    Close,
}

/// One socket's keepalive state.
#[derive(Debug, Clone)]
pub struct Keepalive {
    interval: Duration,
    last_heard: Instant,
    last_pinged: Option<Instant>,
}

impl Keepalive {
    /// Keepalive with `interval` (at least 10 ms), counting from `now`.
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval: interval.max(Duration::from_millis(10)),
            last_heard: now,
            last_pinged: None,
        }
    }

    /// The client sent a frame at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.last_pinged = None;
    }

    /// A ping was sent at `now`.
    pub fn pinged(&mut self, now: Instant) {
        self.last_pinged = Some(now);
    }

    /// What is due at `now`.
    pub fn due(&self, now: Instant) -> Due {
        let silent = now.saturating_duration_since(self.last_heard);
        if silent >= 2 * self.interval {
            Due::Close
        } else if silent >= self.interval && self.last_pinged.is_none() {
            Due::Ping
        } else {
            Due::Nothing
        }
    }

    /// When to look again.
    pub fn next_check(&self) -> Instant {
        match self.last_pinged {
            None => self.last_heard + self.interval,
            Some(_) => self.last_heard + 2 * self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chatty_client_is_never_pinged() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let mut k = Keepalive::new(i, t0);
        for n in 1..50u32 {
            let now = t0 + i * n / 2;
            assert_eq!(k.due(now), Due::Nothing);
            k.heard(now);
        }
    }

    #[test]
    fn next_check_follows_the_state() {
        let t0 = Instant::now();
        let i = Duration::from_millis(100);
        let mut k = Keepalive::new(i, t0);
        assert_eq!(k.next_check(), t0 + i);
        k.pinged(t0 + i);
        assert_eq!(k.next_check(), t0 + 2 * i);
        assert_eq!(k.due(k.next_check()), Due::Close);
    }
}
