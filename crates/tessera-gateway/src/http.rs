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
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_object::{ObjectId, ObjectKey};
use tessera_proto::gateway::v1::ObjectInfo;
use tokio_stream::StreamExt;

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
        .route("/v1/buckets", get(buckets))
        .route("/v1/buckets/{owner}/{name}", get(bucket_entries))
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

/// Every owner's S3 buckets with what they hold: the operator's view.
async fn buckets(State(app): State<App>) -> Response {
    match app.0.state.bucket_usage(tessera_rpc::now_ms()).await {
        Ok(all) => json(serde_json::Value::Array(
            all.iter()
                .map(|u| {
                    serde_json::json!({
                        "owner": u.bucket.owner.to_ss58(),
                        "name": u.bucket.name,
                        "created_ms": u.bucket.created_ms,
                        "objects": u.entries,
                        "bytes": u.bytes,
                    })
                })
                .collect(),
        )),
        Err(e) => reply(&e.into()),
    }
}

/// The first 1000 live objects of an owner's bucket, by key.
async fn bucket_entries(
    State(app): State<App>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let listed = async {
        let owner = tessera_core::AccountId::from_ss58(&owner)
            .map_err(|e| Error::BadRequest(format!("owner {owner:?}: {e}")))?;
        let now = tessera_rpc::now_ms();
        let entries = app
            .0
            .state
            .list_entries(&owner, &name, "", None, 1000)
            .await?;
        Ok::<_, Error>(
            entries
                .into_iter()
                .filter(|e| e.expires_ms > now)
                .map(|e| {
                    serde_json::json!({
                        "key": e.key,
                        "size": e.size,
                        "etag": e.etag,
                        "modified_ms": e.modified_ms,
                        "expires_ms": e.expires_ms,
                    })
                })
                .collect(),
        )
    }
    .await;
    match listed {
        Ok(entries) => json(serde_json::Value::Array(entries)),
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
    let key = app.key(&id);
    let body = request
        .into_body()
        .into_data_stream()
        .map(|frame| frame.map_err(|e| Error::Incomplete(format!("upload broke: {e}"))));
    match app
        .0
        .put_plain(
            app.owner(),
            id,
            &key,
            (size, 0),
            ttl_secs,
            body,
            Default::default(),
        )
        .await
    {
        Ok(put) => (StatusCode::CREATED, json(object_json(&put.info))).into_response(),
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
        let key = app.key(&id);
        app.0.read_plain(id, &app.owner(), &key, 0..u64::MAX).await
    }
    .await;
    match opened {
        Ok((info, body)) => {
            let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(body));
            (StatusCode::OK, object_headers(&info), body).into_response()
        }
        Err(e) => reply(&e),
    }
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
