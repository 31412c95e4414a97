-- A device signed in with "shared or public computer": nothing is kept in
-- its browser after the tab closes, and the server signs it out (revokes
-- it) once it has no live session — at logout, or when its session lapses.
ALTER TABLE devices ADD COLUMN shared BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX devices_shared_live ON devices(shared, revoked_at);
