//! Root fields of the [core] section: arguments in, an operation or loader, objects out.

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, Result, ID};
use entity::enums::{ConversationStatus, MessageRole, ProjectStatus};
use uuid::Uuid;

use crate::auth::Viewer as AuthViewer;
use crate::domain::conversations::{
    self, ConversationPatch, MessagePatch, NewConversation, NewMessage,
};
use crate::domain::filing;
use crate::domain::profiles::{self, ProfilePatch, SettingsPatch};
use crate::domain::projects::{self, NewProject, ProjectOrder, ProjectPatch};
use crate::error::AppResult;
use crate::graphql::connection::root_page;
use crate::graphql::node::{self, Node};
use crate::graphql::types::{Conversation, Message, Profile, Project, ProjectConnection, Settings};
use crate::graphql::values::{json_value, nullable, required};
use crate::graphql::viewer::Viewer;
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// The object with this nodeId if the viewer may read it, else null.
    async fn node(&self, ctx: &Context<'_>, node_id: ID) -> Result<Option<Node>> {
        node::find(ctx.data::<RequestCtx>()?, &node_id).await
    }

    /// The signed-in user; null for an anonymous request or the service role.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<Viewer>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(match &rc.viewer {
            AuthViewer::User(user) => Some(Viewer::new(user.id, user.email.clone())),
            _ => None,
        })
    }

    /// null when it does not exist or the viewer may not read it.
    async fn project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Project>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(projects::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(Project))
    }

    /// Active public projects, readable by anyone.
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    async fn public_projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default_with = "Some(ProjectOrder::UpdatedAtDesc)")] order_by: Option<
            ProjectOrder,
        >,
    ) -> Result<ProjectConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let base = projects::public_projects_query(&rc.viewer);
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

    async fn conversation(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Conversation>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(conversations::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(Conversation))
    }

    async fn message(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Message>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(conversations::find_message(&rc.db, &rc.viewer, id)
            .await?
            .map(Message))
    }
}

#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub display_name: MaybeUndefined<String>,
    pub full_name: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
    pub onboarding_completed: MaybeUndefined<bool>,
    pub onboarding: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateProfileInput {
    /// The patch, or why a null was refused (the operation reports it in its order).
    fn into_patch(self) -> AppResult<ProfilePatch> {
        Ok(ProfilePatch {
            display_name: nullable(self.display_name),
            full_name: nullable(self.full_name),
            avatar_url: nullable(self.avatar_url),
            onboarding_completed: required("onboardingCompleted", self.onboarding_completed)?,
            onboarding: json_value(self.onboarding, "onboarding")?,
        })
    }
}

#[derive(InputObject)]
pub struct UpdateSettingsInput {
    pub model: MaybeUndefined<String>,
    pub system_prompt: MaybeUndefined<String>,
    pub theme: MaybeUndefined<Json<serde_json::Value>>,
    pub language: MaybeUndefined<String>,
    pub timezone: MaybeUndefined<String>,
    pub notifications: MaybeUndefined<Json<serde_json::Value>>,
    pub features: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateSettingsInput {
    fn into_patch(self) -> AppResult<SettingsPatch> {
        Ok(SettingsPatch {
            model: nullable(self.model),
            system_prompt: nullable(self.system_prompt),
            theme: json_value(self.theme, "theme")?,
            language: nullable(self.language),
            timezone: nullable(self.timezone),
            notifications: json_value(self.notifications, "notifications")?,
            features: json_value(self.features, "features")?,
        })
    }
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    pub title: String,
    pub description: Option<String>,
    #[graphql(default_with = "Some(false)")]
    pub is_public: Option<bool>,
    pub team_id: Option<Uuid>,
    pub metadata: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct UpdateProjectInput {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub is_public: MaybeUndefined<bool>,
    pub status: MaybeUndefined<ProjectStatus>,
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateProjectInput {
    fn into_patch(self) -> AppResult<ProjectPatch> {
        Ok(ProjectPatch {
            title: required("title", self.title)?,
            description: nullable(self.description),
            is_public: required("isPublic", self.is_public)?,
            status: required("status", self.status)?,
            metadata: json_value(self.metadata, "metadata")?,
        })
    }
}

#[derive(InputObject)]
pub struct MessageInput {
    pub role: MessageRole,
    pub content: String,
    pub metadata: Option<Json<serde_json::Value>>,
    pub token_count: Option<i32>,
    pub audio_url: Option<String>,
}

impl From<MessageInput> for NewMessage {
    fn from(m: MessageInput) -> Self {
        NewMessage {
            role: m.role,
            content: m.content,
            metadata: m.metadata.map(|j| j.0),
            token_count: m.token_count,
            audio_url: m.audio_url,
        }
    }
}

#[derive(InputObject)]
pub struct CreateConversationInput {
    pub title: Option<String>,
    pub model: Option<String>,
    #[graphql(default_with = "Some(false)")]
    pub encrypted: Option<bool>,
    pub metadata: Option<Json<serde_json::Value>>,
    /// File the new chat in this project (the viewer must be able to edit it).
    pub project_id: Option<Uuid>,
    /// Created atomically with the conversation: both or neither.
    pub first_message: Option<MessageInput>,
}

#[derive(InputObject)]
pub struct UpdateConversationInput {
    pub title: MaybeUndefined<String>,
    pub model: MaybeUndefined<String>,
    pub status: MaybeUndefined<ConversationStatus>,
    pub pinned: MaybeUndefined<bool>,
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateConversationInput {
    fn into_patch(self) -> AppResult<ConversationPatch> {
        Ok(ConversationPatch {
            title: nullable(self.title),
            model: nullable(self.model),
            status: required("status", self.status)?,
            pinned: required("pinned", self.pinned)?,
            metadata: json_value(self.metadata, "metadata")?,
        })
    }
}

#[derive(InputObject)]
pub struct SendMessageInput {
    pub conversation_id: Uuid,
    pub role: MessageRole,
    pub content: String,
    pub metadata: Option<Json<serde_json::Value>>,
    pub token_count: Option<i32>,
    pub audio_url: Option<String>,
    /// Absent: append at the next sequence. Present: upsert at that position.
    pub sequence: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateMessageInput {
    pub content: MaybeUndefined<String>,
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
    pub feedback: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateMessageInput {
    fn into_patch(self) -> AppResult<MessagePatch> {
        Ok(MessagePatch {
            content: required("content", self.content)?,
            metadata: json_value(self.metadata, "metadata")?,
            feedback: nullable(self.feedback).map(|j| j.0),
        })
    }
}

#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> Result<Profile> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Profile(
            profiles::update_profile(&rc.db, &rc.viewer, patch).await?,
        ))
    }

    async fn update_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateSettingsInput,
    ) -> Result<Settings> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Settings(
            profiles::update_settings(&rc.db, &rc.viewer, patch).await?,
        ))
    }

    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Project> {
        let rc = ctx.data::<RequestCtx>()?;
        let created = projects::create_project(
            &rc.db,
            &rc.viewer,
            NewProject {
                title: input.title,
                description: input.description,
                is_public: input.is_public.unwrap_or(false),
                team_id: input.team_id,
                metadata: input.metadata.map(|j| j.0),
            },
        )
        .await?;
        Ok(Project(created))
    }

    async fn update_project(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateProjectInput,
    ) -> Result<Project> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Project(
            projects::update_project(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    /// Soft delete unless permanent; returns the id.
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(default_with = "Some(false)")] permanent: Option<bool>,
    ) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(projects::delete_project(&rc.db, &rc.viewer, id, permanent.unwrap_or(false)).await?)
    }

    async fn restore_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Project> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Project(
            projects::restore_project(&rc.db, &rc.viewer, id).await?,
        ))
    }

    async fn add_chat_to_project(
        &self,
        ctx: &Context<'_>,
        project_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Project> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Project(
            filing::add_chat(&rc.db, &rc.viewer, project_id, conversation_id).await?,
        ))
    }

    async fn remove_chat_from_project(
        &self,
        ctx: &Context<'_>,
        project_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Project> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Project(
            filing::remove_chat(&rc.db, &rc.viewer, project_id, conversation_id).await?,
        ))
    }

    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        input: CreateConversationInput,
    ) -> Result<Conversation> {
        let rc = ctx.data::<RequestCtx>()?;
        let created = conversations::create_conversation(
            &rc.db,
            &rc.viewer,
            NewConversation {
                title: input.title,
                model: input.model,
                encrypted: input.encrypted.unwrap_or(false),
                metadata: input.metadata.map(|j| j.0),
                project_id: input.project_id,
                first_message: input.first_message.map(NewMessage::from),
            },
        )
        .await?;
        Ok(Conversation(created))
    }

    async fn update_conversation(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateConversationInput,
    ) -> Result<Conversation> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Conversation(
            conversations::update_conversation(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    async fn delete_conversation(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(conversations::delete_conversation(&rc.db, &rc.viewer, id).await?)
    }

    /// Also moves the conversation's counters and its projects' updatedAt, atomically.
    async fn send_message(&self, ctx: &Context<'_>, input: SendMessageInput) -> Result<Message> {
        let rc = ctx.data::<RequestCtx>()?;
        let saved = conversations::send_message(
            &rc.db,
            &rc.viewer,
            conversations::SendMessage {
                conversation_id: input.conversation_id,
                sequence: input.sequence,
                message: NewMessage {
                    role: input.role,
                    content: input.content,
                    metadata: input.metadata.map(|j| j.0),
                    token_count: input.token_count,
                    audio_url: input.audio_url,
                },
            },
        )
        .await?;
        Ok(Message(saved))
    }

    async fn update_message(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateMessageInput,
    ) -> Result<Message> {
        let rc = ctx.data::<RequestCtx>()?;
        let patch = input.into_patch();
        Ok(Message(
            conversations::update_message(&rc.db, &rc.viewer, id, patch).await?,
        ))
    }

    async fn delete_message(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(conversations::delete_message(&rc.db, &rc.viewer, id).await?)
    }

    /// Removes the viewer and everything the viewer owns. Irreversible.
    async fn delete_account(&self, ctx: &Context<'_>) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(profiles::delete_account(&rc.db, &rc.viewer).await?)
    }
}
