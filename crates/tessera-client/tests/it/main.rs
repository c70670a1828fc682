//! Integration tests of `tessera`: real miner and validator processes on `127.0.0.1:0`, and the
//! `tessera` binary storing and fetching files through the validator's gateway.

mod access;
mod churn;
mod crash;
mod failures;
mod roundtrip;
mod s3;
mod s3keys;
mod support;
