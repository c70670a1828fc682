-- A slot holds sealed filler (0) or a piece of client data (1), which no seal reproduces:
-- verification and shrinking must leave those alone.
ALTER TABLE chunks ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
