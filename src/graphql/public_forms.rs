//! GraphQL parts of the [public] section: the waitlist and site visits. Thin resolvers
//! over `crate::domain::public_forms`.

use async_graphql::{Context, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::waitlist_entry;
use uuid::Uuid;

use crate::domain::public_forms::{self, SiteVisit};
use crate::graphql::connection::connection;
use crate::graphql::connection::root_page;
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Clone)]
pub struct WaitlistEntry(pub waitlist_entry::Model);

connection!(
    WaitlistEntryConnection,
    WaitlistEntryEdge,
    WaitlistEntry,
    waitlist_entry::Model
);

#[Object]
impl WaitlistEntry {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct PublicQuery;

#[Object]
impl PublicQuery {
    /// Service role only; FORBIDDEN for everyone else. Oldest first.
    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn waitlist_entries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<WaitlistEntryConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let base = public_forms::waitlist_query(&rc.viewer)?;
        let (page, total) = root_page(
            rc,
            base,
            &public_forms::waitlist_sort(),
            PageArgs {
                first,
                after,
                ..Default::default()
            },
        )
        .await?;
        Ok(WaitlistEntryConnection::new(page, total))
    }
}

#[derive(InputObject)]
pub struct SiteVisitInput {
    pub path: String,
    pub referrer: Option<String>,
}

#[derive(Default)]
pub struct PublicMutation;

#[Object]
impl PublicMutation {
    /// Idempotent per email (case-insensitive); true also on a repeat. Anyone may join.
    async fn join_waitlist(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(public_forms::join_waitlist(&rc.db, &email).await?)
    }

    /// Records a page view with the request's User-Agent. Anyone may record one.
    async fn record_site_visit(&self, ctx: &Context<'_>, input: SiteVisitInput) -> Result<bool> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(public_forms::record_site_visit(
            &rc.db,
            &rc.viewer,
            SiteVisit {
                path: input.path,
                referrer: input.referrer,
                user_agent: rc.user_agent.clone(),
            },
        )
        .await?)
    }
}
