//! The media engine end to end: answers to the SDK's offer, and str0m
//! test peers (`webex_media::testing`) meeting through a real engine on
//! loopback UDP.

mod answer;
mod fixtures;
mod forwarding;
mod limits;
mod mixing;
mod recorder;
mod support;
