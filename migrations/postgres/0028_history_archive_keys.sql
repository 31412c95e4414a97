-- The person's current history key, by its public id (HistoryKey::key_id):
-- archives are stored only under it, so a device with an old key (the
-- backup was turned off, or made again with a new key elsewhere) cannot
-- write blobs nobody can open next to the ones that open. No key: the
-- backup is off.
CREATE TABLE history_archive_keys (
    user_id   TEXT PRIMARY KEY REFERENCES users(id),
    key_id    TEXT NOT NULL,
    set_at    BIGINT NOT NULL
);
