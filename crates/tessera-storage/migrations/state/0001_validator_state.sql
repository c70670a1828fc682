-- `meta` keeps this shape in every later version: the file's kind and owner are read from it
-- before any migration runs, so that a file of another kind or owner is refused unchanged.
-- AUTOINCREMENT keeps challenge and weight ids rising even after rows are deleted, so "the last n
-- rows" is always "the n most recent".
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE miners (
    hotkey TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    axon TEXT,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE TABLE challenges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    miner TEXT NOT NULL REFERENCES miners(hotkey),
    round INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    segment INTEGER NOT NULL,
    success INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    reason TEXT
);
CREATE INDEX challenges_miner_id ON challenges (miner, id);
CREATE TABLE miner_stats (
    miner TEXT PRIMARY KEY REFERENCES miners(hotkey),
    alpha REAL NOT NULL,
    beta REAL NOT NULL,
    claimed_bytes INTEGER NOT NULL,
    proven_bytes INTEGER NOT NULL,
    score REAL NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE blacklist (
    hotkey TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    added_ms INTEGER NOT NULL
);
CREATE TABLE weights (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch INTEGER NOT NULL,
    set_ms INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    weight REAL NOT NULL
);
CREATE INDEX weights_epoch ON weights (epoch);
