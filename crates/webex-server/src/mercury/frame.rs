//! Server → client frames, rendered as text.
//!
//! An event reaches many sockets, each with its own `sequenceNumber`, so its
//! `data` is serialized once ([`EventFrame`]) and spliced into each socket's
//! envelope.

use serde_json::Value;

/// An event envelope without its per-socket sequence number.
#[derive(Debug)]
pub struct EventFrame {
    /// `"id":…` (already JSON-escaped).
    id_json: Box<str>,
    /// The `data` object as JSON.
    data_json: Box<str>,
    /// Unix ms at publish time.
    timestamp: i64,
    /// `"trackingId":…` (already JSON-escaped), if any.
    tracking_json: Option<Box<str>>,
}

impl EventFrame {
    /// An envelope with id `id` around `data`.
    ///
    /// ```
    /// use webex_server::mercury::frame::EventFrame;
    /// let f = EventFrame::new("e1", &serde_json::json!({"eventType": "a.b"}), 7, None);
    /// assert_eq!(
    ///     f.render(2),
    ///     r#"{"id":"e1","sequenceNumber":2,"data":{"eventType":"a.b"},"timestamp":7}"#
    /// );
    /// ```
    pub fn new(id: &str, data: &Value, timestamp: i64, tracking_id: Option<&str>) -> Self {
        Self {
            id_json: json_string(id).into(),
            data_json: data.to_string().into(),
            timestamp,
            tracking_json: tracking_id.map(|t| json_string(t).into()),
        }
    }

    /// The text frame for a socket at sequence number `seq`.
    pub fn render(&self, seq: u64) -> String {
        let mut out = String::with_capacity(self.data_json.len() + self.id_json.len() + 96);
        out.push_str(r#"{"id":"#);
        out.push_str(&self.id_json);
        out.push_str(r#","sequenceNumber":"#);
        out.push_str(&seq.to_string());
        out.push_str(r#","data":"#);
        out.push_str(&self.data_json);
        out.push_str(r#","timestamp":"#);
        out.push_str(&self.timestamp.to_string());
        if let Some(t) = &self.tracking_json {
            out.push_str(r#","trackingId":"#);
            out.push_str(t);
        }
        out.push('}');
        out
    }
}

/// The first frame after authorization: `mercury.buffer_state`, with no
/// top-level `type` (the official client checks exactly that).
pub fn buffer_state(id: &str, seq: u64, timestamp: i64) -> String {
    EventFrame::new(
        id,
        &serde_json::json!({"eventType": webex_wire::mercury::BUFFER_STATE}),
        timestamp,
        None,
    )
    .render(seq)
}

/// The answer to a ping with id `id`.
///
/// Pongs carry a `sequenceNumber` from the same counter as events: the
/// official client checks the sequence on *every* frame, pongs included, so
/// numbering pongs keeps its gap detection meaningful (an unnumbered pong
/// would silently disable the check for the frame after it).
pub fn pong(id: &str, seq: u64) -> String {
    format!(
        r#"{{"id":{},"type":"pong","sequenceNumber":{seq}}}"#,
        json_string(id)
    )
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Cuts `reason` to the 123 bytes a close frame allows, on a char boundary.
pub fn close_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use webex_wire::mercury::ServerFrame;

    use super::*;

    #[test]
    fn event_frames_parse_as_wire_frames() {
        let data = serde_json::json!({"eventType": "locus.difference", "locus": {"x": "\"q\""}});
        let f = EventFrame::new("id\"1", &data, 42, Some("track"));
        let parsed: ServerFrame = serde_json::from_str(&f.render(9)).unwrap();
        assert_eq!(parsed.id, "id\"1");
        assert_eq!(parsed.sequence_number, Some(9));
        assert_eq!(parsed.event_type(), Some("locus.difference"));
        assert_eq!(parsed.timestamp, Some(42));
        assert_eq!(parsed.tracking_id.as_deref(), Some("track"));
        assert!(parsed.kind.is_none());
    }

    #[test]
    fn buffer_state_has_no_type() {
        let v: Value = serde_json::from_str(&buffer_state("b", 1, 0)).unwrap();
        assert!(v.get("type").is_none());
        assert_eq!(v["data"]["eventType"], "mercury.buffer_state");
        assert_eq!(v["sequenceNumber"], 1);
    }

    #[test]
    fn pong_echoes_the_id() {
        let parsed: ServerFrame = serde_json::from_str(&pong("p1", 3)).unwrap();
        assert!(parsed.is_pong());
        assert_eq!(parsed.id, "p1");
        assert_eq!(parsed.sequence_number, Some(3));
    }

    #[test]
    fn close_reasons_are_cut_on_char_boundaries() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(close_reason("short"), "short");
    }
}
