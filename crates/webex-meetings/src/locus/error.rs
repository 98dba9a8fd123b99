//! [`MeetingError`]: what can go wrong with a meeting, and whether trying
//! again helps.

use std::time::Duration;

use webex_wire::error::ErrorBody;
use webex_wire::locus::error_codes;

use crate::error::Error;
use crate::http::RawResponse;

/// Why a meetings call (`sync`, `create`, `join`, `leave`, `end_for_all`)
/// failed, or why a Locus document from the server was not applied.
///
/// ```
/// use webex_meetings::MeetingError;
/// assert!(!MeetingError::NotHost.is_retryable());
/// assert!(MeetingError::Timeout { operation: "join", after: std::time::Duration::from_secs(1) }.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeetingError {
    /// No device is registered: call `meetings.register()` first.
    #[error("not registered: call meetings.register() before using meetings")]
    NotRegistered,
    /// This device is not in the meeting (never joined, or already left).
    #[error("this device has not joined the meeting (or already left)")]
    NotJoined,
    /// The meeting has ended.
    #[error("the meeting has ended")]
    MeetingEnded,
    /// Only the host may do this.
    #[error("only the host may do this")]
    NotHost,
    /// The caller is not a participant of this meeting.
    #[error("the caller is not a participant of this meeting")]
    NotParticipant,
    /// The server refused the device or participant named in the request.
    #[error("the server refused the request: {message}")]
    Forbidden {
        /// The server's explanation.
        message: String,
    },
    /// No meeting answers at this address (or Locus URL).
    #[error("no meeting at `{destination}`")]
    AddressNotFound {
        /// The destination or URL asked for.
        destination: String,
    },
    /// The destination is empty or cannot name a meeting.
    #[error("`{destination}` cannot name a meeting: {reason}")]
    InvalidDestination {
        /// What was given.
        destination: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The meeting has no Locus yet (created, not joined, not in progress),
    /// so there is nothing to leave or end.
    #[error("the meeting has no Locus yet: join it first")]
    NoLocus,
    /// The service catalog lists no such service (e.g. `locus`): this
    /// server does not host meetings.
    #[error("the service catalog lists no `{service}` service")]
    NoService {
        /// The missing service.
        service: &'static str,
    },
    /// The meeting is no longer in the meetings list.
    #[error("the meeting is no longer in the meetings list")]
    Removed,
    /// The meeting lists no `content` media share, so nothing can be
    /// shared (the official SDK: "Cannot share without content.").
    #[error("the meeting lists no content share: it cannot be shared")]
    NoContentShare,
    /// The call did not finish within [`crate::MeetingOptions::request_timeout`].
    #[error("{operation} did not finish within {after:?}")]
    Timeout {
        /// What timed out (`join`, `sync`, …).
        operation: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// A Locus document from the server is malformed or partial; it was not
    /// applied (the meeting keeps its last good state).
    #[error("malformed Locus document for {locus_url}: {message}")]
    MalformedLocus {
        /// The Locus concerned (empty when even that is unknown).
        locus_url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request body could not be encoded (a bug: report it).
    #[error("could not encode the request body: {0}")]
    Encode(String),
    /// Any other failure of the request (network, auth, server error).
    #[error(transparent)]
    Request(#[from] Error),
}

impl MeetingError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Request(e) => e.is_retryable(),
            Self::NotRegistered
            | Self::NotJoined
            | Self::MeetingEnded
            | Self::NotHost
            | Self::NotParticipant
            | Self::Forbidden { .. }
            | Self::AddressNotFound { .. }
            | Self::InvalidDestination { .. }
            | Self::NoLocus
            | Self::NoService { .. }
            | Self::Encode(_)
            | Self::Removed
            | Self::NoContentShare
            | Self::MalformedLocus { .. } => false,
        }
    }

    /// A malformed document error.
    pub(crate) fn malformed(locus_url: &str, message: impl Into<String>) -> Self {
        Self::MalformedLocus {
            locus_url: locus_url.to_owned(),
            message: message.into(),
        }
    }
}

/// The error a Locus error answer stands for: the numeric `errorCode` of
/// `webex_wire::locus::error_codes` first, then the HTTP status.
pub(crate) fn from_response(response: RawResponse, destination: &str) -> MeetingError {
    let code = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|b| b.error_code);
    let message = || response.http_error().message;
    match (response.status, code) {
        (_, Some(error_codes::MEETING_ENDED)) => MeetingError::MeetingEnded,
        (_, Some(error_codes::NOT_JOINED)) => MeetingError::NotJoined,
        (_, Some(error_codes::NOT_PARTICIPANT)) => MeetingError::NotParticipant,
        (_, Some(error_codes::NOT_HOST)) => MeetingError::NotHost,
        (
            _,
            Some(
                error_codes::FOREIGN_DEVICE
                | error_codes::FOREIGN_PARTICIPANT
                | error_codes::NOT_ADMITTED
                | error_codes::NOT_FLOOR_HOLDER,
            ),
        ) => MeetingError::Forbidden { message: message() },
        (404, _) | (_, Some(error_codes::NO_SUCH_MEETING)) => MeetingError::AddressNotFound {
            destination: destination.to_owned(),
        },
        _ => MeetingError::Request(response.into_error()),
    }
}
