-- Weights committed on chain and not yet revealed: kept so that a validator restarted between
-- commit and reveal still reveals. Vectors are little-endian u16s.
CREATE TABLE weight_commits (
    hash BLOB PRIMARY KEY,
    netuid INTEGER NOT NULL,
    uids BLOB NOT NULL,
    weight_values BLOB NOT NULL,
    salt BLOB NOT NULL,
    version_key INTEGER NOT NULL,
    commit_block INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
