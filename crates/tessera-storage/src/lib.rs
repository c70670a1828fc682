//! Everything SQLite in Tessera: partition databases, hash databases and migrations.
