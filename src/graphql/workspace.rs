//! GraphQL part of the [workspace] section: the `WorkspaceFile` object,
//! `viewer.workspaceFiles`/`workspaceFile` and the workspace mutations. Thin: arguments
//! in, a `workspace` operation, objects out.

use async_graphql::{Context, InputObject, Json, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::workspace_file;
use uuid::Uuid;

use crate::domain::workspace::{self, WriteFile};
use crate::graphql::graphql_int;
use crate::graphql::node_id::NodeId;
use crate::graphql::values::json;
use crate::graphql::RequestCtx;

#[derive(Clone)]
pub struct WorkspaceFile(pub workspace_file::Model);

#[Object]
impl WorkspaceFile {
    pub(crate) async fn node_id(&self) -> ID {
        NodeId::WorkspaceFile(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn project_id(&self) -> Option<Uuid> {
        self.0.project_id
    }
    /// Full path, e.g. src/components/Button.tsx (no leading slash, no . or .. segments).
    async fn path(&self) -> &str {
        &self.0.path
    }
    /// The last segment of the path.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The directory holding this entry; null at the root.
    async fn parent_path(&self) -> Option<&str> {
        self.0.parent_path.as_deref()
    }
    async fn is_directory(&self) -> bool {
        self.0.is_directory
    }
    async fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    /// The content's length in UTF-8 bytes; 0 for directories.
    async fn size_bytes(&self) -> i32 {
        graphql_int(self.0.size_bytes)
    }
    /// null for directories.
    async fn content(&self) -> Option<&str> {
        self.0.content.as_deref()
    }
    async fn metadata(&self) -> Json<&serde_json::Value> {
        json(&self.0.metadata)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The [workspace] fields of `Viewer`.
pub struct ViewerWorkspace;

#[Object]
impl ViewerWorkspace {
    /// Entries directly under parentPath (null: the workspace root); directories first,
    /// then by name. A projectId narrows the list to entries labelled with it (a project
    /// the viewer cannot read is NOT_FOUND).
    async fn workspace_files(
        &self,
        ctx: &Context<'_>,
        parent_path: Option<String>,
        project_id: Option<Uuid>,
    ) -> Result<Vec<WorkspaceFile>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(
            workspace::list(&rc.db, &rc.viewer, parent_path.as_deref(), project_id)
                .await?
                .into_iter()
                .map(WorkspaceFile)
                .collect(),
        )
    }

    /// The entry at the path, or null.
    async fn workspace_file(
        &self,
        ctx: &Context<'_>,
        path: String,
    ) -> Result<Option<WorkspaceFile>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(workspace::find_by_path(&rc.db, &rc.viewer, &path)
            .await?
            .map(WorkspaceFile))
    }
}

#[derive(InputObject)]
pub struct WriteWorkspaceFileInput {
    pub path: String,
    pub content: String,
    /// A label that narrows listings; a project the viewer can read.
    pub project_id: Option<Uuid>,
    pub mime_type: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    /// Creates or replaces the file at path, and any missing parent directories.
    async fn write_workspace_file(
        &self,
        ctx: &Context<'_>,
        input: WriteWorkspaceFileInput,
    ) -> Result<WorkspaceFile> {
        let rc = ctx.data::<RequestCtx>()?;
        let saved = workspace::write_file(
            &rc.db,
            &rc.viewer,
            WriteFile {
                path: input.path,
                content: input.content,
                project_id: input.project_id,
                mime_type: input.mime_type,
                metadata: input.metadata.map(|j| j.0),
            },
        )
        .await?;
        Ok(WorkspaceFile(saved))
    }

    /// Creates the directory and any missing parents; an existing directory is returned.
    async fn create_workspace_directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        project_id: Option<Uuid>,
    ) -> Result<WorkspaceFile> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(WorkspaceFile(
            workspace::create_directory(&rc.db, &rc.viewer, &path, project_id).await?,
        ))
    }

    /// Moves a file or a whole directory tree.
    async fn move_workspace_file(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
    ) -> Result<WorkspaceFile> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(WorkspaceFile(
            workspace::move_entry(&rc.db, &rc.viewer, &from, &to).await?,
        ))
    }

    /// Returns how many entries were removed; a non-empty directory needs recursive: true.
    async fn delete_workspace_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        #[graphql(default_with = "Some(false)")] recursive: Option<bool>,
    ) -> Result<i32> {
        let rc = ctx.data::<RequestCtx>()?;
        let deleted =
            workspace::delete_entry(&rc.db, &rc.viewer, &path, recursive.unwrap_or(false)).await?;
        Ok(graphql_int(deleted))
    }
}
