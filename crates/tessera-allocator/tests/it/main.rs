//! Integration tests of the `tessera-allocator` binary: real processes writing real SQLite files
//! in temporary directories, checked through partition.json, the databases themselves and the
//! binary's own `--verify`.

mod allocate;
mod config;
mod errors;
mod keep;
mod resume;
mod support;
mod validator;
