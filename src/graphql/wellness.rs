//! GraphQL parts of the [wellness] section: goals, journal entries, progress metrics and
//! statistics. Thin resolvers over `crate::domain::wellness`.

use std::borrow::Cow;

use async_graphql::registry::Registry;
use async_graphql::{
    Context, InputObject, InputType, InputValueError, InputValueResult, Json, MaybeUndefined,
    Object, Result, SimpleObject, Value, ID,
};
use chrono::{DateTime, Utc};
use entity::enums::GoalStatus;
use entity::{goal, journal_entry, progress_metric};
use uuid::Uuid;

use crate::domain::wellness::goals::{self, GoalFilter, GoalPatch, NewGoal};
use crate::domain::wellness::journal::{self, JournalFilter, JournalPatch, NewJournalEntry};
use crate::domain::wellness::{progress, statistics};
use crate::error::AppResult;
use crate::graphql::connection::connection;
use crate::graphql::connection::root_page;
use crate::graphql::date::Date;
use crate::graphql::graphql_int;
use crate::graphql::node_id::NodeId;
use crate::graphql::values::json;
use crate::graphql::values::{json_value, nullable, required};
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Clone)]
pub struct Goal(pub goal::Model);

#[Object]
impl Goal {
    pub async fn node_id(&self) -> ID {
        NodeId::Goal(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn target_date(&self) -> Option<Date> {
        self.0.target_date.map(Date)
    }
    async fn status(&self) -> GoalStatus {
        self.0.status
    }
    /// 0..100; 100 while the goal is COMPLETED.
    async fn progress(&self) -> i32 {
        self.0.progress
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
    /// Set when the status becomes COMPLETED, cleared when it leaves it.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

#[derive(Clone)]
pub struct JournalEntry(pub journal_entry::Model);

#[Object]
impl JournalEntry {
    pub async fn node_id(&self) -> ID {
        NodeId::JournalEntry(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn content(&self) -> &str {
        &self.0.content
    }
    async fn mood(&self) -> Option<&str> {
        self.0.mood.as_deref()
    }
    async fn tags(&self) -> Vec<String> {
        journal::tags_of(&self.0)
    }
    async fn is_private(&self) -> bool {
        self.0.is_private
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

connection!(GoalConnection, GoalEdge, Goal, goal::Model);
connection!(
    JournalEntryConnection,
    JournalEntryEdge,
    JournalEntry,
    journal_entry::Model
);

/// One value per metric type per user.
pub struct ProgressMetric(pub progress_metric::Model);

#[Object]
impl ProgressMetric {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn metric_type(&self) -> &str {
        &self.0.metric_type
    }
    async fn value(&self) -> f64 {
        self.0.value
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

#[derive(SimpleObject)]
pub struct UserStatistics {
    pub total_conversations: i32,
    pub total_messages: i32,
    pub active_goals: i32,
    pub completed_goals: i32,
    pub journal_entries: i32,
    /// The newest `createdAt` among the viewer's conversations.
    pub last_conversation_at: Option<DateTime<Utc>>,
}

impl From<statistics::UserStatistics> for UserStatistics {
    fn from(s: statistics::UserStatistics) -> Self {
        UserStatistics {
            total_conversations: graphql_int(s.total_conversations),
            total_messages: graphql_int(s.total_messages),
            active_goals: graphql_int(s.active_goals),
            completed_goals: graphql_int(s.completed_goals),
            journal_entries: graphql_int(s.journal_entries),
            last_conversation_at: s.last_conversation_at,
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "GoalFilter")]
pub struct GoalFilterInput {
    pub status: Option<GoalStatus>,
    pub category: Option<String>,
}

/// Newest first.
#[derive(InputObject, Default)]
#[graphql(name = "JournalEntryFilter")]
pub struct JournalEntryFilterInput {
    pub tag: Option<String>,
    pub mood: Option<String>,
    /// Strictly after.
    pub created_after: Option<DateTime<Utc>>,
    /// Strictly before.
    pub created_before: Option<DateTime<Utc>>,
}

/// The [wellness] fields of `Viewer`.
pub struct ViewerWellness;

#[Object]
impl ViewerWellness {
    /// The viewer's goals, newest first.
    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn goals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<GoalFilterInput>,
    ) -> Result<GoalConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let filter = filter
            .map(|f| GoalFilter {
                status: f.status,
                category: f.category,
            })
            .unwrap_or_default();
        let base = goals::viewer_goals_query(&rc.viewer, &filter);
        let (page, total) = root_page(
            rc,
            base,
            &goals::goal_sort(),
            PageArgs {
                first,
                after,
                ..Default::default()
            },
        )
        .await?;
        Ok(GoalConnection::new(page, total))
    }

    /// The viewer's journal, newest first.
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    async fn journal_entries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<JournalEntryFilterInput>,
    ) -> Result<JournalEntryConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let filter = filter
            .map(|f| JournalFilter {
                tag: f.tag,
                mood: f.mood,
                created_after: f.created_after,
                created_before: f.created_before,
            })
            .unwrap_or_default();
        let base = journal::viewer_journal_query(&rc.viewer, &filter, rc.db.get_database_backend());
        let (page, total) = root_page(
            rc,
            base,
            &journal::journal_sort(),
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await?;
        Ok(JournalEntryConnection::new(page, total))
    }

    /// The viewer's metrics (or the one of `metricType`), by metric type.
    async fn progress_metrics(
        &self,
        ctx: &Context<'_>,
        metric_type: Option<String>,
    ) -> Result<Vec<ProgressMetric>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(
            progress::viewer_metrics(&rc.db, &rc.viewer, metric_type.as_deref())
                .await?
                .into_iter()
                .map(ProgressMetric)
                .collect(),
        )
    }

    async fn statistics(&self, ctx: &Context<'_>) -> Result<UserStatistics> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(statistics::viewer_statistics(&rc.db, &rc.viewer)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct WellnessQuery;

#[Object]
impl WellnessQuery {
    /// null when it does not exist or is not the viewer's.
    async fn goal(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Goal>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(goals::find_goal(&rc.db, &rc.viewer, id).await?.map(Goal))
    }

    /// null when it does not exist or is not the viewer's.
    async fn journal_entry(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<JournalEntry>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(journal::find_entry(&rc.db, &rc.viewer, id)
            .await?
            .map(JournalEntry))
    }
}

#[derive(InputObject)]
pub struct CreateGoalInput {
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub target_date: Option<Date>,
    pub metadata: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct UpdateGoalInput {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub category: MaybeUndefined<String>,
    pub target_date: MaybeUndefined<Date>,
    pub status: MaybeUndefined<GoalStatus>,
    /// 0..100.
    pub progress: MaybeUndefined<i32>,
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct JournalEntryInput {
    pub title: Option<String>,
    pub content: String,
    pub mood: Option<String>,
    pub tags: Option<Vec<String>>,
    #[graphql(default_with = "Some(true)")]
    pub is_private: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateJournalEntryInput {
    pub title: MaybeUndefined<String>,
    pub content: MaybeUndefined<String>,
    pub mood: MaybeUndefined<String>,
    pub tags: MaybeUndefined<Vec<String>>,
    pub is_private: MaybeUndefined<bool>,
}

impl UpdateGoalInput {
    /// The patch, or why a null was refused (the operation reports it in its order).
    fn into_patch(self) -> AppResult<GoalPatch> {
        Ok(GoalPatch {
            title: required("title", self.title)?,
            description: nullable(self.description),
            category: nullable(self.category),
            target_date: nullable(self.target_date).map(|d| d.0),
            status: required("status", self.status)?,
            progress: required("progress", self.progress)?,
            metadata: json_value(self.metadata, "metadata")?,
        })
    }
}

impl UpdateJournalEntryInput {
    fn into_patch(self) -> AppResult<JournalPatch> {
        Ok(JournalPatch {
            title: nullable(self.title),
            content: required("content", self.content)?,
            mood: nullable(self.mood),
            tags: required("tags", self.tags)?,
            is_private: required("isPrivate", self.is_private)?,
        })
    }
}

/// A `Float` argument whose whole-number default reads as the contract writes it (`= 1`).
pub struct FloatArg(pub f64);

impl InputType for FloatArg {
    type RawValueType = f64;

    fn type_name() -> Cow<'static, str> {
        <f64 as InputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <f64 as InputType>::create_type_info(registry)
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        <f64 as InputType>::parse(value)
            .map(FloatArg)
            .map_err(InputValueError::propagate)
    }

    fn to_value(&self) -> Value {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        if self.0.fract() == 0.0 && self.0.abs() < EXACT {
            Value::Number((self.0 as i64).into())
        } else {
            <f64 as InputType>::to_value(&self.0)
        }
    }

    fn as_raw_value(&self) -> Option<&f64> {
        Some(&self.0)
    }
}

#[derive(Default)]
pub struct WellnessMutation;

#[Object]
impl WellnessMutation {
    async fn create_goal(&self, ctx: &Context<'_>, input: CreateGoalInput) -> Result<Goal> {
        let rc = ctx.data::<RequestCtx>()?;
        let created = goals::create_goal(
            &rc.db,
            &rc.viewer,
            NewGoal {
                title: input.title,
                description: input.description,
                category: input.category,
                target_date: input.target_date.map(|d| d.0),
                metadata: input.metadata.map(|j| j.0),
            },
        )
        .await?;
        Ok(Goal(created))
    }

    /// COMPLETED sets completedAt and progress 100; leaving COMPLETED clears completedAt.
    async fn update_goal(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateGoalInput,
    ) -> Result<Goal> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Goal(
            goals::update_goal(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    async fn delete_goal(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(goals::delete_goal(&rc.db, &rc.viewer, id).await?)
    }

    async fn create_journal_entry(
        &self,
        ctx: &Context<'_>,
        input: JournalEntryInput,
    ) -> Result<JournalEntry> {
        let rc = ctx.data::<RequestCtx>()?;
        let created = journal::create_entry(
            &rc.db,
            &rc.viewer,
            NewJournalEntry {
                title: input.title,
                content: input.content,
                mood: input.mood,
                tags: input.tags,
                is_private: input.is_private.unwrap_or(true),
            },
        )
        .await?;
        Ok(JournalEntry(created))
    }

    async fn update_journal_entry(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateJournalEntryInput,
    ) -> Result<JournalEntry> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(JournalEntry(
            journal::update_entry(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    async fn delete_journal_entry(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(journal::delete_entry(&rc.db, &rc.viewer, id).await?)
    }

    /// Sets the metric's value (creating it on first use).
    async fn record_progress(
        &self,
        ctx: &Context<'_>,
        metric_type: String,
        value: f64,
        metadata: Option<Json<serde_json::Value>>,
    ) -> Result<ProgressMetric> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(ProgressMetric(
            progress::record_progress(
                &rc.db,
                &rc.viewer,
                &metric_type,
                value,
                metadata.map(|j| j.0),
            )
            .await?,
        ))
    }

    /// Atomically adds `by` to the metric; concurrent increments are never lost.
    async fn increment_progress(
        &self,
        ctx: &Context<'_>,
        metric_type: String,
        #[graphql(default_with = "Some(FloatArg(1.0))")] by: Option<FloatArg>,
    ) -> Result<ProgressMetric> {
        let rc = ctx.data::<RequestCtx>()?;
        let by = by.map(|b| b.0).unwrap_or(1.0);
        Ok(ProgressMetric(
            progress::increment_progress(&rc.db, &rc.viewer, &metric_type, by).await?,
        ))
    }
}
