//! GraphQL objects of the [core] section: thin wrappers around entity models whose
//! nested fields go through the request's loaders.

use async_graphql::{Context, Json, Lookahead, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::enums::{ConversationStatus, MessageRole, ProjectStatus};
use entity::{conversation, message, profile, project, settings};
use uuid::Uuid;

use crate::access::ProjectAccess;
use crate::domain::conversations::{self, ConversationFilter, ConversationOrder, MessageColumns};
use crate::domain::projects::{self, ProjectFilter, ProjectOrder};
use crate::error::AppError;
use crate::graphql::connection::{connection, root_page, CountKey, TotalCount};
use crate::graphql::graphql_int;
use crate::graphql::node_id::NodeId;
use crate::graphql::values::json;
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

pub struct Profile(pub profile::Model);

#[Object]
impl Profile {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    async fn full_name(&self) -> Option<&str> {
        self.0.full_name.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }
    async fn onboarding_completed(&self) -> bool {
        self.0.onboarding_completed
    }
    async fn onboarding(&self) -> Json<&serde_json::Value> {
        json(&self.0.onboarding)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What other users may see of a user.
pub struct PublicProfile(pub profile::Model);

#[Object]
impl PublicProfile {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }
}

pub struct Settings(pub settings::Model);

#[Object]
impl Settings {
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    async fn system_prompt(&self) -> Option<&str> {
        self.0.system_prompt.as_deref()
    }
    async fn theme(&self) -> Json<&serde_json::Value> {
        json(&self.0.theme)
    }
    async fn language(&self) -> Option<&str> {
        self.0.language.as_deref()
    }
    async fn timezone(&self) -> Option<&str> {
        self.0.timezone.as_deref()
    }
    async fn notifications(&self) -> Json<&serde_json::Value> {
        json(&self.0.notifications)
    }
    async fn features(&self) -> Json<&serde_json::Value> {
        json(&self.0.features)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

connection!(ProjectConnection, ProjectEdge, Project, project::Model);
connection!(
    ConversationConnection,
    ConversationEdge,
    Conversation,
    conversation::Model
);

/// Messages as a connection: a conversation's (by sequence) or search hits (by rank), the
/// latter with a snippet on each edge.
pub struct MessageConnection {
    pub page: crate::paging::Page<Message>,
    pub total: TotalCount,
    /// Snippets by message id (search hits only).
    pub snippets: std::collections::HashMap<Uuid, String>,
}

impl MessageConnection {
    pub fn new(
        page: crate::paging::Page<message::Model>,
        total: TotalCount,
        snippets: std::collections::HashMap<Uuid, String>,
    ) -> Self {
        MessageConnection {
            page: page.map(Message),
            total,
            snippets,
        }
    }
}

pub struct MessageEdge<'a> {
    node: &'a Message,
    position: &'a crate::paging::Position,
    snippet: Option<&'a str>,
}

#[Object]
impl<'a> MessageEdge<'a> {
    async fn cursor(&self) -> String {
        self.position.cursor()
    }

    async fn node(&self) -> &'a Message {
        self.node
    }

    /// Search hits only (`viewer.searchMessages`): an excerpt of the message around the
    /// words that matched, as HTML: the text escaped, each matched word in
    /// `<mark>...</mark>`. Null on other lists.
    async fn snippet(&self) -> Option<&'a str> {
        self.snippet
    }
}

#[Object]
impl MessageConnection {
    async fn edges(&self) -> Vec<MessageEdge<'_>> {
        self.page
            .rows
            .iter()
            .zip(&self.page.positions)
            .map(|(node, position)| MessageEdge {
                node,
                position,
                snippet: self.snippets.get(&node.0.id).map(String::as_str),
            })
            .collect()
    }

    async fn nodes(&self) -> &[Message] {
        &self.page.rows
    }

    async fn page_info(&self) -> crate::graphql::connection::PageInfo<'_> {
        crate::graphql::connection::PageInfo::of(&self.page)
    }

    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        self.total.resolve(ctx).await
    }
}

/// The [core] fields of `Viewer`.
pub struct ViewerCore {
    pub id: Uuid,
    pub email: Option<String>,
}

#[Object]
impl ViewerCore {
    async fn id(&self) -> Uuid {
        self.id
    }
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if self.email.is_some() {
            return Ok(self.email.clone());
        }
        let rc = ctx.data::<RequestCtx>()?;
        Ok(crate::domain::profiles::own_profile(&rc.db, &rc.viewer)
            .await?
            .email)
    }
    async fn profile(&self, ctx: &Context<'_>) -> Result<Profile> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Profile(
            crate::domain::profiles::own_profile(&rc.db, &rc.viewer).await?,
        ))
    }
    async fn settings(&self, ctx: &Context<'_>) -> Result<Settings> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Settings(
            crate::domain::profiles::own_settings(&rc.db, &rc.viewer).await?,
        ))
    }

    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    #[allow(clippy::too_many_arguments)]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ProjectFilterInput>,
        #[graphql(default_with = "Some(ProjectOrder::UpdatedAtDesc)")] order_by: Option<
            ProjectOrder,
        >,
    ) -> Result<ProjectConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let filter = filter.map(ProjectFilter::from).unwrap_or_default();
        let base =
            projects::viewer_projects_query(&rc.viewer, &filter, rc.db.get_database_backend());
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
        Ok(ProjectConnection::new(page, total))
    }

    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    #[allow(clippy::too_many_arguments)]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ConversationFilterInput>,
        #[graphql(default_with = "Some(ConversationOrder::UpdatedAtDesc)")] order_by: Option<
            ConversationOrder,
        >,
    ) -> Result<ConversationConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let filter = filter.map(ConversationFilter::from).unwrap_or_default();
        let base = conversations::viewer_conversations_query(
            &rc.viewer,
            &filter,
            rc.db.get_database_backend(),
        );
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
        Ok(ConversationConnection::new(page, total))
    }
}

#[derive(async_graphql::InputObject, Default)]
#[graphql(name = "ProjectFilter")]
pub struct ProjectFilterInput {
    pub status: Option<ProjectStatus>,
    pub team_id: Option<Uuid>,
    pub is_public: Option<bool>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
}

impl From<ProjectFilterInput> for ProjectFilter {
    fn from(f: ProjectFilterInput) -> Self {
        ProjectFilter {
            status: f.status,
            team_id: f.team_id,
            is_public: f.is_public,
            title_contains: f.title_contains,
        }
    }
}

#[derive(async_graphql::InputObject, Default)]
#[graphql(name = "ConversationFilter")]
pub struct ConversationFilterInput {
    pub status: Option<ConversationStatus>,
    pub pinned: Option<bool>,
    /// Only chats filed in this project.
    pub project_id: Option<Uuid>,
    pub title_contains: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
}

impl From<ConversationFilterInput> for ConversationFilter {
    fn from(f: ConversationFilterInput) -> Self {
        ConversationFilter {
            status: f.status,
            pinned: f.pinned,
            project_id: f.project_id,
            title_contains: f.title_contains,
            updated_after: f.updated_after,
        }
    }
}

#[derive(Clone)]
pub struct Project(pub project::Model);

#[Object]
impl Project {
    pub async fn node_id(&self) -> ID {
        NodeId::Project(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn owner_id(&self) -> Uuid {
        self.0.owner_id
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<PublicProfile> {
        let rc = ctx.data::<RequestCtx>()?;
        let owner = rc
            .loaders
            .public_profiles
            .load_one(self.0.owner_id)
            .await?
            .ok_or_else(|| AppError::Internal("project owner has no profile".into()))?;
        Ok(PublicProfile(owner))
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn status(&self) -> ProjectStatus {
        self.0.status
    }
    async fn is_public(&self) -> bool {
        self.0.is_public
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
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
    async fn viewer_access(&self, ctx: &Context<'_>) -> Result<ProjectAccess> {
        let rc = ctx.data::<RequestCtx>()?;
        let team_role = match crate::access::deciding_team(&rc.viewer, &self.0) {
            Some(team) => rc.loaders.team_roles.load_one(team).await?,
            None => None,
        };
        Ok(crate::access::project_access(
            &rc.viewer, &self.0, team_role,
        ))
    }
    /// The project's team; null for a reader outside the team.
    async fn team(&self, ctx: &Context<'_>) -> Result<Option<crate::graphql::teams::Team>> {
        let Some(team) = self.0.team_id else {
            return Ok(None);
        };
        let rc = ctx.data::<RequestCtx>()?;
        Ok(rc
            .loaders
            .teams
            .load_one(team)
            .await?
            .map(crate::graphql::teams::Team))
    }

    /// The chats filed in this project that the viewer may read.
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    async fn chats(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default_with = "Some(ConversationOrder::UpdatedAtDesc)")] order_by: Option<
            ConversationOrder,
        >,
    ) -> Result<ConversationConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let order = order_by.unwrap_or_default();
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let page = rc
            .loaders
            .chat_pages
            .load(self.0.id, order, (), &args, rc.limits)
            .await?;
        Ok(ConversationConnection::new(
            page,
            TotalCount::Loader(CountKey::ProjectChats(self.0.id)),
        ))
    }
}

#[derive(Clone)]
pub struct Conversation(pub conversation::Model);

#[Object]
impl Conversation {
    pub async fn node_id(&self) -> ID {
        NodeId::Conversation(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn owner_id(&self) -> Uuid {
        self.0.owner_id
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    async fn status(&self) -> ConversationStatus {
        self.0.status
    }
    async fn pinned(&self) -> bool {
        self.0.pinned
    }
    async fn encrypted(&self) -> bool {
        self.0.encrypted
    }
    async fn metadata(&self) -> Json<&serde_json::Value> {
        json(&self.0.metadata)
    }
    async fn message_count(&self) -> i32 {
        self.0.message_count
    }
    async fn total_tokens(&self) -> i32 {
        graphql_int(self.0.total_tokens)
    }
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_message_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Oldest first (by sequence).
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<MessageConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let look = ctx.look_ahead();
        let columns = message_columns(&[look.field("nodes"), look.field("edges").field("node")]);
        let page = rc
            .loaders
            .message_pages
            .load(self.0.id, (), columns, &args, rc.limits)
            .await?;
        Ok(MessageConnection::new(
            page,
            TotalCount::Loader(CountKey::ConversationMessages(self.0.id)),
            Default::default(),
        ))
    }

    async fn last_message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let rc = ctx.data::<RequestCtx>()?;
        let columns = message_columns(&[ctx.look_ahead()]);
        Ok(rc
            .loaders
            .last_messages
            .load_one((self.0.id, columns))
            .await?
            .map(Message))
    }

    /// Projects holding this chat that the viewer may read.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(rc
            .loaders
            .chat_projects
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Project)
            .collect())
    }
}

/// The optional message columns (see [`MessageColumns`]) that the selections `on`, each a
/// selection of `Message` objects, show: the fields of [`Message`] that read them.
fn message_columns(on: &[Lookahead<'_>]) -> MessageColumns {
    let asks = |field: &str| on.iter().any(|selection| selection.field(field).exists());
    MessageColumns {
        content: asks("content"),
        metadata: asks("metadata"),
        feedback: asks("feedback"),
    }
}

/// A message. Read from a list that left some columns unread (see [`message_columns`]),
/// its model holds placeholders there: a field reading `content`, `metadata` or `feedback`
/// must be named in `message_columns`.
#[derive(Clone)]
pub struct Message(pub message::Model);

#[Object]
impl Message {
    pub async fn node_id(&self) -> ID {
        NodeId::Message(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn conversation_id(&self) -> Uuid {
        self.0.conversation_id
    }
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Conversation> {
        let rc = ctx.data::<RequestCtx>()?;
        let found = rc
            .loaders
            .conversations
            .load_one(self.0.conversation_id)
            .await?
            .ok_or_else(|| AppError::not_found("conversation"))?;
        Ok(Conversation(found))
    }
    /// 1-based position in the conversation.
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
    async fn role(&self) -> MessageRole {
        self.0.role
    }
    async fn content(&self) -> &str {
        &self.0.content
    }
    async fn metadata(&self) -> Json<&serde_json::Value> {
        json(&self.0.metadata)
    }
    async fn token_count(&self) -> Option<i32> {
        self.0.token_count
    }
    async fn feedback(&self) -> Option<Json<&serde_json::Value>> {
        self.0.feedback.as_ref().map(json)
    }
    async fn audio_url(&self) -> Option<&str> {
        self.0.audio_url.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
