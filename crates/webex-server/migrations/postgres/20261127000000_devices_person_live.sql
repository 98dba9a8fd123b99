-- Counting a person's live devices (on every device create, for the limit,
-- and on every publish to a person, for offlineDevices) read each device row
-- for its expiry. With expires_at in the index the count reads the index only.
DROP INDEX devices_person_id;
CREATE INDEX devices_person_id ON devices (person_id, created_at, expires_at);
