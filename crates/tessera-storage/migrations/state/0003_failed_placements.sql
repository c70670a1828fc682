-- Piece health: a placement whose slot failed a challenge or returned wrong bytes is marked, and
-- repair replaces it.
ALTER TABLE placements ADD COLUMN failed_ms INTEGER;
