-- For an incident naming an account: the earliest time it may have been
-- misused, as the privacy officer judges it (Unix seconds). The evidence
-- searches the audit log from then to now. NULL: the practice's look-back
-- (incidents.account_lookback_days) before the discovery time.
ALTER TABLE incidents ADD COLUMN account_since INTEGER;
