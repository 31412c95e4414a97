-- Foundation: practices, people, invites, MFA, devices, sessions, throttling,
-- and the audit event table every later feature writes to.
-- Times are Unix seconds (BIGINT); identifiers are hyphenated UUID text.

CREATE TABLE practices (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    login           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'associate', 'client')),
    password_hash   TEXT NOT NULL,
    totp_secret     BYTEA,
    totp_last_step  BIGINT,
    created_at      BIGINT NOT NULL,
    deactivated_at  BIGINT
);
CREATE INDEX users_practice ON users(practice_id);

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'associate', 'client')),
    token_hash   BYTEA NOT NULL UNIQUE,
    created_by   TEXT REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    used_by      TEXT REFERENCES users(id),
    revoked_at   BIGINT
);
CREATE INDEX invites_practice ON invites(practice_id, created_at);

CREATE TABLE recovery_codes (
    user_id      TEXT NOT NULL REFERENCES users(id),
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    code_hash    BYTEA NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_enrollments (
    token_hash   BYTEA PRIMARY KEY,
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    secret       BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    user_id         TEXT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    practice_id        TEXT NOT NULL REFERENCES practices(id),
    user_id            TEXT NOT NULL REFERENCES users(id),
    device_id          TEXT NOT NULL REFERENCES devices(id),
    token_hash         BYTEA NOT NULL UNIQUE,
    created_at         BIGINT NOT NULL,
    last_seen_at       BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    idle_timeout_secs  BIGINT NOT NULL,
    ended_at           BIGINT,
    end_reason         TEXT
);
CREATE INDEX sessions_device ON sessions(device_id);

-- Failed logins by hashed key ("account:<login>" or "ip:<addr>"), so the
-- table holds no login names or addresses in the clear.
CREATE TABLE auth_failures (
    key_hash  BYTEA NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX auth_failures_key ON auth_failures(key_hash, at);

-- Append-only; seq is dense per practice (allocated through audit_heads).
CREATE TABLE audit_events (
    practice_id             TEXT NOT NULL REFERENCES practices(id),
    seq                     BIGINT NOT NULL,
    at                      BIGINT NOT NULL,
    actor_user_id           TEXT,
    actor_device_id         TEXT,
    action                  TEXT NOT NULL,
    target_user_id          TEXT,
    target_device_id        TEXT,
    target_conversation_id  TEXT,
    outcome                 TEXT NOT NULL,
    request_id              TEXT,
    ip                      TEXT,
    detail                  TEXT,
    PRIMARY KEY (practice_id, seq)
);

CREATE TABLE audit_heads (
    practice_id  TEXT PRIMARY KEY REFERENCES practices(id),
    seq          BIGINT NOT NULL
);
