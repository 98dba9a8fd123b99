//! What to do after a drop or a failed attempt: the close-code and HTTP-status
//! rules in one place.

use webex_wire::close::{self, CloseAction};

use super::MercuryError;

/// The client's next move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Reconnect after a backoff delay.
    Retry,
    /// Refresh the access token, then reconnect.
    RefreshToken,
    /// Register the device again (new URL), then reconnect.
    Reregister,
    /// Another connection replaced this one: stop, reporting `Replaced`.
    StandDown,
    /// Nothing a retry can fix: stop, reporting `Stopped`.
    Stop,
}

impl Step {
    /// Whether this step leads to another connection attempt.
    pub(super) fn reconnects(self) -> bool {
        matches!(self, Self::Retry | Self::RefreshToken | Self::Reregister)
    }
}

/// The step after the server closed the socket with `code` (1005 when the
/// close frame had no code).
pub(super) fn after_close(code: u16) -> Step {
    match close::action(code) {
        CloseAction::Reconnect => Step::Retry,
        CloseAction::RefreshToken => Step::RefreshToken,
        CloseAction::Reregister => Step::Reregister,
        CloseAction::StandDown => Step::StandDown,
        CloseAction::Fatal => Step::Stop,
        // A classification added later: reconnecting is the safe default,
        // since backoff keeps it from looping tightly.
        _ => Step::Retry,
    }
}

/// The step after a connection attempt failed with `error`.
pub(super) fn after_failure(error: &MercuryError) -> Step {
    match error {
        MercuryError::Closed { code, .. } => after_close(*code),
        MercuryError::UpgradeRefused(401) => Step::RefreshToken,
        MercuryError::UpgradeRefused(404) => Step::Reregister,
        MercuryError::UpgradeRefused(408) => Step::Retry,
        e if e.is_retryable() => Step::Retry,
        _ => Step::Stop,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mercury::HostError;

    fn closed(code: u16) -> MercuryError {
        MercuryError::Closed {
            code,
            reason: String::new(),
        }
    }

    #[test]
    fn close_codes_map_to_steps() {
        for code in [1000, 1001, 1005, 1006, 1008, 1011, 4001] {
            assert_eq!(after_close(code), Step::Retry, "{code}");
        }
        assert_eq!(after_close(4401), Step::RefreshToken);
        assert_eq!(after_close(4404), Step::Reregister);
        assert_eq!(after_close(4000), Step::StandDown);
        for code in [4400, 4403, 1009] {
            assert_eq!(after_close(code), Step::Stop, "{code}");
        }
    }

    #[test]
    fn failed_attempts_map_to_steps() {
        assert_eq!(after_failure(&closed(4401)), Step::RefreshToken);
        assert_eq!(after_failure(&closed(4000)), Step::StandDown);
        assert_eq!(
            after_failure(&MercuryError::UpgradeRefused(404)),
            Step::Reregister
        );
        assert_eq!(
            after_failure(&MercuryError::UpgradeRefused(401)),
            Step::RefreshToken
        );
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(
                after_failure(&MercuryError::UpgradeRefused(status)),
                Step::Retry
            );
        }
        assert_eq!(
            after_failure(&MercuryError::UpgradeRefused(403)),
            Step::Stop
        );
        assert_eq!(
            after_failure(&MercuryError::Connect("refused".into())),
            Step::Retry
        );
        assert_eq!(
            after_failure(&MercuryError::HandshakeTimeout(Duration::from_secs(1))),
            Step::Retry
        );
        let host = |retryable| {
            MercuryError::Host(HostError {
                message: "x".into(),
                retryable,
            })
        };
        assert_eq!(after_failure(&host(true)), Step::Retry);
        assert_eq!(after_failure(&host(false)), Step::Stop);
    }

    #[test]
    fn only_stand_down_and_stop_end_the_client() {
        assert!(Step::Retry.reconnects());
        assert!(Step::RefreshToken.reconnects());
        assert!(Step::Reregister.reconnects());
        assert!(!Step::StandDown.reconnects());
        assert!(!Step::Stop.reconnects());
    }
}
