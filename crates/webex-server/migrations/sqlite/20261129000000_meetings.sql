-- Meetings (Locus): spaces with an address, their Locus instances, the
-- participants of each instance and the devices they joined with.
-- Times are Unix milliseconds. The same text serves SQLite and PostgreSQL.

CREATE TABLE meeting_spaces (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    meeting_number  TEXT    NOT NULL UNIQUE,
    owner_id        TEXT    UNIQUE REFERENCES people (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE loci (
    id          TEXT    NOT NULL PRIMARY KEY,
    space_id    TEXT    NOT NULL REFERENCES meeting_spaces (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL,
    host_id     TEXT,
    sequence    BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    last_active BIGINT  NOT NULL,
    ended_at    BIGINT,
    idle_since  BIGINT
);

-- At most one active Locus per space.
CREATE UNIQUE INDEX loci_active_space ON loci (space_id) WHERE state = 'ACTIVE';
CREATE INDEX loci_state_idle ON loci (state, idle_since);

CREATE TABLE locus_participants (
    id          TEXT    NOT NULL PRIMARY KEY,
    locus_id    TEXT    NOT NULL REFERENCES loci (id) ON DELETE CASCADE,
    person_id   TEXT    NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL,
    joined_at   BIGINT  NOT NULL,
    left_at     BIGINT,
    UNIQUE (locus_id, person_id)
);

CREATE INDEX locus_participants_person ON locus_participants (person_id, state);

CREATE TABLE locus_devices (
    participant_id  TEXT    NOT NULL REFERENCES locus_participants (id) ON DELETE CASCADE,
    device_url      TEXT    NOT NULL,
    device_type     TEXT    NOT NULL,
    correlation_id  TEXT,
    state           TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (participant_id, device_url)
);
