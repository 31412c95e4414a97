-- Which dispatch round holds a reminder's lease: a round claims its batch
-- with one UPDATE and reads back exactly the rows it claimed by this token
-- (another node's round has its own), instead of one UPDATE and one SELECT
-- per reminder inside the writer's transaction.
ALTER TABLE reminders ADD COLUMN claim TEXT;
CREATE INDEX reminders_claim ON reminders(claim);
