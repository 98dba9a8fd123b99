//! The SDK's meetings list applying what a server sends about meetings:
//! Locus documents and deltas in Mercury events, sync answers and
//! `GET {locusUrl}` answers, in any order, to the same list.
//!
//! Input: lines. `S<json>` is a `GET /loci` answer (`{"loci":[…]}`),
//! `R<json>` a `GET {locusUrl}` answer (a Locus document), any other line a
//! Mercury message as the socket delivers it.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use webex_meetings::fuzzing::Feed;
use webex_wire::locus::{LociList, Locus};

/// Enough steps for gaps, queues and resyncs; more only slows the fuzzer.
const MAX_LINES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut feed = Feed::new();
    for line in data.split(|b| *b == b'\n').take(MAX_LINES) {
        match line.split_first() {
            Some((b'S', json)) => {
                if let Ok(list) = serde_json::from_slice::<LociList>(json) {
                    feed.sync(list.loci);
                }
            }
            Some((b'R', json)) => {
                if let Ok(doc) = serde_json::from_slice::<Locus>(json) {
                    feed.fetched(doc);
                }
            }
            _ => feed.mercury(line),
        }
        check(&feed);
    }
});

/// What holds after every input, whatever the server sent.
fn check(feed: &Feed) {
    let mut urls = HashSet::new();
    for meeting in feed.meetings() {
        assert!(!meeting.is_removed(), "a removed meeting is still listed");
        let url = meeting.locus_url();
        if let Some(url) = &url {
            assert!(urls.insert(url.clone()), "two meetings for the Locus {url}");
        }
        // Meetings enter the list from a Locus document, which stays.
        let doc = meeting.locus().expect("a listed meeting has a Locus");
        assert_eq!(url.as_deref(), Some(doc.url.as_str()));
        assert!(doc.base_sequence.is_none(), "the working copy is a delta");
        assert!(
            doc.sequence.last().is_some(),
            "the working copy has no version"
        );
        assert!(
            doc.full_state.is_some(),
            "the working copy has no fullState"
        );
        assert!(doc.participants.iter().all(|p| !p.id.is_empty()));
        assert_eq!(meeting.members().len(), doc.participants.len());
        assert_eq!(meeting.state(), doc.full_state.map(|f| f.state));
        let _ = meeting.is_joined();
    }
}
