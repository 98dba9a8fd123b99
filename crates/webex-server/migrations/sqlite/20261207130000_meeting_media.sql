-- Meeting media (issue 21).
-- `loci.media_node`: the node whose media engine carries this meeting's
-- media, set by the first `/media` offer (NULL: no media yet).
-- `locus_participants.audio_muted` / `video_muted`: the mute flags of the
-- participant's last `/media` request (NULL: no media yet), shown as
-- `status.audioStatus` / `videoStatus` in the roster.
-- The same text serves SQLite and PostgreSQL.
ALTER TABLE loci ADD COLUMN media_node TEXT;
ALTER TABLE locus_participants ADD COLUMN audio_muted BIGINT;
ALTER TABLE locus_participants ADD COLUMN video_muted BIGINT;
