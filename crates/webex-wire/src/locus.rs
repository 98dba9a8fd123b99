//! Locus: meetings without media (`{locus}/loci…`, `{webex-appapi-service}/meetingInfo`
//! and the `locus.*` Mercury events).
//!
//! Reading is tolerant, so these types also parse documents from Webex's cloud:
//! every field has a default, unknown fields are ignored and states that this
//! crate does not know are kept as `Other(…)`. Writing produces exactly what the
//! official JS SDK needs (see `docs/protocol/locus-protocol.md` §1.4): `sequence`
//! always carries `rangeStart`/`rangeEnd`, and a participant always carries
//! `devices: []` and `status: {}`. The hash-tree fields (`htMeta`, `dataSets`,
//! `visibleDataSets`), `info.webExSite`, `locusClusterUrl` and
//! `permissionToken` are deliberately not modelled: sending any of them switches
//! the official client to another protocol or host.
//!
//! ```
//! use webex_wire::locus::{Locus, LocusState, Sequence};
//! let locus: Locus = serde_json::from_str(r#"{
//!     "url": "https://srv/locus/api/v1/loci/6b1c",
//!     "fullState": {"state": "ACTIVE", "type": "MEETING", "active": true},
//!     "sequence": {"entries": [7], "rangeStart": 0, "rangeEnd": 0},
//!     "someFutureField": 1
//! }"#)?;
//! assert_eq!(locus.full_state.as_ref().map(|f| &f.state), Some(&LocusState::Active));
//! assert_eq!(locus.sequence.last(), Some(7));
//! assert_eq!(locus.id(), "6b1c");
//! let json = serde_json::to_value(&locus)?;
//! assert_eq!(json["sequence"], serde_json::json!({"entries": [7], "rangeStart": 0, "rangeEnd": 0}));
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Other(s) => s,
                    other => other.as_str().to_owned(),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// `fullState.state` of a Locus.
    LocusState {
        /// People are in the meeting.
        Active = "ACTIVE",
        /// Being set up.
        Initializing = "INITIALIZING",
        /// Ended (or not started); the official client destroys its meeting.
        Inactive = "INACTIVE",
        /// Ending.
        Terminating = "TERMINATING",
    }
}

string_enum! {
    /// `fullState.type` of a Locus.
    LocusType {
        /// A meeting (space or scheduled meeting).
        Meeting = "MEETING",
        /// A 1:1 call.
        Call = "CALL",
        /// A SIP bridge.
        SipBridge = "SIP_BRIDGE",
        /// A wireless share.
        SpaceShare = "SPACE_SHARE",
    }
}

string_enum! {
    /// `state` of a participant or of one of its devices.
    ParticipantState {
        /// In the meeting.
        Joined = "JOINED",
        /// Was in the meeting and left.
        Left = "LEFT",
        /// Known but not joined (e.g. in the lobby with `intent.type` WAIT).
        Idle = "IDLE",
        /// Being notified (ringing).
        Notified = "NOTIFIED",
        /// Declined.
        Declined = "DECLINED",
    }
}

string_enum! {
    /// `type` of a participant.
    ParticipantType {
        /// A person.
        User = "USER",
        /// A room device.
        ResourceRoom = "RESOURCE_ROOM",
    }
}

string_enum! {
    /// `data.eventType` of a Locus Mercury event.
    LocusEventType {
        /// Someone joined; carries the full document.
        ParticipantJoined = "locus.participant_joined",
        /// Someone left; carries the full document.
        ParticipantLeft = "locus.participant_left",
        /// A participant changed; carries the full document.
        ParticipantUpdated = "locus.participant_updated",
        /// Meeting controls (or state) changed; carries the full document.
        ControlsUpdated = "locus.controls_updated",
        /// The caller's own participant changed; carries the full document.
        SelfChanged = "locus.self_changed",
        /// A delta: only the changed parts, with `baseSequence`.
        Difference = "locus.difference",
        /// The content floor was granted (screen share started or changed
        /// hands); carries the full document.
        FloorGranted = "locus.floor_granted",
        /// The content floor was released; carries the full document.
        FloorReleased = "locus.floor_released",
    }
}

impl LocusEventType {
    /// Whether the official client treats this event's document as a full
    /// document (replace when newer) rather than a delta.
    pub fn is_full_document(&self) -> bool {
        !matches!(self, Self::Difference | Self::Other(_))
    }
}

/// A Locus sequence: `entries` is the version (its last entry counts),
/// `rangeStart`/`rangeEnd` are always written because the official client
/// ignores a document without them.
///
/// ```
/// use webex_wire::locus::Sequence;
/// let s = Sequence::single(42);
/// assert_eq!(s.last(), Some(42));
/// assert_eq!(serde_json::to_string(&s)?, r#"{"entries":[42],"rangeStart":0,"rangeEnd":0}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Sequence {
    /// Version numbers; the last one is the document's version.
    #[serde(default)]
    pub entries: Vec<u64>,
    /// Start of a compressed range (0 when unused).
    #[serde(default)]
    pub range_start: u64,
    /// End of a compressed range (0 when unused).
    #[serde(default)]
    pub range_end: u64,
}

impl Sequence {
    /// A sequence whose only entry is `n`.
    pub fn single(n: u64) -> Self {
        Self {
            entries: vec![n],
            range_start: 0,
            range_end: 0,
        }
    }

    /// The document's version: the last entry, else `rangeEnd` when a range is
    /// used, else `None` (an "empty" sequence).
    pub fn last(&self) -> Option<u64> {
        self.entries
            .last()
            .copied()
            .or((self.range_end != 0).then_some(self.range_end))
    }
}

/// A Locus document: one meeting instance as one participant sees it.
///
/// A full document has `fullState`, `info`, `participants` and (when
/// addressed to a person who is in it) `self`. A delta (`locus.difference`)
/// has `baseSequence` and only the parts that changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Locus {
    /// `{locus}/loci/<id>`; also the Locus identity.
    #[serde(default)]
    pub url: String,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Whole-meeting state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_state: Option<FullState>,
    /// Addressing and display information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<LocusInfo>,
    /// The host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
    /// Participants (all of them in a full document, the changed ones in a delta).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Participant>,
    /// The reader's own participant.
    #[serde(default, rename = "self", skip_serializing_if = "Option::is_none")]
    pub self_: Option<Participant>,
    /// Meeting-wide controls (lock, recording, …), kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub controls: Option<Map<String, Value>>,
    /// This document's version.
    #[serde(default)]
    pub sequence: Sequence,
    /// On a delta: the version it applies on top of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sequence: Option<Sequence>,
    /// Where to fetch a delta since the reader's version (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_url: Option<String>,
    /// Conversation (space) the meeting belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_url: Option<String>,
    /// The share floors (`content`, `whiteboard`, …): the complete array
    /// whenever present, which replaces the reader's previous one; absent
    /// when the document says nothing about them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_shares: Option<Vec<MediaShare>>,
    /// Who speaks, as the media server chose from decoded audio levels in
    /// a meeting of three or more. An extension of `webex serve`: Webex's
    /// Locus has no such field (its transcoded clients see the speaker only
    /// in the video they get), and the official SDK ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_speaker: Option<ActiveSpeaker>,
}

/// [`Locus::active_speaker`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ActiveSpeaker {
    /// The speaker's participant id (`participants[].id`).
    pub participant_id: String,
}

impl ActiveSpeaker {
    /// The speaker `participant_id`.
    ///
    /// ```
    /// let s = webex_wire::locus::ActiveSpeaker::new("p1");
    /// assert_eq!(serde_json::to_string(&s)?, r#"{"participantId":"p1"}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(participant_id: impl Into<String>) -> Self {
        Self {
            participant_id: participant_id.into(),
        }
    }
}

impl Locus {
    /// The Locus id: the last path segment of [`Locus::url`].
    pub fn id(&self) -> &str {
        self.url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// Whether this is a delta (it has a `baseSequence`).
    pub fn is_delta(&self) -> bool {
        self.base_sequence.is_some()
    }

    /// The participant with this id, if present.
    pub fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// The media share named `name` (`content`, `whiteboard`), if listed.
    ///
    /// ```
    /// use webex_wire::locus::Locus;
    /// let l: Locus = serde_json::from_str(r#"{"mediaShares":[{"name":"content",
    ///     "url":"https://srv/locus/api/v1/loci/1/mediashares/c"}]}"#)?;
    /// assert_eq!(l.media_share("content").map(|s| s.url.as_str()),
    ///     Some("https://srv/locus/api/v1/loci/1/mediashares/c"));
    /// assert!(l.media_share("whiteboard").is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn media_share(&self, name: &str) -> Option<&MediaShare> {
        self.media_shares.as_ref()?.iter().find(|s| s.name == name)
    }
}

string_enum! {
    /// `floor.disposition` of a media share.
    FloorDisposition {
        /// Someone holds the floor (shares).
        Granted = "GRANTED",
        /// Nobody holds it (any more).
        Released = "RELEASED",
    }
}

/// One entry of `mediaShares`: a floor people share through, at `url`
/// (`PUT` a [`FloorRequest`] there to take or release it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MediaShare {
    /// `content` (screen share), `whiteboard`, …
    #[serde(default)]
    pub name: String,
    /// `{locusUrl}/mediashares/<id>`.
    #[serde(default)]
    pub url: String,
    /// Who holds or last held the floor; absent before anyone shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Floor>,
}

/// A share floor, in a document (`beneficiary.id` and `deviceUrl` set) or
/// in a [`FloorRequest`] (`beneficiary.url` and `devices` set).
///
/// ```
/// use webex_wire::locus::{Floor, FloorDisposition};
/// let f: Floor = serde_json::from_str(r#"{"disposition":"GRANTED","shareInstanceId":"s1",
///     "beneficiary":{"id":"p1","url":"u","deviceUrl":"d"},"someFutureField":1}"#)?;
/// assert_eq!(f.disposition, FloorDisposition::Granted);
/// assert_eq!(f.beneficiary.as_ref().and_then(|b| b.device_url.as_deref()), Some("d"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Floor {
    /// GRANTED or RELEASED.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "GRANTED"))]
    pub disposition: FloorDisposition,
    /// The share's id, chosen by the presenter's client (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_instance_id: Option<String>,
    /// Who shares (or shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary: Option<FloorParty>,
    /// Who asked for the floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<FloorParty>,
    /// RFC 3339 time the floor was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<String>,
    /// RFC 3339 time the floor was released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

/// A participant in a [`Floor`]: `id`/`url`/`deviceUrl` in documents,
/// `url`/`devices` in requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FloorParty {
    /// Participant id (documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Participant URL (`self.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The device that shares (documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_url: Option<String>,
    /// The device that shares (requests: the first one counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<FloorDevice>,
}

/// A device in a floor request's `beneficiary.devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FloorDevice {
    /// `WEB`, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_type: String,
    /// WDM device URL.
    #[serde(default)]
    pub url: String,
}

/// Body of `PUT {mediaShares[].url}`: take (`GRANTED`) or release
/// (`RELEASED`) the floor.
///
/// ```
/// use webex_wire::locus::{FloorRequest, FloorDisposition};
/// let take = FloorRequest::grant("https://srv/locus/api/v1/loci/1/participant/p1",
///     "https://srv/wdm/api/v1/devices/d1", "s1");
/// assert_eq!(serde_json::to_value(&take)?, serde_json::json!({"floor": {
///     "beneficiary": {"url": "https://srv/locus/api/v1/loci/1/participant/p1",
///         "devices": [{"deviceType": "WEB", "url": "https://srv/wdm/api/v1/devices/d1"}]},
///     "disposition": "GRANTED",
///     "requester": {"url": "https://srv/locus/api/v1/loci/1/participant/p1"},
///     "shareInstanceId": "s1"}}));
/// assert_eq!(serde_json::to_value(&FloorRequest::release("s1"))?,
///     serde_json::json!({"floor": {"disposition": "RELEASED", "shareInstanceId": "s1"}}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FloorRequest {
    /// The floor asked for.
    #[serde(default)]
    pub floor: Floor,
    /// The shared resource (the official SDK never sets it for content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<String>,
}

impl FloorRequest {
    /// The official SDK's request for the floor: the participant at
    /// `self_url` shares from the `WEB` device `device_url`.
    pub fn grant(self_url: &str, device_url: &str, share_instance_id: &str) -> Self {
        Self {
            floor: Floor {
                disposition: FloorDisposition::Granted,
                share_instance_id: Some(share_instance_id.to_owned()),
                beneficiary: Some(FloorParty {
                    url: Some(self_url.to_owned()),
                    devices: vec![FloorDevice {
                        device_type: "WEB".into(),
                        url: device_url.to_owned(),
                    }],
                    ..FloorParty::default()
                }),
                requester: Some(FloorParty {
                    url: Some(self_url.to_owned()),
                    ..FloorParty::default()
                }),
                ..Floor::default()
            },
            resource_url: None,
        }
    }

    /// The official SDK's release of the share `share_instance_id`.
    pub fn release(share_instance_id: &str) -> Self {
        Self {
            floor: Floor {
                disposition: FloorDisposition::Released,
                share_instance_id: Some(share_instance_id.to_owned()),
                ..Floor::default()
            },
            resource_url: None,
        }
    }
}

/// `fullState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FullState {
    /// ACTIVE, INACTIVE, …
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "ACTIVE"))]
    pub state: LocusState,
    /// MEETING, CALL, …
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "MEETING"))]
    pub kind: LocusType,
    /// Whether the meeting is in progress.
    #[serde(default)]
    pub active: bool,
    /// Whether the meeting is locked.
    #[serde(default)]
    pub locked: bool,
    /// RFC 3339 time of the last activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<String>,
    /// Number of joined participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// `info`: how the meeting is addressed and what the reader may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocusInfo {
    /// SIP address of the meeting space (`name@domain`); the official client
    /// reads it unguarded whenever `info` is present.
    #[serde(default)]
    pub sip_uri: String,
    /// Meeting number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_ex_meeting_id: Option<String>,
    /// Owner's person id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Meeting title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Join link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_ex_meeting_link: Option<String>,
    /// What participants (and moderators) may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_hints: Option<DisplayHints>,
    /// Where an admitted client registers for the meeting's data channel
    /// (`POST {"deviceUrl": …}` → `{"webSocketUrl", "binding"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datachannel_url: Option<String>,
}

/// `info.displayHints`: action names the UI may offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DisplayHints {
    /// Hints for every joined participant.
    #[serde(default)]
    pub joined: Vec<String>,
    /// Extra hints for moderators.
    #[serde(default)]
    pub moderator: Vec<String>,
    /// Extra hints for co-hosts.
    #[serde(default)]
    pub co_host: Vec<String>,
}

/// `host`: who hosts the meeting (`id` is a person id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// Person id.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One participant of a Locus (also the shape of `self`).
///
/// ```
/// use webex_wire::locus::{Participant, ParticipantState};
/// let p: Participant = serde_json::from_str(r#"{"id":"p1","state":"JOINED"}"#)?;
/// assert_eq!(p.state, ParticipantState::Joined);
/// let json = serde_json::to_value(&p)?;
/// assert_eq!(json["devices"], serde_json::json!([]));
/// assert_eq!(json["status"], serde_json::json!({}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Participant id (unique within the Locus).
    #[serde(default)]
    pub id: String,
    /// `{locusUrl}/participant/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// JOINED, LEFT, …
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "JOINED"))]
    pub state: ParticipantState,
    /// USER, RESOURCE_ROOM, …
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USER"))]
    pub kind: ParticipantType,
    /// Who this is.
    #[serde(default)]
    pub person: Person,
    /// The devices this participant joined with (always written, maybe empty).
    #[serde(default)]
    pub devices: Vec<ParticipantDevice>,
    /// Media status (always written, maybe `{}`).
    #[serde(default)]
    pub status: ParticipantStatus,
    /// Per-participant controls (always written, maybe `{}`).
    #[serde(default)]
    pub controls: ParticipantControls,
    /// Whether this is a guest.
    #[serde(default)]
    pub guest: bool,
    /// Whether this participant moderates the meeting.
    #[serde(default)]
    pub moderator: bool,
    /// Set on `self` when the reader was removed from the meeting.
    #[serde(default)]
    pub removed: bool,
    /// Why the participant is in its state (e.g. `ENDED`, `FORCED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The person id (the official SDK matches lobby members by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl Participant {
    /// The device entry with this URL, if present.
    pub fn device(&self, url: &str) -> Option<&ParticipantDevice> {
        self.devices.iter().find(|d| d.url == url)
    }

    /// Whether this participant waits in the lobby, as the official SDK
    /// tells: state `IDLE` and a device whose `intent.type` is `WAIT`.
    ///
    /// ```
    /// use webex_wire::locus::Participant;
    /// let p: Participant = serde_json::from_str(r#"{"id":"p","state":"IDLE",
    ///     "devices":[{"url":"d","state":"IDLE","intent":{"type":"WAIT"}}]}"#)?;
    /// assert!(p.in_lobby());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn in_lobby(&self) -> bool {
        self.state == ParticipantState::Idle
            && self
                .devices
                .iter()
                .any(|d| d.intent.as_ref().is_some_and(|i| i.kind == "WAIT"))
    }

    /// Whether this participant has the role `role` (`MODERATOR`, …) in
    /// `controls.role.roles`.
    pub fn has_role(&self, role: &str) -> bool {
        self.controls
            .role
            .as_ref()
            .is_some_and(|r| r.roles.iter().any(|x| x.kind == role && x.has_role))
    }
}

/// A device's `intent`: what the device waits for (`WAIT` in the lobby).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceIntent {
    /// Intent id.
    #[serde(default)]
    pub id: String,
    /// `WAIT` (lobby), `OBSERVE` (paired device), …
    #[serde(default, rename = "type")]
    pub kind: String,
    /// e.g. `ON_HOLD_LOBBY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `participant.controls.role`: the participant's roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoleControl {
    /// One entry per role type.
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// One role of a participant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// `MODERATOR`, `COHOST` or `PRESENTER`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Whether the participant has it.
    #[serde(default)]
    pub has_role: bool,
}

/// `participant.person`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Person id.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Email, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Org id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// One device a participant joined with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantDevice {
    /// The WDM device URL.
    #[serde(default)]
    pub url: String,
    /// JOINED or LEFT.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "JOINED"))]
    pub state: ParticipantState,
    /// The client's meeting correlation id for this join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `WEB`, …
    #[serde(default)]
    pub device_type: String,
    /// What the device waits for (`WAIT` while in the lobby).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<DeviceIntent>,
    /// All intents (the lobby sends `[intent]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<Option<DeviceIntent>>,
}

/// `participant.status` (media status; `{}` when there is no media).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantStatus {
    /// e.g. `SENDRECV`, `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_status: Option<String>,
    /// e.g. `SENDRECV`, `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_status: Option<String>,
}

/// `participant.controls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantControls {
    /// Audio mute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<MuteControl>,
    /// Video mute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<MuteControl>,
    /// Roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleControl>,
}

/// A mute control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MuteControl {
    /// Muted by someone else (a host's remote mute), not the participant's
    /// own mute: that one shows in `status` (`RECVONLY`).
    #[serde(default)]
    pub muted: bool,
    /// Whether the participant may not unmute themselves (a host's "hard
    /// mute"). The official SDK treats a self without `controls.audio` as
    /// "unmute not allowed" once muted, so servers send it, `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallow_unmute: Option<bool>,
}

/// The `device` of a join or leave body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinDevice {
    /// The caller's WDM device URL.
    pub url: String,
    /// `WEB`, …
    #[serde(default)]
    pub device_type: String,
    /// Geo hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Geo hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
}

/// Who to call in `POST {locus}/loci/call`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Invitee {
    /// A SIP URI, an email, a join link or `wbxmn:<meeting number>`.
    pub address: String,
}

/// `clientMediaPreferences` of a join body (what the official SDK's
/// reachability reports; without media this SDK reports "unknown").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClientMediaPreferences {
    /// IP versions the client can use: 0 unknown, 4 IPv4 only, 6 IPv6
    /// only, 1 both.
    #[serde(default)]
    pub ipver: u8,
    /// Reachability's join cookie; `null` without reachability.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub join_cookie: Option<serde_json::Value>,
    /// Ask for transcoded media.
    #[serde(default)]
    pub prefer_transcoding: bool,
}

/// Body of `POST {locus}/loci/call` and `POST {locusUrl}/participant`.
///
/// [`JoinRequest::new`] fills in what the official SDK always sends
/// (`allowMultiDevice`, `supportsNativeLobby`, `clientMediaPreferences`, …);
/// every field is optional when reading, as servers see bodies from many
/// clients.
///
/// ```
/// use webex_wire::locus::JoinRequest;
/// let body = JoinRequest::new("https://h/wdm/api/v1/devices/d1", "corr-1")
///     .with_invitee("room1@webex.localhost");
/// let json = serde_json::to_value(&body)?;
/// assert_eq!(json["device"]["deviceType"], "WEB");
/// assert_eq!(json["invitee"]["address"], "room1@webex.localhost");
/// assert_eq!(json["allowMultiDevice"], true);
/// assert_eq!(json["supportsNativeLobby"], 1);
/// assert_eq!(json["clientMediaPreferences"]["preferTranscoding"], true);
/// assert!(json["usingResource"].is_null());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The joining device.
    pub device: JoinDevice,
    /// A resource (room device) to join with; the official SDK sends `null`
    /// when there is none, so this is written even when `None`.
    #[serde(default)]
    pub using_resource: Option<String>,
    /// Move media to `usingResource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_media_to_resource: Option<bool>,
    /// The client's id for this meeting (ties responses and events to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Answer with SDP only (no full media description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp_only_sdp: Option<bool>,
    /// The user may be in the meeting from several devices at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_multi_device: Option<bool>,
    /// Do not create a conversation for the meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure_conversation: Option<bool>,
    /// `1`: the client handles the native lobby (it may be put in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_native_lobby: Option<u8>,
    /// Media preferences from reachability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_media_preferences: Option<ClientMediaPreferences>,
    /// meetingInfo's `permissionToken` (a JWT), which entitles this user to
    /// join that meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_token: Option<String>,
    /// For `/loci/call`: the address to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitee: Option<Invitee>,
    /// Ask to join as moderator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// Meeting PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The client's current sequence (ignored by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
}

impl JoinRequest {
    /// A join from `device_url` (type `WEB`) with this correlation id and
    /// the fields the official SDK always sends (no media, no resource).
    pub fn new(device_url: impl Into<String>, correlation_id: impl Into<String>) -> Self {
        Self {
            device: JoinDevice {
                url: device_url.into(),
                device_type: "WEB".into(),
                ..JoinDevice::default()
            },
            using_resource: None,
            move_media_to_resource: Some(false),
            correlation_id: Some(correlation_id.into()),
            resp_only_sdp: Some(true),
            allow_multi_device: Some(true),
            ensure_conversation: Some(false),
            supports_native_lobby: Some(1),
            client_media_preferences: Some(ClientMediaPreferences {
                ipver: 0,
                join_cookie: None,
                prefer_transcoding: true,
            }),
            ..Self::default()
        }
    }

    /// Sets `invitee.address` (for `/loci/call`).
    pub fn with_invitee(mut self, address: impl Into<String>) -> Self {
        self.invitee = Some(Invitee {
            address: address.into(),
        });
        self
    }

    /// Sets `permissionToken` (from meetingInfo).
    pub fn with_permission_token(mut self, token: Option<String>) -> Self {
        self.permission_token = token;
        self
    }
}

/// One media connection of a join answer (none without media).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MediaConnection {
    /// Media id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// Answer of a join: the document and the (empty) media connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// The Locus after the join, with `self`.
    pub locus: Locus,
    /// Always an array (the official client requires it).
    #[serde(default)]
    pub media_connections: Vec<MediaConnection>,
}

/// Body of `PUT {locusUrl}/participant/{id}/leave`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LeaveRequest {
    /// The device leaving; without it every device of the participant leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<JoinDevice>,
    /// The client's id for this meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The client's current sequence (ignored by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
    /// `FORCED` when a host removes someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `participantIds` of an admit: the official SDK sends an array, or a
/// single string when its caller passed one.
///
/// ```
/// use webex_wire::locus::ParticipantIds;
/// let one: ParticipantIds = serde_json::from_str(r#""p1""#)?;
/// let many: ParticipantIds = serde_json::from_str(r#"["p1","p2"]"#)?;
/// assert_eq!(one.into_vec(), vec!["p1"]);
/// assert_eq!(many.into_vec().len(), 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ParticipantIds {
    /// One id.
    One(String),
    /// Several ids.
    Many(Vec<String>),
}

impl ParticipantIds {
    /// The ids as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(id) => vec![id],
            Self::Many(ids) => ids,
        }
    }
}

/// `admit` of `PUT {locusUrl}/controls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Admit {
    /// Who to let in from the lobby.
    pub participant_ids: ParticipantIds,
}

/// `lock` of `PATCH {locusUrl}/controls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LockControl {
    /// Lock (`true`) or unlock.
    pub locked: bool,
}

/// Body of `PUT` and `PATCH {locusUrl}/controls` (host only): admit people
/// from the lobby, or lock/unlock the meeting.
///
/// ```
/// use webex_wire::locus::ControlsRequest;
/// let admit = ControlsRequest::admit(vec!["p1".into()]);
/// assert_eq!(serde_json::to_value(&admit)?["admit"]["participantIds"][0], "p1");
/// let lock = ControlsRequest::lock(true);
/// assert_eq!(serde_json::to_value(&lock)?, serde_json::json!({"lock": {"locked": true}}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ControlsRequest {
    /// The Locus authorizing the change (the official SDK sends its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizing_locus_url: Option<String>,
    /// Let these participants in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit: Option<Admit>,
    /// Lock or unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockControl>,
    /// The client's current sequence (ignored by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
}

impl ControlsRequest {
    /// Admit `ids` from the lobby.
    pub fn admit(ids: Vec<String>) -> Self {
        Self {
            admit: Some(Admit {
                participant_ids: ParticipantIds::Many(ids),
            }),
            ..Self::default()
        }
    }

    /// Lock (`true`) or unlock the meeting.
    pub fn lock(locked: bool) -> Self {
        Self {
            lock: Some(LockControl { locked }),
            ..Self::default()
        }
    }
}

/// Answer of leave, end and other Locus changes: `{"locus": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocusResponse {
    /// The Locus after the change.
    pub locus: Locus,
}

/// `GET {locus}/loci`: the caller's active meetings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LociList {
    /// Active Loci the caller is in, each with `self`.
    #[serde(default)]
    pub loci: Vec<Locus>,
    /// URLs of Loci on other clusters (always written: the official client
    /// concatenates it with remote clusters' lists).
    #[serde(default)]
    pub locus_urls: Vec<String>,
    /// Other clusters to query too (never sent by `webex serve`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_locus_cluster_urls: Vec<String>,
}

/// Body of `POST {webex-appapi-service}/meetingInfo`: exactly one way of
/// naming the meeting is normally set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeetingInfoRequest {
    /// SIP URI (or email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_url: Option<String>,
    /// Meeting number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_key: Option<String>,
    /// Join link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_url: Option<String>,
    /// Meeting UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "meetingUUID")]
    pub meeting_uuid: Option<String>,
    /// Personal room of this person (with `orgId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Org of `userId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// A known Locus id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locus_id: Option<String>,
    /// Conversation URL (not supported by `webex serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_url: Option<String>,
    /// Meeting password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Client capability flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_host_key: Option<bool>,
    /// Client capability flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_country_list: Option<bool>,
    /// Client capability flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_web_redirect: Option<bool>,
    /// The current `permissionToken`, when asking again to refresh it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_token: Option<String>,
}

/// Answer of `meetingInfo`.
///
/// `permissionToken` (a JWT; its `exp` says when to fetch meetingInfo again
/// before a join) goes into the join body; `locusClusterUrl` names the
/// Locus host joins by address go to. `webex serve` sends a
/// `permissionToken` (which its joins by address require), never
/// `locusClusterUrl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeetingInfo {
    /// SIP address of the meeting space.
    #[serde(default)]
    pub sip_url: String,
    /// Meeting number; empty (and left out) when the server has not drawn
    /// one yet (`webex serve`: a space that joining would create).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub meeting_number: String,
    /// Join link.
    #[serde(default)]
    pub meeting_join_url: String,
    /// The active Locus, when the meeting is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locus_url: Option<String>,
    /// Meeting title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_name: Option<String>,
    /// Owner's person id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// Owner's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_display_name: Option<String>,
    /// Whether the meeting is a personal room.
    #[serde(default)]
    pub is_pmr: bool,
    /// A JWT entitling the caller to join; sent back in the join body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_token: Option<String>,
    /// The host (or URL) of the Locus cluster to join by address at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locus_cluster_url: Option<String>,
}

/// `data` of a Locus Mercury event.
///
/// ```
/// use webex_wire::locus::{LocusEvent, LocusEventType};
/// let e: LocusEvent = serde_json::from_str(r#"{"eventType":"locus.participant_joined",
///     "locusUrl":"https://srv/locus/api/v1/loci/1","locus":{"url":"https://srv/locus/api/v1/loci/1"}}"#)?;
/// assert_eq!(e.event_type, LocusEventType::ParticipantJoined);
/// assert!(e.event_type.is_full_document());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocusEvent {
    /// What happened.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub event_type: LocusEventType,
    /// The Locus concerned (the client finds its meeting by it).
    #[serde(default)]
    pub locus_url: String,
    /// The document (full or delta, see [`LocusEventType::is_full_document`]).
    #[serde(default)]
    pub locus: Locus,
}

/// Numeric `errorCode`s of Locus error answers from `webex serve` (the HTTP
/// status says the class; these say which rule refused). None of them is in
/// the official SDK's "intent to join" list (PIN or guest prompts).
pub mod error_codes {
    /// The meeting has ended; it cannot be joined (HTTP 409).
    pub const MEETING_ENDED: u32 = 2_409_001;
    /// The participant already left (HTTP 409).
    pub const NOT_JOINED: u32 = 2_409_002;
    /// A cap was reached: meetings per person, or devices per participant
    /// (HTTP 409; the message says which).
    pub const LIMIT_REACHED: u32 = 2_409_003;
    /// The caller is not a participant of this meeting (HTTP 403).
    pub const NOT_PARTICIPANT: u32 = 2_403_010;
    /// Only the host may do this (HTTP 403).
    pub const NOT_HOST: u32 = 2_403_011;
    /// The device in the body is not one of the caller's (HTTP 403).
    pub const FOREIGN_DEVICE: u32 = 2_403_012;
    /// The participant id is not the caller's own (HTTP 403).
    pub const FOREIGN_PARTICIPANT: u32 = 2_403_013;
    /// The caller waits in the lobby, or was removed: they may not read the
    /// meeting (HTTP 403).
    pub const NOT_ADMITTED: u32 = 2_403_014;
    /// No meeting at that address or URL (HTTP 404).
    pub const NO_SUCH_MEETING: u32 = 2_404_001;
    /// The floor is someone else's: only its holder (or the JOINED host)
    /// may release it (HTTP 403).
    pub const NOT_FLOOR_HOLDER: u32 = 2_403_015;
    /// A release names another share than the one holding the floor
    /// (HTTP 409).
    pub const STALE_SHARE: u32 = 2_409_004;
    /// No media share with that id in this meeting (HTTP 404).
    pub const NO_SUCH_SHARE: u32 = 2_404_002;
}
