//! The HTTP gateway and web page (`--data.http`): `PUT`, `POST`, `GET`, `HEAD` and `DELETE` on
//! `/v1/objects`, and one page at `/` that uses them; the node serving it adds its own routes
//! (the validator's scoreboard at `/v1/miners`).
//!
//! Unlike the `tessera` CLI, a plain HTTP client sends plaintext: the gateway encrypts each
//! segment itself, with a key derived from the validator's hotkey and the object id, before any
//! miner sees it. Objects put over HTTP belong to the validator's own hotkey, and HTTP has no
//! per-user authentication: it is meant for localhost or behind an authenticating proxy.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_object::{Codec, ObjectId, ObjectKey, PlainDigest, SegmentStream};
use tessera_proto::gateway::v1::{ObjectInfo, PutHeader, put_request};

use crate::error::http_status;
use crate::{Error, Gateway};

/// The domain HTTP objects' keys are derived in from the validator's secret key.
const KEY_DOMAIN: &[u8] = b"tessera/http-object-key/v1";

/// The page, served as is: plain HTML and script, no build step.
const INDEX: &str = include_str!("../assets/index.html");

#[derive(Clone)]
struct App(Gateway);

/// Serves the HTTP gateway on `listener`, with the node's own `routes` beside it, until
/// `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    routes: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(index))
        .route("/v1/objects", get(list).post(post_object))
        .route(
            "/v1/objects/{id}",
            get(get_object)
                .head(head_object)
                .put(put_object)
                .delete(delete_object),
        )
        .with_state(App(gateway))
        .merge(routes);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the HTTP gateway's address, `host:port`.
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

/// An error as the HTTP client gets it, by the one mapping in `error`.
fn reply(e: &Error) -> Response {
    let (code, message, id) = http_status(e);
    match id {
        Some(id) => (
            code,
            [(HeaderName::from_static("x-request-id"), id)],
            format!("{message}\n"),
        )
            .into_response(),
        None => (code, format!("{message}\n")).into_response(),
    }
}

fn json(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn object_json(o: &ObjectInfo) -> serde_json::Value {
    serde_json::json!({
        "id": hex::encode(&o.id),
        "size": o.size,
        "k": o.k,
        "n": o.n,
        "segments": o.segments,
        "created_ms": o.created_ms,
        "expires_ms": o.expires_ms,
        "healthy_pieces": o.healthy_pieces,
        "weakest_segment": o.weakest_segment,
    })
}

impl App {
    fn owner(&self) -> tessera_core::AccountId {
        self.0.keypair.account()
    }

    fn key(&self, id: &ObjectId) -> ObjectKey {
        ObjectKey(self.0.keypair.derive_secret(KEY_DOMAIN, &id.0))
    }
}

fn parse_id(id: &str) -> Result<ObjectId, Error> {
    id.parse()
        .map_err(|e: tessera_object::Error| Error::BadRequest(e.to_string()))
}

async fn list(State(app): State<App>) -> Response {
    match app.0.list_objects(&app.owner()).await {
        Ok(objects) => json(serde_json::Value::Array(
            objects.iter().map(object_json).collect(),
        )),
        Err(e) => reply(&e),
    }
}

async fn post_object(State(app): State<App>, request: Request) -> Response {
    put(app, ObjectId::random(), request).await
}

async fn put_object(State(app): State<App>, Path(id): Path<String>, request: Request) -> Response {
    match parse_id(&id) {
        Ok(id) => put(app, id, request).await,
        Err(e) => reply(&e),
    }
}

/// `?ttl=<seconds>` of a request, 0 when absent.
fn ttl(request: &Request) -> Result<u64, Error> {
    let Some(query) = request.uri().query() else {
        return Ok(0);
    };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("ttl=") {
            return v
                .parse()
                .map_err(|_| Error::BadRequest(format!("ttl {v:?} is not a number of seconds")));
        }
    }
    Ok(0)
}

async fn put(app: App, id: ObjectId, request: Request) -> Response {
    let size = match request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(s) => s,
        None => {
            return (
                StatusCode::LENGTH_REQUIRED,
                "a put needs a Content-Length: segments are sealed as the body streams by\n",
            )
                .into_response();
        }
    };
    let ttl_secs = match ttl(&request) {
        Ok(t) => t,
        Err(e) => return reply(&e),
    };
    let p = app.0.params;
    let segments = tessera_object::segment_count(&p, size);
    let header = PutHeader {
        id: id.0.to_vec(),
        size,
        ttl_secs,
        k: u32::from(p.k),
        n: u32::from(p.n),
        piece_size: p.piece_size,
        segments,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let key = app.key(&id);
    let mut body = request.into_body().into_data_stream();
    // Seals the body segment by segment as it arrives: memory stays a few segments.
    let sealer = app.0.spawn(async move {
        let mut stream = SegmentStream::new(p, id, &key, size);
        use tokio_stream::StreamExt;
        loop {
            let pushed = match body.next().await {
                Some(Ok(frame)) => stream.push(&frame).map_err(|_| {
                    Error::BadRequest(format!(
                        "the body is longer than its Content-Length of {size}"
                    ))
                }),
                Some(Err(e)) => Err(Error::BadRequest(format!("upload broke: {e}"))),
                None => match stream.end() {
                    Ok(()) => break,
                    Err(_) => Err(Error::BadRequest(format!(
                        "the body ended after {} of {size} bytes",
                        stream.received()
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
        if !send_ready(&mut stream, &tx).await {
            return;
        }
        let digest = stream
            .digest()
            .map(|d| put_request::Part::Digest(d.to_vec()))
            .map_err(Error::from);
        let _ = tx.send(digest).await;
    });
    let result = app.0.put_object(app.owner(), header, rx).await;
    sealer.abort();
    match result {
        Ok(info) => (StatusCode::CREATED, json(object_json(&info))).into_response(),
        Err(e) => reply(&e),
    }
}

fn object_headers(info: &ObjectInfo) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("content-length", info.size.to_string());
    put("content-type", "application/octet-stream".into());
    put("x-tessera-expires-ms", info.expires_ms.to_string());
    put(
        "x-tessera-health",
        format!("{}/{}", info.weakest_segment, info.n),
    );
    h
}

async fn head_object(State(app): State<App>, Path(id): Path<String>) -> Response {
    let found = async {
        let id = parse_id(&id)?;
        app.0.stat_object(&id.0, &app.owner()).await
    }
    .await;
    match found {
        Ok(info) => (StatusCode::OK, object_headers(&info)).into_response(),
        Err(e) => reply(&e),
    }
}

async fn get_object(State(app): State<App>, Path(id): Path<String>) -> Response {
    let opened = async {
        let id = parse_id(&id)?;
        let (info, segments) = app.0.open_object(&id.0, &app.owner()).await?;
        Ok::<_, Error>((id, info, segments))
    }
    .await;
    let (id, info, mut segments) = match opened {
        Ok(o) => o,
        Err(e) => return reply(&e),
    };
    let headers = object_headers(&info);
    let key = app.key(&id);
    let total = info.segments;
    let (Ok(k), Ok(n)) = (u16::try_from(info.k), u16::try_from(info.n)) else {
        return reply(&Error::Internal("object coding out of range".into()));
    };
    let params = match tessera_object::Params::new(k, n, info.piece_size) {
        Ok(p) => p,
        Err(e) => return reply(&e.into()),
    };
    let expected: Option<[u8; 32]> = info.digest.as_slice().try_into().ok();
    // The first segment is fetched before the status goes out: an object that cannot be read
    // (too few pieces reachable) gets its 503 with the reason, not a 200 and a cut-off body. A
    // failure further on can only abort the body, which a client sees against content-length.
    let mut first = match segments.recv().await {
        Some(Err(e)) => return reply(&e),
        other => other,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    app.0.spawn(async move {
        let codec = std::sync::Arc::new(Codec::new(params, id, &key));
        let mut digest = Some(PlainDigest::new(&key, &id));
        let broken = |m: String| std::io::Error::other(m);
        let mut index = 0u64;
        loop {
            let segment = match first.take() {
                Some(s) => s,
                None => match segments.recv().await {
                    Some(s) => s,
                    None => break,
                },
            };
            let opened = match segment {
                Ok(ciphertext) => {
                    let codec = codec.clone();
                    let last = index + 1 == total;
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
            index += 1;
            let failed = opened.is_err();
            // The last segment is held back until the digest checks, so that a client never
            // receives a complete-looking body that is wrong.
            let opened = match opened {
                Ok(plain) if index == total => {
                    let ok = digest.take().map(PlainDigest::finish) == expected;
                    if ok {
                        Ok(Bytes::from(plain))
                    } else {
                        Err(broken(format!("object {id}: digest mismatch")))
                    }
                }
                other => other.map(Bytes::from),
            };
            if tx.send(opened).await.is_err() || failed {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (StatusCode::OK, headers, body).into_response()
}

async fn delete_object(State(app): State<App>, Path(id): Path<String>) -> Response {
    let deleted = async {
        let id = parse_id(&id)?;
        app.0.delete_object(&id.0, &app.owner()).await
    }
    .await;
    match deleted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => reply(&e),
    }
}

/// Seals every segment `stream` has ready, on a blocking thread each (it is CPU work), and
/// sends them in order; `false` once the put ended or a seal failed.
async fn send_ready(
    stream: &mut SegmentStream,
    tx: &tokio::sync::mpsc::Sender<Result<put_request::Part, Error>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_reach_clients_as_a_request_id_only() {
        let e = Error::Internal("/var/lib/tessera/db/validator.sqlite: disk I/O error".into());
        let r = reply(&e);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 16);
        let body = body_text(r);
        assert!(!body.contains("/var/lib"), "{body}");
        assert!(body.contains(&id), "{body}");
        // Client errors still say what is wrong.
        let r = reply(&Error::NotFound("object 00".into()));
        assert!(body_text(r).contains("object 00"));
    }

    fn body_text(r: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
