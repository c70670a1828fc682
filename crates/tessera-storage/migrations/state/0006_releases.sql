-- Slots to give back to filler, recorded in the transaction that moves their piece away and kept
-- until the miner confirms the release: until then the slot is neither free for a new piece nor
-- challenged against anything.
CREATE TABLE releases (
    miner TEXT NOT NULL,
    slot INTEGER NOT NULL,
    since_ms INTEGER NOT NULL,
    PRIMARY KEY (miner, slot)
) WITHOUT ROWID;
