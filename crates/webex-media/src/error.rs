//! What can go wrong.

/// Why the engine refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The offer is not SDP the engine can answer (the reason says why).
    #[error("invalid offer: {0}")]
    InvalidOffer(String),
    /// The meeting already has its most media sessions.
    #[error("this meeting already has {limit} participants with media")]
    MeetingFull {
        /// `MediaConfig::max_per_meeting`.
        limit: usize,
    },
    /// This node already carries its most media sessions.
    #[error("this media node already carries {limit} sessions")]
    NodeFull {
        /// `MediaConfig::max_sessions`.
        limit: usize,
    },
    /// The UDP socket could not be bound.
    #[error("could not bind the media socket: {0}")]
    Bind(#[source] std::io::Error),
    /// The engine thread is gone (shut down, or it failed).
    #[error("the media engine is stopped")]
    Stopped,
}

impl MediaError {
    /// Whether the same request may succeed later.
    ///
    /// ```
    /// use webex_media::MediaError;
    /// assert!(MediaError::NodeFull { limit: 1 }.is_retryable());
    /// assert!(!MediaError::InvalidOffer("no audio".into()).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::NodeFull { .. } | Self::MeetingFull { .. })
    }
}
