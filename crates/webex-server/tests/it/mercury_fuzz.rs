//! Property test over the Mercury server's frame handling, through real
//! sockets: arbitrary text, binary and control frames before and after the
//! authorization frame never crash the server, and each socket ends with the
//! documented close code (4400 bad first frame, 4401 bad credentials, 1009
//! frame too large) or, after a good authorization, keeps answering pings.
//! `PROPTEST_CASES=1000 cargo nextest run -p webex-server -E 'test(/^mercury_fuzz::/)'`
//! for a longer run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::SinkExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::testing::TestServer;
use webex_wire::mercury::ClientFrame;

/// The server's frame limit in this test (small, so oversized frames are cheap).
const MAX_FRAME: usize = 4096;

/// One frame a client may send.
#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// A websocket ping (control frame).
    Ping(Vec<u8>),
    /// Text longer than the server accepts.
    Oversized(usize),
}

impl Frame {
    fn message(&self) -> Message {
        match self {
            Self::Text(t) => Message::text(t.clone()),
            Self::Binary(b) => Message::binary(b.clone()),
            Self::Ping(p) => Message::Ping(p.clone().into()),
            Self::Oversized(extra) => Message::text("x".repeat(MAX_FRAME + extra)),
        }
    }
}

/// Text that is sometimes JSON shaped like a client frame.
fn text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        Just(json!({"token": "Bearer abc_PF84_org"})),
        Just(json!({})),
    ];
    prop_oneof![
        ".{0,200}",
        (
            prop_oneof![
                Just("authorization"),
                Just("ping"),
                Just("ack"),
                Just("pong"),
                Just("")
            ],
            field.clone(),
            field
        )
            .prop_map(|(kind, id, data)| {
                json!({"type": kind, "id": id, "messageId": id, "data": data}).to_string()
            }),
        "[\\[\\]{}\":,0-9a-z ]{0,64}",
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        6 => text().prop_map(Frame::Text),
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Frame::Binary),
        1 => prop::collection::vec(any::<u8>(), 0..32).prop_map(Frame::Ping),
    ]
}

/// A socket's script: frames before authorizing (the server acts on the
/// first text or binary one), or an authorization then frames after it.
#[derive(Debug, Clone)]
enum Script {
    Unauthenticated(Vec<Frame>),
    Authenticated {
        frames: Vec<Frame>,
        oversized: Option<usize>,
    },
}

fn script() -> impl Strategy<Value = Script> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![9 => frame(), 1 => (1usize..4096).prop_map(Frame::Oversized)],
            1..4
        )
        .prop_map(Script::Unauthenticated),
        (
            prop::collection::vec(frame(), 0..8),
            prop::option::weighted(0.2, 1usize..4096)
        )
            .prop_map(|(frames, oversized)| Script::Authenticated { frames, oversized }),
    ]
}

/// The close code the protocol promises for a socket whose first data frame
/// is `first`.
fn expected_close(first: &Frame) -> u16 {
    match first {
        Frame::Oversized(_) => 1009,
        Frame::Binary(_) => 4400,
        Frame::Text(t) => match serde_json::from_str::<ClientFrame>(t) {
            Ok(ClientFrame::Authorization { .. }) => 4401,
            _ => 4400,
        },
        Frame::Ping(_) => unreachable!("control frames are skipped"),
    }
}

async fn run_script(
    device: &crate::support::Device,
    token: &str,
    script: &Script,
    n: usize,
) -> Result<(), TestCaseError> {
    let mut ws = crate::support::open(&device.ws_url, true).await;
    match script {
        Script::Unauthenticated(frames) => {
            let Some(first) = frames.iter().find(|f| !matches!(f, Frame::Ping(_))) else {
                return Ok(());
            };
            for f in frames {
                // The server may close before every frame is out.
                if ws.send(f.message()).await.is_err() {
                    break;
                }
            }
            let (code, _) = crate::support::expect_close(&mut ws).await;
            prop_assert_eq!(code, expected_close(first), "{:?}", frames);
        }
        Script::Authenticated { frames, oversized } => {
            crate::support::send_auth(&mut ws, token).await;
            let first = crate::support::next_json(&mut ws).await;
            prop_assert_eq!(&first["data"]["eventType"], "mercury.buffer_state");
            for f in frames {
                ws.send(f.message()).await.unwrap();
            }
            if let Some(extra) = oversized {
                ws.send(Frame::Oversized(*extra).message()).await.unwrap();
                let (code, _) = crate::support::expect_close(&mut ws).await;
                prop_assert_eq!(code, 1009);
                return Ok(());
            }
            // Still alive: a ping is answered (after any pongs the fuzzed
            // frames earned).
            let id = format!("final-{n}");
            crate::support::send_json(&mut ws, json!({"type": "ping", "id": id})).await;
            loop {
                let v = crate::support::next_json(&mut ws).await;
                if v["type"] == "pong" && v["id"] == id.as_str() {
                    break;
                }
            }
            let _ = ws.close(None).await;
        }
    }
    Ok(())
}

#[test]
fn arbitrary_frames_never_crash_the_server_and_get_the_documented_close() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(TestServer::start_with(|c| c.max_frame_bytes = MAX_FRAME))
        .unwrap();
    let token = rt.block_on(server.token_for("fuzz@example.com")).unwrap();
    let device = rt.block_on(crate::support::register_device(server.base_url(), &token));

    // 64 sockets by default (each 1009 close costs the client ~0.5 s);
    // PROPTEST_CASES overrides.
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config.clone());
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let frames = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&script(), |script| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let count = match &script {
            Script::Unauthenticated(f) => f.len(),
            Script::Authenticated { frames, oversized } => {
                frames.len() + 2 + usize::from(oversized.is_some())
            }
        };
        frames.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(run_script(&device, &token, &script, n))
    });
    // The server is still healthy: a fresh socket authenticates.
    rt.block_on(async {
        let ws = crate::support::connect(&device, &token, true).await;
        drop(ws);
    });
    eprintln!(
        "mercury fuzz: {} sockets, {} frames sent, server alive afterwards",
        counter.into_inner(),
        frames.into_inner()
    );
    rt.block_on(server.shutdown());
    result.unwrap();
}
