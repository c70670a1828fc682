-- The partition's tree for its commitment (challenges v2): the leaves are read through a covering
-- index, never through the megabyte rows; `tree` holds the sequence number and committed size,
-- `leaf_log` the old leaf of each change since the validator last synced. Triggers keep the log,
-- so that no change to a leaf goes unlogged, whoever makes it (a hand edit included). On an
-- existing partition the index reads every row once.
CREATE INDEX chunks_leaf ON chunks (id, root);
CREATE TABLE tree (
    one INTEGER PRIMARY KEY CHECK (one = 0),
    seq INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    log_from INTEGER NOT NULL
);
INSERT INTO tree (one, seq, n_chunks, log_from) VALUES (0, 0, 0, 0);
CREATE TABLE leaf_log (seq INTEGER NOT NULL, slot INTEGER NOT NULL, old BLOB NOT NULL);
CREATE INDEX leaf_log_slot ON leaf_log (slot, seq);
CREATE INDEX leaf_log_seq ON leaf_log (seq);
CREATE TRIGGER chunks_leaf_insert AFTER INSERT ON chunks BEGIN
    UPDATE tree SET seq = seq + 1;
    INSERT INTO leaf_log (seq, slot, old) SELECT seq, NEW.id, zeroblob(32) FROM tree;
END;
CREATE TRIGGER chunks_leaf_update AFTER UPDATE OF root ON chunks
WHEN OLD.root IS NOT NEW.root OR OLD.id IS NOT NEW.id BEGIN
    UPDATE tree SET seq = seq + 1;
    INSERT INTO leaf_log (seq, slot, old) SELECT seq, OLD.id, OLD.root FROM tree;
    INSERT INTO leaf_log (seq, slot, old)
        SELECT seq, NEW.id, zeroblob(32) FROM tree WHERE OLD.id IS NOT NEW.id;
END;
CREATE TRIGGER chunks_leaf_delete AFTER DELETE ON chunks BEGIN
    UPDATE tree SET seq = seq + 1;
    INSERT INTO leaf_log (seq, slot, old) SELECT seq, OLD.id, OLD.root FROM tree;
END;
