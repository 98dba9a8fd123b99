//! The server reading a `PUT {selfUrl}/media` body (ROAP in a JSON string
//! in JSON) and the media engine reading an offer's SDP: never a panic; a
//! refusal always says why; an OFFER always carries one bounded SDP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_server::fuzzing;
use webex_wire::roap::MessageType;

fuzz_target!(|data: &[u8]| {
    match fuzzing::media_request(data) {
        Ok(summary) => {
            if summary.message_type == Some(MessageType::Offer) {
                match summary.offer {
                    Some(Ok(())) => {}
                    Some(Err(why)) => assert!(!why.is_empty()),
                    None => panic!("an accepted OFFER has an SDP"),
                }
            } else {
                assert!(summary.offer.is_none());
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
