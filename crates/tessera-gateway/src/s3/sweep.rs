//! The S3 face's share of the gateway's sweeps: entries whose time is up are deleted, and
//! uploads left unfinished too long are aborted, so that their objects' slots come back.

use std::time::Duration;

use crate::{Error, Gateway};

/// How long a multipart upload may stay unfinished before the sweep aborts it.
pub const UPLOAD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct S3Sweep {
    /// Objects whose lives ended with the expired entries that held them.
    pub expired_objects: usize,
    pub aborted_uploads: usize,
}

/// Deletes expired entries and aborts uploads older than [`UPLOAD_MAX_AGE`]; the objects they
/// held end their lives now, and the reclaim sweep gives their slots back.
pub async fn sweep(gateway: &Gateway, now_ms: u64) -> Result<S3Sweep, Error> {
    let mut done = S3Sweep {
        expired_objects: gateway.state.delete_expired_entries(now_ms).await?.len(),
        ..S3Sweep::default()
    };
    let before = now_ms.saturating_sub(UPLOAD_MAX_AGE.as_millis() as u64);
    for upload in gateway.state.stale_uploads(before).await? {
        if gateway
            .state
            .abort_upload(&upload.upload_id, now_ms)
            .await?
        {
            tracing::info!(owner = %upload.owner, upload = %upload.upload_id, "abandoned s3 upload aborted");
            done.aborted_uploads += 1;
        }
    }
    Ok(done)
}
