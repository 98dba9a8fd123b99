//! The Rust SDK through a SIGKILLed `webex serve` (issue 14): the server
//! process dies without a word (no close frame, no shutdown), comes back, and
//! the SDK must find its way back by itself — no call from the app.
//!
//! - Same database, same port: both users' SDKs reconnect with the device
//!   they had, their meeting stays in the list, the roster equals the
//!   server's, and a roster change made after the restart reaches them.
//! - A roster change made while the SDK was cut off: the server comes back
//!   behind a closed [`Gate`] (a load balancer that has not put it back in
//!   rotation yet), a user leaves over raw HTTP, then the gate opens; the
//!   sync after the reconnect must bring the change (no event carried it).
//! - Fresh, empty database on the same port: the app's token source hands out
//!   a token of the new server; the SDK registers a new device on its own and
//!   drops the meeting the new server does not know.
//!
//! Each runs on SQLite, and on fresh PostgreSQL databases when
//! `WEBEX_TEST_DATABASE_URL` is set. Recovery times are printed
//! (`--no-capture`), never asserted; every wait has a hang guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, Stream, StreamExt};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use webex_meetings::mercury::MercuryOptions;
use webex_meetings::{
    AccessToken, AuthError, Credentials, EventStream, Meeting, MeetingEvent, Meetings,
    MeetingsEvent, MemberStatus, TokenProvider, Webex, WebexConfig,
};
use webex_wire::device::DeviceList;
use webex_wire::locus::{LociList, Locus, ParticipantState};

use crate::support::{Serve, on_fresh_postgres, token_create};

/// Hang guard for anything the test waits for.
const GUARD: Duration = Duration::from_secs(60);
/// The meeting everyone joins.
const ROOM: &str = "sigkill@webex.localhost";
const ANN: &str = "ann@example.com";
const BEN: &str = "ben@example.com";

/// Reconnect backoff of the SDKs under test: 100 ms first delay, 1 s at
/// most, full jitter (the defaults are 1 s and 32 s: same shape, longer
/// waits).
fn mercury() -> MercuryOptions {
    let mut o = MercuryOptions::default();
    o.backoff_initial = Duration::from_millis(100);
    o.backoff_max = Duration::from_secs(1);
    o
}

/// A free 127.0.0.1 address for a server that must come back on it.
fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// `webex serve` on `database`, listening on `listen`.
async fn serve_on(database: &str, listen: &str) -> Serve {
    Serve::start_on(listen, &["--database", database], Stdio::null()).await
}

/// A registered SDK for the server at `base`.
async fn client(base: &str, credentials: Credentials) -> (Webex, Meetings) {
    let webex = Webex::init(
        WebexConfig::builder(credentials)
            .discovery_url(format!("{base}/u2c/api/v1"))
            .device_name("sdk-sigkill")
            .mercury_options(mercury())
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    guarded("register", meetings.register()).await.unwrap();
    (webex, meetings)
}

async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {GUARD:?}"))
}

/// Reads `stream` up to the first item `pick` accepts.
async fn until<S, E, T>(stream: &mut S, what: &str, mut pick: impl FnMut(&E) -> Option<T>) -> T
where
    S: Stream<Item = E> + Unpin,
{
    guarded(what, async {
        while let Some(e) = stream.next().await {
            if let Some(t) = pick(&e) {
                return t;
            }
        }
        panic!("the stream ended before {what}");
    })
    .await
}

/// The names of the events already waiting in `events`.
fn pending(events: &mut EventStream) -> Vec<String> {
    std::iter::from_fn(|| events.next().now_or_never().flatten())
        .map(|e| e.name().into_owned())
        .collect()
}

/// When `meetings` next emits `network:reconnected` (listening from now on).
fn reconnected_at(meetings: &Meetings) -> JoinHandle<Instant> {
    let mut events = meetings.events();
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            if matches!(e, MeetingsEvent::NetworkReconnected) {
                return Instant::now();
            }
        }
        panic!("event stream ended before network:reconnected");
    })
}

/// The next `network:disconnected`: (close code, whether a reconnect follows).
async fn disconnected(events: &mut EventStream) -> (Option<u16>, bool) {
    until(events, "network:disconnected", |e| match e {
        MeetingsEvent::NetworkDisconnected {
            code,
            will_reconnect,
            ..
        } => Some((*code, *will_reconnect)),
        _ => None,
    })
    .await
}

/// Waits until the roster of `meeting` shows `email` with `status`.
async fn roster_shows(meeting: &Meeting, email: &str, status: MemberStatus) {
    guarded(&format!("{email} {status}"), async {
        while !meeting
            .members()
            .iter()
            .any(|m| m.email.as_deref() == Some(email) && m.status == status)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Reads `meeting`'s events up to a `members:update` showing `email` changed
/// to `status`.
async fn members_update(
    events: &mut webex_meetings::MeetingEventStream,
    email: &str,
    status: MemberStatus,
) {
    until(events, &format!("members:update {email} {status}"), |e| {
        let MeetingEvent::MembersUpdate(delta) = e else {
            return None;
        };
        delta
            .updated
            .iter()
            .any(|m| m.email.as_deref() == Some(email) && m.status == status)
            .then_some(())
    })
    .await
}

/// Creates and joins [`ROOM`].
async fn join_room(meetings: &Meetings) -> Meeting {
    let meeting = guarded("create", meetings.create(ROOM)).await.unwrap();
    guarded("join", meeting.join()).await.unwrap();
    meeting
}

/// A roster as (participant id, email, in the meeting), for comparing.
type Roster = BTreeSet<(String, Option<String>, bool)>;

fn sdk_roster(meeting: &Meeting) -> Roster {
    meeting
        .members()
        .into_iter()
        .map(|m| (m.id, m.email, m.status == MemberStatus::InMeeting))
        .collect()
}

/// The server's roster, by the SDK's documented rule: in the meeting means
/// joined with at least one device.
fn server_roster(doc: &Locus) -> Roster {
    doc.participants
        .iter()
        .map(|p| {
            let joined = p.state == ParticipantState::Joined && !p.devices.is_empty();
            (p.id.clone(), p.person.email.clone(), joined)
        })
        .collect()
}

async fn get<T: serde::de::DeserializeOwned>(url: &str, token: &str) -> T {
    let res = guarded(
        "GET",
        reqwest::Client::new().get(url).bearer_auth(token).send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "GET {url}");
    res.json().await.unwrap()
}

/// The SDK's copy of `meeting` is the server's current one: same roster,
/// same sequence (`GET {locusUrl}` as `token`).
async fn assert_matches_server(meeting: &Meeting, token: &str) {
    let url = meeting.locus_url().expect("a meeting with a Locus");
    let doc: Locus = get(&url, token).await;
    assert_eq!(sdk_roster(meeting), server_roster(&doc), "roster of {url}");
    let copy = meeting.locus().unwrap();
    assert_eq!(
        copy.sequence.last(),
        doc.sequence.last(),
        "sequence of {url}"
    );
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Kill −9 and restart on the same database and port: both users' SDKs come
/// back by themselves, with their devices and their meeting, and see a roster
/// change made after the restart.
async fn same_database(database: String, backend: &str) {
    let ann_token = token_create(&database, ANN).await;
    let ben_token = token_create(&database, BEN).await;
    let listen = free_address();
    let server = serve_on(&database, &listen).await;
    let (_ann_webex, ann) = client(&server.url, Credentials::access_token(&ann_token)).await;
    let (_ben_webex, ben) = client(&server.url, Credentials::access_token(&ben_token)).await;
    let ann_meeting = join_room(&ann).await;
    let ben_meeting = join_room(&ben).await;
    roster_shows(&ann_meeting, BEN, MemberStatus::InMeeting).await;
    let devices = (ann.device().unwrap().url, ben.device().unwrap().url);

    let mut ann_events = ann.events();
    pending(&mut ann_events);
    let (ann_back, ben_back) = (reconnected_at(&ann), reconnected_at(&ben));
    let killed = Instant::now();
    server.sigkill().await;
    let (code, will_reconnect) = disconnected(&mut ann_events).await;
    assert!(will_reconnect, "code {code:?}");
    assert!(!ann.status().connected);
    assert!(ann.is_registered(), "a dead server is not an unregister");

    let server = serve_on(&database, &listen).await;
    let listening = Instant::now();
    let ann_at = guarded("ann reconnected", ann_back).await.unwrap();
    let ben_at = guarded("ben reconnected", ben_back).await.unwrap();

    // Back on their own, on the devices they had; the meeting never left
    // the list and the roster is the server's.
    for (who, meetings, device) in [("ann", &ann, &devices.0), ("ben", &ben, &devices.1)] {
        let status = meetings.status();
        assert!(
            status.connected && meetings.is_registered(),
            "{who}: {status:?}"
        );
        assert_eq!(&meetings.device().unwrap().url, device, "{who}");
        let listed: Vec<String> = meetings.list().iter().map(|m| m.id().to_owned()).collect();
        assert_eq!(listed.len(), 1, "{who}: {listed:?}");
    }
    assert_eq!(ann.list()[0].id(), ann_meeting.id());
    assert!(ann_meeting.is_joined() && ben_meeting.is_joined());
    assert_matches_server(&ann_meeting, &ann_token).await;
    assert_matches_server(&ben_meeting, &ben_token).await;

    // A change after the restart reaches ann through the new socket.
    let mut ann_meeting_events = ann_meeting.events();
    let leaving = Instant::now();
    guarded("ben leaves", ben_meeting.leave()).await.unwrap();
    members_update(&mut ann_meeting_events, BEN, MemberStatus::NotInMeeting).await;
    let seen = leaving.elapsed();
    assert_matches_server(&ann_meeting, &ann_token).await;

    let recovery = pending(&mut ann_events);
    assert!(
        !recovery.iter().any(|e| e.starts_with("meeting:")),
        "the meeting must neither leave nor re-enter the list: {recovery:?}"
    );
    eprintln!(
        "sdk sigkill, same database ({backend}): kill → listening {}; listening → \
         network:reconnected ann {}, ben {}; ben's leave → ann's members:update {}; \
         ann's events: disconnected (code {code:?}), {recovery:?}",
        ms(listening - killed),
        ms(ann_at.saturating_duration_since(listening)),
        ms(ben_at.saturating_duration_since(listening)),
        ms(seen),
    );
    guarded("unregister", ann.unregister()).await.unwrap();
    guarded("unregister", ben.unregister()).await.unwrap();
    drop(server);
}

/// A front door at a fixed address, as a load balancer: while open it
/// forwards each connection to the server; while closed it drops
/// connections as they arrive.
struct Gate {
    url: String,
    backend: Arc<Mutex<Option<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl Gate {
    async fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let backend: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let to = backend.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Some(server) = *to.lock().unwrap() else {
                    continue;
                };
                tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(server).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Gate { url, backend, task }
    }

    /// Forwards to the server listening on `addr` from now on.
    fn open(&self, addr: &str) {
        *self.backend.lock().unwrap() = Some(addr.parse().unwrap());
    }

    /// Drops every new connection from now on.
    fn close(&self) {
        *self.backend.lock().unwrap() = None;
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Kill −9, restart behind a closed gate, ben leaves over raw HTTP while
/// both SDKs are cut off, then the gate opens: only the sync after the
/// reconnect can tell them.
async fn change_while_disconnected(database: String, backend: &str) {
    let ann_token = token_create(&database, ANN).await;
    let ben_token = token_create(&database, BEN).await;
    let gate = Gate::start().await;
    // `listening on` names the public URL (the gate): listen on a known
    // address to reach the server behind it.
    let listen = free_address();
    let args = ["--database", &database, "--public-url", &gate.url];
    let server = Serve::start_on(&listen, &args, Stdio::null()).await;
    gate.open(&listen);
    let (_ann_webex, ann) = client(&gate.url, Credentials::access_token(&ann_token)).await;
    let (_ben_webex, ben) = client(&gate.url, Credentials::access_token(&ben_token)).await;
    let ann_meeting = join_room(&ann).await;
    let ben_meeting = join_room(&ben).await;
    roster_shows(&ann_meeting, BEN, MemberStatus::InMeeting).await;

    let (mut ann_events, mut ben_events) = (ann.events(), ben.events());
    pending(&mut ann_events);
    pending(&mut ben_events);
    let mut ann_meeting_events = ann_meeting.events();
    let ann_back = reconnected_at(&ann);
    gate.close();
    server.sigkill().await;
    disconnected(&mut ann_events).await;
    disconnected(&mut ben_events).await;

    // Back, but not reachable through the gate yet: ben leaves "from
    // another device", straight at the server.
    let server = Serve::start_on(&listen, &args, Stdio::null()).await;
    let doc = ben_meeting.locus().unwrap();
    let locus_id = doc.url.rsplit('/').next().unwrap();
    let participant = &doc.self_.as_ref().unwrap().id;
    let res = reqwest::Client::new()
        .put(format!(
            "http://{listen}/locus/api/v1/loci/{locus_id}/participant/{participant}/leave"
        ))
        .bearer_auth(&ben_token)
        .json(&json!({"device": {"url": ben.device().unwrap().url, "deviceType": "WEB"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(!ann.status().connected && !ben.status().connected);
    assert!(
        ann_meeting
            .members()
            .iter()
            .any(|m| m.email.as_deref() == Some(BEN) && m.status == MemberStatus::InMeeting),
        "no event can have carried the leave"
    );

    let opened = Instant::now();
    gate.open(&listen);
    let ann_at = guarded("ann reconnected", ann_back).await.unwrap();
    members_update(&mut ann_meeting_events, BEN, MemberStatus::NotInMeeting).await;
    let roster_right = opened.elapsed();
    assert!(ann_meeting.is_joined());
    assert_matches_server(&ann_meeting, &ann_token).await;

    // Ben's own SDK learns the same way that it is no longer in the meeting.
    let reason = until(&mut ben_events, "ben's meeting:removed", |e| match e {
        MeetingsEvent::MeetingRemoved { meeting_id, reason } if meeting_id == ben_meeting.id() => {
            Some(*reason)
        }
        _ => None,
    })
    .await;
    let ben_removed = opened.elapsed();
    assert!(ben.list().is_empty());
    assert!(ben.status().connected);

    eprintln!(
        "sdk sigkill, change while disconnected ({backend}): gate open → ann \
         network:reconnected {}, ann's roster without ben {}, ben's meeting:removed ({reason}) {}",
        ms(ann_at.saturating_duration_since(opened)),
        ms(roster_right),
        ms(ben_removed),
    );
    guarded("unregister", ann.unregister()).await.unwrap();
    guarded("unregister", ben.unregister()).await.unwrap();
    drop(server);
}

/// The app's token source: whatever the test put in the slot (the app got a
/// new token from its identity provider).
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<String>>);

impl Slot {
    fn set(&self, token: &str) {
        *self.0.lock().unwrap() = token.to_owned();
    }
}

#[async_trait::async_trait]
impl TokenProvider for Slot {
    async fn access_token(&self) -> Result<AccessToken, AuthError> {
        Ok(AccessToken::new(self.0.lock().unwrap().clone()))
    }
}

/// Kill −9 and restart on an empty database, same port: the new server
/// knows neither ann's token, nor her device, nor her meeting.
async fn fresh_database(first: String, second: String, backend: &str) {
    let slot = Slot::default();
    slot.set(&token_create(&first, ANN).await);
    let listen = free_address();
    let server = serve_on(&first, &listen).await;
    let (_webex, ann) = client(&server.url, Credentials::provider(slot.clone())).await;
    let meeting = join_room(&ann).await;
    let old_device = ann.device().unwrap().url;

    let mut events = ann.events();
    pending(&mut events);
    let back = reconnected_at(&ann);
    let killed = Instant::now();
    server.sigkill().await;
    disconnected(&mut events).await;

    let token = token_create(&second, ANN).await;
    slot.set(&token);
    let server = serve_on(&second, &listen).await;
    let listening = Instant::now();
    let ann_at = guarded("ann reconnected", back).await.unwrap();
    let mut recovery = Vec::new();
    let reason = until(&mut events, "meeting:removed", |e| {
        recovery.push(e.name().into_owned());
        match e {
            MeetingsEvent::MeetingRemoved { meeting_id, reason } if meeting_id == meeting.id() => {
                Some(*reason)
            }
            _ => None,
        }
    })
    .await;
    let removed_at = listening.elapsed();

    // Registered again by itself: a new device, the only one on the new
    // server; no meeting the new server does not list.
    let device = ann.device().unwrap();
    assert_ne!(device.url, old_device);
    assert!(ann.status().connected && ann.is_registered());
    assert_eq!(
        ann.status().device_url.as_deref(),
        Some(device.url.as_str())
    );
    let on_server: DeviceList = get(&format!("{}/wdm/api/v1/devices", server.url), &token).await;
    let urls: Vec<&str> = on_server.devices.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(urls, [device.url.as_str()]);
    assert!(ann.list().is_empty());
    assert!(meeting.is_removed());
    let loci: LociList = get(&format!("{}/locus/api/v1/loci", server.url), &token).await;
    assert!(loci.loci.is_empty());

    // And the new device works for meetings.
    let again = join_room(&ann).await;
    assert_ne!(again.id(), meeting.id());
    roster_shows(&again, ANN, MemberStatus::InMeeting).await;
    assert_matches_server(&again, &token).await;

    recovery.extend(pending(&mut events));
    eprintln!(
        "sdk sigkill, fresh database ({backend}): kill → listening {}; listening → \
         network:reconnected on a new device {}, → old meeting:removed ({reason}) {}; \
         events: {recovery:?}",
        ms(listening - killed),
        ms(ann_at.saturating_duration_since(listening)),
        ms(removed_at),
    );
    guarded("unregister", ann.unregister()).await.unwrap();
    let on_server: DeviceList = get(&format!("{}/wdm/api/v1/devices", server.url), &token).await;
    assert!(on_server.devices.is_empty());
    drop(server);
}

fn sqlite(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

fn postgres() -> Option<String> {
    webex_server::testing::postgres_url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_same_database_the_sdk_comes_back_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    same_database(sqlite(&dir, "webex.sqlite"), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_same_database_the_sdk_comes_back_by_itself() {
    let Some(admin) = postgres() else { return };
    on_fresh_postgres(
        &admin,
        |url| async move { same_database(url, "postgres").await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_change_while_disconnected_arrives_by_sync() {
    let dir = tempfile::tempdir().unwrap();
    change_while_disconnected(sqlite(&dir, "webex.sqlite"), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_change_while_disconnected_arrives_by_sync() {
    let Some(admin) = postgres() else { return };
    on_fresh_postgres(&admin, |url| async move {
        change_while_disconnected(url, "postgres").await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fresh_database_registers_a_new_device_and_drops_old_meetings() {
    let dir = tempfile::tempdir().unwrap();
    fresh_database(
        sqlite(&dir, "first.sqlite"),
        sqlite(&dir, "second.sqlite"),
        "sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fresh_database_registers_a_new_device_and_drops_old_meetings() {
    let Some(admin) = postgres() else { return };
    let inner = admin.clone();
    on_fresh_postgres(&admin, |first| async move {
        on_fresh_postgres(&inner, |second| async move {
            fresh_database(first, second, "postgres").await
        })
        .await
    })
    .await;
}
