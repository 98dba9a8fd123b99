//! Which session a datagram belongs to: by its source address once a
//! session took STUN from it, else (STUN only) by the USERNAME's local
//! ufrag. Nothing here scans sessions.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::session::SessionId;

/// The first byte of a STUN message is 0 or 1 (RFC 7983).
pub(crate) fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= 20 && datagram[0] < 2 && datagram[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// The local ufrag of a STUN request's USERNAME (`local:remote` as seen
/// by the receiver), if the message has one.
pub(crate) fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    if !is_stun(datagram) {
        return None;
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(20..20 + len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let typ = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + alen)?;
        if typ == 0x0006 {
            let user = std::str::from_utf8(value).ok()?;
            return user.split(':').next();
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// Source address and ufrag → session.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
}

impl Demux {
    /// The session `source` was mapped to.
    pub(crate) fn by_addr(&self, source: SocketAddr) -> Option<SessionId> {
        self.by_addr.get(&source).copied()
    }

    /// The session whose local ufrag is `ufrag`.
    pub(crate) fn by_ufrag(&self, ufrag: &str) -> Option<SessionId> {
        self.by_ufrag.get(ufrag).copied()
    }

    /// Sends what comes from `source` to `id` from now on.
    pub(crate) fn map_addr(&mut self, source: SocketAddr, id: SessionId) {
        self.by_addr.insert(source, id);
    }

    /// Registers `id`'s local ufrag (replacing an older one of `id`).
    pub(crate) fn set_ufrag(&mut self, ufrag: String, id: SessionId) {
        self.by_ufrag.retain(|_, v| *v != id);
        self.by_ufrag.insert(ufrag, id);
    }

    /// Forgets everything of `id`.
    pub(crate) fn remove(&mut self, id: SessionId) {
        self.by_addr.retain(|_, v| *v != id);
        self.by_ufrag.retain(|_, v| *v != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, then USERNAME (padded).
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn reads_the_local_ufrag() {
        let m = binding_request("abcd:xyz1");
        assert!(is_stun(&m));
        assert_eq!(stun_local_ufrag(&m), Some("abcd"));
    }

    #[test]
    fn non_stun_and_truncated() {
        assert!(!is_stun(&[0x80; 40]));
        assert_eq!(stun_local_ufrag(&[0x80; 40]), None);
        let m = binding_request("abcd:xyz1");
        assert_eq!(stun_local_ufrag(&m[..m.len() - 8]), None);
    }
}
