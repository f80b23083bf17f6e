//! AI agent tasks: listing, counting, creating, reporting progress, appending log lines,
//! deleting. Every statement is scoped by the `access` module.
//!
//! A user creates tasks; the user and the service role (an agent backend with the service
//! key) may update them and append log lines. Log lines are rows of `task_logs`, numbered
//! per task under a lock on the task row, so concurrent appends all land, in order.

use entity::enums::{TaskLogType, TaskStatus};
use entity::{task, task_log};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
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

impl Keyed for task::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const PROMPT_MAX: usize = 100_000;
const URL_MAX: usize = 2048;
const AGENT_MAX: usize = 100;
const MODEL_MAX: usize = 200;
const BRANCH_MAX: usize = 255;
const LOG_MESSAGE_MAX: usize = 100_000;
/// The agent a task gets when the input names none.
pub const DEFAULT_AGENT: &str = "claude";
/// Every status, in the order `taskCounts` lists them.
pub const ALL_STATUSES: [TaskStatus; 4] = [
    TaskStatus::Pending,
    TaskStatus::Processing,
    TaskStatus::Completed,
    TaskStatus::Error,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, async_graphql::Enum)]
pub enum TaskOrder {
    #[default]
    CreatedAtDesc,
    CreatedAtAsc,
    UpdatedAtDesc,
}

fn column(c: task::Column) -> Expr {
    Expr::col((task::Entity, c))
}

impl TaskOrder {
    pub fn sort(self) -> Sort {
        let id = column(task::Column::Id);
        match self {
            TaskOrder::CreatedAtDesc => Sort::new("task:created_desc", id).then(
                column(task::Column::CreatedAt),
                true,
                KeyKind::Timestamp,
            ),
            TaskOrder::CreatedAtAsc => Sort::new("task:created_asc", id).then(
                column(task::Column::CreatedAt),
                false,
                KeyKind::Timestamp,
            ),
            TaskOrder::UpdatedAtDesc => Sort::new("task:updated_desc", id).then(
                column(task::Column::UpdatedAt),
                true,
                KeyKind::Timestamp,
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Any of these statuses; an empty list matches no task.
    pub status: Option<Vec<TaskStatus>>,
    /// Exactly this repository URL.
    pub repo_url: Option<String>,
}

/// The select behind `viewer.tasks`: the viewer's own tasks.
pub fn viewer_tasks_query(viewer: &Viewer, filter: &TaskFilter) -> SelectStatement {
    let mut cond = Condition::all().add(access::own_tasks(viewer));
    if let Some(statuses) = &filter.status {
        cond = cond.add(task::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(url) = &filter.repo_url {
        cond = cond.add(task::Column::RepoUrl.eq(url.as_str()));
    }
    task::Entity::find().filter(cond).into_query()
}

/// Log lines of readable tasks, oldest first; the parent expression is the task id.
pub fn readable_logs_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        task_log::Entity::find()
            .filter(access::readable_task_logs(viewer))
            .order_by(task_log::Column::Sequence, Order::Asc)
            .into_query(),
        Expr::col((task_log::Entity, task_log::Column::TaskId)),
    )
}

/// A task the viewer may read, or `None`.
pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id)
        .filter(access::readable_tasks(viewer))
        .one(db)
        .await?)
}

/// The task, locked for the rest of the transaction (on Postgres; on SQLite the
/// IMMEDIATE transaction already holds the write lock), or `NOT_FOUND`. Whoever may read
/// a task may change it, so there is no `FORBIDDEN` case.
async fn lock_editable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<task::Model> {
    let mut select = task::Entity::find_by_id(id).filter(access::editable_tasks(viewer));
    if db.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    select
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("task"))
}

/// How many of the viewer's tasks have each status, counted in the database; every
/// status is listed, in `ALL_STATUSES` order, those without tasks with 0.
pub async fn status_counts(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
) -> AppResult<Vec<(TaskStatus, i64)>> {
    let rows: Vec<(TaskStatus, i64)> = task::Entity::find()
        .select_only()
        .column(task::Column::Status)
        .column_as(column(task::Column::Id).count(), "n")
        .filter(access::own_tasks(viewer))
        .group_by(task::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ALL_STATUSES
        .iter()
        .map(|status| {
            let n = rows
                .iter()
                .find(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (*status, n)
        })
        .collect())
}

/// Not blank and at most `max` characters; the text itself is kept as given.
fn required_text(what: &str, value: &str, max: usize) -> AppResult<()> {
    validate::required_text(what, value, max).map(|_| ())
}

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub prompt: String,
    pub repo_url: Option<String>,
    /// `None`: the default agent.
    pub selected_agent: Option<String>,
    pub selected_model: Option<String>,
    pub branch_name: Option<String>,
}

/// Creates a PENDING task at progress 0 for the viewer; the service role creates none.
pub async fn create_task(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: NewTask,
) -> AppResult<task::Model> {
    let owner = access::require_user(viewer)?;
    required_text("prompt", &input.prompt, PROMPT_MAX)?;
    let agent = input
        .selected_agent
        .unwrap_or_else(|| DEFAULT_AGENT.to_owned());
    required_text("selectedAgent", &agent, AGENT_MAX)?;
    validate::optional_text("repoUrl", input.repo_url.as_ref(), URL_MAX)?;
    validate::optional_text("selectedModel", input.selected_model.as_ref(), MODEL_MAX)?;
    validate::optional_text("branchName", input.branch_name.as_ref(), BRANCH_MAX)?;
    let now = db::now();
    let row = task::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(owner),
        status: Set(TaskStatus::Pending),
        progress: Set(0),
        prompt: Set(input.prompt),
        repo_url: Set(input.repo_url),
        selected_agent: Set(agent),
        selected_model: Set(input.selected_model),
        sandbox_url: Set(None),
        branch_name: Set(input.branch_name),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = db::begin_write(db).await?;
    let created = row.insert(&txn).await?;
    realtime::commit(txn, &[Event::task(created.id)]).await?;
    Ok(created)
}

/// Changes to a task: `None` keeps a field; `Some(None)` clears a nullable one (and is
/// `BAD_USER_INPUT` for `status` and `progress`).
/// Changes to a task: absent fields stay, a null model, sandbox URL or branch clears it.
#[derive(Debug, Default)]
pub struct TaskPatch {
    pub status: UnrequiredField<TaskStatus>,
    pub progress: UnrequiredField<i32>,
    pub selected_model: UnrequiredNullableField<String>,
    pub sandbox_url: UnrequiredNullableField<String>,
    pub branch_name: UnrequiredNullableField<String>,
}

/// Applies `patch` to a task the viewer may change: one read (locking the row on
/// Postgres), one write scoped by `editable_tasks`. A task answers the input's shape (a
/// refused null) before anything else, as it always has.
pub async fn update_task(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<TaskPatch>,
) -> AppResult<task::Model> {
    let patch = patch?;
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = lock_editable(&txn, viewer, id).await?;
    if let Some(p) = patch.progress.value() {
        validate::percentage("progress", *p)?;
    }
    for (what, value, max) in [
        ("selectedModel", &patch.selected_model, MODEL_MAX),
        ("sandboxUrl", &patch.sandbox_url, URL_MAX),
        ("branchName", &patch.branch_name, BRANCH_MAX),
    ] {
        validate::optional_text(what, value.value(), max)?;
    }
    let mut row: task::ActiveModel = current.into();
    patch.status.apply(&mut row.status);
    patch.progress.apply(&mut row.progress);
    patch.selected_model.apply(&mut row.selected_model);
    patch.sandbox_url.apply(&mut row.sandbox_url);
    patch.branch_name.apply(&mut row.branch_name);
    row.updated_at = Set(db::now());
    let updated = patch::write(&txn, row, access::editable_tasks(viewer), || {
        AppError::not_found("task")
    })
    .await?;
    realtime::commit(txn, &[Event::task(updated.id)]).await?;
    Ok(updated)
}

#[derive(Debug, Clone)]
pub struct NewLogLine {
    pub log_type: TaskLogType,
    pub message: String,
}

/// Appends a log line at the task's next sequence and moves its `updatedAt`. The task
/// row is locked first, so concurrent appends queue and each reads the highest sequence
/// only after the previous one committed; the unique (task, sequence) index backs this.
pub async fn append_log(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    line: NewLogLine,
) -> AppResult<task::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = lock_editable(&txn, viewer, id).await?;
    required_text("message", &line.message, LOG_MESSAGE_MAX)?;
    let highest: Option<i32> = task_log::Entity::find()
        .select_only()
        .column_as(task_log::Column::Sequence.max(), "highest")
        .filter(task_log::Column::TaskId.eq(id))
        .filter(access::readable_task_logs(viewer))
        .into_tuple::<Option<i32>>()
        .one(&txn)
        .await?
        .flatten();
    let next = highest
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| AppError::Conflict("the task has no log sequence left".to_owned()))?;
    let now = db::now();
    task_log::ActiveModel {
        id: Set(Uuid::new_v4()),
        task_id: Set(id),
        sequence: Set(next),
        log_type: Set(line.log_type),
        message: Set(line.message),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut row: task::ActiveModel = current.into();
    row.updated_at = Set(now);
    let updated = row.update(&txn).await?;
    realtime::commit(txn, &[Event::task(updated.id)]).await?;
    Ok(updated)
}

/// Deletes a task (and its log lines); returns its id.
pub async fn delete_task(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = lock_editable(&txn, viewer, id).await?;
    task::Entity::delete_many()
        .filter(task::Column::Id.eq(id))
        .filter(access::editable_tasks(viewer))
        .exec(&txn)
        .await?;
    realtime::commit(txn, &[Event::task_deleted(id, current.user_id)]).await?;
    Ok(id)
}

/// Deletes the viewer's own tasks that have any of `statuses`; returns how many. Needs a
/// user: the service role has no task list of its own (`FORBIDDEN`).
pub async fn delete_by_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    statuses: &[TaskStatus],
) -> AppResult<u64> {
    access::require_own_scope(viewer)?;
    if statuses.is_empty() {
        return Ok(0);
    }
    let txn = db::begin_write(db).await?;
    let deleted = task::Entity::delete_many()
        .filter(access::own_tasks(viewer))
        .filter(task::Column::Status.is_in(statuses.iter().copied()))
        .exec_with_returning(&txn)
        .await?;
    let events: Vec<Event> = deleted
        .iter()
        .map(|t| Event::task_deleted(t.id, t.user_id))
        .collect();
    realtime::commit(txn, &events).await?;
    Ok(deleted.len() as u64)
}
