-- Meeting rooms have owners, a lobby and a lock (issue 20).
-- `meeting_spaces.creator_id`: who made a space that is not a personal room
-- (its host; NULL for spaces made before, or by an operator).
-- `loci.locked`: 1 while the host keeps the room locked (everyone but the
-- host waits in the lobby).
-- `locus_participants.admitted`: 1 once the participant was let in (joined
-- directly or admitted from the lobby); 0 while waiting in the lobby, for
-- those who left the lobby unadmitted, and for those removed by the host.
-- `locus_participants.removed`: 1 after the host removed the participant,
-- until they are admitted again (a removed participant's rejoin waits in
-- the lobby).
-- The same text serves SQLite and PostgreSQL.
ALTER TABLE meeting_spaces ADD COLUMN creator_id TEXT REFERENCES people (id) ON DELETE SET NULL;
ALTER TABLE loci ADD COLUMN locked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE locus_participants ADD COLUMN admitted BIGINT NOT NULL DEFAULT 1;
ALTER TABLE locus_participants ADD COLUMN removed BIGINT NOT NULL DEFAULT 0;
