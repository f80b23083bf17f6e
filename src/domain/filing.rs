//! Filing chats in projects: the project↔chat link, which needs both ends. Sits above
//! `projects` and `conversations` so that neither imports the other's operations.

use entity::{conversation, project, project_conversation};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::{conversations, projects};
use crate::error::{AppError, AppResult};
use crate::realtime::{self, Event};

/// Files a chat in a project: the viewer must be able to edit the project and own the chat.
pub async fn add_chat(
    db: &DatabaseConnection,
    viewer: &Viewer,
    project_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<project::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (project, _) = check_filing(&txn, viewer, project_id, conversation_id).await?;
    projects::file_chat(&txn, project_id, conversation_id).await?;
    realtime::commit(txn, &[Event::conversation(conversation_id)]).await?;
    Ok(project)
}

pub async fn remove_chat(
    db: &DatabaseConnection,
    viewer: &Viewer,
    project_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<project::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (project, _) = check_filing(&txn, viewer, project_id, conversation_id).await?;
    project_conversation::Entity::delete_many()
        .filter(project_conversation::Column::ProjectId.eq(project_id))
        .filter(project_conversation::Column::ConversationId.eq(conversation_id))
        .exec(&txn)
        .await?;
    // Members of the project's team may have read the chat only through it.
    realtime::commit(
        txn,
        &[
            Event::conversation(conversation_id),
            Event::conversation_access(conversation_id),
        ],
    )
    .await?;
    Ok(project)
}

/// Visibility of both ends first (`NOT_FOUND`), then permission on both (`FORBIDDEN`),
/// then state (a DELETED project is `CONFLICT`).
async fn check_filing(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    project_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<(project::Model, conversation::Model)> {
    let project = projects::find_readable(db, viewer, project_id)
        .await?
        .ok_or_else(|| AppError::not_found("project"))?;
    let chat = conversations::find_readable(db, viewer, conversation_id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    projects::find_editable(db, viewer, project_id).await?;
    conversations::find_editable(db, viewer, conversation_id).await?;
    projects::reject_deleted(&project)?;
    Ok((project, chat))
}
