-- Log files the official SDK uploads after a meeting (clientLogs service).
-- A row is created by `POST logs/urls` (pending: no content), filled by the
-- upload to its temporary URL (uploaded) and described by `POST logs/meta`
-- (finalized). `upload_hash` is the SHA-256 of the secret in the temporary
-- URL. The oldest uploaded rows are evicted to keep the total size bounded.
CREATE TABLE client_logs (
    id           TEXT    NOT NULL PRIMARY KEY,
    person_id    TEXT    NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    org_id       TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    upload_hash  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    uploaded_at  INTEGER,
    finalized_at INTEGER,
    size         INTEGER NOT NULL DEFAULT 0,
    content      BLOB,
    meta         TEXT -- JSON array of {key, value}
) STRICT;
CREATE INDEX client_logs_person ON client_logs (person_id, created_at);
CREATE INDEX client_logs_uploaded ON client_logs (uploaded_at) WHERE uploaded_at IS NOT NULL;
CREATE INDEX client_logs_pending ON client_logs (created_at) WHERE uploaded_at IS NULL;
