//! Mercury pings authenticated sockets and closes silent ones (issue 20,
//! defect 5: a silent socket stayed open for as long as the client liked).

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{connect, next_json, send_json, server_with_device};

const INTERVAL: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_silent_socket_is_pinged_then_closed_idle() {
    let (server, token, device) = server_with_device(|c| c.mercury_ping_interval = INTERVAL).await;
    let mut ws = connect(&device, &token, false).await;
    let started = Instant::now();
    // Silent: read nothing (so no pong), send nothing.
    tokio::time::sleep(4 * INTERVAL).await;
    let mut pings = 0;
    let (code, reason) = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                break (u16::from(f.code), f.reason.to_string());
            }
            other => panic!("expected pings then a close, got {other:?}"),
        }
    };
    assert_eq!((code, reason.as_str()), (1000, "idle"));
    assert_eq!(pings, 1, "one ping before the close");
    eprintln!(
        "silent socket: pinged once, closed 1000 idle; read {} ms after it opened",
        started.elapsed().as_millis()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_socket_that_answers_pings_stays_open() {
    let (server, token, device) = server_with_device(|c| c.mercury_ping_interval = INTERVAL).await;
    let mut ws = connect(&device, &token, false).await;
    // Reading answers the server's pings (tungstenite pongs on its own);
    // the client itself sends nothing for ten intervals.
    let until = Instant::now() + 10 * INTERVAL;
    let mut pings = 0;
    while let Ok(next) = tokio::time::timeout_at(until.into(), ws.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("the socket should stay open, got {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings in ten intervals");
    // Still served: an application ping gets its pong.
    send_json(&mut ws, serde_json::json!({"id": "p1", "type": "ping"})).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    eprintln!(
        "answering socket: {pings} pings in {} ms, still open",
        (10 * INTERVAL).as_millis()
    );
    ws.close(None).await.ok();
    server.shutdown().await;
}
