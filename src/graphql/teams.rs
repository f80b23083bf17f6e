//! GraphQL of the [teams] section.

use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::enums::TeamRole;
use entity::{team, team_member};
use uuid::Uuid;

use crate::access::TeamPowers;
use crate::auth::Viewer as AuthViewer;
use crate::domain::projects::ProjectOrder;
use crate::domain::teams;
use crate::error::AppError;
use crate::graphql::connection::root_page;
use crate::graphql::connection::{connection, CountKey, TotalCount};
use crate::graphql::node_id::NodeId;
use crate::graphql::types::{ProjectConnection, PublicProfile};
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Clone)]
pub struct Team(pub team::Model);

connection!(TeamConnection, TeamEdge, Team, team::Model);
connection!(
    TeamMemberConnection,
    TeamMemberEdge,
    TeamMember,
    team_member::Model
);

#[Object]
impl Team {
    pub async fn node_id(&self) -> ID {
        NodeId::Team(self.0.id).encode()
    }
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn tier(&self) -> &str {
        &self.0.tier
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn viewer_role(&self, ctx: &Context<'_>) -> Result<TeamRole> {
        let rc = ctx.data::<RequestCtx>()?;
        let role = match rc.viewer {
            AuthViewer::Service => None,
            _ => rc.loaders.team_roles.load_one(self.0.id).await?,
        };
        TeamPowers::of(&rc.viewer, role)
            .map(|p| p.role)
            .ok_or_else(|| AppError::not_found("team").into())
    }

    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TeamMemberConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let args = PageArgs {
            first,
            after,
            ..Default::default()
        };
        let page = rc
            .loaders
            .member_pages
            .load(self.0.id, (), (), &args, rc.limits)
            .await?;
        Ok(TeamMemberConnection::new(
            page,
            TotalCount::Loader(CountKey::TeamMembers(self.0.id)),
        ))
    }

    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "Some(ProjectOrder::UpdatedAtDesc)")] order_by: Option<
            ProjectOrder,
        >,
    ) -> Result<ProjectConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let order = order_by.unwrap_or_default();
        let args = PageArgs {
            first,
            after,
            ..Default::default()
        };
        let page = rc
            .loaders
            .team_project_pages
            .load(self.0.id, order, (), &args, rc.limits)
            .await?;
        Ok(ProjectConnection::new(
            page,
            TotalCount::Loader(CountKey::TeamProjects(self.0.id)),
        ))
    }
}

#[derive(Clone)]
pub struct TeamMember(pub team_member::Model);

#[Object]
impl TeamMember {
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<PublicProfile> {
        let rc = ctx.data::<RequestCtx>()?;
        let profile = rc
            .loaders
            .public_profiles
            .load_one(self.0.user_id)
            .await?
            .ok_or_else(|| AppError::Internal("team member has no profile".into()))?;
        Ok(PublicProfile(profile))
    }
    async fn role(&self) -> TeamRole {
        self.0.role
    }
    /// The viewer's default team (only meaningful on the viewer's own membership).
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.joined_at
    }
}

/// The [teams] fields of `Viewer`.
pub struct ViewerTeams;

#[Object]
impl ViewerTeams {
    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn teams(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TeamConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let (page, total) = root_page(
            rc,
            teams::viewer_teams_query(&rc.viewer),
            &teams::team_sort(),
            PageArgs {
                first,
                after,
                ..Default::default()
            },
        )
        .await?;
        Ok(TeamConnection::new(page, total))
    }
}

#[derive(Default)]
pub struct TeamsQuery;

#[Object]
impl TeamsQuery {
    async fn team(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Team>> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(teams::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(Team))
    }
}

#[derive(Default)]
pub struct TeamsMutation;

#[Object]
impl TeamsMutation {
    async fn create_team(&self, ctx: &Context<'_>, name: String) -> Result<Team> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Team(teams::create_team(&rc.db, &rc.viewer, &name).await?))
    }

    async fn update_team(&self, ctx: &Context<'_>, id: Uuid, name: String) -> Result<Team> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Team(
            teams::update_team(&rc.db, &rc.viewer, id, &name).await?,
        ))
    }

    async fn delete_team(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(teams::delete_team(&rc.db, &rc.viewer, id).await?)
    }

    /// The user must have signed in at least once. OWNER or ADMIN only; only an OWNER
    /// grants OWNER.
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        team_id: Uuid,
        email: String,
        #[graphql(default_with = "Some(TeamRole::Member)")] role: Option<TeamRole>,
    ) -> Result<TeamMember> {
        let rc = ctx.data::<RequestCtx>()?;
        let role = role.unwrap_or(TeamRole::Member);
        Ok(TeamMember(
            teams::add_member(&rc.db, &rc.viewer, team_id, &email, role).await?,
        ))
    }

    async fn update_team_member(
        &self,
        ctx: &Context<'_>,
        team_id: Uuid,
        user_id: Uuid,
        role: TeamRole,
    ) -> Result<TeamMember> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(TeamMember(
            teams::update_member(&rc.db, &rc.viewer, team_id, user_id, role).await?,
        ))
    }

    /// A team always keeps at least one OWNER (CONFLICT otherwise).
    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<Uuid> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(teams::remove_member(&rc.db, &rc.viewer, team_id, user_id).await?)
    }

    async fn set_default_team(&self, ctx: &Context<'_>, team_id: Uuid) -> Result<Team> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(Team(teams::set_default(&rc.db, &rc.viewer, team_id).await?))
    }
}
