//! S3 objects (entries): put, read whole or by range, described, deleted, copied.

use std::collections::HashMap;
use std::ops::Range as Span;

use axum::body::Bytes;
use axum::http;
use base64::Engine;
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tessera_core::AccountId;
use tessera_object::ObjectId;
use tessera_storage::{EntryPart, S3Entry, S3Headers};
use tokio_stream::StreamExt;

use super::{
    Face, MAX_PUT_BYTES, checksum, error, etag, now_ms, seconds, storage, tail, timestamp,
};
use crate::Error;
use crate::error::s3_error;
use crate::plain::{BodyCheck, BodyChecks};

/// Keys one DeleteObjects may name, as S3's.
const MAX_DELETE_KEYS: usize = 1000;

impl Face {
    pub(super) async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let ttl = self.ttl(&req.headers, input.metadata.as_ref(), &bucket)?;
        let (size, checks) = upload_body(
            &req.headers,
            req.trailing_headers,
            input.content_length,
            input.content_md5.as_deref(),
        )?;
        if input.if_none_match.is_some() || input.if_match.is_some() {
            let current = self.live_entry(&owner, &bucket.name, &input.key).await;
            check_write_conditions(
                current.as_ref().ok(),
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        let headers = S3Headers {
            content_type: input.content_type,
            content_disposition: input.content_disposition,
            cache_control: input.cache_control,
            user_meta: user_meta(input.metadata.as_ref())?,
        };
        let stored = self
            .store_body(&owner, size, ttl, input.body, checks)
            .await?;
        let entry = S3Entry {
            owner,
            bucket: bucket.name,
            key: input.key,
            size,
            etag: hex::encode(stored.md5),
            modified_ms: now_ms(),
            expires_ms: stored.expires_ms,
            headers,
            parts: stored.part.into_iter().collect(),
        };
        self.commit_entry(&entry).await?;
        tracing::info!(%owner, bucket = %entry.bucket, key = %entry.key, size, "s3 object put");
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&entry.etag)),
            size: Some(size as i64),
            ..Default::default()
        }))
    }

    pub(super) async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let entry = self.live_entry(&owner, &bucket.name, &input.key).await?;
        check_read_conditions(
            &entry,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let span = match &input.range {
            Some(range) => range.check(entry.size).map_err(|_| {
                s3_error!(
                    InvalidRange,
                    "range {} is outside the object's {} bytes",
                    range.to_header_string(),
                    entry.size
                )
            })?,
            None => 0..entry.size,
        };
        let body = self.open_entry(&owner, &entry, span.clone()).await?;
        let described = describe(&entry)?;
        let ranged = input.range.is_some();
        let output = GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some((span.end - span.start) as i64),
            content_range: ranged.then(|| {
                format!(
                    "bytes {}-{}/{}",
                    span.start,
                    span.end.saturating_sub(1),
                    entry.size
                )
            }),
            content_type: input.response_content_type.or(described.content_type),
            content_disposition: input
                .response_content_disposition
                .or(described.content_disposition),
            cache_control: input.response_cache_control.or(described.cache_control),
            e_tag: described.e_tag,
            last_modified: described.last_modified,
            metadata: described.metadata,
            expiration: described.expiration,
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if ranged {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    pub(super) async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let entry = self.live_entry(&owner, &bucket.name, &input.key).await?;
        check_read_conditions(
            &entry,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        Ok(S3Response::new(describe(&entry)?))
    }

    pub(super) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let owner = self.owner(&req).await?;
        let bucket = self.bucket(&owner, &req.input.bucket).await?;
        // S3 answers a delete of a key that is not there as done, too.
        self.gw
            .state
            .delete_entry(&owner, &bucket.name, &req.input.key, now_ms())
            .await
            .map_err(storage)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let owner = self.owner(&req).await?;
        let bucket = self.bucket(&owner, &req.input.bucket).await?;
        let delete = req.input.delete;
        if delete.objects.len() > MAX_DELETE_KEYS {
            return Err(s3_error!(
                MalformedXML,
                "a DeleteObjects names at most {MAX_DELETE_KEYS} keys"
            ));
        }
        let quiet = delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in delete.objects {
            match self
                .gw
                .state
                .delete_entry(&owner, &bucket.name, &object.key, now_ms())
                .await
            {
                Ok(_) if quiet => {}
                Ok(_) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(e) => {
                    let e = storage(e);
                    errors.push(s3s::dto::Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(object.key),
                        message: e.message().map(str::to_owned),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            version_id: None,
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "only copies from a bucket and key of the same owner, without versions"
            ));
        };
        let target = self.bucket(&owner, &input.bucket).await?;
        let source_bucket = self.bucket(&owner, source_bucket).await?;
        let source = self
            .live_entry(&owner, &source_bucket.name, source_key)
            .await?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let replace = matches!(
            input
                .metadata_directive
                .as_ref()
                .map(MetadataDirective::as_str),
            Some(MetadataDirective::REPLACE)
        );
        let in_place = source_bucket.name == target.name && **source_key == *input.key;
        if in_place && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "copying an object onto itself changes nothing: send x-amz-metadata-directive: REPLACE to change its metadata"
            ));
        }
        if self
            .asked_ttl(&req.headers, input.metadata.as_ref())?
            .is_some()
        {
            return Err(s3_error!(
                InvalidArgument,
                "a copy holds the source's stored bytes and keeps their expiry; {} cannot change it",
                super::TTL_HEADER
            ));
        }
        let headers = if replace {
            S3Headers {
                content_type: input.content_type,
                content_disposition: input.content_disposition,
                cache_control: input.cache_control,
                user_meta: user_meta(input.metadata.as_ref())?,
            }
        } else {
            source.headers.clone()
        };
        // The copy holds the same Tessera objects: no byte moves, and the objects live on
        // while either entry holds them.
        let entry = S3Entry {
            owner,
            bucket: target.name,
            key: input.key,
            size: source.size,
            etag: source.etag.clone(),
            modified_ms: now_ms(),
            expires_ms: source.expires_ms,
            headers,
            parts: source.parts.clone(),
        };
        self.gw
            .state
            .put_entry(&entry, now_ms())
            .await
            .map_err(storage)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&entry.etag)),
                last_modified: Some(timestamp(entry.modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    /// The live entry at `key` of `owner`'s bucket: one that has not expired.
    pub(super) async fn live_entry(
        &self,
        owner: &AccountId,
        bucket: &str,
        key: &str,
    ) -> S3Result<S3Entry> {
        match self
            .gw
            .state
            .entry(owner, bucket, key)
            .await
            .map_err(storage)?
        {
            Some(e) if e.expires_ms > now_ms() => Ok(e),
            _ => Err(s3_error!(NoSuchKey, "no key {key:?} in bucket {bucket}")),
        }
    }

    /// Stores a body of `size` bytes as one new Tessera object of `owner` (none for an empty
    /// body) and, when that saves a segment, a sealed tail ([`super::tail`]), checking it
    /// against `checks`.
    pub(super) async fn store_body(
        &self,
        owner: &AccountId,
        size: u64,
        ttl_secs: u64,
        body: Option<StreamingBlob>,
        checks: BodyChecks,
    ) -> S3Result<Stored> {
        if size > MAX_PUT_BYTES {
            return Err(s3_error!(
                EntityTooLarge,
                "{size} bytes is more than one request may carry ({MAX_PUT_BYTES}); upload it in parts"
            ));
        }
        let body = body_stream(body);
        if size == 0 {
            // Nothing to store, but the body is read to its end: it must be empty indeed.
            let mut body = body;
            let mut hash = Md5::new();
            while let Some(frame) = body.next().await {
                let frame = frame.map_err(|e| s3_error(&e))?;
                if !frame.is_empty() {
                    return Err(s3_error(&Error::Incomplete(
                        "the body is longer than its Content-Length of 0".into(),
                    )));
                }
                hash.update(&frame);
            }
            let got: [u8; 16] = hash.finalize().into();
            if checks.md5.is_some_and(|m| m != got) {
                return Err(s3_error(&Error::BadDigest(
                    "the empty body's MD5 is not the one its Content-MD5 says".into(),
                )));
            }
            if let Some(Err(e)) = checks.other.map(BodyCheck::finish) {
                return Err(s3_error(&e));
            }
            return Ok(Stored {
                part: None,
                md5: got,
                expires_ms: now_ms().saturating_add(ttl_secs.saturating_mul(1000)),
            });
        }
        let id = ObjectId::random();
        let key = self.object_key(owner, &id);
        let hold_back = tail::held_back(&self.gw.params, size);
        let put = self
            .gw
            .put_plain(*owner, id, &key, (size, hold_back), ttl_secs, body, checks)
            .await
            .map_err(|e| s3_error(&e))?;
        let tail = match tail::seal(&self.gw.keypair, owner, &id, &put.tail) {
            Ok(tail) => tail,
            Err(e) => {
                let _ = self.gw.state.expire_object(&id.0, owner, now_ms()).await;
                return Err(s3_error(&e));
            }
        };
        Ok(Stored {
            part: Some(EntryPart {
                object: id.0,
                size,
                tail,
            }),
            md5: put.md5,
            expires_ms: put.info.expires_ms,
        })
    }

    /// Puts `entry`; if that fails (its bucket deleted meanwhile, say), its new objects end
    /// their lives at once rather than wait for a sweep that would never find them.
    async fn commit_entry(&self, entry: &S3Entry) -> S3Result<()> {
        if let Err(e) = self.gw.state.put_entry(entry, now_ms()).await {
            for part in &entry.parts {
                let _ = self
                    .gw
                    .state
                    .expire_object(&part.object, &entry.owner, now_ms())
                    .await;
            }
            if self
                .gw
                .state
                .bucket(&entry.owner, &entry.bucket)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                return Err(s3_error!(NoSuchBucket, "bucket {} is gone", entry.bucket));
            }
            return Err(storage(e));
        }
        Ok(())
    }

    /// The bytes in `span` of `entry`, read from its objects in order. The first object is
    /// opened before this answers, so that an entry that cannot be read gets an error status;
    /// the rest are opened as the body reaches them.
    async fn open_entry(
        &self,
        owner: &AccountId,
        entry: &S3Entry,
        span: Span<u64>,
    ) -> S3Result<StreamingBlob> {
        // The runs to send: spans of objects, and bytes of tails (opened here, being small).
        let mut runs = Vec::new();
        let mut at = 0u64;
        for part in &entry.parts {
            let id = ObjectId(part.object);
            let in_object = part.size - tail::plain_len(part.tail.len()).min(part.size);
            let (object, held) = (at..at + in_object, at + in_object..at + part.size);
            at += part.size;
            let from = span.start.max(object.start);
            let to = span.end.min(object.end);
            if from < to {
                runs.push(Run::Object(id, from - object.start..to - object.start));
            }
            let from = span.start.max(held.start);
            let to = span.end.min(held.end);
            if from < to {
                let bytes = tail::open(&self.gw.keypair, owner, &id, &part.tail)
                    .map_err(|e| s3_error(&e))?;
                let run = (from - held.start) as usize..(to - held.start) as usize;
                runs.push(Run::Held(Bytes::copy_from_slice(&bytes[run])));
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        let mut runs = runs.into_iter();
        if let Some(run) = runs.next() {
            let first = match run {
                Run::Object(id, span) => {
                    let key = self.object_key(owner, &id);
                    let (_, body) = self
                        .gw
                        .read_plain(id, owner, &key, span)
                        .await
                        .map_err(|e| missing_part(&e))?;
                    Some(body)
                }
                Run::Held(bytes) => {
                    let _ = tx.try_send(Ok(bytes));
                    None
                }
            };
            let face = self.clone();
            let owner = *owner;
            self.gw.spawn(async move {
                if let Some(first) = first
                    && !forward(first, &tx).await
                {
                    return;
                }
                for run in runs {
                    let (id, span) = match run {
                        Run::Held(bytes) => {
                            if tx.send(Ok(bytes)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        Run::Object(id, span) => (id, span),
                    };
                    let key = face.object_key(&owner, &id);
                    match face.gw.read_plain(id, &owner, &key, span).await {
                        Ok((_, body)) => {
                            if !forward(body, &tx).await {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                            return;
                        }
                    }
                }
            });
        }
        Ok(StreamingBlob::wrap(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }
}

/// A run of an entry's bytes to send: a span of an object, or bytes held in a part's tail.
enum Run {
    Object(ObjectId, Span<u64>),
    Held(Bytes),
}

/// What [`Face::store_body`] stored.
pub(super) struct Stored {
    pub part: Option<EntryPart>,
    pub md5: [u8; 16],
    pub expires_ms: u64,
}

/// Sends every chunk of `body` on; false once the reader is gone or the read broke.
async fn forward(
    mut body: crate::plain::PlainBody,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> bool {
    while let Some(chunk) = body.recv().await {
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// An object of an entry that cannot be read: gone (which only a bug or an operator's hand
/// could do while the entry lives) or too few pieces reachable now.
fn missing_part(e: &Error) -> S3Error {
    match e {
        Error::NotFound(m) => {
            tracing::error!(error = %m, "an s3 entry's object is gone");
            s3_error(&Error::Internal(m.clone()))
        }
        e => s3_error(e),
    }
}

/// A request body as the gateway reads it. A chunk whose signature does not check is told apart
/// from a body that broke off by s3s's message, the only thing its (private) error type shows.
fn body_stream(
    body: Option<StreamingBlob>,
) -> std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Bytes, Error>> + Send>> {
    match body {
        None => Box::pin(tokio_stream::empty()),
        Some(blob) => Box::pin(blob.map(|frame| {
            frame.map_err(|e| {
                let text = e.to_string();
                if text.contains("SignatureMismatch") {
                    Error::BadSignature(
                        "a chunk's signature does not match the request's signing key".into(),
                    )
                } else {
                    Error::Incomplete(format!("the body broke off: {text}"))
                }
            })
        })),
    }
}

/// An upload's declared size and what its body must hash to (Content-MD5, and an
/// `x-amz-checksum-*` from a header or, for an aws-chunked body, its trailers).
pub(super) fn upload_body(
    headers: &http::HeaderMap,
    trailers: Option<s3s::TrailingHeaders>,
    content_length: Option<i64>,
    content_md5: Option<&str>,
) -> S3Result<(u64, BodyChecks)> {
    let size = body_size(content_length, headers)?;
    let trailers = checksum::trailers(trailers);
    let checks = BodyChecks {
        md5: self::content_md5(content_md5)?,
        other: checksum::requested(headers, trailers.as_ref())?,
    };
    Ok((size, checks))
}

/// A body's declared size: S3 needs it before the first byte (objects are cut into segments
/// as they stream in). An aws-chunked body sent with HTTP chunked transfer encoding, as
/// aws-cli sends over TLS, has no Content-Length for s3s to fill in: its size is in
/// `x-amz-decoded-content-length` (which s3s has checked is a number, and holds the body to).
fn body_size(content_length: Option<i64>, headers: &http::HeaderMap) -> S3Result<u64> {
    let decoded = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (content_length, decoded) {
        (Some(n), _) if n >= 0 => Ok(n as u64),
        (None, Some(n)) => Ok(n),
        _ => Err(s3_error!(
            MissingContentLength,
            "an upload needs its Content-Length (or x-amz-decoded-content-length)"
        )),
    }
}

/// A `Content-MD5` header: the base64 of 16 bytes.
fn content_md5(header: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(header) = header else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .map(Some)
        .ok_or_else(|| {
            s3_error!(
                InvalidDigest,
                "Content-MD5 {header:?} is not the base64 of 16 bytes"
            )
        })
}

/// `x-amz-meta-*` pairs as the JSON object the state file keeps.
pub(super) fn user_meta(metadata: Option<&Metadata>) -> S3Result<String> {
    let pairs: std::collections::BTreeMap<&String, &String> =
        metadata.into_iter().flatten().collect();
    let json = serde_json::to_string(&pairs)
        .map_err(|e| s3_error(&Error::Internal(format!("metadata to JSON: {e}"))))?;
    // S3's own limit on user metadata, checked on the encoded form.
    if json.len() > 2048 + 2 {
        return Err(s3_error!(
            MetadataTooLarge,
            "user metadata is limited to 2 KB"
        ));
    }
    Ok(json)
}

/// What HeadObject (and GetObject's headers) says of `entry`.
fn describe(entry: &S3Entry) -> S3Result<HeadObjectOutput> {
    let metadata: HashMap<String, String> = serde_json::from_str(&entry.headers.user_meta)
        .map_err(|e| s3_error(&Error::Internal(format!("stored metadata: {e}"))))?;
    Ok(HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        content_length: Some(entry.size as i64),
        content_type: entry.headers.content_type.clone(),
        content_disposition: entry.headers.content_disposition.clone(),
        cache_control: entry.headers.cache_control.clone(),
        e_tag: Some(etag(&entry.etag)),
        last_modified: Some(timestamp(entry.modified_ms)),
        metadata: (!metadata.is_empty()).then_some(metadata),
        parts_count: (entry.etag.contains('-')).then_some(entry.parts.len() as i32),
        expiration: Some(format!(
            "expiry-date=\"{}\", rule-id=\"tessera-ttl\"",
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(entry.expires_ms)
            )
        )),
        ..Default::default()
    })
}

fn matches(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// RFC 9110's order for a read: If-Match, then If-Unmodified-Since (only without If-Match),
/// then If-None-Match, then If-Modified-Since (only without If-None-Match).
fn check_read_conditions(
    entry: &S3Entry,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = (entry.modified_ms / 1000) as i64;
    match if_match {
        Some(c) if !matches(c, &entry.etag) => {
            return Err(s3_error!(PreconditionFailed, "If-Match does not match"));
        }
        None if if_unmodified_since.is_some_and(|t| modified > seconds(t)) => {
            return Err(s3_error!(
                PreconditionFailed,
                "the object was modified after If-Unmodified-Since"
            ));
        }
        _ => {}
    }
    let not_modified = match if_none_match {
        Some(c) => matches(c, &entry.etag),
        None => if_modified_since.is_some_and(|t| modified <= seconds(t)),
    };
    if not_modified {
        let mut e = error(S3ErrorCode::NotModified, "not modified");
        e.set_status_code(http::StatusCode::NOT_MODIFIED);
        return Err(e);
    }
    Ok(())
}

/// A copy's conditions on its source, which fail as 412 where a read's would be 304.
fn check_copy_conditions(
    source: &S3Entry,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    check_read_conditions(
        source,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    )
    .map_err(|e| {
        if *e.code() == S3ErrorCode::NotModified {
            s3_error!(PreconditionFailed, "the copy source's condition failed")
        } else {
            e
        }
    })
}

/// A put's conditions on what it replaces: `If-None-Match: *` puts only a new key,
/// `If-Match` only over that ETag.
pub(super) fn check_write_conditions(
    current: Option<&S3Entry>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(c) = if_none_match
        && current.is_some_and(|e| matches(c, &e.etag))
    {
        return Err(s3_error!(
            PreconditionFailed,
            "If-None-Match: the key holds a matching object"
        ));
    }
    if let Some(c) = if_match
        && !current.is_some_and(|e| matches(c, &e.etag))
    {
        return Err(s3_error!(
            PreconditionFailed,
            "If-Match: the key holds no matching object"
        ));
    }
    Ok(())
}
