-- A device's version: 1 when registered, one more on every update. An
-- update made with `If-Match` applies only if the version is still the one
-- whose entity tag matched (one conditional UPDATE), so two writers who read
-- the same version cannot both write.
ALTER TABLE devices ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
