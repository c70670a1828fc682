-- `meta` keeps this shape in every later version: the file's kind and owner are read from it
-- before any migration runs, so that a file of another kind or owner is refused unchanged.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE roots (id INTEGER PRIMARY KEY, root BLOB NOT NULL);
