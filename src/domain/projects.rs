//! Projects: listing, reading, creating, changing, soft delete, restore, permanent delete,
//! and the plain project↔chat link insert (`filing` checks both ends). Every statement is
//! scoped by the `access` module.

use entity::enums::ProjectStatus;
use entity::{project, project_conversation};
use sea_orm::sea_query::{Condition, Expr, Func, OnConflict, Order, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::patch::{self, find_checked, Checked, UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::realtime::{self, Event};
use crate::validate;

impl Keyed for project::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, async_graphql::Enum)]
pub enum ProjectOrder {
    #[default]
    UpdatedAtDesc,
    UpdatedAtAsc,
    CreatedAtDesc,
    CreatedAtAsc,
    TitleAsc,
}

fn column(c: project::Column) -> Expr {
    Expr::col((project::Entity, c))
}

impl ProjectOrder {
    pub fn sort(self) -> Sort {
        let id = column(project::Column::Id);
        match self {
            ProjectOrder::UpdatedAtDesc => Sort::new("project:updated_desc", id).then(
                column(project::Column::UpdatedAt),
                true,
                KeyKind::Timestamp,
            ),
            ProjectOrder::UpdatedAtAsc => Sort::new("project:updated_asc", id).then(
                column(project::Column::UpdatedAt),
                false,
                KeyKind::Timestamp,
            ),
            ProjectOrder::CreatedAtDesc => Sort::new("project:created_desc", id).then(
                column(project::Column::CreatedAt),
                true,
                KeyKind::Timestamp,
            ),
            ProjectOrder::CreatedAtAsc => Sort::new("project:created_asc", id).then(
                column(project::Column::CreatedAt),
                false,
                KeyKind::Timestamp,
            ),
            ProjectOrder::TitleAsc => Sort::new("project:title_asc", id).then(
                Func::lower(column(project::Column::Title)).into(),
                false,
                KeyKind::Text,
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub status: Option<ProjectStatus>,
    pub team_id: Option<Uuid>,
    pub is_public: Option<bool>,
    pub title_contains: Option<String>,
}

/// The select behind `viewer.projects`: the viewer's own and team projects.
/// `backend` decides how `titleContains` ignores case ([`db::contains_ignoring_case`]).
pub fn viewer_projects_query(
    viewer: &Viewer,
    filter: &ProjectFilter,
    backend: sea_orm::DbBackend,
) -> SelectStatement {
    let mut cond = Condition::all().add(access::own_projects(viewer));
    match filter.status {
        Some(status) => cond = cond.add(project::Column::Status.eq(status)),
        None => cond = cond.add(project::Column::Status.ne(ProjectStatus::Deleted)),
    }
    if let Some(team) = filter.team_id {
        cond = cond.add(project::Column::TeamId.eq(team));
    }
    if let Some(public) = filter.is_public {
        cond = cond.add(project::Column::IsPublic.eq(public));
    }
    if let Some(needle) = &filter.title_contains {
        cond = cond.add(db::contains_ignoring_case(
            backend,
            column(project::Column::Title),
            needle,
        ));
    }
    project::Entity::find().filter(cond).into_query()
}

/// The select behind `publicProjects`: public ACTIVE projects.
pub fn public_projects_query(viewer: &Viewer) -> SelectStatement {
    project::Entity::find()
        .filter(access::readable_projects(viewer))
        .filter(project::Column::IsPublic.eq(true))
        .filter(project::Column::Status.eq(ProjectStatus::Active))
        .into_query()
}

/// The projects the viewer may read, as a statement to narrow or nest.
pub fn readable_projects_query(viewer: &Viewer) -> SelectStatement {
    project::Entity::find()
        .filter(access::readable_projects(viewer))
        .into_query()
}

/// `Conversation.projects`: the readable, not deleted projects holding chats, newest
/// first, joined to their links; the parent expression is the chat's id.
pub fn chat_projects_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    let select = project::Entity::find()
        .join(
            JoinType::InnerJoin,
            project_conversation::Relation::Project.def().rev(),
        )
        .filter(access::readable_projects(viewer))
        .filter(project::Column::Status.ne(ProjectStatus::Deleted))
        .order_by(project::Column::UpdatedAt, Order::Desc)
        .order_by(project::Column::Id, Order::Desc)
        .into_query();
    let parent = Expr::col((
        project_conversation::Entity,
        project_conversation::Column::ConversationId,
    ));
    (select, parent)
}

/// A project the viewer may read, or `None`.
pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<project::Model>> {
    Ok(project::Entity::find_by_id(id)
        .filter(access::readable_projects(viewer))
        .one(db)
        .await?)
}

/// The project if readable (`NOT_FOUND` otherwise) and inside `allowed` (`FORBIDDEN`), in
/// one statement.
async fn find_allowed(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
    allowed: Condition,
    refusal: &str,
) -> AppResult<project::Model> {
    let Checked {
        row,
        holds: [allowed],
    } = find_checked::<project::Entity, 1>(
        db,
        id,
        access::readable_projects(viewer),
        [allowed],
        false,
    )
    .await?
    .ok_or_else(|| AppError::not_found("project"))?;
    if !allowed {
        return Err(AppError::Forbidden(refusal.to_owned()));
    }
    Ok(row)
}

const EDIT_REFUSAL: &str = "you may read this project but not change it";
const DELETE_REFUSAL: &str = "only the project's owner may delete or restore it";

/// The project if readable (`NOT_FOUND` otherwise) and editable (`FORBIDDEN` otherwise).
pub async fn find_editable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<project::Model> {
    find_allowed(
        db,
        viewer,
        id,
        access::editable_projects(viewer),
        EDIT_REFUSAL,
    )
    .await
}

async fn find_deletable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<project::Model> {
    find_allowed(
        db,
        viewer,
        id,
        access::deletable_projects(viewer),
        DELETE_REFUSAL,
    )
    .await
}

/// `CONFLICT` for a deleted project: restore it before using it.
pub fn reject_deleted(project: &project::Model) -> AppResult<()> {
    if project.status == ProjectStatus::Deleted {
        return Err(AppError::Conflict(
            "the project is deleted; restore it first".to_owned(),
        ));
    }
    Ok(())
}

const TITLE_MAX: usize = 500;
const DESCRIPTION_MAX: usize = 20_000;

#[derive(Debug, Clone)]
pub struct NewProject {
    pub title: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub team_id: Option<Uuid>,
    pub metadata: Option<serde_json::Value>,
}

pub async fn create_project(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: NewProject,
) -> AppResult<project::Model> {
    let owner = access::require_user(viewer)?;
    let title = validate::required_text("title", &input.title, TITLE_MAX)?;
    if let Some(d) = &input.description {
        validate::text_len("description", d, DESCRIPTION_MAX)?;
    }
    let now = db::now();
    let row = project::ActiveModel {
        id: Set(Uuid::new_v4()),
        owner_id: Set(owner),
        team_id: Set(input.team_id),
        title: Set(title),
        description: Set(input.description),
        status: Set(ProjectStatus::Active),
        is_public: Set(input.is_public),
        metadata: Set(input.metadata.unwrap_or_else(validate::empty_object)),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    };
    let txn = db::begin_write(db).await?;
    if let Some(team_id) = input.team_id {
        // Any member may create a project in their team (they own it). The team row stays
        // locked until the commit, so the viewer cannot be removed in between.
        crate::domain::teams::enter(&txn, viewer, team_id).await?;
    }
    let created = row.insert(&txn).await?;
    txn.commit().await?;
    Ok(created)
}

/// Changes to a project: absent fields stay, a null description clears it.
#[derive(Debug, Default)]
pub struct ProjectPatch {
    pub title: UnrequiredField<String>,
    pub description: UnrequiredNullableField<String>,
    pub is_public: UnrequiredField<bool>,
    pub status: UnrequiredField<ProjectStatus>,
    pub metadata: UnrequiredField<serde_json::Value>,
}

/// Applies `patch` to a project the viewer may edit (setting status DELETED needs the
/// right to delete). One read (readable, with whether editable and deletable hold), then
/// the input, then one write scoped by `editable_projects`.
pub async fn update_project(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<ProjectPatch>,
) -> AppResult<project::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let Checked {
        row: current,
        holds: [editable, deletable],
    } = find_checked::<project::Entity, 2>(
        &txn,
        id,
        access::readable_projects(viewer),
        [
            access::editable_projects(viewer),
            access::deletable_projects(viewer),
        ],
        false,
    )
    .await?
    .ok_or_else(|| AppError::not_found("project"))?;
    if !editable {
        return Err(AppError::Forbidden(EDIT_REFUSAL.to_owned()));
    }
    let patch = patch?;
    if patch.status.value() == Some(&ProjectStatus::Deleted) && !deletable {
        return Err(AppError::Forbidden(DELETE_REFUSAL.to_owned()));
    }
    let title = patch
        .title
        .try_map(|t| validate::required_text("title", &t, TITLE_MAX))?;
    if let Some(d) = patch.description.value() {
        validate::text_len("description", d, DESCRIPTION_MAX)?;
    }
    reject_deleted(&current)?;
    let now = db::now();
    let mut row: project::ActiveModel = current.into();
    title.apply(&mut row.title);
    patch.description.apply(&mut row.description);
    patch.is_public.apply(&mut row.is_public);
    patch.metadata.apply(&mut row.metadata);
    if let UnrequiredField::Some(status) = patch.status {
        row.status = Set(status);
        if status == ProjectStatus::Deleted {
            row.deleted_at = Set(Some(now));
        }
    }
    row.updated_at = Set(now);
    let updated = patch::write(&txn, row, access::editable_projects(viewer), || {
        AppError::Forbidden(EDIT_REFUSAL.to_owned())
    })
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Soft delete (status DELETED, deletedAt set), or permanent removal with its links.
pub async fn delete_project(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    permanent: bool,
) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_deletable(&txn, viewer, id).await?;
    if permanent {
        // Its team's members may have read its chats only through it.
        let events: Vec<Event> = if current.team_id.is_some() {
            team_filed_chats(&txn, Condition::all().add(project::Column::Id.eq(id)))
                .await?
                .into_iter()
                .map(Event::conversation_access)
                .collect()
        } else {
            Vec::new()
        };
        project::Entity::delete_many()
            .filter(project::Column::Id.eq(id))
            .filter(access::deletable_projects(viewer))
            .exec(&txn)
            .await?;
        realtime::commit(txn, &events).await?;
        return Ok(id);
    } else if current.status != ProjectStatus::Deleted {
        let now = db::now();
        let mut row: project::ActiveModel = current.into();
        row.status = Set(ProjectStatus::Deleted);
        row.deleted_at = Set(Some(now));
        row.updated_at = Set(now);
        row.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(id)
}

/// Returns a DELETED project to ACTIVE; any other project is returned unchanged.
pub async fn restore_project(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<project::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_deletable(&txn, viewer, id).await?;
    let result = if current.status == ProjectStatus::Deleted {
        let mut row: project::ActiveModel = current.into();
        row.status = Set(ProjectStatus::Active);
        row.deleted_at = Set(None);
        row.updated_at = Set(db::now());
        row.update(&txn).await?
    } else {
        current
    };
    txn.commit().await?;
    Ok(result)
}

/// The chats filed in the team projects `which` selects (a condition on `projects`): the
/// chats whose readers shrink when those projects go.
pub async fn team_filed_chats(db: &impl ConnectionTrait, which: Condition) -> AppResult<Vec<Uuid>> {
    Ok(project_conversation::Entity::find()
        .select_only()
        .column(project_conversation::Column::ConversationId)
        .join(
            JoinType::InnerJoin,
            project_conversation::Relation::Project.def(),
        )
        .filter(which)
        .filter(project::Column::TeamId.is_not_null())
        .distinct()
        .into_tuple::<Uuid>()
        .all(db)
        .await?)
}

/// Inserts the project↔chat link unless it exists.
pub async fn file_chat(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    conversation_id: Uuid,
) -> AppResult<()> {
    project_conversation::Entity::insert(project_conversation::ActiveModel {
        project_id: Set(project_id),
        conversation_id: Set(conversation_id),
        created_at: Set(db::now()),
    })
    .on_conflict(
        OnConflict::columns([
            project_conversation::Column::ProjectId,
            project_conversation::Column::ConversationId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
