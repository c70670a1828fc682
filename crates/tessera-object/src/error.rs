//! The one error type of `tessera-object`.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid erasure parameters k={k}, n={n}: need 1 <= k < n <= 65535")]
    Params { k: u16, n: u16 },

    #[error("invalid piece size {0}: must be even and at least 1024 bytes")]
    PieceSize(u64),

    #[error("segment {index} holds {len} bytes; at most {capacity} fit")]
    SegmentTooLarge {
        index: u64,
        len: usize,
        capacity: usize,
    },

    #[error("segment {index}: {have} usable pieces, {need} needed")]
    NotEnoughPieces {
        index: u64,
        have: usize,
        need: usize,
    },

    #[error("segment {index}: piece {piece} is {len} bytes, not the piece size {size}")]
    PieceLength {
        index: u64,
        piece: usize,
        len: usize,
        size: u64,
    },

    #[error("segment {index}: piece index {piece} out of range (n = {n})")]
    PieceIndex { index: u64, piece: usize, n: u16 },

    #[error("segment {index}: erasure decoding failed: {reason}")]
    Erasure { index: u64, reason: String },

    #[error("segment {index} does not decrypt: wrong key, wrong object, or a corrupted piece")]
    Decrypt { index: u64 },

    #[error("invalid object id {0:?}: expected 32 hex digits")]
    BadId(String),

    #[error("the plaintext is longer than the {size} bytes announced")]
    StreamTooLong { size: u64 },

    #[error("the plaintext ended after {received} of the {size} bytes announced")]
    StreamTooShort { received: u64, size: u64 },

    #[error("the digest was asked for after {taken} of {segments} segments")]
    StreamUnfinished { taken: u64, segments: u64 },

    #[error("cannot place {need} pieces: only {have} eligible miners")]
    TooFewMiners { need: usize, have: usize },
}
