//! Media files and media from the command line: Ogg Opus and H.264 Annex
//! B files (`opus_file`, `annexb`), what decoded audio sounds like
//! (`analysis`), `webex media info` (`info`), and the media of `webex
//! meetings join` (`join`: sources, recorders, statistics, stdin commands).

pub mod analysis;
pub mod annexb;
pub mod info;
pub mod join;
pub mod opus_file;
