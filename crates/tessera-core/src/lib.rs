//! Core types of Tessera: identity, chunks and partitions, the Merkle tree and network constants.
//!
//! This crate does no networking, no SQL and no async: every other crate may depend on it, and it
//! depends on none of them.

pub mod auth;
pub mod commit;
pub mod constants;
mod error;
pub mod identity;
pub mod merkle;
pub mod score;
pub mod sha256;
pub mod slot;
pub mod wallet;

pub use error::Error;
pub use identity::{AccountId, Keypair, Signature};
pub use wallet::{Wallet, expand_tilde};
