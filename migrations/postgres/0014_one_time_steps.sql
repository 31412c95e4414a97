-- Start-up steps that must run once per database and never again, by name:
-- "seal-plain-secrets" seals the secrets written before sealing existed
-- (server/src/sealing.rs). Recorded, so that a plain value planted later by
-- someone who can write to the database is refused rather than sealed at
-- the next start.
CREATE TABLE one_time_steps (
    name     TEXT PRIMARY KEY,
    done_at  BIGINT NOT NULL
);
