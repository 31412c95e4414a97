-- Whom an invitation is for, in the inviter's words ("Sam R.", "front
-- desk"), so the list of invitations says whom each is for. Shown only in
-- the practice's list of invitations; never in the link, a log line or the
-- audit log.
ALTER TABLE invites ADD COLUMN label TEXT;
