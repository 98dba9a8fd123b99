//! The SDK reading a server's Mercury message (text or binary) as its
//! connection does: the frame it acks, checks the sequence of and routes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_meetings::fuzzing;
use webex_wire::mercury::{ClientFrame, ServerFrame};

fuzz_target!(|data: &[u8]| {
    let Some(frame) = fuzzing::mercury_message(data) else {
        return;
    };
    // What the SDK reads from a frame survives writing it out again (the
    // event's other fields are arbitrary JSON, whose floats serde_json may
    // round by one ulp: not compared).
    let written = serde_json::to_string(&frame).expect("a parsed frame serializes");
    let again: ServerFrame = serde_json::from_str(&written).expect("and parses again");
    assert_eq!(again.id, frame.id);
    assert_eq!(again.kind, frame.kind);
    assert_eq!(again.sequence_number, frame.sequence_number);
    assert_eq!(again.event_type(), frame.event_type());
    assert_eq!(again.timestamp, frame.timestamp);
    assert_eq!(again.tracking_id, frame.tracking_id);
    assert_eq!(again.is_pong(), frame.is_pong());

    // The ack the SDK answers with names the frame.
    let ack = ClientFrame::Ack {
        message_id: frame.id.clone(),
    };
    let ack: ClientFrame = serde_json::from_str(&serde_json::to_string(&ack).expect("serializes"))
        .expect("the ack parses");
    assert_eq!(
        ack,
        ClientFrame::Ack {
            message_id: frame.id
        }
    );
});
