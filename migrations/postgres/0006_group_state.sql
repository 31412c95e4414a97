-- The server's public view of each conversation's MLS group (openmls
-- PublicGroup: ratchet tree, group context, transcript hash, confirmation
-- tag), advanced only by commits it checked, and the latest member-signed
-- GroupInfo that a new device joins against by external commit. Membership
-- rows (conversation_members) are derived from this tree, never from what
-- a client declares.
CREATE TABLE conversation_groups (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations(id),
    epoch            BIGINT NOT NULL,
    state            BYTEA NOT NULL,
    group_info       BYTEA NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- A claimed KeyPackage is outstanding until a commit adds its device; a
-- second claim for the same device and conversation gets the same package.
ALTER TABLE key_packages ADD COLUMN used_at BIGINT;
CREATE INDEX key_packages_outstanding ON key_packages(device_id, conversation_id);
