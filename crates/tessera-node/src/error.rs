//! The one error type of `tessera-node`: a node's settings that cannot be used.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A settings source (file, environment or flag) that does not parse, named in the text.
    #[error("config: {0}")]
    Config(String),
}
