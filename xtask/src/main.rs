//! `cargo xtask`: developer and operator tasks that drive Tessera's libraries.
fn main() {}
