-- Client data (the gateway's index): an object is `pending` until every segment is placed and
-- recorded, then `complete`; deleting it cascades to its segments, pieces and placements. A
-- miner's slot holds at most one piece.
CREATE TABLE owners (
    hotkey TEXT PRIMARY KEY,
    first_put_ms INTEGER NOT NULL
);
CREATE TABLE objects (
    id BLOB PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES owners(hotkey),
    size INTEGER NOT NULL,
    digest BLOB NOT NULL,
    k INTEGER NOT NULL,
    n INTEGER NOT NULL,
    piece_size INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX objects_owner ON objects (owner, created_ms);
CREATE INDEX objects_expiry ON objects (expires_ms);
CREATE TABLE segments (
    object BLOB NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (object, idx)
);
CREATE TABLE pieces (
    object BLOB NOT NULL,
    segment INTEGER NOT NULL,
    piece INTEGER NOT NULL,
    root BLOB NOT NULL,
    PRIMARY KEY (object, segment, piece),
    FOREIGN KEY (object, segment) REFERENCES segments(object, idx) ON DELETE CASCADE
);
CREATE TABLE placements (
    object BLOB NOT NULL,
    segment INTEGER NOT NULL,
    piece INTEGER NOT NULL,
    miner TEXT NOT NULL,
    slot INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL,
    PRIMARY KEY (object, segment, piece, miner),
    UNIQUE (miner, slot),
    FOREIGN KEY (object, segment, piece)
        REFERENCES pieces(object, segment, piece) ON DELETE CASCADE
);
