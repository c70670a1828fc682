-- Challenges v2: each miner's commitment as held (group nodes as one blob, 32 bytes a group),
-- every audit, and every lie with its evidence.
CREATE TABLE commitments (
    miner TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    root BLOB NOT NULL,
    signature BLOB NOT NULL,
    groups BLOB NOT NULL,
    audited INTEGER NOT NULL,
    taken_ms INTEGER NOT NULL
);
CREATE TABLE audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    miner TEXT NOT NULL,
    seq INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX audits_miner ON audits (miner, id);
CREATE TABLE lies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    miner TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    barred_until_ms INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    committed_leaf BLOB NOT NULL,
    sealed_root BLOB NOT NULL,
    commitment BLOB NOT NULL,
    commitment_signature BLOB NOT NULL,
    answer BLOB NOT NULL,
    answer_signature BLOB NOT NULL,
    nonce BLOB NOT NULL
);
CREATE INDEX lies_miner ON lies (miner, barred_until_ms);
