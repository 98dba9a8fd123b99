//! What this device does in a meeting, on [`Meeting`]: `join`, `leave`
//! and `end_for_all` (the host's lobby controls are in `lobby`).

use std::sync::Arc;

use webex_wire::locus::{JoinDevice, JoinRequest, LeaveRequest, Locus};

use super::collection::{Collection, Input, Source};
use super::destination::Destination;
use super::error::MeetingError;
use super::meeting::{Meeting, Origin};
use super::{apply, permission, requests};

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
    /// The list this meeting is in, or [`MeetingError::NotRegistered`]
    /// once the SDK is gone.
    pub(super) fn list(&self) -> Result<Arc<Collection>, MeetingError> {
        self.inner.list.upgrade().ok_or(MeetingError::NotRegistered)
    }

    /// Joins from this device, without media: `POST {locusUrl}/participant`
    /// when the Locus is known, else `POST {locus}/loci/call` with the
    /// destination as invitee. Resolves once the server has the device in
    /// the meeting; returns at once when already joined.
    pub async fn join(&self) -> Result<(), MeetingError> {
        let list = self.list()?;
        let device = list.device_url()?;
        if self.is_removed() {
            return Err(MeetingError::Removed);
        }
        if self.is_joined() {
            return Ok(());
        }
        let limit = list.options.request_timeout;
        self.lock().joining = true;
        let _joining = Joining(self);
        let answer = requests::bounded("join", limit, self.post_join(&list, &device)).await?;
        let doc = answer.locus;
        if doc.self_.as_ref().is_none_or(|s| s.id.is_empty()) {
            return Err(MeetingError::malformed(
                &doc.url,
                "join answer without `self.id`",
            ));
        }
        list.handle(doc, Some(self), Source::Api)?;
        Ok(())
    }

    async fn post_join(
        &self,
        list: &Collection,
        device: &str,
    ) -> Result<webex_wire::locus::JoinResponse, MeetingError> {
        let token = self.permission_token(list).await;
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
                None => list.locus_base()?,
            };
            let call = crate::http::join(&base, "loci/call")?;
            let body = body.clone().with_invitee(invitee.clone());
            requests::join_locus(&list.core.http, call.as_str(), &body, &invitee).await
        };
        match (locus_url, invitee) {
            (Some(url), invitee) => {
                let joined = requests::join_locus(
                    &list.core.http,
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
    async fn permission_token(&self, list: &Collection) -> Option<String> {
        let token = self.lock().info.as_ref()?.permission_token.clone()?;
        if !permission::needs_refresh(&token, std::time::SystemTime::now()) {
            return Some(token);
        }
        let appapi = list.services().appapi;
        let destination = self.destination().map(str::to_owned);
        let parsed = destination
            .as_deref()
            .and_then(|d| Destination::parse(d).ok());
        let (Some(appapi), Some(destination), Some(parsed)) = (appapi, destination, parsed) else {
            return Some(token);
        };
        let mut body = parsed.info_request();
        body.permission_token = Some(token.clone());
        let limit = list.options.request_timeout;
        let info = requests::bounded(
            "meetingInfo",
            limit,
            requests::meeting_info(&list.core.http, &appapi, &body, &destination),
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
        let list = self.list()?;
        let device = list.device_url()?;
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
        // As the official SDK: media stops before the leave is sent.
        self.teardown_media();
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
        let limit = list.options.request_timeout;
        let answer = requests::bounded(
            "leave",
            limit,
            requests::leave(&list.core.http, &url, &self_id, &body),
        )
        .await?;
        self.apply_answer(&list, answer)
    }

    /// Ends the meeting for everyone (`POST {locusUrl}/end`; host only). The
    /// meeting leaves the list (`meeting:removed`, reason `ended`).
    pub async fn end_for_all(&self) -> Result<(), MeetingError> {
        let list = self.list()?;
        list.device_url()?;
        let (doc, url) = self.current_locus()?;
        if apply::is_ended(&doc) {
            return Err(MeetingError::MeetingEnded);
        }
        self.teardown_media();
        let limit = list.options.request_timeout;
        // The official client sends its sequence; the server ignores it.
        let mut body = serde_json::Map::new();
        if let Ok(sequence) = serde_json::to_value(&doc.sequence) {
            body.insert("sequence".into(), sequence);
        }
        let body = serde_json::Value::Object(body);
        let answer =
            requests::bounded("end", limit, requests::end(&list.core.http, &url, body)).await?;
        self.apply_answer(&list, answer)
    }

    /// Applies the Locus a change answered with; without one (a `202` or
    /// `204` from the cloud) the change still happened, and the meeting is
    /// fetched again (`GET {locusUrl}`) in the background, as events may
    /// never say it.
    pub(super) fn apply_answer(
        &self,
        list: &Arc<Collection>,
        answer: Option<Locus>,
    ) -> Result<(), MeetingError> {
        match answer {
            Some(doc) => list.handle(doc, Some(self), Source::Api).map(|_| ()),
            None => {
                list.schedule(Input::Resync {
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
