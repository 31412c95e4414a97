-- When a reset link last set this account's password or passphrase. A
-- device signed in from then on is not handed earlier messages by other
-- devices (docs/history.md): whoever holds a reset link — the staff member
-- who issued it included — must not get the person's history from it. Its
-- history comes from the person's history backup, with their key.
ALTER TABLE users ADD COLUMN reset_at BIGINT;
