-- The smallest "days left" threshold (30, 14, 7, 3, 1, 0) for which an
-- incident's approaching notice deadline was announced
-- (`incident.deadline_approaching`), so each threshold is announced once.
ALTER TABLE incidents ADD COLUMN deadline_notice INTEGER;
