//! GraphQL objects of the [files] section: `ProjectFile`, `ChatAttachment` and their
//! connections, and the nested lists `Project.files` and `Conversation.attachments` (one
//! loader statement per level for all parents). Objects only: the mutations are in
//! `files`, which sits above `types`; this module sits below it.

use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::stored_file;
use uuid::Uuid;

use crate::error::AppError;
use crate::graphql::connection::{connection, CountKey, TotalCount};
use crate::graphql::graphql_int;
use crate::graphql::node_id::NodeId;
use crate::graphql::RequestCtx;
use crate::paging::PageArgs;
use crate::storage::{Bucket, Storage};

/// The download URL of a stored file (see `storage::Storage::url`).
fn url_of(ctx: &Context<'_>, file: &stored_file::Model) -> Result<String> {
    let storage = ctx.data::<Storage>()?;
    let bucket = Bucket::from_name(&file.bucket)
        .ok_or_else(|| AppError::Internal(format!("unknown bucket {}", file.bucket)))?;
    Ok(storage.url(bucket, file.id, crate::db::now().timestamp()))
}

/// A file kept with a project.
#[derive(Clone)]
pub struct ProjectFile(pub stored_file::Model);

connection!(
    ProjectFileConnection,
    ProjectFileEdge,
    ProjectFile,
    stored_file::Model
);

#[Object]
impl ProjectFile {
    pub async fn node_id(&self) -> ID {
        NodeId::ProjectFile(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn project_id(&self) -> Result<Uuid> {
        self.0
            .project_id
            .ok_or_else(|| AppError::Internal("a project file without a project".into()).into())
    }
    async fn uploaded_by(&self) -> Uuid {
        self.0.owner_id
    }
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// The type the content showed when it was uploaded (not the client's claim).
    async fn mime_type(&self) -> &str {
        &self.0.mime_type
    }
    async fn size_bytes(&self) -> i32 {
        graphql_int(self.0.size_bytes)
    }
    /// A download URL: signed and expiring for private buckets.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        url_of(ctx, &self.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What a chat attachment holds, which decides its bucket and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum AttachmentKind {
    /// Images, PDF and text (the attachments bucket, 10 MB by default).
    #[default]
    File,
    /// A voice recording (the audio bucket, 50 MB by default); its `url` fits
    /// `MessageInput.audioUrl`.
    Audio,
}

impl AttachmentKind {
    pub fn bucket(self) -> Bucket {
        match self {
            AttachmentKind::File => Bucket::Attachments,
            AttachmentKind::Audio => Bucket::Audio,
        }
    }
}

/// A file attached to a conversation (beyond the contract; see README, Files).
#[derive(Clone)]
pub struct ChatAttachment(pub stored_file::Model);

connection!(
    ChatAttachmentConnection,
    ChatAttachmentEdge,
    ChatAttachment,
    stored_file::Model
);

#[Object]
impl ChatAttachment {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn conversation_id(&self) -> Result<Uuid> {
        self.0
            .conversation_id
            .ok_or_else(|| AppError::Internal("an attachment without a conversation".into()).into())
    }
    async fn uploaded_by(&self) -> Uuid {
        self.0.owner_id
    }
    async fn kind(&self) -> AttachmentKind {
        if self.0.bucket == Bucket::Audio.name() {
            AttachmentKind::Audio
        } else {
            AttachmentKind::File
        }
    }
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// The type the content showed; `application/octet-stream` in an encrypted chat.
    async fn mime_type(&self) -> &str {
        &self.0.mime_type
    }
    async fn size_bytes(&self) -> i32 {
        graphql_int(self.0.size_bytes)
    }
    /// A signed, expiring download URL that needs no token.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        url_of(ctx, &self.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// `Project.files`: a page of the project's files, newest first.
pub async fn project_files(
    ctx: &Context<'_>,
    project_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ProjectFileConnection> {
    let rc = ctx.data::<RequestCtx>()?;
    let args = PageArgs {
        first,
        after,
        ..Default::default()
    };
    let page = rc
        .loaders
        .file_pages
        .load(project_id, (), (), &args, rc.limits)
        .await?;
    Ok(ProjectFileConnection::new(
        page,
        TotalCount::Loader(CountKey::ProjectFiles(project_id)),
    ))
}

/// `Conversation.attachments`: a page of the chat's attachments, newest first.
pub async fn conversation_attachments(
    ctx: &Context<'_>,
    conversation_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ChatAttachmentConnection> {
    let rc = ctx.data::<RequestCtx>()?;
    let args = PageArgs {
        first,
        after,
        ..Default::default()
    };
    let page = rc
        .loaders
        .attachment_pages
        .load(conversation_id, (), (), &args, rc.limits)
        .await?;
    Ok(ChatAttachmentConnection::new(
        page,
        TotalCount::Loader(CountKey::ConversationAttachments(conversation_id)),
    ))
}
