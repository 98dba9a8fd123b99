//! After a Redis outage, clients of a meeting end up with the right roster:
//! a node whose subscription broke closes its sockets with 1011 once it is
//! back (both SDKs reconnect and sync), and a node that could not publish a
//! change publishes the meeting's current document once Redis answers
//! again. Without an outage no socket is ever closed.
//!
//! Two in-process nodes share a PostgreSQL database (needs
//! `WEBEX_TEST_DATABASE_URL`) and a private `redis-server` (needs it on
//! `PATH`) that the tests kill, or cut off from one node through a proxy.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::support::locus::*;
use crate::support::redis::{RedisProcess, RedisProxy, free_port};
use crate::support::*;
use serde_json::{Value, json};
use webex_server::ServerConfig;
use webex_server::testing::TestServer;

/// The close every socket of a node whose subscription broke receives.
const RESYNC: (u16, &str) = (1011, "event stream interrupted; reconnect");
/// Resync window in these tests (2 s in production).
const WINDOW: Duration = Duration::from_millis(500);
/// Hang guard for recovery after Redis is back (resubscription backoff,
/// the publisher's reconnection, the window).
const RECOVERY: Duration = Duration::from_secs(30);

fn tweak(c: &mut ServerConfig) {
    c.resync_window = WINDOW;
}

/// `{base}/locus/api/v1/loci/<id of url>`: the same Locus through another node.
fn on_node(base: &str, locus_url: &str) -> String {
    let id = locus_url.rsplit('/').next().unwrap();
    format!("{base}/locus/api/v1/loci/{id}")
}

/// The participant state of `email` in a Locus document.
fn state_of<'a>(locus: &'a Value, email: &str) -> &'a Value {
    &participant(locus, email)["state"]
}

/// The next event on `ws` whose Locus names `email`. Alice's own join may
/// still be on its way through Redis when her socket connects, so an event
/// naming only her can come first.
async fn next_naming(ws: &mut Ws, email: &str) -> Value {
    loop {
        let event = next_json(ws).await;
        let names = event["data"]["locus"]["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["person"]["email"] == email));
        if names {
            return event;
        }
    }
}

/// A meeting of alice (joined on node a) and bob (joined on node b).
struct Meeting {
    /// Alice's sockets on node a, one device each.
    ws: Vec<Ws>,
    alice: User,
    bob: User,
    /// Bob's participant id.
    bob_pid: String,
    /// The Locus URL on node b.
    url: String,
}

/// Starts a [`Meeting`] with `sockets` sockets for alice, and checks that
/// she hears bob join through Redis (the bus works before the outage).
async fn meeting(a: &TestServer, b: &TestServer, sockets: usize) -> Meeting {
    let alice = user(a, "alice").await;
    let bob = user(b, "bob").await;
    let room = format!("outage-{}@webex.localhost", uuid::Uuid::new_v4().simple());
    let (s, joined) = call(a.base_url(), &alice, &room).await;
    assert_eq!(s, 200, "{joined}");
    let url = on_node(b.base_url(), joined["locus"]["url"].as_str().unwrap());
    let mut ws = vec![connect(&alice.device, &alice.token, false).await];
    for _ in 1..sockets {
        let device = register_device(a.base_url(), &alice.token).await;
        ws.push(connect(&device, &alice.token, false).await);
    }
    let (s, joined) = join(&url, &bob).await;
    assert_eq!(s, 200, "{joined}");
    let bob_pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();
    for socket in &mut ws {
        let event = next_naming(socket, &bob.email).await;
        assert_eq!(state_of(&event["data"]["locus"], &bob.email), "JOINED");
    }
    Meeting {
        ws,
        alice,
        bob,
        bob_pid,
        url,
    }
}

/// What alice sees after reconnecting: her meetings, with bob LEFT.
async fn assert_roster_after_reconnect(a: &TestServer, alice: &User, bob: &User) {
    let mut ws = connect(&alice.device, &alice.token, false).await;
    let (s, loci) = get(&format!("{}/locus/api/v1/loci", a.base_url()), alice).await;
    assert_eq!(s, 200, "{loci}");
    assert_eq!(loci["loci"].as_array().unwrap().len(), 1, "{loci}");
    assert_eq!(state_of(&loci["loci"][0], &bob.email), "LEFT", "{loci}");
    // The new socket is an ordinary one: it stays open and gets events.
    let sent = admin_publish(
        a.base_url(),
        json!({"deviceId": alice.device.id, "data": {"eventType": "after.resync"}}),
    )
    .await;
    assert_eq!(sent.status(), 202);
    assert_eq!(
        next_json(&mut ws).await["data"]["eventType"],
        "after.resync"
    );
}

/// Redis dies; bob leaves on node b meanwhile (the database takes it, the
/// event is lost); Redis comes back empty. Both nodes resubscribed, so
/// every socket of node a is closed with 1011 within the window, and alice,
/// reconnecting and syncing as both SDKs do, sees bob gone.
#[tokio::test]
async fn a_full_outage_closes_sockets_so_clients_resynchronise() {
    let port = free_port();
    let Some(redis) = RedisProcess::start(port).await else {
        return;
    };
    let Some(Cluster { a, b }) = Cluster::start_on(redis.url(), redis.url(), tweak).await else {
        return;
    };
    const SOCKETS: usize = 20;
    let Meeting {
        mut ws,
        alice,
        bob,
        bob_pid,
        url,
    } = meeting(&a, &b, SOCKETS).await;

    redis.stop().await;
    let started = Instant::now();
    let (s, left) = leave(&url, &bob, &bob_pid).await;
    assert_eq!(s, 200, "{left}");
    assert_eq!(state_of(&left["locus"], &bob.email), "LEFT");
    eprintln!(
        "leave while Redis is down answered in {:?}",
        started.elapsed()
    );

    let _redis = RedisProcess::start(port).await.unwrap();
    let back = Instant::now();
    let mut last = Duration::ZERO;
    for socket in &mut ws {
        let (code, reason) = expect_close_within(socket, RECOVERY).await;
        assert_eq!((code, reason.as_str()), RESYNC);
        last = back.elapsed();
    }
    eprintln!(
        "Redis back → all {SOCKETS} sockets of node a closed with 1011 after {last:?} (window {WINDOW:?})"
    );
    assert_roster_after_reconnect(&a, &alice, &bob).await;
    b.shutdown().await;
    a.shutdown().await;
}

/// Only node b loses Redis (its connections are cut; node a keeps its
/// subscription). Bob leaves on node b: the change is committed, its event
/// cannot be published. Once node b reaches Redis again it publishes the
/// meeting's current document, so alice on node a sees bob leave without
/// her socket being closed.
#[tokio::test]
async fn a_node_that_alone_lost_redis_republishes_its_changes() {
    let port = free_port();
    let Some(redis) = RedisProcess::start(port).await else {
        return;
    };
    let proxy = RedisProxy::start(port).await;
    let Some(Cluster { a, b }) = Cluster::start_on(redis.url(), proxy.url(), tweak).await else {
        return;
    };
    let Meeting {
        mut ws,
        alice,
        bob,
        bob_pid,
        url,
    } = meeting(&a, &b, 1).await;
    let mut bob_ws = connect(&bob.device, &bob.token, false).await;

    proxy.cut();
    let (s, left) = leave(&url, &bob, &bob_pid).await;
    assert_eq!(s, 200, "{left}");
    let left_seq = last(&left["locus"]["sequence"]);
    assert_eq!(b.server().state().locus_backlog.len(), 1);

    proxy.restore();
    let back = Instant::now();
    let event = tokio::time::timeout(RECOVERY, next_json(&mut ws[0]))
        .await
        .expect("alice never heard that bob left");
    let locus = &event["data"]["locus"];
    assert_eq!(
        event["data"]["eventType"], "locus.participant_updated",
        "{event}"
    );
    assert_eq!(state_of(locus, &bob.email), "LEFT", "{event}");
    assert_eq!(last(&locus["sequence"]), left_seq);
    assert_eq!(locus["self"]["person"]["email"], alice.email.as_str());
    eprintln!(
        "Redis back for node b → alice (node a) got the document after {:?}",
        back.elapsed()
    );
    // The backlog empties once the publish is acknowledged (which may come
    // after alice's copy).
    tokio::time::timeout(GUARD, async {
        while !b.server().state().locus_backlog.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the backlog never emptied");

    // Node b's own subscription broke: its sockets resynchronise.
    let (code, reason) = expect_close_within(&mut bob_ws, RECOVERY).await;
    assert_eq!((code, reason.as_str()), RESYNC);
    // Node a's did not: alice's socket stays open.
    assert_eq!(*a.server().state().bus.gaps().borrow(), 0);
    tokio::time::sleep(WINDOW * 2).await;
    let sent = admin_publish(
        a.base_url(),
        json!({"deviceId": alice.device.id, "data": {"eventType": "still.open"}}),
    )
    .await;
    assert_eq!(sent.status(), 202);
    assert_eq!(
        next_json(&mut ws[0]).await["data"]["eventType"],
        "still.open"
    );
    b.shutdown().await;
    a.shutdown().await;
}

/// Without an outage (in-process bus, or Redis that stays up) no socket is
/// closed and no gap is counted, however long the meeting runs.
#[tokio::test]
async fn without_an_outage_no_socket_is_closed() {
    let local = TestServer::start_with(tweak).await.unwrap();
    assert_stays_open(&local).await;
    local.shutdown().await;

    let Some(redis) = RedisProcess::start(free_port()).await else {
        return;
    };
    let url = redis.url();
    let with_redis = TestServer::start_with(|c| {
        tweak(c);
        c.redis_url = Some(url);
    })
    .await
    .unwrap();
    assert_stays_open(&with_redis).await;
    with_redis.shutdown().await;
}

async fn assert_stays_open(server: &TestServer) {
    let alice = user(server, "alice").await;
    let bob = user(server, "bob").await;
    let room = format!("calm-{}@webex.localhost", uuid::Uuid::new_v4().simple());
    let (s, joined) = call(server.base_url(), &alice, &room).await;
    assert_eq!(s, 200, "{joined}");
    let mut ws = connect(&alice.device, &alice.token, false).await;
    let url = joined["locus"]["url"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (s, joined) = join(&url, &bob).await;
        assert_eq!(s, 200, "{joined}");
        let pid = joined["locus"]["self"]["id"].as_str().unwrap().to_owned();
        let (s, _) = leave(&url, &bob, &pid).await;
        assert_eq!(s, 200);
    }
    tokio::time::sleep(WINDOW * 3).await;
    // Every change arrived, in order, on the one socket.
    for want in ["JOINED", "LEFT"].repeat(3) {
        let event = next_naming(&mut ws, &bob.email).await;
        assert_eq!(state_of(&event["data"]["locus"], &bob.email), want);
    }
    assert_eq!(*server.server().state().bus.gaps().borrow(), 0);
    assert!(server.server().state().locus_backlog.is_empty());
}
