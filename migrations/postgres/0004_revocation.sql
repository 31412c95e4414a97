-- Revocation: the server-held unlock share of each device (destroyed on
-- revocation: crypto-shredding of the device's sealed local state), the
-- Remove proposals the server issued as MLS external sender, lost-device
-- reports, and the last access time behind offboarding access reviews.

CREATE TABLE device_unlock_shares (
    device_id    TEXT PRIMARY KEY REFERENCES devices(id),
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    share        BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);

-- One row per (conversation, leaf, epoch) the server proposed to remove,
-- so a proposal is issued once per epoch until a member commits it.
CREATE TABLE removal_proposals (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    leaf_index       BIGINT NOT NULL,
    epoch            BIGINT NOT NULL,
    seq              BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, leaf_index, epoch)
);

CREATE TABLE lost_device_reports (
    id             TEXT PRIMARY KEY,
    practice_id    TEXT NOT NULL REFERENCES practices(id),
    device_id      TEXT NOT NULL REFERENCES devices(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    reported_by    TEXT NOT NULL REFERENCES users(id),
    reported_at    BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    conversations  TEXT NOT NULL
);
CREATE INDEX lost_device_reports_practice ON lost_device_reports(practice_id, reported_at);

ALTER TABLE delivery_cursors ADD COLUMN acked_at BIGINT;
