//! Property tests over every wire type: parsing arbitrary JSON (and
//! arbitrary bytes) never panics, and whatever parses survives a round trip
//! (`T → JSON → T` is the identity).
//!
//! Inputs are valid samples of each type with fields dropped, replaced by
//! arbitrary strings, numbers, booleans, nulls or nested JSON, and extra keys
//! added, so both the accepting and the rejecting paths are exercised.
//! `PROPTEST_CASES=10000 cargo test -p webex-wire --test it proptest_wire` for a
//! longer run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use webex_wire::catalog::{Catalog, HostEntry};
use webex_wire::device::{Device, DeviceList, DeviceRequest, Feature, Features};
use webex_wire::error::ErrorBody;
use webex_wire::locus::{
    JoinRequest, JoinResponse, LeaveRequest, LociList, Locus, LocusEvent, LocusResponse,
    MeetingInfo, MeetingInfoRequest, Participant, ParticipantDevice, Sequence,
};
use webex_wire::mercury::{ClientFrame, EventData, ServerFrame};
use webex_wire::oauth::{GuestClaims, JwtLoginResponse, OAuthError, TokenResponse};
use webex_wire::people::Person;

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Short decimals only: serde_json without `float_roundtrip` may read
        // a 17-digit float back one ulp off (e.g. 2.1308844776024913e-308),
        // which is serde_json's documented trade-off, not a wire-type bug.
        any::<i32>().prop_map(|i| Value::from(f64::from(i) / 64.0)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What happens to one field of a sample.
#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Drop,
    Set(Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => Just(Edit::Keep),
        1 => Just(Edit::Drop),
        2 => ".{0,16}".prop_map(|s| Edit::Set(Value::String(s))),
        1 => any::<u32>().prop_map(|n| Edit::Set(Value::from(n))),
        1 => any::<i64>().prop_map(|n| Edit::Set(Value::from(n))),
        1 => any::<bool>().prop_map(|b| Edit::Set(Value::Bool(b))),
        1 => Just(Edit::Set(Value::Null)),
        1 => any_json().prop_map(Edit::Set),
    ]
}

/// `sample` with each top-level field edited and some extra keys.
fn mutated(sample: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = sample
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    (
        prop::collection::vec(edit(), keys.len()),
        prop::collection::btree_map("[a-zA-Z]{1,10}", any_json(), 0..3),
    )
        .prop_map(move |(edits, extra)| {
            let mut obj: Map<String, Value> = sample.as_object().cloned().unwrap_or_default();
            for (k, v) in extra {
                obj.entry(k).or_insert(v);
            }
            for (k, e) in keys.iter().zip(edits) {
                match e {
                    Edit::Keep => {}
                    Edit::Drop => {
                        obj.remove(k);
                    }
                    Edit::Set(v) => {
                        obj.insert(k.clone(), v);
                    }
                }
            }
            Value::Object(obj)
        })
}

/// Parses `input` as `T`; when it parses, `T → JSON → T` must be the identity
/// (also through text).
fn check<T>(input: &Value) -> Result<bool, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(parsed) = serde_json::from_value::<T>(input.clone()) else {
        return Ok(false);
    };
    let json = serde_json::to_value(&parsed).expect("serializes");
    let back: T = serde_json::from_value(json.clone())
        .map_err(|e| TestCaseError::fail(format!("{e}: re-parsing {json}")))?;
    prop_assert_eq!(&back, &parsed);
    let text = serde_json::to_string(&parsed).expect("serializes");
    let back: T = serde_json::from_str(&text).expect("text round trip");
    prop_assert_eq!(&back, &parsed);
    Ok(true)
}

fn feature_sample() -> Value {
    json!({"key": "squared-call-initiation", "val": "true", "value": true,
           "type": "ENTITLEMENT", "mutable": true, "lastModified": "2024-01-01T00:00:00.000Z"})
}

fn device_sample() -> Value {
    json!({
        "url": "https://wdm.example/wdm/api/v1/devices/d1",
        "webSocketUrl": "wss://mercury.example/mercury/v1/apps/wx2/registrations/d1/messages",
        "userId": "u1", "orgId": "o1", "name": "n", "deviceType": "WEB",
        "model": "web-js-sdk", "localizedModel": "webex-js-sdk",
        "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0", "ttl": 3600,
        "features": {"developer": [], "entitlement": [feature_sample()], "user": []},
        "creationTime": "2024-01-01T00:00:00.000Z",
        "modificationTime": "2024-01-01T00:00:00.000Z",
        "services": {"x": "y"}
    })
}

fn participant_sample() -> Value {
    json!({"id": "p1", "url": "https://s/locus/api/v1/loci/l1/participant/p1", "state": "JOINED",
        "type": "USER", "person": {"id": "u1", "name": "A", "email": "a@b.c", "orgId": "o"},
        "devices": [{"url": "https://s/wdm/api/v1/devices/d1", "state": "JOINED",
            "correlationId": "c1", "deviceType": "WEB"}],
        "status": {"audioStatus": "SENDRECV"}, "controls": {"audio": {"muted": true}},
        "guest": false, "moderator": true, "removed": false, "reason": "X"})
}

fn locus_sample() -> Value {
    json!({"url": "https://s/locus/api/v1/loci/l1", "created": "2024-01-01T00:00:00.000Z",
        "fullState": {"state": "ACTIVE", "type": "MEETING", "active": true, "locked": false,
            "lastActive": "2024-01-01T00:00:00.000Z", "count": 1},
        "info": {"sipUri": "r@d.e", "webExMeetingId": "123", "owner": "u1", "topic": "t",
            "webExMeetingLink": "https://s/meet/r",
            "displayHints": {"joined": ["LEAVE"], "moderator": ["END_MEETING"], "coHost": []}},
        "host": {"id": "u1", "name": "A", "email": "a@b.c"},
        "participants": [participant_sample()], "self": participant_sample(),
        "controls": {"lock": {"locked": false}},
        "sequence": {"entries": [5], "rangeStart": 0, "rangeEnd": 0},
        "baseSequence": {"entries": [4], "rangeStart": 0, "rangeEnd": 0},
        "syncUrl": "https://s/sync", "conversationUrl": "https://s/conv", "htMeta": {"x": 1}})
}

macro_rules! wire_props {
    ($($name:ident: $ty:ty = $sample:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(input in mutated($sample)) {
                    check::<$ty>(&input)?;
                }
            )*
        }

        /// The unmutated samples are valid, so the properties above test
        /// the accepting path too.
        #[test]
        fn samples_parse() {
            $( assert!(check::<$ty>(&$sample).unwrap(), stringify!($ty)); )*
        }

        proptest! {
            /// Arbitrary JSON and arbitrary bytes never panic any parser.
            #[test]
            fn arbitrary_input_never_panics(v in any_json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                $(
                    check::<$ty>(&v)?;
                    let _ = serde_json::from_slice::<$ty>(&bytes);
                )*
            }
        }
    };
}

wire_props! {
    device_request: DeviceRequest = json!({"name": "n", "deviceType": "WEB", "model": "m",
        "localizedModel": "l", "systemName": "s", "systemVersion": "1", "ttl": 30, "extraField": [1]});
    device: Device = device_sample();
    device_list: DeviceList = json!({"devices": [device_sample(), device_sample()]});
    features: Features = json!({"developer": [feature_sample()], "entitlement": [], "user": [feature_sample()]});
    feature: Feature = feature_sample();
    catalog: Catalog = json!({"serviceLinks": {"wdm": "https://x/wdm/api/v1"},
        "hostCatalog": {"x": [{"host": "x", "ttl": -1, "priority": 5, "id": "urn:x"}]}, "format": "hostmap"});
    host_entry: HostEntry = json!({"host": "x", "ttl": -1, "priority": 5, "id": "urn:x"});
    person: Person = json!({"id": "p", "emails": ["a@b.c"], "displayName": "A", "orgId": "o",
        "type": "person", "created": "2024-01-01T00:00:00.000Z"});
    error_body: ErrorBody = json!({"message": "m", "errors": [{"description": "d"}],
        "trackingId": "t", "code": "bad_request", "errorCode": 400});
    token_response: TokenResponse = json!({"access_token": "a_b_c", "expires_in": 10,
        "refresh_token": "r", "refresh_token_expires_in": 20, "token_type": "Bearer", "scope": "spark:all"});
    oauth_error: OAuthError = json!({"error": "invalid_grant", "error_description": "d", "trackingId": "t"});
    jwt_login: JwtLoginResponse = json!({"token": "a_b_c", "expiresIn": 10});
    guest_claims: GuestClaims = json!({"sub": "s", "name": "n", "iss": "i", "exp": 1});
    client_frame_auth: ClientFrame = json!({"type": "authorization", "id": "1",
        "data": {"token": "Bearer a_b_c"}, "trackingId": "t"});
    client_frame_ping: ClientFrame = json!({"type": "ping", "id": "1"});
    client_frame_ack: ClientFrame = json!({"type": "ack", "messageId": "m"});
    server_frame: ServerFrame = json!({"id": "1", "type": "pong", "sequenceNumber": 3,
        "data": {"eventType": "mercury.buffer_state", "x": {"y": 1}}, "timestamp": 5, "trackingId": "t"});
    event_data: EventData = json!({"eventType": "a.b", "anything": [null, 1, "x"]});
    locus: Locus = locus_sample();
    participant: Participant = participant_sample();
    participant_device: ParticipantDevice = json!({"url": "u", "state": "LEFT",
        "correlationId": "c", "deviceType": "WEB"});
    sequence: Sequence = json!({"entries": [1, 2], "rangeStart": 0, "rangeEnd": 3});
    join_request: JoinRequest = json!({"device": {"url": "u", "deviceType": "WEB", "countryCode": "US",
        "regionCode": "X"}, "correlationId": "c", "invitee": {"address": "r@d.e"}, "moderator": false,
        "pin": "1", "sequence": {"entries": [1], "rangeStart": 0, "rangeEnd": 0}, "usingResource": null});
    join_response: JoinResponse = json!({"locus": locus_sample(), "mediaConnections": [{"mediaId": "m"}]});
    leave_request: LeaveRequest = json!({"device": {"url": "u", "deviceType": "WEB"},
        "correlationId": "c", "usingResource": null});
    locus_response: LocusResponse = json!({"locus": locus_sample()});
    loci_list: LociList = json!({"loci": [locus_sample()], "remoteLocusClusterUrls": ["https://x"]});
    meeting_info_request: MeetingInfoRequest = json!({"sipUrl": "r@d.e", "meetingKey": "1",
        "meetingUrl": "u", "meetingUUID": "x", "userId": "u", "orgId": "o", "locusId": "l",
        "conversationUrl": "c", "password": "p", "supportHostKey": true,
        "supportCountryList": true, "disableWebRedirect": true});
    meeting_info: MeetingInfo = json!({"sipUrl": "r@d.e", "meetingNumber": "1", "meetingJoinUrl": "u",
        "locusUrl": "l", "meetingName": "n", "hostId": "h", "hostDisplayName": "H", "isPmr": true});
    locus_event: LocusEvent = json!({"eventType": "locus.difference", "locusUrl": "l", "locus": locus_sample()});
}
