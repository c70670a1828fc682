//! Integration tests of `tessera-miner`: the real binary on `127.0.0.1:0`, spoken to over gRPC.

mod auth;
mod commitment;
mod data;
mod ops;
mod serve;
mod support;
