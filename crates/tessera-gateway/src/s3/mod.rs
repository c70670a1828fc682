//! The S3 face (`--s3.addr`): any S3 client, pointed at the gateway with an access key from
//! `tessera s3-keys create`, stores and reads objects on the subnet.
//!
//! s3s does the protocol: it routes requests, checks SigV4 (headers, presigned URLs, signed
//! chunks, the 15-minute clock window) against the secret [`Auth`] gives it, and writes S3's
//! XML. What is ours is the mapping: an access key's owner hotkey owns its buckets (names are
//! per owner), an S3 object is an entry holding Tessera objects (one per PutObject, one per
//! multipart part), sealed here with keys derived from the validator's hotkey and the owner.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use axum::http;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{ETag, Timestamp};
use s3s::host::{S3Host, VirtualHost};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result, s3_error};
use tessera_core::AccountId;
use tessera_object::{ObjectId, ObjectKey};
use tessera_storage::Bucket;

use crate::error::s3_error;
use tessera_rpc::now_ms;

use crate::{Error, Gateway, S3Config};

mod api;
mod buckets;
mod checksum;
mod list;
mod multipart;
mod objects;
mod sweep;
mod tail;
mod tls;

pub use sweep::{S3Sweep, UPLOAD_MAX_AGE, sweep};

/// The domain S3 objects' keys are derived in from the validator's secret key.
const KEY_DOMAIN: &[u8] = b"tessera/s3-object-key/v1";

/// The largest object one PutObject (or one part) may carry, as S3's: 5 GiB.
pub const MAX_PUT_BYTES: u64 = 5 << 30;

/// The least size of every part of a multipart upload but the last, as S3's: 5 MiB.
pub const MIN_PART_BYTES: u64 = 5 << 20;

/// The header that sets an object's TTL in seconds on PutObject, CopyObject and
/// CreateMultipartUpload, and a bucket's default TTL on CreateBucket. The same may be given as
/// user metadata (`x-amz-meta-tessera-ttl`), which every S3 tool can send.
pub const TTL_HEADER: &str = "x-tessera-ttl";

/// The user-metadata name of the TTL, for tools that send no headers of their own.
const TTL_META: &str = "tessera-ttl";

/// The S3 face: a handle to the gateway and the face's settings.
#[derive(Clone)]
pub(crate) struct Face {
    gw: Gateway,
    region: String,
}

/// Binds the S3 face's address, `host:port`.
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// The TLS acceptor `config` names (`tls_cert` and `tls_key` together), or none for plain
/// HTTP; a missing, unreadable or mismatched file is an error naming it.
pub fn tls(config: &S3Config) -> std::io::Result<Option<tokio_rustls::TlsAcceptor>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls::acceptor(cert, key).map(Some),
        (None, None) => Ok(None),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "s3.tls_cert and s3.tls_key go together: give both or neither",
        )),
    }
}

/// Serves the S3 face on `listener`, over TLS when given an acceptor, until `shutdown`
/// resolves, then lets the requests under way finish (for at most 30 seconds) before it
/// returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    config: &S3Config,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let face = Face {
        gw: gateway.clone(),
        region: config.region.clone(),
    };
    let mut builder = s3s::service::S3ServiceBuilder::new(face);
    builder.set_auth(Auth(gateway));
    builder.set_host(Host {
        domain: config.domain.to_ascii_lowercase(),
    });
    let service = builder.build();
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = tokio_util::task::TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "s3 accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let _ = socket.set_nodelay(true);
        let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
        let tls = tls.clone();
        connections.spawn(async move {
            let ended = match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(socket), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(tls) => {
                    // A peer that never finishes its handshake holds nothing for long.
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(socket)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "s3 tls handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "s3 tls handshake timed out");
                                return;
                            }
                        };
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "s3 connection ended");
            }
        });
    }
    drop(listener);
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    connections.wait().await;
    Ok(())
}

/// How long a TLS client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Gives s3s the secret of an access key that is not revoked, to check signatures with.
struct Auth(Gateway);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.s3_secret(access_key).await {
            Ok(Some((_, secret))) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "no access key {access_key} (or it is revoked)"
            )),
            Err(e) => Err(s3_error(&e)),
        }
    }
}

/// Virtual-host-style requests name the bucket in the host, `<bucket>.<domain>`; any other
/// host (an IP address, the domain itself, a name the operator proxies) is path-style.
struct Host {
    domain: String,
}

impl S3Host for Host {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let virtual_bucket = name
            .strip_suffix(self.domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty());
        Ok(match virtual_bucket {
            Some(bucket) => VirtualHost::new(self.domain.as_str()).with_bucket(bucket),
            None => VirtualHost::new(name),
        })
    }
}

impl Face {
    /// The owner of the request's access key. s3s has checked the signature by now; a request
    /// without credentials never gets this far (s3s denies anonymous requests when auth is on).
    async fn owner<T>(&self, req: &S3Request<T>) -> S3Result<AccountId> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "requests must be signed"));
        };
        match self.gw.state.s3_key(&credentials.access_key).await {
            Ok(Some(key)) if key.revoked_ms.is_none() => Ok(key.owner),
            Ok(_) => Err(s3_error!(InvalidAccessKeyId, "the access key is revoked")),
            Err(e) => Err(s3_error(&e.into())),
        }
    }

    /// The caller's bucket `name`. Names are per owner; a name the caller has no bucket by but
    /// another owner has is `AccessDenied`, as S3 answers for another account's bucket.
    async fn bucket(&self, owner: &AccountId, name: &str) -> S3Result<Bucket> {
        if let Some(b) = self.gw.state.bucket(owner, name).await.map_err(storage)? {
            return Ok(b);
        }
        if self.gw.state.bucket_named(name).await.map_err(storage)? {
            return Err(s3_error!(
                AccessDenied,
                "bucket {name} belongs to another owner; this access key's owner has none by that name"
            ));
        }
        Err(s3_error!(NoSuchBucket, "no bucket {name}"))
    }

    /// The key of `owner`'s Tessera object `id`.
    fn object_key(&self, owner: &AccountId, id: &ObjectId) -> ObjectKey {
        let mut context = [0u8; 48];
        context[..32].copy_from_slice(owner.as_bytes());
        context[32..].copy_from_slice(&id.0);
        ObjectKey(self.gw.keypair.derive_secret(KEY_DOMAIN, &context))
    }

    /// The TTL a request asks for ([`TTL_HEADER`], or the `tessera-ttl` user metadata), if any.
    fn asked_ttl(
        &self,
        headers: &http::HeaderMap,
        metadata: Option<&s3s::dto::Metadata>,
    ) -> S3Result<Option<u64>> {
        let given = headers
            .get(TTL_HEADER)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .or_else(|| metadata.and_then(|m| m.get(TTL_META).cloned()));
        let Some(given) = given else {
            return Ok(None);
        };
        let ttl: u64 = given.trim().parse().map_err(|_| {
            s3_error!(
                InvalidArgument,
                "{TTL_HEADER} {given:?} is not a whole number of seconds"
            )
        })?;
        let max = self.gw.data.max_ttl_secs;
        if ttl == 0 || ttl > max {
            return Err(s3_error!(
                InvalidArgument,
                "{TTL_HEADER} {ttl} is outside 1 to this gateway's maximum of {max} seconds"
            ));
        }
        Ok(Some(ttl))
    }

    /// The TTL of a new object in `bucket`: the one asked for, else the bucket's default, else
    /// the gateway's.
    fn ttl(
        &self,
        headers: &http::HeaderMap,
        metadata: Option<&s3s::dto::Metadata>,
        bucket: &Bucket,
    ) -> S3Result<u64> {
        Ok(match self.asked_ttl(headers, metadata)? {
            Some(t) => t,
            None if bucket.default_ttl_secs > 0 => bucket.default_ttl_secs,
            None => self.gw.data.default_ttl_secs,
        })
    }
}

/// A storage failure as the client sees it: an internal error with an incident id.
fn storage(e: tessera_storage::Error) -> S3Error {
    s3_error(&Error::from(e))
}

/// Milliseconds since the epoch as S3's timestamp.
fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// S3's timestamp as whole seconds since the epoch (HTTP dates have no finer grain).
fn seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// An error for an S3 code with its own message.
fn error(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
    S3Error::with_message(code, message.into())
}
