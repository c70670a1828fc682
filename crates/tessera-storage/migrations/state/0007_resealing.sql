-- Slots a miner confirmed releasing and may not have resealed yet: spared from challenges for a
-- while, across a restart of the validator too.
CREATE TABLE resealing (
    miner TEXT NOT NULL,
    slot INTEGER NOT NULL,
    since_ms INTEGER NOT NULL,
    PRIMARY KEY (miner, slot)
) WITHOUT ROWID;
