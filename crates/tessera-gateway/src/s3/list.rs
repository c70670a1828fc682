//! Listing a bucket's keys: ListObjectsV2 and the older ListObjects, with prefix, delimiter
//! (keys rolled up into common prefixes), max-keys, and continuing where a page stopped.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tessera_core::AccountId;
use tessera_storage::{S3Entry, prefix_end};

use super::{Face, etag, now_ms, storage, timestamp};

/// The most keys one page holds, as S3's.
const MAX_KEYS: i32 = 1000;

/// Rows read from the state file at once while a page is filled.
const BATCH: u32 = 256;

/// One page of a listing.
#[derive(Default)]
struct Page {
    entries: Vec<S3Entry>,
    prefixes: Vec<String>,
    /// Set when more keys follow: where the next page starts (past this key or prefix).
    next: Option<String>,
}

impl Face {
    pub(super) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let max_keys = max_keys(input.max_keys)?;
        let after = match &input.continuation_token {
            Some(token) => Some(
                hex::decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        s3_error!(InvalidArgument, "the continuation token is not one of ours")
                    })?,
            ),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let page = self
            .page(
                &owner,
                &bucket.name,
                &prefix,
                delimiter.as_deref(),
                after,
                max_keys,
            )
            .await?;
        let key_count = (page.entries.len() + page.prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(bucket.name),
            prefix: Some(prefix),
            delimiter,
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next.map(hex::encode),
            contents: Some(page.entries.iter().map(object).collect()),
            common_prefixes: Some(common(page.prefixes)),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects_v1(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let owner = self.owner(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&owner, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let max_keys = max_keys(input.max_keys)?;
        let marker = input.marker.clone().filter(|m| !m.is_empty());
        let page = self
            .page(
                &owner,
                &bucket.name,
                &prefix,
                delimiter.as_deref(),
                marker,
                max_keys,
            )
            .await?;
        // Version 1 gives NextMarker only with a delimiter; without one, clients go on from
        // the last key.
        let next_marker = page.next.clone().filter(|_| delimiter.is_some());
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(bucket.name),
            prefix: Some(prefix),
            marker: input.marker,
            delimiter,
            max_keys: Some(max_keys),
            is_truncated: Some(page.next.is_some()),
            next_marker,
            contents: Some(page.entries.iter().map(object).collect()),
            common_prefixes: Some(common(page.prefixes)),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    /// Up to `max` keys and common prefixes of `owner`'s bucket past `after`, reading the index
    /// in batches and jumping over each common prefix's run of keys in one step.
    async fn page(
        &self,
        owner: &AccountId,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<String>,
        max: i32,
    ) -> S3Result<Page> {
        let mut page = Page::default();
        let max = max as usize;
        if max == 0 {
            return Ok(page);
        }
        // Listing starts at the first key past `after`; a token ending a common prefix means
        // past every key under it.
        let mut from = match &after {
            Some(a)
                if a.len() > prefix.len()
                    && a.starts_with(prefix)
                    && delimiter.is_some_and(|d| a.ends_with(d)) =>
            {
                match prefix_end(a) {
                    Some(end) => end,
                    None => return Ok(page),
                }
            }
            Some(a) => format!("{a}\0"),
            None => String::new(),
        };
        let now = now_ms();
        loop {
            let batch = self
                .gw
                .state
                .list_entries_from(owner, bucket, prefix, &from, BATCH)
                .await
                .map_err(storage)?;
            let done = batch.len() < BATCH as usize;
            let mut jumped = false;
            for entry in batch {
                if entry.expires_ms <= now {
                    from = format!("{}\0", entry.key);
                    continue;
                }
                let rolled = delimiter.and_then(|d| {
                    entry.key[prefix.len()..]
                        .find(d)
                        .map(|at| entry.key[..prefix.len() + at + d.len()].to_owned())
                });
                if page.entries.len() + page.prefixes.len() == max {
                    // One more key exists: the page is truncated at what it holds.
                    page.next = page
                        .prefixes
                        .last()
                        .filter(|p| page.entries.last().is_none_or(|e| e.key < **p))
                        .cloned()
                        .or_else(|| page.entries.last().map(|e| e.key.clone()));
                    return Ok(page);
                }
                match rolled {
                    Some(common) => {
                        let end = prefix_end(&common);
                        page.prefixes.push(common);
                        match end {
                            Some(end) => {
                                from = end;
                                jumped = true;
                                break;
                            }
                            None => return Ok(page),
                        }
                    }
                    None => {
                        from = format!("{}\0", entry.key);
                        page.entries.push(entry);
                    }
                }
            }
            if done && !jumped {
                return Ok(page);
            }
        }
    }
}

fn max_keys(asked: Option<i32>) -> S3Result<i32> {
    match asked {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys {n} is negative")),
        Some(n) => Ok(n.min(MAX_KEYS)),
    }
}

fn object(e: &S3Entry) -> Object {
    Object {
        key: Some(e.key.clone()),
        size: Some(e.size as i64),
        e_tag: Some(etag(&e.etag)),
        last_modified: Some(timestamp(e.modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn common(prefixes: Vec<String>) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix { prefix: Some(p) })
        .collect()
}
