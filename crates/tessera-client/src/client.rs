//! A connection to one validator's gateway: sealing and streaming segments on put, streaming
//! and opening them on get, with the object key derived from the client's hotkey.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{AccountId, Keypair};
use tessera_object::{Codec, ObjectId, ObjectKey, Params, PlainDigest, SegmentStream};
use tessera_proto::gateway::v1::gateway_client::GatewayClient;
use tessera_proto::gateway::v1::{
    CreateS3KeyRequest, DeleteRequest, GetRequest, ListRequest, ListS3KeysRequest, ObjectInfo,
    ParamsRequest, PutHeader, PutRequest, RevokeS3KeyRequest, S3Key, StatRequest, get_response,
    methods, put_request,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::transport::{Channel, Endpoint};
use tessera_proto::tonic::{Code, Request, Status};
use tessera_rpc::{sign_metadata, signed};

use crate::Error;

/// The domain an object key is derived in from the client's secret key: a change of scheme is a
/// change of this string.
const KEY_DOMAIN: &[u8] = b"tessera/object-key/v1";

/// Reported progress: plaintext bytes done so far in this call.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// What the gateway says of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub id: ObjectId,
    pub size: u64,
    pub k: u16,
    pub n: u16,
    pub piece_size: u64,
    pub segments: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// Pieces on miners that pass their challenges, over all segments.
    pub healthy_pieces: u64,
    /// The fewest healthy pieces of any segment: below k the object cannot be read.
    pub weakest_segment: u32,
    digest: [u8; 32],
}

/// An access key for the validator's S3 face, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key: String,
    /// Only when the key was just made: the validator never shows it again.
    pub secret: Option<String>,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

impl From<S3Key> for AccessKey {
    fn from(k: S3Key) -> Self {
        Self {
            access_key: k.access_key,
            secret: (!k.secret_key.is_empty()).then_some(k.secret_key),
            created_ms: k.created_ms,
            revoked_ms: (k.revoked_ms != 0).then_some(k.revoked_ms),
        }
    }
}

/// A client of one validator's gateway, signing as one hotkey.
pub struct Client {
    addr: String,
    gateway: GatewayClient<Channel>,
    keypair: Arc<Keypair>,
    validator: AccountId,
    params: Params,
    /// The TTL the gateway gives objects that name none, and the most it allows.
    pub default_ttl_secs: u64,
    pub max_ttl_secs: u64,
    /// Miners that could take pieces when the client connected; a put needs `params().n`.
    pub ready_miners: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("validator", &self.validator)
            .field("hotkey", &self.keypair.account())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the gateway at `addr` (`host:port`) and learns its coding and hotkey.
    pub async fn connect(addr: &str, keypair: Keypair) -> Result<Self, Error> {
        let unreachable = |reason: String| Error::Unreachable {
            addr: addr.to_owned(),
            reason,
        };
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Error::Usage(format!("--validator {addr:?}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .initial_stream_window_size(tessera_rpc::STREAM_WINDOW)
            .initial_connection_window_size(tessera_rpc::CONNECTION_WINDOW)
            .max_frame_size(tessera_rpc::MAX_FRAME);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(source_chain(&e)))?;
        let mut gateway = GatewayClient::new(channel);
        let p = gateway
            .params(ParamsRequest {})
            .await
            .map_err(|s| {
                if s.code() == Code::Unimplemented {
                    unreachable("it serves no gateway (is this a validator?)".into())
                } else {
                    unreachable(s.message().to_owned())
                }
            })?
            .into_inner();
        let protocol = |reason: String| Error::Protocol {
            addr: addr.to_owned(),
            reason,
        };
        let validator: AccountId = p
            .hotkey
            .parse()
            .map_err(|e| protocol(format!("its hotkey {:?}: {e}", p.hotkey)))?;
        let k = u16::try_from(p.k).map_err(|_| protocol(format!("k = {}", p.k)))?;
        let n = u16::try_from(p.n).map_err(|_| protocol(format!("n = {}", p.n)))?;
        let params = Params::new(k, n, p.piece_size).map_err(|e| protocol(e.to_string()))?;
        let limit = usize::from(k) * p.piece_size as usize + (64 << 10);
        Ok(Self {
            addr: addr.to_owned(),
            gateway: gateway
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            keypair: Arc::new(keypair),
            validator,
            params,
            default_ttl_secs: p.default_ttl_secs,
            max_ttl_secs: p.max_ttl_secs,
            ready_miners: p.ready_miners,
        })
    }

    /// The hotkey the client signs as, which owns what it puts.
    pub fn hotkey(&self) -> AccountId {
        self.keypair.account()
    }

    /// The validator's hotkey, as its gateway reported it.
    pub fn validator(&self) -> AccountId {
        self.validator
    }

    pub fn params(&self) -> Params {
        self.params
    }

    fn key(&self, id: &ObjectId) -> ObjectKey {
        ObjectKey(self.keypair.derive_secret(KEY_DOMAIN, &id.0))
    }

    /// Stores the `size` bytes `source` yields, for `ttl_secs` (0: the gateway's default).
    /// Returns once every piece is stored and indexed.
    pub async fn put<R: Read + Send + 'static>(
        &mut self,
        source: R,
        size: u64,
        ttl_secs: u64,
        progress: Progress,
    ) -> Result<ObjectSummary, Error> {
        let id = ObjectId::random();
        let params = self.params;
        let segments = tessera_object::segment_count(&params, size);
        let first = PutRequest {
            part: Some(put_request::Part::Header(PutHeader {
                id: id.0.to_vec(),
                size,
                ttl_secs,
                k: u32::from(params.k),
                n: u32::from(params.n),
                piece_size: params.piece_size,
                segments,
            })),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<PutRequest>(2);
        let mut request = Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        sign_metadata(
            request.metadata_mut(),
            &first.encode_to_vec(),
            &self.keypair,
            &self.validator,
            methods::PUT,
        );
        let _ = tx.send(first).await;

        let key = self.key(&id);
        // Sealing runs beside the upload: at most two sealed segments wait in the channel, so
        // memory stays a few segments whatever the size.
        let producer = tokio::task::spawn_blocking(move || -> Result<(), Error> {
            let mut source = source;
            let mut stream = SegmentStream::new(params, id, &key, size);
            let mut buf = vec![0u8; params.segment_capacity()];
            let mut done = 0u64;
            while done < size {
                let len = (size - done).min(buf.len() as u64) as usize;
                source.read_exact(&mut buf[..len]).map_err(|e| Error::Io {
                    path: "<input>".into(),
                    source: std::io::Error::new(
                        e.kind(),
                        format!("read {done} of {size} bytes: {e}"),
                    ),
                })?;
                stream.push(&buf[..len])?;
                done += len as u64;
                if !send_ready(&mut stream, &tx)? {
                    // The gateway ended the call; its status says why.
                    return Ok(());
                }
                progress(done);
            }
            stream.end()?;
            if !send_ready(&mut stream, &tx)? {
                return Ok(());
            }
            let part = Some(put_request::Part::Digest(stream.digest()?.to_vec()));
            let _ = tx.blocking_send(PutRequest { part });
            Ok(())
        });
        let response = self.gateway.put(request).await;
        let produced = producer.await.map_err(|e| Error::Protocol {
            addr: self.addr.clone(),
            reason: format!("sealing task failed: {e}"),
        })?;
        // A local failure (an unreadable file) explains a broken put better than the status.
        produced?;
        let info = response
            .map_err(|s| self.status(s, Some(id)))?
            .into_inner()
            .object
            .ok_or_else(|| self.protocol("put answered without the object"))?;
        self.summary(info)
    }

    /// Streams object `id` into `sink`, checking every segment's authentication tag and then
    /// the whole object's digest; returns the sink once every byte is written and checked.
    pub async fn get<W: Write + Send + 'static>(
        &mut self,
        id: ObjectId,
        sink: W,
        progress: Progress,
    ) -> Result<(ObjectSummary, W), Error> {
        let (req, _) = signed(
            GetRequest { id: id.0.to_vec() },
            &self.keypair,
            &self.validator,
            methods::GET,
        );
        let mut stream = self
            .gateway
            .get(req)
            .await
            .map_err(|s| self.status(s, Some(id)))?
            .into_inner();
        let first = stream
            .message()
            .await
            .map_err(|s| self.status(s, Some(id)))?;
        let Some(get_response::Part::Object(info)) = first.and_then(|m| m.part) else {
            return Err(self.protocol("get did not begin with the object's description"));
        };
        let summary = self.summary(info)?;
        if summary.id != id {
            return Err(self.protocol("get described another object"));
        }
        // The object's own coding, which may predate the gateway's current one.
        let params = Params::new(summary.k, summary.n, summary.piece_size)?;
        let key = self.key(&id);
        let codec = Arc::new(Codec::new(params, id, &key));
        // Three stages run at once: the stream receives, blocking tasks decrypt a few segments
        // ahead, and one writer thread hashes and writes them in order.
        let (to_writer, mut plaintexts) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
        let mut digest = PlainDigest::new(&key, &id);
        let writer = tokio::task::spawn_blocking(move || {
            let mut sink = sink;
            let mut done = 0u64;
            while let Some(plain) = plaintexts.blocking_recv() {
                digest.update(&plain);
                sink.write_all(&plain).map_err(|e| Error::Io {
                    path: "<output>".into(),
                    source: e,
                })?;
                done += plain.len() as u64;
                progress(done);
            }
            Ok::<_, Error>((sink, digest, done))
        });
        let mut opening = std::collections::VecDeque::new();
        let mut failure = None;
        // Set when the writer stopped (an output error, which it returns itself).
        let mut writer_gone = false;
        for index in 0..summary.segments {
            let message = match stream.message().await {
                Ok(m) => m,
                Err(s) => {
                    failure = Some(self.status(s, Some(id)));
                    break;
                }
            };
            let Some(get_response::Part::Segment(ciphertext)) = message.and_then(|m| m.part) else {
                failure = Some(self.protocol(&format!("segment {index} is missing")));
                break;
            };
            let last = index + 1 == summary.segments;
            let codec = codec.clone();
            opening.push_back(tokio::task::spawn_blocking(move || {
                codec
                    .open(index, last, Vec::from(ciphertext))
                    .map_err(|e| Error::WrongKey {
                        id: id.to_string(),
                        reason: e.to_string(),
                    })
            }));
            while opening.len() > 2 || (index + 1 == summary.segments && !opening.is_empty()) {
                let Some(task) = opening.pop_front() else {
                    break;
                };
                match task.await {
                    Ok(Ok(plain)) => {
                        if to_writer.send(plain).await.is_err() {
                            writer_gone = true;
                            break;
                        }
                    }
                    Ok(Err(e)) => {
                        failure = Some(e);
                        break;
                    }
                    Err(e) => {
                        failure = Some(self.protocol(&format!("decrypting task failed: {e}")));
                        break;
                    }
                }
            }
            if failure.is_some() || writer_gone {
                break;
            }
        }
        drop(to_writer);
        for task in opening {
            task.abort();
        }
        let written = writer
            .await
            .map_err(|e| self.protocol(&format!("writing task failed: {e}")))?;
        if let Some(e) = failure {
            return Err(e);
        }
        let (sink, digest, done) = written?;
        if done != summary.size {
            return Err(self.protocol(&format!(
                "the object decrypted to {done} bytes, not {}",
                summary.size
            )));
        }
        if digest.finish() != summary.digest {
            return Err(Error::Digest { id: id.to_string() });
        }
        let mut sink = sink;
        sink.flush().map_err(|e| Error::Io {
            path: "<output>".into(),
            source: e,
        })?;
        Ok((summary, sink))
    }

    pub async fn stat(&mut self, id: ObjectId) -> Result<ObjectSummary, Error> {
        let (req, _) = signed(
            StatRequest { id: id.0.to_vec() },
            &self.keypair,
            &self.validator,
            methods::STAT,
        );
        let info = self
            .gateway
            .stat(req)
            .await
            .map_err(|s| self.status(s, Some(id)))?
            .into_inner();
        self.summary(info)
    }

    /// The client's live objects, oldest first.
    pub async fn list(&mut self) -> Result<Vec<ObjectSummary>, Error> {
        let (req, _) = signed(
            ListRequest {},
            &self.keypair,
            &self.validator,
            methods::LIST,
        );
        let list = self
            .gateway
            .list(req)
            .await
            .map_err(|s| self.status(s, None))?
            .into_inner();
        list.objects.into_iter().map(|o| self.summary(o)).collect()
    }

    pub async fn delete(&mut self, id: ObjectId) -> Result<(), Error> {
        let (req, _) = signed(
            DeleteRequest { id: id.0.to_vec() },
            &self.keypair,
            &self.validator,
            methods::DELETE,
        );
        self.gateway
            .delete(req)
            .await
            .map_err(|s| self.status(s, Some(id)))?;
        Ok(())
    }

    /// A new access key for the validator's S3 face, acting for this hotkey; its secret is in
    /// this answer only.
    pub async fn create_s3_key(&mut self) -> Result<AccessKey, Error> {
        let (req, _) = signed(
            CreateS3KeyRequest {},
            &self.keypair,
            &self.validator,
            methods::CREATE_S3_KEY,
        );
        Ok(self
            .gateway
            .create_s3_key(req)
            .await
            .map_err(|s| self.status(s, None))?
            .into_inner()
            .into())
    }

    /// This hotkey's S3 access keys, revoked ones too, without their secrets.
    pub async fn list_s3_keys(&mut self) -> Result<Vec<AccessKey>, Error> {
        let (req, _) = signed(
            ListS3KeysRequest {},
            &self.keypair,
            &self.validator,
            methods::LIST_S3_KEYS,
        );
        Ok(self
            .gateway
            .list_s3_keys(req)
            .await
            .map_err(|s| self.status(s, None))?
            .into_inner()
            .keys
            .into_iter()
            .map(AccessKey::from)
            .collect())
    }

    /// Revokes one of this hotkey's S3 access keys: requests signed with it are refused from now.
    pub async fn revoke_s3_key(&mut self, access_key: &str) -> Result<(), Error> {
        let (req, _) = signed(
            RevokeS3KeyRequest {
                access_key: access_key.to_owned(),
            },
            &self.keypair,
            &self.validator,
            methods::REVOKE_S3_KEY,
        );
        self.gateway
            .revoke_s3_key(req)
            .await
            .map_err(|s| self.status(s, None))?;
        Ok(())
    }

    fn summary(&self, o: ObjectInfo) -> Result<ObjectSummary, Error> {
        let id =
            ObjectId::from_slice(&o.id).ok_or_else(|| self.protocol("object id not 16 bytes"))?;
        let digest: [u8; 32] = o
            .digest
            .as_slice()
            .try_into()
            .map_err(|_| self.protocol("digest not 32 bytes"))?;
        let small = |v: u32, what: &str| {
            u16::try_from(v).map_err(|_| self.protocol(&format!("{what} = {v} is out of range")))
        };
        Ok(ObjectSummary {
            id,
            size: o.size,
            k: small(o.k, "k")?,
            n: small(o.n, "n")?,
            piece_size: o.piece_size,
            segments: o.segments,
            created_ms: o.created_ms,
            expires_ms: o.expires_ms,
            healthy_pieces: o.healthy_pieces,
            weakest_segment: o.weakest_segment,
            digest,
        })
    }

    fn protocol(&self, reason: &str) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            reason: reason.to_owned(),
        }
    }

    fn status(&self, s: Status, id: Option<ObjectId>) -> Error {
        match (s.code(), id) {
            (Code::NotFound, Some(id)) => Error::NotFound {
                id: id.to_string(),
                addr: self.addr.clone(),
                hotkey: self.keypair.account().to_ss58(),
            },
            (Code::Unavailable, _) if s.message().contains("connect") => Error::Unreachable {
                addr: self.addr.clone(),
                reason: s.message().to_owned(),
            },
            _ => Error::Refused {
                addr: self.addr.clone(),
                message: format!("{:?}: {}", s.code(), s.message()),
            },
        }
    }
}

/// An error with its causes, which for transport errors hold the useful part ("connection
/// refused").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Seals and sends every segment `stream` has ready; `false` once the gateway ended the call.
fn send_ready(
    stream: &mut SegmentStream,
    tx: &tokio::sync::mpsc::Sender<PutRequest>,
) -> Result<bool, Error> {
    while let Some(segment) = stream.next_segment() {
        let part = Some(put_request::Part::Segment(segment.seal()?.into()));
        if tx.blocking_send(PutRequest { part }).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}
