-- A login attempt reserves its rows before the password is checked (one
-- per throttling key, tagged with the attempt); a success deletes them, a
-- failure keeps them as the failure record. Concurrent attempts therefore
-- count each other before any Argon2 work starts.
ALTER TABLE auth_failures ADD COLUMN attempt TEXT;
CREATE INDEX auth_failures_attempt ON auth_failures(attempt);
