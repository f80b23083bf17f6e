//! Goals. A goal's status and its `completedAt`/progress change in one write: becoming
//! COMPLETED sets `completedAt` and progress 100 (a COMPLETED goal always shows 100);
//! leaving COMPLETED clears `completedAt`. Progress outside 0..=100 is `BAD_USER_INPUT`.

use chrono::NaiveDate;
use entity::enums::GoalStatus;
use entity::goal;
use sea_orm::sea_query::{Condition, Expr, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::patch::{self, UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::realtime::{self, Event};
use crate::validate;
use crate::validate::empty_object;

impl Keyed for goal::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const TITLE_MAX: usize = 500;
const DESCRIPTION_MAX: usize = 20_000;
const CATEGORY_MAX: usize = 100;

/// Goals: newest first.
pub fn goal_sort() -> Sort {
    Sort::new(
        "goal:created_desc",
        Expr::col((goal::Entity, goal::Column::Id)),
    )
    .then(
        Expr::col((goal::Entity, goal::Column::CreatedAt)),
        true,
        KeyKind::Timestamp,
    )
}

#[derive(Debug, Clone, Default)]
pub struct GoalFilter {
    pub status: Option<GoalStatus>,
    pub category: Option<String>,
}

/// The select behind `viewer.goals`.
pub fn viewer_goals_query(viewer: &Viewer, filter: &GoalFilter) -> SelectStatement {
    let mut cond = Condition::all().add(access::readable_goals(viewer));
    if let Some(status) = filter.status {
        cond = cond.add(goal::Column::Status.eq(status));
    }
    if let Some(category) = &filter.category {
        cond = cond.add(goal::Column::Category.eq(category.clone()));
    }
    goal::Entity::find().filter(cond).into_query()
}

/// A goal the viewer may read, or `None`.
pub async fn find_goal(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<goal::Model>> {
    Ok(goal::Entity::find_by_id(id)
        .filter(access::readable_goals(viewer))
        .one(db)
        .await?)
}

/// A goal the viewer may change (the readable ones are exactly those), else `NOT_FOUND`.
pub async fn find_editable_goal(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<goal::Model> {
    find_goal(db, viewer, id)
        .await?
        .ok_or_else(|| AppError::not_found("goal"))
}

#[derive(Debug, Clone, Default)]
pub struct NewGoal {
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub target_date: Option<NaiveDate>,
    pub metadata: Option<serde_json::Value>,
}

pub async fn create_goal(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: NewGoal,
) -> AppResult<goal::Model> {
    let owner = access::require_user(viewer)?;
    let title = validate::required_text("title", &input.title, TITLE_MAX)?;
    validate::optional_text("description", input.description.as_ref(), DESCRIPTION_MAX)?;
    validate::optional_text("category", input.category.as_ref(), CATEGORY_MAX)?;
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let created = goal::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(owner),
        title: Set(title),
        description: Set(input.description),
        category: Set(input.category),
        target_date: Set(input.target_date),
        status: Set(GoalStatus::Active),
        progress: Set(0),
        metadata: Set(input.metadata.unwrap_or_else(empty_object)),
        created_at: Set(now),
        updated_at: Set(now),
        completed_at: Set(None),
    }
    .insert(&txn)
    .await?;
    realtime::commit(txn, &[Event::goal(created.id)]).await?;
    Ok(created)
}

/// Changes to a goal: absent fields stay, a null description, category or target date
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct GoalPatch {
    pub title: UnrequiredField<String>,
    pub description: UnrequiredNullableField<String>,
    pub category: UnrequiredNullableField<String>,
    pub target_date: UnrequiredNullableField<NaiveDate>,
    pub status: UnrequiredField<GoalStatus>,
    pub progress: UnrequiredField<i32>,
    pub metadata: UnrequiredField<serde_json::Value>,
}

/// Applies `patch` to a goal of the viewer: one read, then the input, then one write
/// scoped by `editable_goals`.
pub async fn update_goal(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<GoalPatch>,
) -> AppResult<goal::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_editable_goal(&txn, viewer, id).await?;
    let patch = patch?;
    let title = patch
        .title
        .try_map(|t| validate::required_text("title", &t, TITLE_MAX))?;
    validate::optional_text("description", patch.description.value(), DESCRIPTION_MAX)?;
    validate::optional_text("category", patch.category.value(), CATEGORY_MAX)?;
    if let Some(p) = patch.progress.value() {
        validate::percentage("progress", *p)?;
    }
    let now = db::now();
    let was_completed = current.status == GoalStatus::Completed;
    let previous_completed_at = current.completed_at;
    let status = patch.status.value().copied().unwrap_or(current.status);
    let mut row: goal::ActiveModel = current.into();
    title.apply(&mut row.title);
    patch.description.apply(&mut row.description);
    patch.category.apply(&mut row.category);
    patch.target_date.apply(&mut row.target_date);
    patch.metadata.apply(&mut row.metadata);
    patch.progress.apply(&mut row.progress);
    row.status = Set(status);
    if status == GoalStatus::Completed {
        row.progress = Set(100);
        row.completed_at = Set(match (was_completed, previous_completed_at) {
            (true, Some(at)) => Some(at),
            _ => Some(now),
        });
    } else {
        row.completed_at = Set(None);
    }
    row.updated_at = Set(now);
    let updated = patch::write(&txn, row, access::editable_goals(viewer), || {
        AppError::not_found("goal")
    })
    .await?;
    realtime::commit(txn, &[Event::goal(updated.id)]).await?;
    Ok(updated)
}

pub async fn delete_goal(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_editable_goal(&txn, viewer, id).await?;
    goal::Entity::delete_many()
        .filter(goal::Column::Id.eq(id))
        .filter(access::editable_goals(viewer))
        .exec(&txn)
        .await?;
    realtime::commit(txn, &[Event::goal_deleted(id, current.user_id)]).await?;
    Ok(id)
}
