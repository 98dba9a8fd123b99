//! [`MeetingOptions`]: timeouts and limits of the meetings list.

use std::time::Duration;

/// Timeouts and limits of the meetings list (`sync`, `create`, `join`, …).
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::MeetingOptions;
/// let options = MeetingOptions { request_timeout: Duration::from_secs(5), ..Default::default() };
/// assert_eq!(options.max_queued_deltas, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeetingOptions {
    /// Deadline of one meetings call (`sync`, `create`, `join`, `leave`,
    /// `end_for_all`, a resynchronisation), retries included. Default 20 s.
    pub request_timeout: Duration,
    /// How long a `locus.difference` whose base is ahead of this client's
    /// copy waits for the missing deltas before the meeting is fetched
    /// again with `GET {locusUrl}`. Default 10 s (the official client's).
    pub delta_wait: Duration,
    /// Random extra wait added to `delta_wait` (0 to this), so clients that
    /// missed the same delta do not all fetch at once. Default 5 s.
    pub delta_wait_jitter: Duration,
    /// Queued deltas beyond which the meeting is fetched at once. Default 5.
    pub max_queued_deltas: usize,
}

impl Default for MeetingOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            delta_wait: Duration::from_secs(10),
            delta_wait_jitter: Duration::from_secs(5),
            max_queued_deltas: 5,
        }
    }
}

impl MeetingOptions {
    /// The wait before a resynchronisation for a gap: `delta_wait` plus up
    /// to `delta_wait_jitter`.
    pub(crate) fn gap_wait(&self) -> Duration {
        use rand::Rng;
        let jitter = if self.delta_wait_jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..=self.delta_wait_jitter)
        };
        self.delta_wait + jitter
    }
}

impl crate::WebexConfigBuilder {
    /// Timeouts and limits of the meetings list (`sync`, `create`, `join`,
    /// resynchronisations).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webex_meetings::{Credentials, MeetingOptions, WebexConfig};
    /// let config = WebexConfig::builder(Credentials::access_token("a_b_c"))
    ///     .meeting_options(MeetingOptions { delta_wait: Duration::from_secs(2), ..Default::default() })
    ///     .build()?;
    /// # Ok::<(), webex_meetings::Error>(())
    /// ```
    pub fn meeting_options(mut self, options: MeetingOptions) -> Self {
        self.meeting_options = options;
        self
    }
}
