//! The TURN relay a media connection may use: an allocation on the TURN
//! server that `TURN_DISCOVERY` named (the `turn` crate of webrtc-rs speaks
//! the protocol: long-term credentials, permissions, refreshes), offered to
//! str0m as a relayed candidate. Datagrams str0m sends from the relayed
//! address go through the allocation; what the TURN server relays to us
//! comes back as input addressed to it.
//!
//! Only `turn:` over UDP: a `turns:` (TLS) or `?transport=tcp` server is
//! refused with [`MediaError::Turn`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use turn::client::{Client, ClientConfig};
use webex_wire::roap::TurnServer;

use super::MediaError;

/// How long the allocation (with its authentication round trip) may take.
const ALLOCATE_WITHIN: Duration = Duration::from_secs(5);
/// Datagrams queued between the connection and the relay, each way.
const QUEUE: usize = 512;
/// What the TURN client retransmits after (ms), as browsers start.
const RTO_MS: u16 = 200;

/// A datagram and the peer it comes from or goes to.
pub(crate) type Datagram = (Vec<u8>, SocketAddr);

/// An allocation in use: its relayed address, and the two queues to it.
pub(crate) struct Relay {
    /// The relayed transport address (the candidate's address).
    pub(crate) relayed: SocketAddr,
    /// The local socket's address the allocation was made from.
    pub(crate) local: SocketAddr,
    /// Datagrams to send through the allocation.
    pub(crate) outgoing: mpsc::Sender<Datagram>,
    /// Datagrams the TURN server relayed to us.
    pub(crate) incoming: mpsc::Receiver<Datagram>,
    /// Stops the relay's tasks and releases the allocation.
    pub(crate) stop: CancellationToken,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `host:port` of a `turn:` URL over UDP (`turn:host[:port][?transport=udp]`).
pub(crate) fn udp_address(url: &str) -> Result<String, MediaError> {
    let refuse = |why: &str| MediaError::Turn(format!("{url}: {why}"));
    let rest = url
        .strip_prefix("turn:")
        .ok_or_else(|| refuse("only turn: URLs over UDP are supported"))?;
    let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("transport=tcp"))
    {
        return Err(refuse("TURN over TCP is not supported"));
    }
    if host_port.is_empty() {
        return Err(refuse("no host"));
    }
    // A bracketed IPv6 literal keeps its colons; a port is the last `:N`.
    let has_port = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':')
        }
        None => false,
    };
    Ok(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:3478")
    })
}

/// Allocates a relayed address on `server` and starts the tasks that carry
/// datagrams through it.
pub(crate) async fn allocate(server: &TurnServer) -> Result<Relay, MediaError> {
    let address = udp_address(&server.url)?;
    let turn_error = |what: &str, e: &dyn std::fmt::Display| {
        MediaError::Turn(format!("{what} ({}): {e}", server.url))
    };
    let target = tokio::net::lookup_host(&address)
        .await
        .map_err(|e| turn_error("resolving the TURN server", &e))?
        .next()
        .ok_or_else(|| MediaError::Turn(format!("{}: no address", server.url)))?;
    let bind: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| turn_error("binding the TURN socket", &e))?;
    let local = socket
        .local_addr()
        .map_err(|e| turn_error("the TURN socket", &e))?;
    let client = Client::new(ClientConfig {
        stun_serv_addr: String::new(),
        turn_serv_addr: target.to_string(),
        username: server.username.clone(),
        password: server.password.clone(),
        // Taken from the server's 401 answer.
        realm: String::new(),
        software: String::new(),
        rto_in_ms: RTO_MS,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .map_err(|e| turn_error("starting the TURN client", &e))?;
    client
        .listen()
        .await
        .map_err(|e| turn_error("listening to the TURN server", &e))?;
    let conn = match tokio::time::timeout(ALLOCATE_WITHIN, client.allocate()).await {
        Ok(Ok(conn)) => Arc::new(conn),
        Ok(Err(e)) => {
            let _ = client.close().await;
            return Err(turn_error("allocating a relayed address", &e));
        }
        Err(_) => {
            let _ = client.close().await;
            return Err(MediaError::Turn(format!(
                "{}: no allocation within {ALLOCATE_WITHIN:?}",
                server.url
            )));
        }
    };
    let relayed =
        webrtc_util::Conn::local_addr(&*conn).map_err(|e| turn_error("the relayed address", &e))?;
    let (outgoing, mut to_send) = mpsc::channel::<Datagram>(QUEUE);
    let (relayed_tx, incoming) = mpsc::channel::<Datagram>(QUEUE);
    let stop = CancellationToken::new();

    // Sending may wait for a permission's round trip: a task of its own,
    // so the connection's loop never waits.
    let sender = Arc::clone(&conn);
    let sender_stop = stop.clone();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = sender_stop.cancelled() => break,
                next = to_send.recv() => next,
            };
            let Some((data, peer)) = next else { break };
            if let Err(e) = webrtc_util::Conn::send_to(&*sender, &data, peer).await {
                tracing::debug!(error = %e, %peer, "media: relayed datagram not sent");
            }
        }
    });
    let receiver_stop = stop.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let received = tokio::select! {
                () = receiver_stop.cancelled() => break,
                received = webrtc_util::Conn::recv_from(&*conn, &mut buf) => received,
            };
            match received {
                Ok((n, peer)) => {
                    let Some(data) = buf.get(..n) else { continue };
                    // Full: real-time media, a late datagram is a lost one.
                    let _ = relayed_tx.try_send((data.to_vec(), peer));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "media: the TURN relay stopped");
                    break;
                }
            }
        }
        // Releases the allocation (a Refresh with lifetime 0) and the socket.
        let _ = webrtc_util::Conn::close(&*conn).await;
        let _ = client.close().await;
    });
    Ok(Relay {
        relayed,
        local,
        outgoing,
        incoming,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_over_udp_are_host_and_port() {
        assert_eq!(
            udp_address("turn:turn.example.com:5349?transport=udp").unwrap(),
            "turn.example.com:5349"
        );
        assert_eq!(udp_address("turn:10.0.0.1").unwrap(), "10.0.0.1:3478");
        assert_eq!(udp_address("turn:[::1]:3478").unwrap(), "[::1]:3478");
        for refused in [
            "turns:turn.example.com:443?transport=tcp",
            "turn:turn.example.com:443?transport=tcp",
            "stun:stun.example.com",
            "turn:",
        ] {
            assert!(
                matches!(udp_address(refused), Err(MediaError::Turn(_))),
                "{refused}"
            );
        }
    }
}
