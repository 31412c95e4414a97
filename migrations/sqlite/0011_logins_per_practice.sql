-- Logins are unique per practice, not per deployment (Hardening item 4):
-- a login used in another practice must be indistinguishable from a
-- never-used one when an invite is redeemed, or one practice's clinician
-- could learn that an address belongs to another practice's client — the
-- fact of treatment. The stored key is scoped by the practice
-- ("<practice id>/<login>"; ids are fixed-length UUIDs, so the name is
-- what follows the 37th character), which keeps the existing uniqueness
-- index and needs no table rebuild on SQLite (whose column constraint
-- cannot be dropped in place). Reads strip the scope (`user_cols!`).
UPDATE users SET login = practice_id || '/' || login;
