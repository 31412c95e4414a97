-- The history archive (docs/history.md, step 2): one blob per person and
-- conversation, the person's decrypted history of it sealed on their
-- device under their history key (crypto/src/archive.rs), which the server
-- never sees. The server can open none of it; it keeps the blob so that a
-- new device of the person can restore it with their history recovery
-- key when no device of the conversation is left to hand it over.
CREATE TABLE history_archives (
    user_id          TEXT NOT NULL REFERENCES users(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    archive          BYTEA NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);
