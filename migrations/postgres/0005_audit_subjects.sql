-- Where each user and device appears in the audit log, by block of 1,024
-- entries (block = seq / 1024; server/src/storage/audit_store.rs
-- SUBJECT_BLOCK must match). It replaces the per-entry indexes on the actor
-- and the target user: those wrote two randomly placed index pages for every
-- entry (a third of the message throughput went to the audit log), while a
-- subject gains a row here only the first time it appears in a block. A
-- filtered query (by user, client or device) reads the blocks of its subject,
-- then scans only those ranges of the log.
--
-- Not part of the tamper-evident log: deleting rows here can hide entries
-- from filtered queries, never from the log, its exports or audit verify.

CREATE TABLE audit_subjects (
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    subject_id   TEXT NOT NULL,
    block        BIGINT NOT NULL,
    PRIMARY KEY (practice_id, subject_id, block)
);

INSERT INTO audit_subjects (practice_id, subject_id, block)
    SELECT practice_id, actor_user_id, seq / 1024 FROM audit_events WHERE actor_user_id IS NOT NULL
    UNION SELECT practice_id, target_user_id, seq / 1024 FROM audit_events WHERE target_user_id IS NOT NULL
    UNION SELECT practice_id, actor_device_id, seq / 1024 FROM audit_events WHERE actor_device_id IS NOT NULL
    UNION SELECT practice_id, target_device_id, seq / 1024 FROM audit_events WHERE target_device_id IS NOT NULL;

DROP INDEX audit_events_actor;
DROP INDEX audit_events_target;
