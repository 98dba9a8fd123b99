//! What the meetings list asks the server: `sync` (`GET {locus}/loci`) and
//! `create` (`meetingInfo`, then a [`Meeting`] filed in the list). The
//! public [`crate::Meetings`] methods delegate here.

use std::collections::HashSet;
use std::sync::Arc;

use webex_wire::locus::Locus;

use super::collection::{Collection, Source};
use super::destination::Destination;
use super::error::MeetingError;
use super::meeting::{Meeting, MeetingState, Origin};
use super::requests;

impl Collection {
    /// `GET {locus}/loci`, applied: new meetings added, ended or no longer
    /// listed ones removed, meetings created here and not joined kept.
    pub(crate) async fn sync(self: &Arc<Self>) -> Result<Vec<Meeting>, MeetingError> {
        self.device_url()?;
        let base = self.locus_base()?;
        let epoch = self.epoch();
        let loci = requests::bounded(
            "sync",
            self.options.request_timeout,
            requests::list_loci(&self.core.http, &base),
        )
        .await?;
        self.apply_sync(loci, epoch);
        Ok(self.list())
    }

    /// Applies the answer of a sync that started at collection epoch `epoch`:
    /// each document as its meeting's, then prunes what it no longer lists.
    pub(crate) fn apply_sync(self: &Arc<Self>, loci: Vec<Locus>, epoch: u64) {
        let mut urls = HashSet::new();
        for locus in loci {
            urls.insert(locus.url.clone());
            // A malformed document is that meeting's problem, not the sync's.
            if let Err(e) = self.handle(locus, None, Source::Sync) {
                tracing::warn!(error = %e, "synced locus not applied");
            }
        }
        self.prune(&urls, epoch);
    }

    /// A meeting for `destination`, without joining it (see
    /// [`crate::Meetings::create`]).
    pub(crate) async fn create(
        self: &Arc<Self>,
        destination: &str,
    ) -> Result<Meeting, MeetingError> {
        let parsed = Destination::parse(destination)?;
        self.device_url()?;
        let _one_at_a_time = self.create_lock.lock().await;
        if let Some(m) = self.find_created(&parsed) {
            return Ok(m);
        }
        let mut state = MeetingState::default();
        if let Destination::Sip(s) = &parsed {
            state.sip_uri = Some(s.clone());
        }
        if let Destination::Number(n) = &parsed {
            state.meeting_number = Some(n.clone());
        }
        if let Some(appapi) = self.services().appapi {
            let info = requests::bounded(
                "meetingInfo",
                self.options.request_timeout,
                requests::meeting_info(
                    &self.core.http,
                    &appapi,
                    &parsed.info_request(),
                    destination,
                ),
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
            Arc::downgrade(self),
            Origin::Created,
            Some(destination.trim().to_owned()),
            state,
        );
        Ok(self.add_created(candidate))
    }
}
