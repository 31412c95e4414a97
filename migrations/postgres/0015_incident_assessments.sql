-- The four-factor risk assessment of an incident (45 CFR 164.402(2)): the
-- privacy officer's statements, prefilled from the evidence and edited,
-- and their sign-off with a fresh second factor, after which they no
-- longer change. One row per incident, written when first saved.
CREATE TABLE incident_assessments (
    incident_id      TEXT PRIMARY KEY REFERENCES incidents(id),
    practice_id      TEXT NOT NULL REFERENCES practices(id),
    -- JSON: {"nature_extent": text, "recipient": …, "acquired_viewed": …, "mitigation": …}
    statements       TEXT NOT NULL,
    -- Raised by every save: a save names the version it edited.
    version          BIGINT NOT NULL,
    updated_by       TEXT NOT NULL REFERENCES users(id),
    updated_at       BIGINT NOT NULL,
    signed_off_by    TEXT REFERENCES users(id),
    signed_off_at    BIGINT
);
