-- Tamper-evident audit log: the RFC 9162 leaf hash of every entry, written
-- by append_event in the action's transaction, and the signed tree heads the
-- server has issued (copies; the authoritative ones are kept by witnesses
-- outside the server). See docs/audit.md.

ALTER TABLE audit_events ADD COLUMN leaf_hash BLOB;

CREATE INDEX audit_events_action ON audit_events(practice_id, action, seq);
CREATE INDEX audit_events_actor ON audit_events(practice_id, actor_user_id, seq);
CREATE INDEX audit_events_target ON audit_events(practice_id, target_user_id, seq);
CREATE INDEX audit_events_at ON audit_events(practice_id, at);

CREATE TABLE audit_signed_heads (
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    tree_size    INTEGER NOT NULL,
    root_hash    BLOB NOT NULL,
    signed_at    INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    signature    BLOB NOT NULL,
    PRIMARY KEY (practice_id, tree_size)
);
