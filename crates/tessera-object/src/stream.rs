//! Sealing a plaintext as it streams in: cut into segments, each sealed in order, and the
//! object's digest kept on the way. The one loop both the client (reading a file) and the
//! gateway's HTTP face (reading a request body) use, so both cut and seal alike.

use std::collections::VecDeque;
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
    /// The segment being filled: a frame from [`Codec::frame`], so that sealing encrypts the
    /// bytes where they were copied in. A buffer that restarted small after each segment was
    /// copied again at each doubling (a gateway's request bodies come in frames of about
    /// 350 KiB), and sealing from a separate plaintext copied every byte once more.
    buf: Vec<u8>,
    /// Full frames not yet taken, oldest first: a push of more than a segment fills several.
    full: VecDeque<Vec<u8>>,
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
    /// The plaintext, in a frame from [`Codec::frame`].
    frame: Vec<u8>,
}

impl Segment {
    /// The segment's ciphertext, as the gateway takes it.
    pub fn seal(self) -> Result<Vec<u8>, Error> {
        self.codec.seal_frame(self.index, self.last, self.frame)
    }
}

impl SegmentStream {
    /// A stream for object `id` of `size` plaintext bytes, sealed with `key`.
    pub fn new(params: Params, id: ObjectId, key: &ObjectKey, size: u64) -> Self {
        let codec = Codec::new(params, id, key);
        let buf = codec.frame();
        Self {
            codec: Arc::new(codec),
            digest: PlainDigest::new(key, &id),
            size,
            segments: crate::segment_count(&params, size),
            capacity: params.segment_capacity(),
            buf,
            full: VecDeque::new(),
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
        let mut bytes = bytes;
        while !bytes.is_empty() {
            let room = self.capacity - Codec::frame_plaintext(&self.buf).len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.buf.extend_from_slice(now);
            bytes = later;
            if now.len() == room {
                let next = self.codec.frame();
                self.full.push_back(std::mem::replace(&mut self.buf, next));
            }
        }
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
        if self.next >= self.segments {
            return None;
        }
        let frame = match self.full.pop_front() {
            Some(frame) => frame,
            None if self.ended => std::mem::take(&mut self.buf),
            None => return None,
        };
        self.digest.update(Codec::frame_plaintext(&frame));
        let index = self.next;
        self.next += 1;
        Some(Segment {
            codec: self.codec.clone(),
            index,
            last: index + 1 == self.segments,
            frame,
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
