-- When and why an endpoint went off: 'failing' (the server turned it off
-- after three days of failed attempts: the practice's admins are told and
-- may turn it back on) or 'by_admin'. NULL while it is on.
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason TEXT;
