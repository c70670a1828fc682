//! Plaintext in and out, for the faces whose clients send no ciphertext (HTTP and S3): the
//! gateway seals a body segment by segment as it streams in, with a key it derives itself, and
//! opens an object back into plaintext, whole or a byte range of it.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Bytes;
use tessera_core::AccountId;
use tessera_object::{Codec, ObjectId, ObjectKey, Params, PlainDigest, SegmentStream};
use tessera_proto::gateway::v1::{ObjectInfo, PutHeader, put_request};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};

use crate::{Error, Gateway};

/// What a plaintext put stored.
#[derive(Debug)]
pub(crate) struct PlainPut {
    pub info: ObjectInfo,
    /// The plaintext's MD5, which S3 clients know objects by.
    pub md5: [u8; 16],
    /// The body's last bytes, held back from the object when asked to.
    pub tail: Vec<u8>,
}

/// What a plaintext body must hash to by its sender's word, checked once it has all come and
/// before its last segment goes, so that a body unlike what was said stores nothing.
#[derive(Default)]
pub(crate) struct BodyChecks {
    /// The body's MD5 (Content-MD5).
    pub md5: Option<[u8; 16]>,
    /// One more digest over the same bytes (S3's `x-amz-checksum-*`).
    pub other: Option<Box<dyn BodyCheck>>,
}

/// A digest a body is checked against as it streams in.
pub(crate) trait BodyCheck: Send + 'static {
    fn update(&mut self, bytes: &[u8]);
    /// Whether the whole body matched, once it has ended: `Err` says how it did not.
    fn finish(self: Box<Self>) -> Result<(), Error>;
}

/// How long a put's body may send nothing before the put fails.
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A plaintext being read: a stream of its bytes, ending early with an I/O error if the read
/// breaks partway (a client sees that against the length it was promised).
pub(crate) type PlainBody = mpsc::Receiver<Result<Bytes, std::io::Error>>;

impl Gateway {
    /// Stores `body`, `size` plaintext bytes, as `owner`'s object `id` sealed with `key`, but
    /// for its last `hold_back` bytes, which come back in [`PlainPut::tail`] (the S3 face keeps
    /// them itself). The body is read as it arrives, a few segments at a time; a body shorter
    /// or longer than `size`, one that breaks, or one that fails `checks` stores nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn put_plain<S>(
        &self,
        owner: AccountId,
        id: ObjectId,
        key: &ObjectKey,
        (size, hold_back): (u64, u64),
        ttl_secs: u64,
        mut body: S,
        checks: BodyChecks,
    ) -> Result<PlainPut, Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static,
    {
        // Held until the put ends; waiting reads nothing of the body.
        let _turn = self
            .plain_puts
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("the gateway is shutting down".into()))?;
        let p = self.params;
        if hold_back > size {
            return Err(Error::Internal(format!(
                "{hold_back} bytes held back of a {size}-byte body"
            )));
        }
        // What the object itself holds.
        let sealed = size - hold_back;
        let header = PutHeader {
            id: id.0.to_vec(),
            size: sealed,
            ttl_secs,
            k: u32::from(p.k),
            n: u32::from(p.n),
            piece_size: p.piece_size,
            segments: tessera_object::segment_count(&p, sealed),
        };
        let (tx, rx) = mpsc::channel(2);
        let (md5_tx, md5_rx) = tokio::sync::oneshot::channel();
        let mut stream = SegmentStream::new(p, id, key, sealed);
        let BodyChecks { md5, mut other } = checks;
        let md5_lanes = self.md5_lanes.clone();
        let sealer = self.spawn(async move {
            let mut hash = md5_lanes.hasher();
            let mut tail = Vec::new();
            let mut received = 0u64;
            let longer = || {
                Error::Incomplete(format!(
                    "the body is longer than its Content-Length of {size}"
                ))
            };
            loop {
                // A client that stops sending holds slots and a turn: S3 drops it too.
                let Ok(next) = tokio::time::timeout(BODY_IDLE, body.next()).await else {
                    let _ = tx
                        .send(Err(Error::Incomplete(format!(
                            "no body bytes for {} s after {received} of {size}",
                            BODY_IDLE.as_secs()
                        ))))
                        .await;
                    return;
                };
                let pushed = match next {
                    Some(Ok(frame)) => {
                        hash.update(&frame);
                        if let Some(other) = other.as_mut() {
                            other.update(&frame);
                        }
                        // The frame's bytes before `sealed` go to the object, the rest to the
                        // tail.
                        let to_object = sealed.saturating_sub(received).min(frame.len() as u64);
                        let (head, rest) = frame.split_at(to_object as usize);
                        received += frame.len() as u64;
                        if received > size {
                            Err(longer())
                        } else {
                            tail.extend_from_slice(rest);
                            stream.push(head).map_err(|_| longer())
                        }
                    }
                    Some(Err(e)) => Err(e),
                    None => match stream.end() {
                        Ok(()) if received == size => break,
                        _ => Err(Error::Incomplete(format!(
                            "the body ended after {received} of {size} bytes"
                        ))),
                    },
                };
                if let Err(e) = pushed {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                // Full segments go now; the last one once the body is complete.
                if !send_ready(&mut stream, &tx).await {
                    return;
                }
            }
            let got = hash.finalize();
            if let Some(want) = md5
                && want != got
            {
                // Before the last segment and the digest go, so the put fails and stores nothing.
                let _ = tx
                    .send(Err(Error::BadDigest(format!(
                        "the body's MD5 is {}, not the {} its Content-MD5 says",
                        hex::encode(got),
                        hex::encode(want)
                    ))))
                    .await;
                return;
            }
            if let Some(Err(e)) = other.map(BodyCheck::finish) {
                let _ = tx.send(Err(e)).await;
                return;
            }
            if !send_ready(&mut stream, &tx).await {
                return;
            }
            let digest = stream
                .digest()
                .map(|d| put_request::Part::Digest(d.to_vec()))
                .map_err(Error::from);
            let _ = md5_tx.send((got, tail));
            let _ = tx.send(digest).await;
        });
        let result = self.put_object(owner, header, rx).await;
        sealer.abort();
        let info = result?;
        let (md5, tail) = md5_rx
            .await
            .map_err(|_| Error::Internal("the sealer stopped before the body's MD5".into()))?;
        Ok(PlainPut { info, md5, tail })
    }

    /// Opens `owner`'s object `id`, sealed with `key`, for the plaintext bytes in `range` (which
    /// the caller checked against the object's size). The first segment is fetched before this
    /// answers, so that an object that cannot be read gets its error here, not a cut-off body.
    /// A read of the whole object is checked against its digest: its last bytes are held back
    /// until they check, so a client never gets a complete-looking body that is wrong.
    pub(crate) async fn read_plain(
        &self,
        id: ObjectId,
        owner: &AccountId,
        key: &ObjectKey,
        range: Range<u64>,
    ) -> Result<(ObjectInfo, PlainBody), Error> {
        let (info, params) = self.plain_params(&id, owner).await?;
        let capacity = params.segment_capacity() as u64;
        let whole = range.start == 0 && range.end >= info.size;
        let first_segment = range.start / capacity;
        let end_segment = if range.is_empty() {
            first_segment
        } else {
            (range.end - 1) / capacity + 1
        };
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        if range.is_empty() {
            return Ok((info, rx));
        }
        let (_, mut segments) = self
            .open_segments(&id.0, owner, first_segment..end_segment)
            .await?;
        let mut first = match segments.recv().await {
            Some(Err(e)) => return Err(e),
            other => other,
        };
        let total = info.segments;
        let expected: Option<[u8; 32]> = info.digest.as_slice().try_into().ok();
        let codec = Arc::new(Codec::new(params, id, key));
        let mut digest = whole.then(|| PlainDigest::new(key, &id));
        self.spawn(async move {
            let broken = |m: String| std::io::Error::other(m);
            let mut index = first_segment;
            while index < end_segment {
                let segment = match first.take() {
                    Some(s) => s,
                    None => match segments.recv().await {
                        Some(s) => s,
                        None => {
                            let _ = tx
                                .send(Err(broken(format!("object {id}: the read stopped"))))
                                .await;
                            return;
                        }
                    },
                };
                let last = index + 1 == total;
                let opened = match segment {
                    Ok(ciphertext) => {
                        let codec = codec.clone();
                        let mut d = digest.take();
                        tokio::task::spawn_blocking(move || {
                            let plain = codec.open(index, last, ciphertext);
                            if let (Ok(p), Some(d)) = (&plain, d.as_mut()) {
                                d.update(p);
                            }
                            (plain, d)
                        })
                        .await
                        .map_err(|e| broken(e.to_string()))
                        .and_then(|(plain, d)| {
                            digest = d;
                            plain.map_err(|e| broken(e.to_string()))
                        })
                    }
                    Err(e) => Err(broken(e.to_string())),
                };
                let opened = opened.and_then(|plain| {
                    if whole && last && digest.take().map(PlainDigest::finish) != expected {
                        return Err(broken(format!("object {id}: digest mismatch")));
                    }
                    // Only the bytes of the range: the first and last segments are cut.
                    let at = index * capacity;
                    let from = range.start.saturating_sub(at) as usize;
                    let to = (range.end - at).min(plain.len() as u64) as usize;
                    Ok(Bytes::from(plain).slice(from.min(to)..to))
                });
                index += 1;
                let failed = opened.is_err();
                if tx.send(opened).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok((info, rx))
    }

    /// `owner`'s object `id` and the coding it was stored with.
    async fn plain_params(
        &self,
        id: &ObjectId,
        owner: &AccountId,
    ) -> Result<(ObjectInfo, Params), Error> {
        let info = self.stat_object(&id.0, owner).await?;
        let (Ok(k), Ok(n)) = (u16::try_from(info.k), u16::try_from(info.n)) else {
            return Err(Error::Internal("object coding out of range".into()));
        };
        let params = Params::new(k, n, info.piece_size)?;
        Ok((info, params))
    }
}

/// Seals every segment `stream` has ready, on a blocking thread each (it is CPU work), and
/// sends them in order; `false` once the put ended or a seal failed.
async fn send_ready(
    stream: &mut SegmentStream,
    tx: &mpsc::Sender<Result<put_request::Part, Error>>,
) -> bool {
    while let Some(segment) = stream.next_segment() {
        let sealed = tokio::task::spawn_blocking(move || segment.seal())
            .await
            .map_err(|e| Error::Internal(format!("sealing task failed: {e}")))
            .and_then(|r| r.map_err(Error::from))
            .map(|v| put_request::Part::Segment(v.into()));
        let failed = sealed.is_err();
        if tx.send(sealed).await.is_err() || failed {
            return false;
        }
    }
    true
}
