//! The meetings API: `sync`, `create`, `list`, `get` on [`Meetings`];
//! `join`, `leave`, `end_for_all` on [`Meeting`].

use std::collections::HashSet;
use std::sync::Arc;

use webex_wire::locus::{JoinDevice, JoinRequest, LeaveRequest, Locus};

use super::collection::{Collection, Input, Source};
use super::destination::Destination;
use super::error::MeetingError;
use super::meeting::{Meeting, MeetingState, Origin};
use super::{apply, permission, requests};
use crate::client::Shared;
use crate::meetings::Meetings;

/// The registered device's URL, or [`MeetingError::NotRegistered`].
fn device_url(shared: &Shared) -> Result<String, MeetingError> {
    shared
        .current_device()
        .map(|c| c.device.url)
        .ok_or(MeetingError::NotRegistered)
}

/// The `locus` service URL from the catalog.
fn locus_base(shared: &Shared) -> Result<String, MeetingError> {
    Collection::services(shared)
        .locus
        .ok_or(MeetingError::NoService { service: "locus" })
}

/// `GET {locus}/loci`, applied: new meetings added, ended or no longer
/// listed ones removed, meetings created here and not joined kept.
pub(crate) async fn sync(shared: &Arc<Shared>) -> Result<Vec<Meeting>, MeetingError> {
    device_url(shared)?;
    let base = locus_base(shared)?;
    let collection = &shared.locus;
    let epoch = collection.epoch();
    let loci = requests::bounded(
        "sync",
        collection.options.request_timeout,
        requests::list_loci(&shared.http, &base),
    )
    .await?;
    apply_sync(shared, loci, epoch);
    Ok(collection.list())
}

/// Applies the answer of a sync that started at collection epoch `epoch`:
/// each document as its meeting's, then prunes what it no longer lists.
pub(crate) fn apply_sync(shared: &Arc<Shared>, loci: Vec<Locus>, epoch: u64) {
    let collection = &shared.locus;
    let mut urls = HashSet::new();
    for locus in loci {
        urls.insert(locus.url.clone());
        // A malformed document is that meeting's problem, not the sync's.
        if let Err(e) = collection.handle(shared, locus, None, Source::Sync) {
            tracing::warn!(error = %e, "synced locus not applied");
        }
    }
    collection.prune(&urls, epoch);
}

impl Meetings {
    /// Fetches the user's active meetings (`GET {locus}/loci`, the official
    /// `syncMeetings`): adds the new ones (`meeting:added`), removes those
    /// that ended or are no longer listed (`meeting:removed`), and keeps
    /// meetings created here that have not been joined. Returns the list.
    ///
    /// Runs by itself after every Mercury reconnect.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::MeetingError> {
    /// for meeting in meetings.sync().await? {
    ///     println!("{} {:?}", meeting.id(), meeting.state());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sync(&self) -> Result<Vec<Meeting>, MeetingError> {
        sync(&self.shared).await
    }

    /// A meeting for `destination` — a SIP URI (`room1@example.com`), a
    /// person's email (their personal room), a meeting number or a join
    /// link — without joining it. Asks `meetingInfo` first (a 404 or an
    /// unreachable service is tolerated) and emits `meeting:added` before
    /// returning. Creating the same destination again returns the same
    /// meeting.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::MeetingError> {
    /// let meeting = meetings.create("room1@webex.localhost").await?;
    /// assert_eq!(meetings.create("sip:room1@webex.localhost").await?.id(), meeting.id());
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, destination: &str) -> Result<Meeting, MeetingError> {
        let shared = &self.shared;
        let parsed = Destination::parse(destination)?;
        device_url(shared)?;
        let collection = &shared.locus;
        let _one_at_a_time = collection.create_lock.lock().await;
        if let Some(m) = collection.find_created(&parsed) {
            return Ok(m);
        }
        let mut state = MeetingState::default();
        if let Destination::Sip(s) = &parsed {
            state.sip_uri = Some(s.clone());
        }
        if let Destination::Number(n) = &parsed {
            state.meeting_number = Some(n.clone());
        }
        if let Some(appapi) = Collection::services(shared).appapi {
            let info = requests::bounded(
                "meetingInfo",
                collection.options.request_timeout,
                requests::meeting_info(&shared.http, &appapi, &parsed.info_request(), destination),
            )
            .await;
            match info {
                Ok(Some(info)) => {
                    let known = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                    state.sip_uri = known(&info.sip_url).or(state.sip_uri);
                    state.meeting_number = known(&info.meeting_number).or(state.meeting_number);
                    state.join_url = known(&info.meeting_join_url);
                    state.locus_url = info.locus_url.clone().filter(|u| !u.is_empty());
                    state.info = Some(info);
                }
                Ok(None) => {
                    tracing::debug!(destination, "meetingInfo: not found; joining by address")
                }
                Err(e) => {
                    tracing::warn!(error = %e, destination, "meetingInfo failed; joining by address")
                }
            }
        }
        let candidate = Meeting::new(
            Arc::downgrade(shared),
            Origin::Created,
            Some(destination.trim().to_owned()),
            state,
        );
        Ok(collection.add_created(candidate))
    }

    /// Every meeting in the list (the official `getAllMeetings`).
    pub fn list(&self) -> Vec<Meeting> {
        self.shared.locus.list()
    }

    /// The meeting with this id (or Locus URL), if it is in the list.
    pub fn get(&self, id: &str) -> Option<Meeting> {
        self.shared.locus.get(id)
    }
}

/// The Locus base URL for meetingInfo's `locusClusterUrl`: a host (the
/// official SDK joins at `https://<host>/locus/api/v1/loci/call`) or, read
/// leniently, a URL (used as it is, `/locus/api/v1` added when it has no
/// path).
fn cluster_base(cluster: &str) -> Option<String> {
    let cluster = cluster.trim().trim_end_matches('/');
    if cluster.is_empty() {
        return None;
    }
    match url::Url::parse(cluster) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(if u.path() == "/" {
            format!("{cluster}/locus/api/v1")
        } else {
            cluster.to_owned()
        }),
        _ => Some(format!("https://{cluster}/locus/api/v1")),
    }
}

/// Clears `joining` however `join()` ends.
struct Joining<'a>(&'a Meeting);

impl Drop for Joining<'_> {
    fn drop(&mut self) {
        self.0.lock().joining = false;
    }
}

impl Meeting {
    pub(super) fn shared(&self) -> Result<Arc<Shared>, MeetingError> {
        self.inner
            .shared
            .upgrade()
            .ok_or(MeetingError::NotRegistered)
    }

    /// Joins from this device, without media: `POST {locusUrl}/participant`
    /// when the Locus is known, else `POST {locus}/loci/call` with the
    /// destination as invitee. Resolves once the server has the device in
    /// the meeting; returns at once when already joined.
    pub async fn join(&self) -> Result<(), MeetingError> {
        let shared = self.shared()?;
        let device = device_url(&shared)?;
        if self.is_removed() {
            return Err(MeetingError::Removed);
        }
        if self.is_joined() {
            return Ok(());
        }
        let limit = shared.locus.options.request_timeout;
        self.lock().joining = true;
        let _joining = Joining(self);
        let answer = requests::bounded("join", limit, self.post_join(&shared, &device)).await?;
        let doc = answer.locus;
        if doc.self_.as_ref().is_none_or(|s| s.id.is_empty()) {
            return Err(MeetingError::malformed(
                &doc.url,
                "join answer without `self.id`",
            ));
        }
        shared.locus.handle(&shared, doc, Some(self), Source::Api)?;
        Ok(())
    }

    async fn post_join(
        &self,
        shared: &Shared,
        device: &str,
    ) -> Result<webex_wire::locus::JoinResponse, MeetingError> {
        let token = self.permission_token(shared).await;
        let body = JoinRequest::new(device, self.correlation_id()).with_permission_token(token);
        let (locus_url, invitee, cluster) = {
            let s = self.lock();
            let invitee = s
                .join_url
                .clone()
                .or_else(|| s.sip_uri.clone())
                .or_else(|| s.meeting_number.as_ref().map(|n| format!("wbxmn:{n}")))
                .or_else(|| {
                    self.destination()
                        .and_then(|d| Destination::parse(d).ok())
                        .map(|d| d.invitee())
                });
            let cluster = s.info.as_ref().and_then(|i| i.locus_cluster_url.clone());
            (s.locus_url.clone(), invitee, cluster)
        };
        let by_address = async |invitee: String| {
            let base = match cluster.as_deref().and_then(cluster_base) {
                Some(base) => base,
                None => locus_base(shared)?,
            };
            let call = crate::http::join(&base, "loci/call")?;
            let body = body.clone().with_invitee(invitee.clone());
            requests::join_locus(&shared.http, call.as_str(), &body, &invitee).await
        };
        match (locus_url, invitee) {
            (Some(url), invitee) => {
                let joined = requests::join_locus(
                    &shared.http,
                    &format!("{}/participant", url.trim_end_matches('/')),
                    &body,
                    &url,
                )
                .await;
                match (joined, invitee) {
                    // The Locus meetingInfo named ended since: start the
                    // meeting again by address.
                    (
                        Err(MeetingError::MeetingEnded | MeetingError::AddressNotFound { .. }),
                        Some(i),
                    ) if self.inner.origin == Origin::Created && !self.lock().ever_joined => {
                        by_address(i).await
                    }
                    (result, _) => result,
                }
            }
            (None, Some(invitee)) => by_address(invitee).await,
            (None, None) => Err(MeetingError::NoLocus),
        }
    }

    /// meetingInfo's `permissionToken`, fetched again (meetingInfo with the
    /// old token) when it expires within 30 s, as the official SDK does
    /// before a join. A failed refresh keeps the old token: the join's
    /// answer then says whether it still works.
    async fn permission_token(&self, shared: &Shared) -> Option<String> {
        let token = self.lock().info.as_ref()?.permission_token.clone()?;
        if !permission::needs_refresh(&token, std::time::SystemTime::now()) {
            return Some(token);
        }
        let appapi = Collection::services(shared).appapi;
        let destination = self.destination().map(str::to_owned);
        let parsed = destination
            .as_deref()
            .and_then(|d| Destination::parse(d).ok());
        let (Some(appapi), Some(destination), Some(parsed)) = (appapi, destination, parsed) else {
            return Some(token);
        };
        let mut body = parsed.info_request();
        body.permission_token = Some(token.clone());
        let limit = shared.locus.options.request_timeout;
        let info = requests::bounded(
            "meetingInfo",
            limit,
            requests::meeting_info(&shared.http, &appapi, &body, &destination),
        )
        .await;
        match info {
            Ok(Some(info)) => {
                let fresh = info.permission_token.clone();
                self.lock().info = Some(info);
                fresh.or(Some(token))
            }
            Ok(None) => Some(token),
            Err(e) => {
                tracing::warn!(error = %e, "refreshing the permission token failed; joining with the old one");
                Some(token)
            }
        }
    }

    /// Leaves from this device (`PUT {locusUrl}/participant/{selfId}/leave`).
    /// The meeting stays in the list until it ends or a sync drops it;
    /// `meeting:self:left` follows.
    pub async fn leave(&self) -> Result<(), MeetingError> {
        let shared = self.shared()?;
        let device = device_url(&shared)?;
        let (doc, url) = self.current_locus()?;
        if apply::is_ended(&doc) {
            return Err(MeetingError::MeetingEnded);
        }
        // Leaving the lobby is a leave too.
        if !apply::device_joined(&doc, Some(&device)) && !apply::device_waiting(&doc, Some(&device))
        {
            return Err(MeetingError::NotJoined);
        }
        let self_id = doc
            .self_
            .as_ref()
            .map(|s| s.id.clone())
            .ok_or(MeetingError::NotJoined)?;
        let body = LeaveRequest {
            device: Some(JoinDevice {
                url: device,
                device_type: "WEB".into(),
                ..JoinDevice::default()
            }),
            correlation_id: Some(self.correlation_id().to_owned()),
            sequence: Some(doc.sequence.clone()),
            reason: None,
        };
        let limit = shared.locus.options.request_timeout;
        let answer = requests::bounded(
            "leave",
            limit,
            requests::leave(&shared.http, &url, &self_id, &body),
        )
        .await?;
        self.apply_answer(&shared, answer)
    }

    /// Ends the meeting for everyone (`POST {locusUrl}/end`; host only). The
    /// meeting leaves the list (`meeting:removed`, reason `ended`).
    pub async fn end_for_all(&self) -> Result<(), MeetingError> {
        let shared = self.shared()?;
        device_url(&shared)?;
        let (doc, url) = self.current_locus()?;
        if apply::is_ended(&doc) {
            return Err(MeetingError::MeetingEnded);
        }
        let limit = shared.locus.options.request_timeout;
        // The official client sends its sequence; the server ignores it.
        let mut body = serde_json::Map::new();
        if let Ok(sequence) = serde_json::to_value(&doc.sequence) {
            body.insert("sequence".into(), sequence);
        }
        let body = serde_json::Value::Object(body);
        let answer =
            requests::bounded("end", limit, requests::end(&shared.http, &url, body)).await?;
        self.apply_answer(&shared, answer)
    }

    /// Applies the Locus a change answered with; without one (a `202` or
    /// `204` from the cloud) the change still happened, and the meeting is
    /// fetched again (`GET {locusUrl}`) in the background, as events may
    /// never say it.
    fn apply_answer(
        &self,
        shared: &Arc<Shared>,
        answer: Option<Locus>,
    ) -> Result<(), MeetingError> {
        match answer {
            Some(doc) => shared
                .locus
                .handle(shared, doc, Some(self), Source::Api)
                .map(|_| ()),
            None => {
                shared.locus.schedule(Input::Resync {
                    meeting: self.clone(),
                    after: std::time::Duration::ZERO,
                });
                Ok(())
            }
        }
    }

    /// The working copy and its URL, or why there is none.
    pub(super) fn current_locus(&self) -> Result<(Locus, String), MeetingError> {
        let s = self.lock();
        if s.removed {
            return Err(MeetingError::Removed);
        }
        match (&s.doc, &s.locus_url) {
            (Some(doc), Some(url)) => Ok((doc.clone(), url.clone())),
            _ => Err(MeetingError::NoLocus),
        }
    }
}
