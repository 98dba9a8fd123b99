-- Secrets every node of a deployment shares (store/secrets.rs): the key that
-- signs meetingInfo's permission tokens, made by the first node that needs it.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
