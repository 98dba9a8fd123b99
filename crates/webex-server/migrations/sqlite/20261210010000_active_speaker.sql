-- Media for many (issue 22): the meeting's active speaker as the media
-- engine chose it from decoded audio levels (participant id; NULL: none
-- yet, or a meeting of two). Shown in the Locus as `activeSpeaker`, an
-- extension of this server (Webex's Locus has no such field). The same
-- text serves SQLite and PostgreSQL.
ALTER TABLE loci ADD COLUMN active_speaker TEXT;
