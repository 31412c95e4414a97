-- Revocation: the server-held unlock share of each device (destroyed on
-- revocation: crypto-shredding of the device's sealed local state), the
-- Remove proposals the server issued as MLS external sender, lost-device
-- reports, and the last access time behind offboarding access reviews.

CREATE TABLE device_unlock_shares (
    device_id    TEXT PRIMARY KEY REFERENCES devices(id),
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    share        BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- One row per (conversation, leaf, epoch) the server proposed to remove,
-- so a proposal is issued once per epoch until a member commits it.
CREATE TABLE removal_proposals (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    leaf_index       INTEGER NOT NULL,
    epoch            INTEGER NOT NULL,
    seq              INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, leaf_index, epoch)
);

CREATE TABLE lost_device_reports (
    id             TEXT PRIMARY KEY,
    practice_id    TEXT NOT NULL REFERENCES practices(id),
    device_id      TEXT NOT NULL REFERENCES devices(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    reported_by    TEXT NOT NULL REFERENCES users(id),
    reported_at    INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    conversations  TEXT NOT NULL
);
CREATE INDEX lost_device_reports_practice ON lost_device_reports(practice_id, reported_at);

ALTER TABLE delivery_cursors ADD COLUMN acked_at INTEGER;
