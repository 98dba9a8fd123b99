-- Issue 20: a log's metadata counts toward the size caps (and eviction) as
-- well as its content: `size` stays the content size the SDK and operator
-- see; `meta_bytes` is the stored metadata's size.
ALTER TABLE client_logs ADD COLUMN meta_bytes INTEGER NOT NULL DEFAULT 0;
