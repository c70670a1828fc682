//! Client objects as miners hold them: each segment of an object is encrypted with the object's
//! own key (`Codec::seal`, on the client), then Reed-Solomon coded into `n` pieces of one chunk
//! each (`spread`, on the gateway, which needs no key), any `k` of which give the segment back
//! (`gather`, then `Codec::open`); pieces are placed on the miners nearest by XOR distance.
//!
//! Pure computation, like `tessera-partition`: no I/O, no networking, no SQL. The validator's
//! gateway and the client CLI (issue 5) build on it; neither miners nor validators ever see a key.

mod codec;
mod error;
mod placement;
mod stream;

pub use codec::{
    Codec, ObjectId, ObjectKey, Params, PlainDigest, TAG_BYTES, gather, piece_id, recovery,
    segment_count, spread,
};
pub use error::Error;
pub use placement::{Candidate, place, xor_distance};
pub use stream::{Segment, SegmentStream};
