//! GraphQL part of the [tasks] section: the `Task` object and its log lines (loaded for
//! all tasks of a query level in one statement), `viewer.tasks`/`taskCounts`, `task(id)`
//! and the task mutations. Thin: arguments in, a `tasks` operation or a loader, objects out.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::enums::{TaskLogType, TaskStatus};
use entity::{task, task_log};
use uuid::Uuid;

use crate::domain::tasks::{self, NewLogLine, NewTask, TaskFilter, TaskOrder, TaskPatch};
use crate::error::AppResult;
use crate::graphql::connection::connection;
use crate::graphql::connection::root_page;
use crate::graphql::graphql_int;
use crate::graphql::node_id::NodeId;
use crate::graphql::values::{nullable, required};
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Clone)]
pub struct Task(pub task::Model);

#[Object]
impl Task {
    pub(crate) async fn node_id(&self) -> ID {
        NodeId::Task(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn status(&self) -> TaskStatus {
        self.0.status
    }
    /// 0..100
    async fn progress(&self) -> i32 {
        self.0.progress
    }
    async fn prompt(&self) -> &str {
        &self.0.prompt
    }
    async fn repo_url(&self) -> Option<&str> {
        self.0.repo_url.as_deref()
    }
    async fn selected_agent(&self) -> &str {
        &self.0.selected_agent
    }
    async fn selected_model(&self) -> Option<&str> {
        self.0.selected_model.as_deref()
    }
    async fn sandbox_url(&self) -> Option<&str> {
        self.0.sandbox_url.as_deref()
    }
    async fn branch_name(&self) -> Option<&str> {
        self.0.branch_name.as_deref()
    }
    /// Oldest first.
    async fn logs(&self, ctx: &Context<'_>) -> Result<Vec<TaskLog>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(rc
            .loaders
            .task_logs
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(TaskLog)
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct TaskLog(pub task_log::Model);

#[Object]
impl TaskLog {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    #[graphql(name = "type")]
    async fn log_type(&self) -> TaskLogType {
        self.0.log_type
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn timestamp(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// How many of the viewer's tasks have a status.
#[derive(SimpleObject)]
pub struct TaskStatusCount {
    pub status: TaskStatus,
    pub count: i32,
}

connection!(TaskConnection, TaskEdge, Task, task::Model);

#[derive(InputObject, Default)]
#[graphql(name = "TaskFilter")]
pub struct TaskFilterInput {
    /// Tasks with any of these statuses (an empty list matches none).
    pub status: Option<Vec<TaskStatus>>,
    /// Tasks of exactly this repository URL.
    pub repo_url: Option<String>,
}

impl From<TaskFilterInput> for TaskFilter {
    fn from(f: TaskFilterInput) -> Self {
        TaskFilter {
            status: f.status,
            repo_url: f.repo_url,
        }
    }
}

/// The [tasks] fields of `Viewer`.
pub struct ViewerTasks;

#[Object]
impl ViewerTasks {
    /// The viewer's own tasks.
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    #[allow(clippy::too_many_arguments)]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<TaskFilterInput>,
        #[graphql(default_with = "Some(TaskOrder::CreatedAtDesc)")] order_by: Option<TaskOrder>,
    ) -> Result<TaskConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let filter = filter.map(TaskFilter::from).unwrap_or_default();
        let base = tasks::viewer_tasks_query(&rc.viewer, &filter);
        let sort = order_by.unwrap_or_default().sort();
        let (page, total) = root_page(
            rc,
            base,
            &sort,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await?;
        Ok(TaskConnection::new(page, total))
    }

    /// How many of the viewer's tasks have each status: all four statuses, always, in
    /// the order PENDING, PROCESSING, COMPLETED, ERROR (those without tasks with 0).
    async fn task_counts(&self, ctx: &Context<'_>) -> Result<Vec<TaskStatusCount>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(tasks::status_counts(&rc.db, &rc.viewer)
            .await?
            .into_iter()
            .map(|(status, count)| TaskStatusCount {
                status,
                count: graphql_int(count),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct TasksQuery;

#[Object]
impl TasksQuery {
    /// null when it does not exist or the viewer may not read it.
    async fn task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Task>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(tasks::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(Task))
    }
}

#[derive(InputObject)]
pub struct CreateTaskInput {
    pub prompt: String,
    pub repo_url: Option<String>,
    /// null or absent: "claude".
    #[graphql(default_with = "Some(tasks::DEFAULT_AGENT.to_owned())")]
    pub selected_agent: Option<String>,
    pub selected_model: Option<String>,
    pub branch_name: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateTaskInput {
    pub status: MaybeUndefined<TaskStatus>,
    /// 0..100
    pub progress: MaybeUndefined<i32>,
    pub selected_model: MaybeUndefined<String>,
    pub sandbox_url: MaybeUndefined<String>,
    pub branch_name: MaybeUndefined<String>,
}

impl UpdateTaskInput {
    /// The patch, or why a null was refused (the operation reports it in its order).
    fn into_patch(self) -> AppResult<TaskPatch> {
        Ok(TaskPatch {
            status: required("status", self.status)?,
            progress: required("progress", self.progress)?,
            selected_model: nullable(self.selected_model),
            sandbox_url: nullable(self.sandbox_url),
            branch_name: nullable(self.branch_name),
        })
    }
}

#[derive(InputObject)]
pub struct TaskLogInput {
    /// null or absent: INFO.
    #[graphql(name = "type", default_with = "Some(TaskLogType::Info)")]
    pub log_type: Option<TaskLogType>,
    pub message: String,
}

#[derive(Default)]
pub struct TasksMutation;

#[Object]
impl TasksMutation {
    /// A PENDING task at progress 0 for the signed-in user (not the service role).
    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> Result<Task> {
        let rc = ctx.data::<RequestCtx>()?;
        let created = tasks::create_task(
            &rc.db,
            &rc.viewer,
            NewTask {
                prompt: input.prompt,
                repo_url: input.repo_url,
                selected_agent: input.selected_agent,
                selected_model: input.selected_model,
                branch_name: input.branch_name,
            },
        )
        .await?;
        Ok(Task(created))
    }

    /// The task's owner or the service role (an agent backend reporting progress).
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateTaskInput,
    ) -> Result<Task> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Task(
            tasks::update_task(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    /// Adds a log line after the task's others; concurrent appends all land.
    async fn append_task_log(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: TaskLogInput,
    ) -> Result<Task> {
        let rc = ctx.data::<RequestCtx>()?;
        let line = NewLogLine {
            log_type: input.log_type.unwrap_or(TaskLogType::Info),
            message: input.message,
        };
        Ok(Task(tasks::append_log(&rc.db, &rc.viewer, id, line).await?))
    }

    /// Returns the id.
    async fn delete_task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(tasks::delete_task(&rc.db, &rc.viewer, id).await?)
    }

    /// Deletes the viewer's own tasks with any of these statuses; returns how many.
    async fn delete_tasks_by_status(
        &self,
        ctx: &Context<'_>,
        statuses: Vec<TaskStatus>,
    ) -> Result<i32> {
        let rc = ctx.data::<RequestCtx>()?;
        let deleted = tasks::delete_by_status(&rc.db, &rc.viewer, &statuses).await?;
        Ok(graphql_int(deleted))
    }
}
