//! Hash-tree Locus (`locus-protocol.md` §0.2): the cloud may describe a
//! meeting as hashed data sets instead of sequenced documents — Mercury
//! `locus.state_message` events, or documents carrying `dataSets` /
//! `htMeta`. This SDK does not apply them; it recognises them so that the
//! meeting is fetched whole (`GET {locusUrl}`) instead of the change being
//! lost without a trace.

use serde_json::{Map, Value};
use webex_wire::mercury::EventData;

/// The event type of a hash-tree state message.
pub(crate) const STATE_MESSAGE: &str = "locus.state_message";

/// Fields whose presence marks hash-tree material.
const MARKERS: [&str; 3] = ["dataSets", "htMeta", "metaData"];

/// `Some` when `data` is hash-tree material, with the Locus URL it names
/// (`data.locusUrl`, else `data.locus.url`), if any; `None` for a classic
/// event.
pub(crate) fn detect(data: &EventData) -> Option<Option<String>> {
    let locus = data.rest.get("locus").and_then(Value::as_object);
    let marked = |m: &Map<String, Value>| MARKERS.iter().any(|k| m.contains_key(*k));
    let hash_tree = data.event_type == STATE_MESSAGE
        || locus.is_some_and(marked)
        || (data.event_type.starts_with("locus.") && marked(&data.rest));
    if !hash_tree {
        return None;
    }
    let url = data
        .rest
        .get("locusUrl")
        .and_then(Value::as_str)
        .or_else(|| locus.and_then(|l| l.get("url")).and_then(Value::as_str))
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(v: Value) -> EventData {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn recognises_state_messages_and_data_sets() {
        let url = "https://l/locus/api/v1/loci/1";
        assert_eq!(
            detect(&data(
                serde_json::json!({"eventType": STATE_MESSAGE, "locusUrl": url})
            )),
            Some(Some(url.to_owned()))
        );
        assert_eq!(
            detect(&data(serde_json::json!({"eventType": "locus.difference",
                "locus": {"url": url, "dataSets": []}}))),
            Some(Some(url.to_owned()))
        );
        assert_eq!(
            detect(&data(serde_json::json!({"eventType": STATE_MESSAGE}))),
            Some(None)
        );
        assert_eq!(
            detect(&data(serde_json::json!({"eventType": "locus.difference",
                "locusUrl": url, "locus": {"url": url}}))),
            None
        );
    }
}
