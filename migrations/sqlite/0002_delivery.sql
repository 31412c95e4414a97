-- Delivery: MLS KeyPackage directory, assignments, conversations as MLS
-- groups, the ordered per-conversation log, Welcomes and delivery cursors.
-- The server stores only MLS ciphertext and public framing.

-- The MLS signature key a device bound on its first KeyPackage upload.
CREATE TABLE device_keys (
    device_id      TEXT PRIMARY KEY REFERENCES devices(id),
    practice_id    TEXT NOT NULL REFERENCES practices(id),
    signature_key  BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE key_packages (
    kp_ref           BLOB PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    data             BLOB NOT NULL,
    last_resort      BOOLEAN NOT NULL,
    not_after        INTEGER NOT NULL,
    uploaded_at      INTEGER NOT NULL,
    claimed_at       INTEGER,
    claimed_by       TEXT,
    conversation_id  TEXT
);
CREATE INDEX key_packages_device ON key_packages(device_id, claimed_at);

-- Which staff member looks after which client.
CREATE TABLE assignments (
    practice_id     TEXT NOT NULL REFERENCES practices(id),
    staff_user_id   TEXT NOT NULL REFERENCES users(id),
    client_user_id  TEXT NOT NULL REFERENCES users(id),
    created_by      TEXT,
    created_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    PRIMARY KEY (staff_user_id, client_user_id)
);
CREATE INDEX assignments_client ON assignments(client_user_id);

-- A conversation is one MLS group; its group id is the UTF-8 of its id.
-- epoch and last_seq are the server's authoritative ordering state.
CREATE TABLE conversations (
    id                  TEXT PRIMARY KEY,
    practice_id         TEXT NOT NULL REFERENCES practices(id),
    client_user_id      TEXT NOT NULL REFERENCES users(id),
    staff_user_id       TEXT NOT NULL REFERENCES users(id),
    created_by_device   TEXT NOT NULL REFERENCES devices(id),
    created_at          INTEGER NOT NULL,
    epoch               INTEGER NOT NULL,
    last_seq            INTEGER NOT NULL,
    UNIQUE (client_user_id, staff_user_id)
);

-- Devices that are leaves of the group. A device receives log entries from
-- joined_seq on; the commit that removes it (removed_seq) is its last entry.
CREATE TABLE conversation_members (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    user_id          TEXT NOT NULL REFERENCES users(id),
    leaf_index       INTEGER NOT NULL,
    joined_seq       INTEGER NOT NULL,
    removed_at       INTEGER,
    removed_seq      INTEGER,
    PRIMARY KEY (conversation_id, device_id)
);
CREATE INDEX conversation_members_device ON conversation_members(device_id);

-- The ordered log: application messages and handshake messages, one seq
-- per entry per conversation. client_msg_id makes sends idempotent.
CREATE TABLE messages (
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    seq               INTEGER NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('application', 'commit', 'proposal')),
    epoch             INTEGER NOT NULL,
    sender_device_id  TEXT,
    client_msg_id     BLOB,
    data              BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages(conversation_id, sender_device_id, client_msg_id);

CREATE TABLE welcomes (
    id               TEXT PRIMARY KEY,
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    commit_seq       INTEGER NOT NULL,
    data             BLOB NOT NULL,
    created_at       INTEGER NOT NULL,
    acked_at         INTEGER
);
CREATE INDEX welcomes_device ON welcomes(device_id, acked_at);

-- How far each device has acknowledged each conversation's log.
CREATE TABLE delivery_cursors (
    device_id        TEXT NOT NULL REFERENCES devices(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    acked_seq        INTEGER NOT NULL,
    PRIMARY KEY (device_id, conversation_id)
);
