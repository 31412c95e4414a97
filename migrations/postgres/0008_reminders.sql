-- Reminders. The server keeps only what scheduling needs: times, people,
-- status. Addresses, telehealth links and notes travel end to end in the
-- conversation; contact addresses are encrypted at rest (a practice's list
-- of phone numbers is a list of people in treatment).

-- An appointment series: one row, its wall-clock start in the client's zone,
-- an RFC 5545 RRULE when it repeats.
CREATE TABLE appointments (
    id               TEXT PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    client_id        TEXT NOT NULL REFERENCES users(id),
    clinician_id     TEXT NOT NULL REFERENCES users(id),
    time_zone        TEXT NOT NULL,
    start_local      TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL,
    rrule            TEXT,
    modality         TEXT NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    created_by       TEXT NOT NULL REFERENCES users(id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX appointments_client ON appointments(practice_id, client_id);

-- Each occurrence of a series, with its own status (a client confirms or
-- cancels one occurrence). starts_at is UTC seconds.
CREATE TABLE appointment_occurrences (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    client_id       TEXT NOT NULL REFERENCES users(id),
    starts_at       BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'confirmed', 'cancelled', 'rescheduled', 'no_reply')),
    updated_at      BIGINT NOT NULL
);
CREATE INDEX appointment_occurrences_series ON appointment_occurrences(appointment_id);
CREATE INDEX appointment_occurrences_client ON appointment_occurrences(client_id, starts_at);

-- A client's confidential-communication preferences (45 CFR 164.522(b)).
-- email_ct / phone_ct: nonce || ChaCha20-Poly1305 ciphertext under the
-- server's contact key, the client id as associated data.
CREATE TABLE reminder_preferences (
    client_id       TEXT PRIMARY KEY REFERENCES users(id),
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    email_enabled   BOOLEAN NOT NULL,
    sms_enabled     BOOLEAN NOT NULL,
    email_ct        BYTEA,
    phone_ct        BYTEA,
    quiet_start     TEXT,
    quiet_end       TEXT,
    sender          TEXT NOT NULL CHECK (sender IN ('neutral', 'practice', 'clinician')),
    leads_minutes   TEXT NOT NULL,
    language        TEXT NOT NULL,
    opted_out       BOOLEAN NOT NULL,
    updated_by      TEXT NOT NULL REFERENCES users(id),
    updated_at      BIGINT NOT NULL
);

-- Per-practice templates, versioned: a new version is a new row.
CREATE TABLE reminder_templates (
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    kind            TEXT NOT NULL CHECK (kind IN ('reminder', 'nudge')),
    language        TEXT NOT NULL,
    version         BIGINT NOT NULL,
    sms             TEXT NOT NULL,
    email_subject   TEXT NOT NULL,
    email_body      TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (practice_id, kind, language, version)
);

-- One reminder to send: written with the appointment change that makes it
-- due, claimed by the dispatcher under a lease, never deleted (its status
-- and reason are the record staff see).
CREATE TABLE reminders (
    id              TEXT PRIMARY KEY,
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    occurrence_id   TEXT NOT NULL REFERENCES appointment_occurrences(id),
    client_id       TEXT NOT NULL REFERENCES users(id),
    lead_minutes    BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'withheld', 'withdrawn', 'dropped')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT,
    channel         TEXT,
    provider_id     TEXT,
    reason          TEXT,
    sent_at         BIGINT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX reminders_due ON reminders(status, due_at);
CREATE INDEX reminders_occurrence ON reminders(occurrence_id);
CREATE INDEX reminders_practice ON reminders(practice_id, due_at);
