//! Integration tests of `tessera-validator`: real validator and miner processes on
//! `127.0.0.1:0`, and cheating miners served from the test process over real gRPC.

mod adversary;
mod audit;
mod chain;
mod data;
mod faults;
mod flood;
mod network;
mod ops;
mod restart;
mod soak;
mod support;
mod web;
