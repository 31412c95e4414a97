-- A webhook's signing secret can be replaced without a gap: for a while
-- after a rotation every delivery is signed with the new secret and the
-- previous one (Standard Webhooks: several space-separated signatures, a
-- receiver accepts any it can check), so the receiver can switch at its
-- own pace. The previous secret is sealed like the current one.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret BYTEA;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until BIGINT;
