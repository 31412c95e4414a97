-- Incidents: reports and detectors open them; the privacy officer runs them
-- to a breach decision (45 CFR 164.402-414). Webhooks tell the practice's
-- own systems, PHI-free (docs/incidents.md).

CREATE TABLE incidents (
    id                  TEXT PRIMARY KEY,
    practice_id         TEXT NOT NULL REFERENCES practices(id),
    kind                TEXT NOT NULL CHECK (kind IN ('lost_device', 'misdirected_message',
                            'unauthorized_access', 'credential_compromise', 'audit_tampering', 'other')),
    status              TEXT NOT NULL CHECK (status IN ('open', 'assessing', 'decided', 'notifying', 'closed')),
    decision            TEXT CHECK (decision IN ('breach', 'not_a_breach', 'exception')),
    -- The first day it was known or should reasonably have been known
    -- (164.404(a)(2)): Unix seconds, editable with a reason.
    discovered_at       BIGINT NOT NULL,
    reported_by         TEXT REFERENCES users(id),
    -- A detector's cause and subject ("failed_logins:<user>"): at most one
    -- open incident per cause and subject.
    cause               TEXT,
    affected_count      BIGINT NOT NULL DEFAULT 0,
    -- The largest number of affected residents of any one state (164.406).
    max_state_residents BIGINT NOT NULL DEFAULT 0,
    -- A law-enforcement delay (164.412): until when.
    delayed_until       BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX incidents_practice ON incidents(practice_id, created_at);
CREATE UNIQUE INDEX incidents_open_cause ON incidents(practice_id, cause)
    WHERE cause IS NOT NULL AND status <> 'closed';

CREATE TABLE incident_subjects (
    incident_id  TEXT NOT NULL REFERENCES incidents(id),
    user_id      TEXT REFERENCES users(id),
    device_id    TEXT REFERENCES devices(id)
);
CREATE INDEX incident_subjects_incident ON incident_subjects(incident_id);

-- Append-only: what happened to the incident, by whom, when. The free-text
-- note is the staff's own words inside the practice's record; it never
-- leaves in a webhook.
CREATE TABLE incident_timeline (
    incident_id    TEXT NOT NULL REFERENCES incidents(id),
    seq            BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    actor_user_id  TEXT REFERENCES users(id),
    entry          TEXT NOT NULL,
    note           TEXT,
    PRIMARY KEY (incident_id, seq)
);

-- How far the watcher has read each practice's audit log (detectors and
-- webhook fan-out), with the lease of the node reading it.
CREATE TABLE incident_watch (
    practice_id  TEXT PRIMARY KEY REFERENCES practices(id),
    seq          BIGINT NOT NULL,
    lease_until  BIGINT
);

CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    url              TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    secret           BYTEA NOT NULL,
    enabled          BOOLEAN NOT NULL,
    failing_since    BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_practice ON webhook_endpoints(practice_id);

-- One event for one endpoint: every attempt carries its id.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id),
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);
