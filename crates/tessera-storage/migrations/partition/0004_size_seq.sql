-- The sequence number of the last change of the committed size: an update to an earlier sequence
-- number cannot be served from the leaf log alone. Unknown for an existing partition, so taken as
-- now.
ALTER TABLE tree ADD COLUMN size_seq INTEGER NOT NULL DEFAULT 0;
UPDATE tree SET size_seq = seq;
