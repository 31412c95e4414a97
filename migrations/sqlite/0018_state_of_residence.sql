-- Each person's state of residence (a USPS code: a state, DC or a
-- territory), where the practice recorded it: a breach affecting more than
-- 500 residents of one state must also be announced in its media
-- (45 CFR 164.406), and state laws add their own duties. Optional; shown
-- to the practice's admins and in incident evidence as counts per state.
ALTER TABLE users ADD COLUMN state_of_residence TEXT;
