-- The last bytes of an entry's part may be kept here instead of in its Tessera object: a part
-- whose size is a multiple of a segment's raw size (8 MiB, as aws-cli and boto3 cut them) would
-- otherwise spill a few bytes of framing overhead per segment into one more, nearly empty
-- segment, a quarter more slots and sealing for an 8 MiB part under k = 2. The gateway seals
-- the tail (AEAD under a key of the object's) before it comes here; NULL is no tail.
ALTER TABLE s3_entry_parts ADD COLUMN tail BLOB;
ALTER TABLE s3_upload_parts ADD COLUMN tail BLOB;
