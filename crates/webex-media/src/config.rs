//! The engine's settings.

use std::net::{IpAddr, SocketAddr};

/// How the engine listens and how much it takes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MediaConfig {
    /// The UDP socket every session shares (`webex serve --media-listen`).
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The address clients reach the socket at, put into the answers'
    /// candidates (`--media-public-address`); `None`: the bound address.
    pub public_address: Option<IpAddr>,
    /// Most sessions on this node.
    pub max_sessions: usize,
    /// Most sessions in one meeting (25 by default). Two forward each
    /// other's frames; from three on, the engine decodes and mixes the
    /// audio (one Opus decoder per sender and one encoder per receiver on
    /// the engine thread) and switches video to the active speaker.
    pub max_per_meeting: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_address: None,
            max_sessions: 1000,
            max_per_meeting: 25,
        }
    }
}

impl MediaConfig {
    /// The defaults with `listen` set.
    ///
    /// ```
    /// let c = webex_media::MediaConfig::listening("127.0.0.1:5004".parse().unwrap());
    /// assert_eq!(c.listen.port(), 5004);
    /// assert_eq!(c.max_per_meeting, 25);
    /// ```
    pub fn listening(listen: SocketAddr) -> Self {
        Self {
            listen,
            ..Self::default()
        }
    }
}
