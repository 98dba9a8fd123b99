-- Initial schema. Times are Unix milliseconds; secrets are SHA-256 hex
-- digests except guest issuer signing keys, which must be recoverable.

CREATE TABLE orgs (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE people (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL REFERENCES orgs (id),
    email        TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE tokens (
    hash        TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    person_id   TEXT    NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    client_id   TEXT,
    family_id   TEXT,
    scope       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    used_at     BIGINT
);
CREATE INDEX tokens_person_id ON tokens (person_id);
CREATE INDEX tokens_family_id ON tokens (family_id) WHERE family_id IS NOT NULL;

CREATE TABLE oauth_clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL, -- JSON array of strings
    scopes        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE auth_codes (
    hash                  TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL,
    person_id             TEXT    NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    redirect_uri          TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    family_id             TEXT    NOT NULL,
    created_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    used_at               BIGINT
);

CREATE TABLE guest_issuers (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    secret     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE devices (
    id              TEXT    NOT NULL PRIMARY KEY,
    person_id       TEXT    NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    org_id          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    device_type     TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    localized_model TEXT    NOT NULL,
    system_name     TEXT    NOT NULL,
    system_version  TEXT    NOT NULL,
    ttl             BIGINT,
    extra           TEXT    NOT NULL, -- JSON object
    created_at      BIGINT  NOT NULL,
    modified_at     BIGINT  NOT NULL,
    expires_at      BIGINT
);
CREATE INDEX devices_person_id ON devices (person_id, created_at);
CREATE INDEX devices_expires_at ON devices (expires_at) WHERE expires_at IS NOT NULL;
