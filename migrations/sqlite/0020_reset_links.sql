-- A sign-in reset link: an invitation for an existing account (a client
-- who forgot their passphrase asks the practice; an admin makes the link).
-- Redeeming it sets a new password and ends every session of the account;
-- it never creates an account, and it gives whoever issued it nothing of
-- the person's history (that stays on the person's devices).
ALTER TABLE invites ADD COLUMN for_user TEXT REFERENCES users(id);
