//! Sealing a plaintext as it streams in: cut into segments, each sealed in order, and the
//! object's digest kept on the way. The one loop both the client (reading a file) and the
//! gateway's HTTP face (reading a request body) use, so both cut and seal alike.

use std::sync::Arc;

use crate::{Codec, Error, ObjectId, ObjectKey, Params, PlainDigest};

/// A plaintext of a known size being cut into segments. Bytes go in with [`push`], in any
/// pieces; complete segments come out of [`next_segment`], ready to seal; [`end`] says the
/// plaintext is over, and [`digest`] gives the object's digest once every segment is out.
///
/// [`push`]: SegmentStream::push
/// [`next_segment`]: SegmentStream::next_segment
/// [`end`]: SegmentStream::end
/// [`digest`]: SegmentStream::digest
#[derive(Debug)]
pub struct SegmentStream {
    codec: Arc<Codec>,
    digest: PlainDigest,
    size: u64,
    segments: u64,
    capacity: usize,
    buf: Vec<u8>,
    next: u64,
    received: u64,
    ended: bool,
}

/// One segment's plaintext, cut and counted in the digest: [`Segment::seal`] is the CPU work,
/// which callers may move to a blocking thread.
#[derive(Debug)]
pub struct Segment {
    codec: Arc<Codec>,
    pub index: u64,
    pub last: bool,
    plaintext: Vec<u8>,
}

impl Segment {
    /// The segment's ciphertext, as the gateway takes it.
    pub fn seal(self) -> Result<Vec<u8>, Error> {
        self.codec.seal(self.index, self.last, &self.plaintext)
    }
}

impl SegmentStream {
    /// A stream for object `id` of `size` plaintext bytes, sealed with `key`.
    pub fn new(params: Params, id: ObjectId, key: &ObjectKey, size: u64) -> Self {
        let capacity = params.segment_capacity();
        Self {
            codec: Arc::new(Codec::new(params, id, key)),
            digest: PlainDigest::new(key, &id),
            size,
            segments: crate::segment_count(&params, size),
            capacity,
            buf: Vec::with_capacity(capacity),
            next: 0,
            received: 0,
            ended: false,
        }
    }

    /// Plaintext bytes taken so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Segments the whole object has.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Takes the next `bytes` of the plaintext; more than the announced size is refused, and
    /// nothing of it is kept.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let received = self.received + bytes.len() as u64;
        if received > self.size {
            return Err(Error::StreamTooLong { size: self.size });
        }
        self.received = received;
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The plaintext is over: fewer bytes than announced is refused.
    pub fn end(&mut self) -> Result<(), Error> {
        if self.received < self.size {
            return Err(Error::StreamTooShort {
                received: self.received,
                size: self.size,
            });
        }
        self.ended = true;
        Ok(())
    }

    /// The next complete segment, in order: a full one as soon as its bytes are in, the last
    /// (and an empty object's only one) once the plaintext has ended.
    pub fn next_segment(&mut self) -> Option<Segment> {
        let full = self.buf.len() >= self.capacity;
        if self.next >= self.segments || !(full || self.ended) {
            return None;
        }
        let take = self.buf.len().min(self.capacity);
        let rest = self.buf.split_off(take);
        let plaintext = std::mem::replace(&mut self.buf, rest);
        self.digest.update(&plaintext);
        let index = self.next;
        self.next += 1;
        Some(Segment {
            codec: self.codec.clone(),
            index,
            last: index + 1 == self.segments,
            plaintext,
        })
    }

    /// The object's digest, once the plaintext ended and every segment was taken.
    pub fn digest(self) -> Result<[u8; 32], Error> {
        if !self.ended || self.next < self.segments {
            return Err(Error::StreamUnfinished {
                taken: self.next,
                segments: self.segments,
            });
        }
        Ok(self.digest.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals `plaintext` pushed in pieces of `step` bytes, as a stream would.
    fn stream(params: Params, plaintext: &[u8], step: usize) -> (Vec<Vec<u8>>, [u8; 32]) {
        let id = ObjectId([7; 16]);
        let key = ObjectKey([9; 32]);
        let mut s = SegmentStream::new(params, id, &key, plaintext.len() as u64);
        let mut out = Vec::new();
        for piece in plaintext.chunks(step.max(1)) {
            s.push(piece).unwrap();
            while let Some(seg) = s.next_segment() {
                out.push(seg.seal().unwrap());
            }
        }
        s.end().unwrap();
        while let Some(seg) = s.next_segment() {
            out.push(seg.seal().unwrap());
        }
        (out, s.digest().unwrap())
    }

    #[test]
    fn however_the_bytes_arrive_the_segments_and_digest_are_the_same() {
        let params = Params::new(2, 4, 4096).unwrap();
        let capacity = params.segment_capacity();
        let check = |len: usize| {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            // The reference: each segment sealed on its own by the codec.
            let id = ObjectId([7; 16]);
            let key = ObjectKey([9; 32]);
            let codec = Codec::new(params, id, &key);
            let segments = crate::segment_count(&params, len as u64);
            let mut want = Vec::new();
            let mut digest = PlainDigest::new(&key, &id);
            for i in 0..segments {
                let from = (i as usize * capacity).min(len);
                let to = (from + capacity).min(len);
                digest.update(&plaintext[from..to]);
                want.push(
                    codec
                        .seal(i, i + 1 == segments, &plaintext[from..to])
                        .unwrap(),
                );
            }
            let want_digest = digest.finish();
            for step in [1, 7, capacity - 1, capacity, capacity + 1, len + 1] {
                let (got, got_digest) = stream(params, &plaintext, step);
                assert_eq!(got, want, "len {len} step {step}");
                assert_eq!(got_digest, want_digest, "len {len} step {step}");
            }
        };
        for len in [0, 1, capacity - 1, capacity, capacity + 1, 3 * capacity + 5] {
            check(len);
        }
    }

    #[test]
    fn a_stream_of_the_wrong_length_is_refused() {
        let params = Params::new(2, 4, 4096).unwrap();
        let (id, key) = (ObjectId([1; 16]), ObjectKey([2; 32]));
        let mut s = SegmentStream::new(params, id, &key, 10);
        assert_eq!(s.push(&[0; 11]), Err(Error::StreamTooLong { size: 10 }));
        s.push(&[0; 4]).unwrap();
        assert_eq!(
            s.end(),
            Err(Error::StreamTooShort {
                received: 4,
                size: 10
            })
        );
        assert!(
            s.next_segment().is_none(),
            "nothing sealed from a short stream"
        );
        assert!(matches!(s.digest(), Err(Error::StreamUnfinished { .. })));
    }
}
