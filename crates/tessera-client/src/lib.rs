//! The Tessera client: stores files in the network through a validator's gateway and fetches
//! them back. Every segment is encrypted here, on the client's machine, with a key derived from
//! the client's hotkey and the object id, so the validator and the miners only ever see
//! ciphertext, and the wallet is the only thing a client must keep.

pub mod cli;
mod client;
mod error;

pub use client::{AccessKey, Client, ObjectSummary};
pub use error::Error;
