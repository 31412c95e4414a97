-- An incident decided as an exception of 45 CFR 164.402(1) keeps which
-- clause, the facts the privacy officer affirmed and the particulars they
-- wrote (JSON of incidents::rules::exception::Exception); NULL for any other
-- decision. Staff's words inside the practice's record: never in a webhook.
ALTER TABLE incidents ADD COLUMN exception TEXT;
