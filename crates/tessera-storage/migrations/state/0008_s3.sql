-- The S3 face: access keys, buckets, entries (what S3 calls objects) and multipart uploads under
-- way. An entry's bytes are Tessera objects (`objects`), one for a PutObject and one per part
-- for a multipart upload. Owners are hotkeys as SS58 text, as in `objects`. Keys and bucket
-- names are compared with SQLite's BINARY collation, byte by byte in UTF-8: the order S3 lists
-- them in.

-- SigV4 needs an access key's secret itself on the server, so the gateway seals it (under a key
-- derived from the validator's hotkey) before it comes here: a copy of this file alone does not
-- give it away. A revoked key is kept, with when, so that its id is never given out again.
CREATE TABLE s3_keys (
    access_key TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE INDEX s3_keys_owner ON s3_keys (owner);

-- Bucket names are per owner: two owners may both have "photos", and the owner of a request's
-- access key says whose names its buckets are. An entry or an upload keeps its bucket from
-- being deleted (the foreign keys below).
CREATE TABLE s3_buckets (
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    default_ttl_secs INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
) WITHOUT ROWID;

-- One entry per key; the unique index is also the listing's: a range of keys in one bucket,
-- in S3's order. `user_meta` is a JSON object of the x-amz-meta-* pairs, stored as given.
CREATE TABLE s3_entries (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    content_type TEXT,
    content_disposition TEXT,
    cache_control TEXT,
    user_meta TEXT NOT NULL DEFAULT '{}',
    UNIQUE (owner, bucket, key),
    FOREIGN KEY (owner, bucket) REFERENCES s3_buckets (owner, name)
);
CREATE INDEX s3_entries_expiry ON s3_entries (expires_ms);

-- The Tessera objects holding an entry's bytes, `part` 1, 2, ... in order. No foreign key to
-- `objects`: the reclaim sweep deletes expired objects and must never be held up by an S3 row;
-- a reader takes a part whose object is gone or expired for a missing entry. The index on
-- `object` tells whether any row still holds an object before its life is ended.
CREATE TABLE s3_entry_parts (
    entry INTEGER NOT NULL REFERENCES s3_entries (id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    object BLOB NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (entry, part)
) WITHOUT ROWID;
CREATE INDEX s3_entry_parts_object ON s3_entry_parts (object);

-- Multipart uploads begun and neither completed nor aborted, with the headers the entry will
-- get; `created_ms` finds the stale ones for a sweep.
CREATE TABLE s3_uploads (
    upload_id TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    content_type TEXT,
    content_disposition TEXT,
    cache_control TEXT,
    user_meta TEXT NOT NULL DEFAULT '{}',
    ttl_secs INTEGER NOT NULL,
    FOREIGN KEY (owner, bucket) REFERENCES s3_buckets (owner, name)
);
CREATE INDEX s3_uploads_key ON s3_uploads (owner, bucket, key, created_ms);
CREATE INDEX s3_uploads_age ON s3_uploads (created_ms);

-- An upload's parts as uploaded, by the client's part number; no foreign key to `objects`, for
-- the same reason as above.
CREATE TABLE s3_upload_parts (
    upload_id TEXT NOT NULL REFERENCES s3_uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    object BLOB NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE INDEX s3_upload_parts_object ON s3_upload_parts (object);
