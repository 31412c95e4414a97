-- PHI-free nudges: "You have a new secure message" when a message to a
-- client stays unacknowledged while they are offline.

-- A hint written with every accepted message, in the statement that
-- already moves last_seq (no extra row write on the send path): the first
-- entry since the nudge job last looked that may await the client. The job
-- reads the truth (the client's acknowledgements, who sent what) before
-- acting, and clears or advances the hint only if last_seq is unchanged.
ALTER TABLE conversations ADD COLUMN awaiting_client_seq BIGINT;
ALTER TABLE conversations ADD COLUMN awaiting_client_since BIGINT;
CREATE INDEX conversations_awaiting ON conversations(awaiting_client_since);

-- Per practice: after how many minutes unread (0 = never), and at most one
-- nudge per conversation per how many minutes.
ALTER TABLE practices ADD COLUMN nudge_after_minutes BIGINT NOT NULL DEFAULT 15;
ALTER TABLE practices ADD COLUMN nudge_cooldown_minutes BIGINT NOT NULL DEFAULT 180;

-- The nudge job's working state per conversation: not before when (quiet
-- hours, the cooldown, a retry), the lease of the node handling it.
CREATE TABLE nudge_state (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations(id),
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    not_before       BIGINT,
    lease_until      BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_sent_at     BIGINT
);

-- The record staff see: each nudge sent, withheld or failed, with why.
CREATE TABLE nudges (
    id               TEXT PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    client_id        TEXT NOT NULL REFERENCES users(id),
    status           TEXT NOT NULL CHECK (status IN ('sent', 'withheld', 'failed')),
    channel          TEXT,
    provider_id      TEXT,
    reason           TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX nudges_practice ON nudges(practice_id, created_at);
CREATE INDEX nudges_conversation ON nudges(conversation_id, created_at);

-- The client's own zone, for the quiet hours of nudges (a reminder uses
-- its appointment's zone, which is the client's by construction).
ALTER TABLE reminder_preferences ADD COLUMN time_zone TEXT;
