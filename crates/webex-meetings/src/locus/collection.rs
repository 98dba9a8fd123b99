//! The meetings list: one [`Meeting`] per Locus, found by Locus URL, by the
//! correlation id of this device's join, then by SIP URI or meeting number
//! for meetings that have no Locus yet (`locus-protocol.md` §1.4). Every
//! document is applied under the list's lock, so a sync racing a join or a
//! Mercury event can never file the same Locus twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use webex_wire::catalog::services;
use webex_wire::locus::{Locus, LocusEvent, ParticipantState};
use webex_wire::mercury::ServerFrame;

use super::apply;
use super::error::MeetingError;
use super::meeting::{Applied, Meeting, MeetingState, Origin};
use super::options::MeetingOptions;
use crate::core::Core;
use crate::events::MeetingsEvent;
use crate::events::{AddedReason, RemovedReason};

/// Work for the background worker (see `worker.rs`).
#[derive(Debug)]
pub(crate) enum Input {
    /// A `locus.*` Mercury event.
    Frame(Box<ServerFrame>),
    /// Mercury is back after a drop: sync.
    Reconnected,
    /// Fetch `GET {locusUrl}` for `meeting` after `after`.
    Resync { meeting: Meeting, after: Duration },
    /// Fetch a Locus this client has no meeting for (its first document
    /// was a delta).
    FetchNew { locus_url: String },
}

/// Base URLs from the service catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Services {
    pub(crate) locus: Option<String>,
    pub(crate) appapi: Option<String>,
}

/// The meetings list (one per SDK instance). Its meetings hold it weakly.
pub(crate) struct Collection {
    pub(crate) core: Arc<Core>,
    meetings: Mutex<Vec<Meeting>>,
    /// Bumped on every applied document; sync prunes only meetings not
    /// touched since it asked.
    epoch: AtomicU64,
    /// Serializes `create()` so one destination gives one meeting.
    pub(crate) create_lock: tokio::sync::Mutex<()>,
    pub(crate) options: MeetingOptions,
    worker: Mutex<Option<mpsc::UnboundedSender<Input>>>,
}

/// Where a document came from (for logs and the `meeting:added` reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Sync,
    Mercury,
    Api,
    Resync,
}

impl Collection {
    pub(crate) fn new(core: Arc<Core>) -> Arc<Self> {
        let options = core.config.meeting_options;
        Arc::new(Self {
            core,
            meetings: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
            create_lock: tokio::sync::Mutex::new(()),
            options,
            worker: Mutex::new(None),
        })
    }

    fn list_lock(&self) -> MutexGuard<'_, Vec<Meeting>> {
        self.meetings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `locus` and `webex-appapi-service` base URLs of the catalog.
    pub(crate) fn services(&self) -> Services {
        Services {
            locus: self.core.services.url(services::LOCUS),
            appapi: self.core.services.url(services::APPAPI),
        }
    }

    /// The registered device's URL, or [`MeetingError::NotRegistered`].
    pub(crate) fn device_url(&self) -> Result<String, MeetingError> {
        self.core
            .current_device()
            .map(|c| c.device.url)
            .ok_or(MeetingError::NotRegistered)
    }

    /// The `locus` service URL from the catalog.
    pub(crate) fn locus_base(&self) -> Result<String, MeetingError> {
        self.services()
            .locus
            .ok_or(MeetingError::NoService { service: "locus" })
    }

    /// Connects the background worker; returns its inbox.
    pub(crate) fn attach_worker(&self) -> mpsc::UnboundedReceiver<Input> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        rx
    }

    /// Hands `input` to the worker; dropped (logged) when not registered.
    pub(crate) fn schedule(&self, input: Input) {
        let worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = worker.as_ref().is_some_and(|w| w.send(input).is_ok());
        if !sent {
            tracing::debug!("meetings worker not running (not registered); work dropped");
        }
    }

    /// Routes a Mercury frame to the worker when it is a Locus event.
    pub(crate) fn on_frame(&self, frame: &ServerFrame) {
        if frame
            .event_type()
            .is_some_and(|t| t.starts_with("locus.") && t != "locus.message.roap")
        {
            self.schedule(Input::Frame(Box::new(frame.clone())));
        }
    }

    pub(crate) fn list(&self) -> Vec<Meeting> {
        self.list_lock().clone()
    }

    /// The meeting with this id or Locus URL.
    pub(crate) fn get(&self, id: &str) -> Option<Meeting> {
        self.list_lock()
            .iter()
            .find(|m| m.id() == id || m.lock().locus_url.as_deref() == Some(id))
            .cloned()
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn next_epoch(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Files a meeting made by `create()` and announces it, unless the list
    /// already has one for the same Locus, SIP URI or number (returned then).
    pub(crate) fn add_created(&self, candidate: Meeting) -> Meeting {
        let mut list = self.list_lock();
        let found = {
            let c = candidate.lock();
            list.iter()
                .find(|m| {
                    let s = m.lock();
                    let same = |a: &Option<String>, b: &Option<String>| {
                        a.as_ref()
                            .zip(b.as_ref())
                            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                    };
                    same(&s.locus_url, &c.locus_url)
                        || same(&s.sip_uri, &c.sip_uri)
                        || same(&s.meeting_number, &c.meeting_number)
                })
                .cloned()
        };
        if let Some(existing) = found {
            return existing;
        }
        list.push(candidate.clone());
        self.core.events.emit(MeetingsEvent::MeetingAdded {
            meeting: candidate.clone(),
            reason: AddedReason::Created,
        });
        candidate
    }

    /// The meeting `create(destination)` already made, if any.
    pub(crate) fn find_created(
        &self,
        destination: &super::destination::Destination,
    ) -> Option<Meeting> {
        self.list_lock()
            .iter()
            .find(|m| {
                if m.destination().is_some_and(|d| destination.names(d)) {
                    return true;
                }
                let s = m.lock();
                [&s.sip_uri, &s.meeting_number, &s.join_url]
                    .into_iter()
                    .flatten()
                    .any(|known| destination.names(known))
            })
            .cloned()
    }

    /// Applies a Locus document: to `target` when given (a join, leave or
    /// end answer for that meeting), else to the meeting it belongs to,
    /// making a new one when none does. Announces and removes meetings as
    /// the document says.
    pub(crate) fn handle(
        self: &Arc<Self>,
        doc: Locus,
        target: Option<&Meeting>,
        source: Source,
    ) -> Result<Option<Meeting>, MeetingError> {
        let device_url = self.core.current_device().map(|c| c.device.url);
        let device = device_url.as_deref();
        let mut list = self.list_lock();
        let found = match target {
            Some(t) => Some(t.clone()),
            None => find(&list, &doc, device),
        };
        let Some(meeting) = found else {
            return self.adopt(&mut list, doc, device, source);
        };
        if meeting.is_removed() {
            // An answer racing the event that removed it (e.g. `end`):
            // the call succeeded; the document changes nothing any more.
            tracing::debug!(meeting = %meeting.id(), ?source, "document for a removed meeting ignored");
            return Ok(None);
        }
        let url = doc.url.clone();
        let epoch = self.next_epoch();
        let applied = if source == Source::Resync {
            meeting.reset(doc, device, epoch)
        } else {
            meeting.apply(doc, device, epoch)
        };
        match applied {
            Applied::Changed => self.after_change(&mut list, &meeting),
            Applied::Stale => {
                tracing::debug!(meeting = %meeting.id(), ?source, "stale locus document ignored");
            }
            Applied::Queued(n) => {
                let mut state = meeting.lock();
                if n > self.options.max_queued_deltas {
                    state.resync_scheduled = true;
                    drop(state);
                    self.schedule(Input::Resync {
                        meeting: meeting.clone(),
                        after: Duration::ZERO,
                    });
                } else if !state.resync_scheduled {
                    state.resync_scheduled = true;
                    drop(state);
                    let after = self.options.gap_wait();
                    tracing::info!(meeting = %meeting.id(), ?after, "locus delta ahead of this copy: waiting for the gap");
                    self.schedule(Input::Resync {
                        meeting: meeting.clone(),
                        after,
                    });
                }
            }
            Applied::Resync => {
                let mut state = meeting.lock();
                if !state.resync_scheduled {
                    state.resync_scheduled = true;
                    drop(state);
                    tracing::info!(meeting = %meeting.id(), locus = %url, "locus out of step: fetching it again");
                    self.schedule(Input::Resync {
                        meeting: meeting.clone(),
                        after: Duration::ZERO,
                    });
                }
            }
            Applied::Malformed => {
                return Err(meeting.last_error().map_or_else(
                    || MeetingError::malformed(&url, "not applied"),
                    |e| MeetingError::malformed(&url, e.to_string()),
                ));
            }
        }
        Ok(Some(meeting))
    }

    /// A document for a Locus with no meeting yet.
    fn adopt(
        self: &Arc<Self>,
        list: &mut Vec<Meeting>,
        doc: Locus,
        device: Option<&str>,
        source: Source,
    ) -> Result<Option<Meeting>, MeetingError> {
        if let Err(message) = apply::validate(&doc) {
            return Err(MeetingError::malformed(&doc.url, message));
        }
        if apply::is_delta(&doc) {
            // §7 #2303: the first event of a meeting may be a delta.
            self.schedule(Input::FetchNew { locus_url: doc.url });
            return Ok(None);
        }
        let gone = doc
            .self_
            .as_ref()
            .is_some_and(|s| s.state == ParticipantState::Left && s.removed);
        if apply::is_ended(&doc) || gone {
            return Ok(None);
        }
        let reason = if doc
            .self_
            .as_ref()
            .is_some_and(|s| s.state == ParticipantState::Joined)
        {
            AddedReason::Joined
        } else {
            AddedReason::Incoming
        };
        let meeting = Meeting::new(
            Arc::downgrade(self),
            Origin::Locus,
            None,
            MeetingState::default(),
        );
        let epoch = self.next_epoch();
        if meeting.apply(doc, device, epoch) != Applied::Changed {
            return Ok(None);
        }
        tracing::info!(meeting = %meeting.id(), ?source, %reason, "meeting added");
        list.push(meeting.clone());
        self.core.events.emit(MeetingsEvent::MeetingAdded {
            meeting: meeting.clone(),
            reason,
        });
        Ok(Some(meeting))
    }

    /// Removes `meeting` when its new document says it ended or the user
    /// was removed from it.
    fn after_change(&self, list: &mut Vec<Meeting>, meeting: &Meeting) {
        let reason = {
            let state = meeting.lock();
            let Some(doc) = &state.doc else { return };
            if apply::is_ended(doc) {
                Some(RemovedReason::Ended)
            } else if doc.self_.as_ref().is_some_and(|s| s.removed) {
                Some(RemovedReason::Left)
            } else {
                None
            }
        };
        if let Some(reason) = reason {
            self.remove_locked(list, meeting, reason);
        }
    }

    fn remove_locked(&self, list: &mut Vec<Meeting>, meeting: &Meeting, reason: RemovedReason) {
        let before = list.len();
        list.retain(|m| !m.same(meeting));
        if list.len() == before {
            return;
        }
        meeting.mark_removed();
        tracing::info!(meeting = %meeting.id(), %reason, "meeting removed");
        self.core.events.emit(MeetingsEvent::MeetingRemoved {
            meeting_id: meeting.id().to_owned(),
            reason,
        });
    }

    /// Stops the media of every meeting (`unregister()`).
    pub(crate) fn stop_all_media(&self) {
        for meeting in self.list() {
            meeting.teardown_media();
        }
    }

    /// Removes `meeting` from the list.
    pub(crate) fn remove(&self, meeting: &Meeting, reason: RemovedReason) {
        let mut list = self.list_lock();
        self.remove_locked(&mut list, meeting, reason);
    }

    /// After a sync that started at `epoch` returned `urls`: removes the
    /// meetings it no longer lists, except those created here and never
    /// joined, those joining, and those updated since the sync began.
    pub(crate) fn prune(&self, urls: &HashSet<String>, epoch: u64) {
        let mut list = self.list_lock();
        let doomed: Vec<(Meeting, RemovedReason)> = list
            .iter()
            .filter_map(|m| {
                let s = m.lock();
                let url = s.locus_url.as_ref()?;
                let local = m.inner.origin == Origin::Created && !s.ever_joined;
                if urls.contains(url) || local || s.joining || s.touched > epoch {
                    return None;
                }
                let left = s
                    .doc
                    .as_ref()
                    .and_then(|d| d.self_.as_ref())
                    .is_some_and(|me| me.state == ParticipantState::Left);
                let reason = if left {
                    RemovedReason::Left
                } else {
                    RemovedReason::NoLongerSynced
                };
                Some((m.clone(), reason))
            })
            .collect();
        for (m, reason) in doomed {
            self.remove_locked(&mut list, &m, reason);
        }
    }

    /// Applies the Locus of a Mercury frame. A frame that does not parse is
    /// logged (and recorded on its meeting when the URL is known).
    pub(crate) fn handle_frame(self: &Arc<Self>, frame: &ServerFrame) {
        let Some(data) = &frame.data else { return };
        if let Some(locus_url) = super::hash_tree::detect(data) {
            self.resync_hash_tree(locus_url);
            return;
        }
        let value = serde_json::Value::Object(data.rest.clone());
        let event: LocusEvent = match serde_json::from_value(value) {
            Ok(e) => e,
            Err(e) => {
                let url = data
                    .rest
                    .get("locusUrl")
                    .and_then(|u| u.as_str())
                    .unwrap_or_default();
                let error = MeetingError::malformed(url, format!("{}: {e}", data.event_type));
                tracing::warn!(error = %error, "locus event not applied");
                if let Some(m) = self.get(url) {
                    m.lock().last_error = Some(Arc::new(error));
                }
                return;
            }
        };
        let mut doc = event.locus;
        if doc.url.is_empty() {
            doc.url = event.locus_url;
        }
        if let Err(e) = self.handle(doc, None, Source::Mercury) {
            tracing::warn!(error = %e, event = %data.event_type, "locus event not applied");
        }
    }
}

impl Collection {
    /// A hash-tree event this SDK cannot apply: fetch the whole Locus
    /// (`GET {locusUrl}`) instead, for its meeting or as a new one; without
    /// a URL, sync the list.
    fn resync_hash_tree(&self, locus_url: Option<String>) {
        tracing::info!(locus = ?locus_url, "hash-tree locus event: fetching the full document instead");
        let input = match locus_url {
            Some(url) => match self.get(&url) {
                Some(meeting) => Input::Resync {
                    meeting,
                    after: Duration::ZERO,
                },
                None => Input::FetchNew { locus_url: url },
            },
            None => Input::Reconnected,
        };
        self.schedule(input);
    }
}

/// The meeting `doc` belongs to (§1.4 lookup order).
fn find(list: &[Meeting], doc: &Locus, device: Option<&str>) -> Option<Meeting> {
    let by = |f: &dyn Fn(&Meeting) -> bool| list.iter().find(|m| f(m)).cloned();
    if let Some(m) = by(&|m| m.lock().locus_url.as_deref() == Some(doc.url.as_str())) {
        return Some(m);
    }
    if let Some(corr) = device.and_then(|d| apply::device_correlation(doc, d))
        && let Some(m) = by(&|m| m.correlation_id() == corr)
    {
        return Some(m);
    }
    let info = doc.info.as_ref()?;
    let unlocated = |m: &Meeting, f: &dyn Fn(&MeetingState) -> bool| {
        let s = m.lock();
        s.locus_url.is_none() && f(&s)
    };
    if !info.sip_uri.is_empty()
        && let Some(m) = by(&|m| {
            unlocated(m, &|s| {
                s.sip_uri
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&info.sip_uri))
            })
        })
    {
        return Some(m);
    }
    let number = info.web_ex_meeting_id.as_deref()?;
    by(&|m| unlocated(m, &|s| s.meeting_number.as_deref() == Some(number)))
}
