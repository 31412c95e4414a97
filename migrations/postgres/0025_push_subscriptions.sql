-- Web Push (RFC 8030): one subscription per device, made by the device's
-- own browser. endpoint is the push service's URL for that browser; p256dh
-- and auth (base64url) are what RFC 8291 encrypts a payload to. Payloads
-- say only that a new secure message is waiting, so none of this opens
-- anything personal. Deleted at logout and at revocation; kept across an
-- idle sign-out (that is when a notice is needed).
-- told_at: messages accepted from then on are news to the device (before
-- it, pushed or skipped while it was online); pushed_at: the last push
-- sent (one per cooldown); not_before / lease_until / failures: the push
-- job's working state.
CREATE TABLE push_subscriptions (
    device_id    TEXT PRIMARY KEY REFERENCES devices(id),
    practice_id  TEXT NOT NULL REFERENCES practices(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    endpoint     TEXT NOT NULL,
    p256dh       TEXT NOT NULL,
    auth         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    told_at      BIGINT,
    pushed_at    BIGINT,
    not_before   BIGINT,
    lease_until  BIGINT,
    failures     BIGINT NOT NULL DEFAULT 0
);
