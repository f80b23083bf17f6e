//! GraphQL of the [files] section: the `Upload` scalar, the upload and delete mutations,
//! and `Viewer.storageUsedBytes`.
//!
//! A file reaches a resolver already in the store: the HTTP layer streams each part of a
//! GraphQL multipart request into its bucket and puts an [`Uploads`] into the request
//! data; the `Upload` variable holds the index of the file there. A resolver takes its file
//! (once), runs one domain operation, and removes the object when the operation fails;
//! files no resolver took are removed by the HTTP layer after the response.

use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, InputValueError, InputValueResult, Object, Result, Scalar, ScalarType, Value,
};
use uuid::Uuid;

use crate::domain::files::{self, Target, Upload as UploadedFile};
use crate::error::AppError;
use crate::graphql::stored_files::{AttachmentKind, ChatAttachment, ProjectFile};
use crate::graphql::types::Profile;
use crate::graphql::RequestCtx;
use crate::storage::{Bucket, Storage};

/// What the HTTP layer writes into an `Upload` variable: this prefix and the file's index.
pub const UPLOAD_PLACEHOLDER: &str = "confab-upload:";

/// A file sent by the GraphQL multipart request spec (a part of the request, named in its
/// `map`). Only a multipart request can give one.
pub struct UploadRef(pub usize);

#[Scalar(
    name = "Upload",
    specified_by_url = "https://github.com/jaydenseric/graphql-multipart-request-spec"
)]
impl ScalarType for UploadRef {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => text
                .strip_prefix(UPLOAD_PLACEHOLDER)
                .and_then(|n| n.parse().ok())
                .map(UploadRef)
                .ok_or_else(|| {
                    InputValueError::custom(
                        "not a file of this request: send files as a GraphQL multipart request",
                    )
                }),
            _ => Err(InputValueError::custom(
                "not a file of this request: send files as a GraphQL multipart request",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format!("{UPLOAD_PLACEHOLDER}{}", self.0))
    }
}

/// A file of the request, in the store, with the bucket its part was limited for.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub bucket: Bucket,
    pub file: UploadedFile,
}

/// The files of one multipart request, each taken at most once (shared by the request
/// data and the HTTP layer, which removes what is left).
#[derive(Debug, Default, Clone)]
pub struct Uploads(Arc<Mutex<Vec<Option<StagedFile>>>>);

impl Uploads {
    pub fn new(files: Vec<StagedFile>) -> Self {
        Uploads(Arc::new(Mutex::new(files.into_iter().map(Some).collect())))
    }

    fn take(&self, index: usize) -> Option<StagedFile> {
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        files.get_mut(index).and_then(Option::take)
    }

    /// The files no resolver took (their objects must go).
    pub fn leftovers(&self) -> Vec<(Bucket, Uuid)> {
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        files
            .iter_mut()
            .filter_map(Option::take)
            .map(|f| (f.bucket, f.file.id))
            .collect()
    }
}

/// Takes file `upload` of the request for `bucket`: `BAD_USER_INPUT` when the request has
/// no such file (left), or it was streamed for another bucket.
fn take_file(ctx: &Context<'_>, upload: &UploadRef, bucket: Bucket) -> Result<StagedFile> {
    let missing = || AppError::bad_input("no such file in this request (or it is used twice)");
    let uploads = ctx.data_opt::<Uploads>().ok_or_else(missing)?;
    let staged = uploads.take(upload.0).ok_or_else(missing)?;
    if staged.bucket != bucket {
        // Cannot happen: the HTTP layer reads the bucket from the same document.
        return Err(AppError::bad_input("the file was sent for another field").into());
    }
    Ok(staged)
}

/// Runs the domain operation for `staged`; on failure removes its object.
async fn store(ctx: &Context<'_>, target: Target, staged: StagedFile) -> Result<files::Stored> {
    let rc = ctx.data::<RequestCtx>()?;
    let storage = ctx.data::<Storage>()?;
    match files::store_file(&rc.db, &rc.viewer, storage, target, &staged.file).await {
        Ok(stored) => {
            for old in &stored.replaced {
                if let Some(bucket) = Bucket::from_name(&old.bucket) {
                    storage.delete(bucket, old.id).await;
                }
            }
            Ok(stored)
        }
        Err(err) => {
            storage.delete(staged.bucket, staged.file.id).await;
            Err(err.into())
        }
    }
}

#[derive(Default)]
pub struct FilesMutation;

#[Object]
impl FilesMutation {
    /// Adds a file to a project (its editors only). The type is checked against the
    /// content; limits and types per bucket are configured (README, Files).
    async fn upload_project_file(
        &self,
        ctx: &Context<'_>,
        project_id: Uuid,
        file: UploadRef,
    ) -> Result<ProjectFile> {
        let staged = take_file(ctx, &file, Bucket::ProjectFiles)?;
        let stored = store(ctx, Target::Project(project_id), staged).await?;
        Ok(ProjectFile(stored.file))
    }

    /// Removes a project file (its project's editors only); returns its id.
    async fn delete_project_file(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        let storage = ctx.data::<Storage>()?;
        let file = files::delete_file(&rc.db, &rc.viewer, id, &[Bucket::ProjectFiles]).await?;
        storage.delete(Bucket::ProjectFiles, file.id).await;
        Ok(file.id)
    }

    /// Sets the viewer's avatar (public); the previous one is removed.
    async fn upload_avatar(&self, ctx: &Context<'_>, file: UploadRef) -> Result<Profile> {
        let staged = take_file(ctx, &file, Bucket::Avatars)?;
        let stored = store(ctx, Target::Avatar, staged).await?;
        let profile = stored
            .profile
            .ok_or_else(|| AppError::Internal("an avatar upload without a profile".into()))?;
        Ok(Profile(profile))
    }

    /// Attaches a file to a conversation (its owner only): `FILE` for images, PDF and
    /// text, `AUDIO` for a voice recording. In an encrypted conversation the content is
    /// ciphertext, stored as `application/octet-stream` without a type check.
    async fn upload_chat_attachment(
        &self,
        ctx: &Context<'_>,
        conversation_id: Uuid,
        file: UploadRef,
        #[graphql(default_with = "Some(AttachmentKind::File)")] kind: Option<AttachmentKind>,
    ) -> Result<ChatAttachment> {
        let bucket = kind.unwrap_or_default().bucket();
        let staged = take_file(ctx, &file, bucket)?;
        let stored = store(ctx, Target::Conversation(conversation_id, bucket), staged).await?;
        Ok(ChatAttachment(stored.file))
    }

    /// Removes a chat attachment (the conversation's owner only); returns its id.
    async fn delete_chat_attachment(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        let storage = ctx.data::<Storage>()?;
        let file = files::delete_file(
            &rc.db,
            &rc.viewer,
            id,
            &[Bucket::Attachments, Bucket::Audio],
        )
        .await?;
        if let Some(bucket) = Bucket::from_name(&file.bucket) {
            storage.delete(bucket, file.id).await;
        }
        Ok(file.id)
    }
}

/// Removes the objects of `files` whose rows are gone (after a delete that may have
/// taken them with it committed).
pub async fn remove_objects(ctx: &Context<'_>, files: Vec<entity::stored_file::Model>) {
    if files.is_empty() {
        return;
    }
    if let (Ok(rc), Ok(storage)) = (ctx.data::<RequestCtx>(), ctx.data::<Storage>()) {
        files::remove_objects(&rc.db, storage, files).await;
    }
}

/// The [files] fields of `Viewer`.
pub struct ViewerFiles;

#[Object]
impl ViewerFiles {
    /// Bytes the viewer's uploads take in all buckets (a Float: it may pass 2^31). Cost:
    /// one sum over the viewer's files (indexed by uploader).
    async fn storage_used_bytes(&self, ctx: &Context<'_>) -> Result<f64> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(files::used_bytes(&rc.db, &rc.viewer).await? as f64)
    }
}
