//! Buckets: listed, made, checked, deleted when empty, located.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tessera_storage::BucketDeleted;

use super::now_ms;
use super::{Face, storage, timestamp};

/// Buckets one owner may hold: as many as S3 allows an account by default.
pub const MAX_BUCKETS_PER_OWNER: usize = 100;

impl Face {
    pub(super) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let owner = self.owner(&req).await?;
        let prefix = req.input.prefix.unwrap_or_default();
        let buckets = self
            .gw
            .state
            .buckets_of(&owner)
            .await
            .map_err(storage)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .map(|b| s3s::dto::Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created_ms)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                id: Some(owner.to_ss58()),
                display_name: Some(owner.to_ss58()),
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = self.owner(&req).await?;
        let name = &req.input.bucket;
        let ttl = self.asked_ttl(&req.headers, None)?.unwrap_or(0);
        let held = self.gw.state.buckets_of(&owner).await.map_err(storage)?;
        if held.iter().any(|b| &b.name == name) {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "bucket {name} is yours already"
            ));
        }
        if held.len() >= MAX_BUCKETS_PER_OWNER {
            return Err(s3_error!(
                TooManyBuckets,
                "an owner may hold {MAX_BUCKETS_PER_OWNER} buckets"
            ));
        }
        let made = self
            .gw
            .state
            .create_bucket(&owner, name, ttl, now_ms())
            .await
            .map_err(storage)?;
        if !made {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "bucket {name} is yours already"
            ));
        }
        tracing::info!(%owner, bucket = %name, "s3 bucket created");
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    pub(super) async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let owner = self.owner(&req).await?;
        self.bucket(&owner, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    pub(super) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let owner = self.owner(&req).await?;
        let name = &req.input.bucket;
        self.bucket(&owner, name).await?;
        match self
            .gw
            .state
            .delete_bucket(&owner, name)
            .await
            .map_err(storage)?
        {
            BucketDeleted::Deleted => {
                tracing::info!(%owner, bucket = %name, "s3 bucket deleted");
                Ok(S3Response::new(DeleteBucketOutput {}))
            }
            BucketDeleted::NotEmpty => Err(s3_error!(
                BucketNotEmpty,
                "bucket {name} holds objects or unfinished multipart uploads"
            )),
            BucketDeleted::NoSuchBucket => Err(s3_error!(NoSuchBucket, "no bucket {name}")),
        }
    }

    pub(super) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let owner = self.owner(&req).await?;
        self.bucket(&owner, &req.input.bucket).await?;
        // S3 answers us-east-1 with an empty constraint; clients read it so.
        let location = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: location,
        }))
    }
}
