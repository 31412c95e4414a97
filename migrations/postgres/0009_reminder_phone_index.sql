-- Inbound SMS replies name only a phone number, and stored numbers are
-- sealed with a fresh nonce each: a keyed hash (HMAC-SHA256 under a key
-- derived from the contact key) finds the client without storing the
-- number in the clear.
ALTER TABLE reminder_preferences ADD COLUMN phone_index BYTEA;
CREATE INDEX reminder_preferences_phone ON reminder_preferences(phone_index);
