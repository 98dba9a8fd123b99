//! What the host does about the lobby, on [`Meeting`]: `admit` people
//! waiting in it (`PUT {locusUrl}/controls`), `lock_meeting` and
//! `unlock_meeting` (`PATCH {locusUrl}/controls`), and whether it is locked. The
//! server allows them to the host only, while joined.

use reqwest::Method;
use webex_wire::locus::ControlsRequest;

use super::collection::Source;
use super::error::MeetingError;
use super::meeting::Meeting;
use super::requests;

impl Meeting {
    /// Lets members waiting in the lobby in (the official `admit`): pass
    /// their member ids ([`crate::Member::id`] of members whose status is
    /// `IN_LOBBY`). Host only, while joined ([`MeetingError::NotHost`]
    /// otherwise). The admitted get `meeting:self:guestAdmitted`; everyone
    /// gets a `members:update`.
    ///
    /// ```no_run
    /// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MeetingError> {
    /// use webex_meetings::MemberStatus;
    /// let waiting: Vec<String> = meeting.members().into_iter()
    ///     .filter(|m| m.status == MemberStatus::InLobby)
    ///     .map(|m| m.id)
    ///     .collect();
    /// if !waiting.is_empty() {
    ///     meeting.admit(&waiting).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn admit(&self, member_ids: &[String]) -> Result<(), MeetingError> {
        if member_ids.is_empty() {
            return Err(MeetingError::InvalidDestination {
                destination: String::new(),
                reason: "admit needs at least one member id",
            });
        }
        let mut body = ControlsRequest::admit(member_ids.to_vec());
        self.send_controls(Method::PUT, &mut body, "admit").await
    }

    /// Locks the meeting (the official `lockMeeting`): from now on everyone
    /// but the host who joins waits in the lobby. Host only, while joined.
    ///
    /// ```no_run
    /// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MeetingError> {
    /// meeting.lock_meeting().await?;
    /// assert!(meeting.is_locked());
    /// meeting.unlock_meeting().await?;
    /// # Ok(()) }
    /// ```
    pub async fn lock_meeting(&self) -> Result<(), MeetingError> {
        let mut body = ControlsRequest::lock(true);
        self.send_controls(Method::PATCH, &mut body, "lock").await
    }

    /// Unlocks the meeting (the official `unlockMeeting`); those already
    /// in the lobby keep waiting for `admit`. Host only, while joined.
    pub async fn unlock_meeting(&self) -> Result<(), MeetingError> {
        let mut body = ControlsRequest::lock(false);
        self.send_controls(Method::PATCH, &mut body, "unlock").await
    }

    /// Whether the meeting is locked (`fullState.locked`), as last seen.
    pub fn is_locked(&self) -> bool {
        self.lock()
            .doc
            .as_ref()
            .and_then(|d| d.full_state.as_ref())
            .is_some_and(|f| f.locked)
    }

    /// Sends `body` (with this copy's sequence and URL, as the official
    /// client does) and applies the answer.
    async fn send_controls(
        &self,
        method: Method,
        body: &mut ControlsRequest,
        operation: &'static str,
    ) -> Result<(), MeetingError> {
        let list = self.list()?;
        let (doc, url) = self.current_locus()?;
        body.authorizing_locus_url = Some(url.clone());
        body.sequence = Some(doc.sequence.clone());
        let limit = list.options.request_timeout;
        let answer = requests::bounded(
            operation,
            limit,
            requests::controls(&list.core.http, &url, method, body),
        )
        .await?;
        list.handle(answer.locus, Some(self), Source::Api)?;
        Ok(())
    }
}
