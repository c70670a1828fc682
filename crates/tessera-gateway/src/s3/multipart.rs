//! Multipart uploads: begun, each part stored as its own Tessera object as it arrives (so a
//! 5 GiB upload never sits in memory), completed into one entry that holds the listed parts'
//! objects in order, or aborted, which gives every part's slots back.

use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tessera_core::AccountId;
use tessera_storage::{EntryPart, S3_MAX_PART_NUMBER, S3Entry, S3Headers, Upload, UploadPart};

use super::objects::{check_write_conditions, upload_body, user_meta};
use super::{Face, MIN_PART_BYTES, etag, now_ms, storage, timestamp};

/// The most parts or uploads one listing page holds, as S3's.
const MAX_PAGE: i32 = 1000;

impl Face {
    pub(super) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let ttl = self.ttl(&req.headers, input.metadata.as_ref(), &bucket)?;
        let upload = Upload {
            upload_id: hex::encode(rand::random::<[u8; 16]>()),
            owner,
            bucket: bucket.name,
            key: input.key,
            created_ms: now_ms(),
            headers: S3Headers {
                content_type: input.content_type,
                content_disposition: input.content_disposition,
                cache_control: input.cache_control,
                user_meta: user_meta(input.metadata.as_ref())?,
            },
            ttl_secs: ttl,
        };
        self.gw.state.begin_upload(&upload).await.map_err(storage)?;
        tracing::info!(%owner, bucket = %upload.bucket, key = %upload.key, upload = %upload.upload_id, "s3 multipart upload begun");
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let upload = self
            .open_upload(&owner, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let number = part_number(input.part_number)?;
        let (size, checks) = upload_body(
            &req.headers,
            req.trailing_headers,
            input.content_length,
            input.content_md5.as_deref(),
        )?;
        let stored = self
            .store_body(&owner, size, upload.ttl_secs, input.body, checks)
            .await?;
        let etag_hex = hex::encode(stored.md5);
        // An empty part holds no object; its row still needs an id, one never stored anywhere.
        let (object, tail) = stored.part.as_ref().map_or_else(
            || (tessera_object::ObjectId::random().0, Vec::new()),
            |p| (p.object, p.tail.clone()),
        );
        let recorded = self
            .gw
            .state
            .put_upload_part(
                &upload.upload_id,
                &UploadPart {
                    part_number: number,
                    object,
                    size,
                    tail,
                    etag: etag_hex.clone(),
                    modified_ms: now_ms(),
                },
            )
            .await;
        if let Err(e) = recorded {
            // Aborted while the part streamed in: the part's object goes at once.
            if let Some(p) = stored.part {
                let _ = self
                    .gw
                    .state
                    .expire_object(&p.object, &owner, now_ms())
                    .await;
            }
            if self
                .gw
                .state
                .upload(&upload.upload_id)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                return Err(s3_error!(
                    NoSuchUpload,
                    "upload {} was completed or aborted",
                    upload.upload_id
                ));
            }
            return Err(storage(e));
        }
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&etag_hex)),
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let upload = self
            .open_upload(&owner, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let listed = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "a CompleteMultipartUpload lists at least one part"
            ));
        }
        let uploaded = self
            .gw
            .state
            .upload_parts(&upload.upload_id)
            .await
            .map_err(storage)?;
        let mut parts = Vec::with_capacity(listed.len());
        let mut md5s = Md5::new();
        let mut size = 0u64;
        let mut previous = 0u32;
        for (i, p) in listed.iter().enumerate() {
            let number = part_number(p.part_number.unwrap_or(0))?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "parts must be listed in ascending order: part {number} after part {previous}"
                ));
            }
            previous = number;
            let Some(have) = uploaded.iter().find(|u| u.part_number == number) else {
                return Err(s3_error!(InvalidPart, "part {number} was never uploaded"));
            };
            if p.e_tag.as_ref().is_some_and(|e| e.value() != have.etag) {
                return Err(s3_error!(
                    InvalidPart,
                    "part {number}'s ETag is {}, not the one listed",
                    have.etag
                ));
            }
            let last = i + 1 == listed.len();
            if !last && have.size < MIN_PART_BYTES {
                return Err(s3_error!(
                    EntityTooSmall,
                    "part {number} is {} bytes; every part but the last must be at least {MIN_PART_BYTES}",
                    have.size
                ));
            }
            let raw = hex::decode(&have.etag)
                .map_err(|_| s3_error!(InternalError, "part {number}'s stored ETag is not hex"))?;
            md5s.update(&raw);
            size += have.size;
            if have.size > 0 {
                parts.push(EntryPart {
                    object: have.object,
                    size: have.size,
                    tail: have.tail.clone(),
                });
            }
        }
        if input.if_none_match.is_some() || input.if_match.is_some() {
            let current = self.live_entry(&owner, &upload.bucket, &upload.key).await;
            check_write_conditions(
                current.as_ref().ok(),
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        // The entry lives as long as its shortest-lived part: the parts' objects were stored
        // with the upload's TTL, each from when it arrived.
        let mut expires_ms = u64::MAX;
        for p in &parts {
            let o = self.gw.state.object(&p.object).await.map_err(storage)?;
            expires_ms = expires_ms.min(o.map_or(0, |o| o.object.expires_ms));
        }
        if expires_ms == u64::MAX {
            expires_ms = now_ms().saturating_add(upload.ttl_secs.saturating_mul(1000));
        }
        let etag_value = format!("{}-{}", hex::encode(md5s.finalize()), listed.len());
        let entry = S3Entry {
            owner,
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            size,
            etag: etag_value,
            modified_ms: now_ms(),
            expires_ms,
            headers: upload.headers.clone(),
            parts,
        };
        let done = self
            .gw
            .state
            .complete_upload(&upload.upload_id, &entry, now_ms())
            .await
            .map_err(storage)?;
        if done.is_none() {
            return Err(s3_error!(
                NoSuchUpload,
                "upload {} was completed or aborted meanwhile",
                upload.upload_id
            ));
        }
        tracing::info!(%owner, bucket = %entry.bucket, key = %entry.key, size, parts = listed.len(), "s3 multipart upload completed");
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(entry.bucket),
            key: Some(entry.key),
            e_tag: Some(etag(&entry.etag)),
            ..Default::default()
        }))
    }

    pub(super) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let upload = self
            .open_upload(&owner, &input.bucket, &input.key, &input.upload_id)
            .await?;
        if !self
            .gw
            .state
            .abort_upload(&upload.upload_id, now_ms())
            .await
            .map_err(storage)?
        {
            return Err(s3_error!(
                NoSuchUpload,
                "upload {} was completed or aborted",
                upload.upload_id
            ));
        }
        tracing::info!(%owner, upload = %upload.upload_id, "s3 multipart upload aborted");
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE) as usize;
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let all = self
            .gw
            .state
            .uploads_of(&owner, &bucket.name, &prefix)
            .await
            .map_err(storage)?;
        // Past the markers: keys after key-marker, or at it with a later upload id.
        let mut rest = all.into_iter().filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.upload_id > id_marker)
        });
        let page: Vec<Upload> = rest.by_ref().take(max).collect();
        let truncated = rest.next().is_some();
        let initiator = Initiator {
            id: Some(owner.to_ss58()),
            display_name: Some(owner.to_ss58()),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(bucket.name),
            prefix: Some(prefix),
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: truncated
                .then(|| page.last().map(|u| u.key.clone()))
                .flatten(),
            next_upload_id_marker: truncated
                .then(|| page.last().map(|u| u.upload_id.clone()))
                .flatten(),
            uploads: Some(
                page.into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(timestamp(u.created_ms)),
                        initiator: Some(initiator.clone()),
                        owner: Some(Owner {
                            id: initiator.id.clone(),
                            display_name: initiator.display_name.clone(),
                        }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let upload = self
            .open_upload(&owner, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let max = input.max_parts.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE) as usize;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let parts = self
            .gw
            .state
            .upload_parts(&upload.upload_id)
            .await
            .map_err(storage)?;
        let mut rest = parts.into_iter().filter(|p| p.part_number > marker);
        let page: Vec<_> = rest.by_ref().take(max).collect();
        let truncated = rest.next().is_some();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            max_parts: Some(max as i32),
            part_number_marker: input.part_number_marker,
            is_truncated: Some(truncated),
            next_part_number_marker: page.last().map(|p| p.part_number as i32),
            parts: Some(
                page.into_iter()
                    .map(|p| Part {
                        part_number: Some(p.part_number as i32),
                        e_tag: Some(etag(&p.etag)),
                        size: Some(p.size as i64),
                        last_modified: Some(timestamp(p.modified_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    /// The caller's open upload `upload_id` of `key` in its bucket `bucket`.
    async fn open_upload(
        &self,
        owner: &AccountId,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<Upload> {
        let bucket = self.bucket(owner, bucket).await?;
        match self.gw.state.upload(upload_id).await.map_err(storage)? {
            Some(u) if u.owner == *owner && u.bucket == bucket.name && u.key == key => Ok(u),
            _ => Err(s3_error!(
                NoSuchUpload,
                "no upload {upload_id:?} of key {key:?} in bucket {}",
                bucket.name
            )),
        }
    }
}

/// A part number S3 allows, 1 to 10,000.
fn part_number(n: i32) -> S3Result<u32> {
    match u32::try_from(n) {
        Ok(n) if (1..=S3_MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => Err(s3_error!(
            InvalidArgument,
            "part number {n} is outside 1 to {S3_MAX_PART_NUMBER}"
        )),
    }
}
