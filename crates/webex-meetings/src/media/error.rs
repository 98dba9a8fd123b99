//! [`MediaError`]: why meeting media could not start, broke, or refused a
//! call, and whether trying again helps.

use std::sync::Arc;
use std::time::Duration;

use webex_wire::roap::ErrorType;

use crate::locus::MeetingError;

/// Why a media call (`add_media`, `mute_audio`, `send_*`, …) failed, or why
/// the media of a meeting stopped (`meeting:media:failed`).
///
/// ```
/// use webex_meetings::MediaError;
/// use webex_meetings::webex_wire::roap::ErrorType;
/// let full = MediaError::Roap { error_type: ErrorType::Refused, cause: "meeting full".into() };
/// assert!(!full.is_retryable());
/// assert!(MediaError::ConnectTimeout { after: std::time::Duration::from_secs(20) }.is_retryable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// This device is not in the meeting: `join()` first.
    #[error("media needs this device to be in the meeting: join() first")]
    NotJoined,
    /// `add_media` was called while the meeting already has media.
    #[error("this meeting already has media: stop_media() first")]
    AlreadyStarted,
    /// There is no media to act on (never added, stopped, or torn down).
    #[error("this meeting has no media (never added, or stopped)")]
    NotStarted,
    /// The option asked for cannot be honoured (e.g. sending audio with no
    /// audio source, a PCM frame of the wrong length).
    #[error("invalid media input: {0}")]
    InvalidInput(String),
    /// The `/media` request failed (HTTP, network, Locus refusal).
    #[error("media request failed: {0}")]
    Request(Arc<MeetingError>),
    /// The server answered the offer with a ROAP `ERROR` it does not want
    /// re-offered (`REFUSED`: the meeting's media is full or off,
    /// `NOMATCH`, `FAILED`, …), or a re-offerable one more often than the
    /// SDK retries.
    #[error("the server refused the media offer ({error_type:?}): {cause}")]
    Roap {
        /// The ROAP `errorType`.
        error_type: ErrorType,
        /// The server's `errorCause`.
        cause: String,
    },
    /// The server's answer could not be read or applied (not a ROAP
    /// message, wrong `seq`, SDP str0m refuses).
    #[error("malformed media answer: {0}")]
    MalformedAnswer(String),
    /// The local WebRTC stack failed (socket, offer creation, a panic inside
    /// it).
    #[error("local media failure: {0}")]
    Local(String),
    /// ICE and DTLS did not connect in time.
    #[error("media did not connect within {after:?}")]
    ConnectTimeout {
        /// The deadline.
        after: Duration,
    },
    /// The TURN server handed out could not be used (an unsupported
    /// transport, unreachable, credentials refused); without
    /// [`MediaOptions::force_turn`](crate::MediaOptions::force_turn) media
    /// goes on without the relay and this only shows in the logs.
    #[error("TURN: {0}")]
    Turn(String),
    /// The connection to the media server broke after it was up.
    #[error("the media connection failed: {0}")]
    Connection(String),
}

impl MediaError {
    /// Whether the same call may succeed later without changing anything.
    ///
    /// ```
    /// assert!(!webex_meetings::MediaError::NotJoined.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Request(e) => e.is_retryable(),
            Self::Roap { error_type, .. } => matches!(
                error_type,
                ErrorType::Retry
                    | ErrorType::Doubleconflict
                    | ErrorType::Conflict
                    | ErrorType::InvalidState
                    | ErrorType::OutOfOrder
                    | ErrorType::Timeout
                    | ErrorType::Failed
            ),
            Self::ConnectTimeout { .. } | Self::Connection(_) | Self::Turn(_) => true,
            Self::NotJoined
            | Self::AlreadyStarted
            | Self::NotStarted
            | Self::InvalidInput(_)
            | Self::MalformedAnswer(_)
            | Self::Local(_) => false,
        }
    }
}

impl From<MeetingError> for MediaError {
    fn from(e: MeetingError) -> Self {
        match e {
            MeetingError::NotJoined => Self::NotJoined,
            other => Self::Request(Arc::new(other)),
        }
    }
}

/// Compared by kind and text (a request failure holds a non-comparable
/// error), so that events carrying it can be compared in tests.
impl PartialEq for MediaError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for MediaError {}
