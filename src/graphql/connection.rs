//! Relay connections: `PageInfo`, the connection/edge types, and `totalCount` sources.

use async_graphql::{Context, SimpleObject};
use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::graphql::graphql_int;
use crate::graphql::RequestCtx;
use crate::paging::{self, Page, PageArgs, PageRequest};

#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn of<M>(page: &Page<M>) -> Self {
        PageInfo {
            has_previous_page: page.has_previous,
            has_next_page: page.has_next,
            start_cursor: page.rows.first().map(|(_, c)| c.clone()),
            end_cursor: page.rows.last().map(|(_, c)| c.clone()),
        }
    }
}

/// Which count a nested connection's `totalCount` asks the count loader for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountKey {
    ProjectChats(Uuid),
    ConversationMessages(Uuid),
    TeamMembers(Uuid),
    TeamProjects(Uuid),
    ProjectFiles(Uuid),
    ConversationAttachments(Uuid),
}

/// Where a connection's `totalCount` comes from; computed only when asked for.
#[derive(Debug, Clone)]
pub enum TotalCount {
    /// Count the rows of this (unpaged) select.
    Select(Box<SelectStatement>),
    /// Ask the per-request count loader (one grouped statement for all parents).
    Loader(CountKey),
}

impl TotalCount {
    pub async fn resolve(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let rc = ctx.data::<RequestCtx>()?;
        let count = match self {
            TotalCount::Select(select) => {
                let mut inner = (**select).clone();
                inner.clear_order_by();
                let outer = Query::select()
                    .expr_as(Func::count(Expr::cust("*")), Alias::new("n"))
                    .from_subquery(inner, Alias::new("c"))
                    .to_owned();
                let row = rc
                    .db
                    .query_one(&outer)
                    .await
                    .map_err(crate::error::AppError::from)?;
                match row {
                    Some(row) => row
                        .try_get::<i64>("", "n")
                        .map_err(crate::error::AppError::from)?,
                    None => 0,
                }
            }
            TotalCount::Loader(key) => rc.loaders.counts.load_one(*key).await?.unwrap_or(0),
        };
        Ok(graphql_int(count))
    }
}

/// Declares `XConnection` and `XEdge` for a GraphQL object wrapping a model.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ident, $model:ty) => {
        pub struct $conn {
            pub page: $crate::paging::Page<$model>,
            pub total: $crate::graphql::connection::TotalCount,
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> Vec<$edge> {
                self.page
                    .rows
                    .iter()
                    .map(|(m, c)| $edge {
                        cursor: c.clone(),
                        node: $node(m.clone()),
                    })
                    .collect()
            }

            async fn nodes(&self) -> Vec<$node> {
                self.page
                    .rows
                    .iter()
                    .map(|(m, _)| $node(m.clone()))
                    .collect()
            }

            async fn page_info(&self) -> $crate::graphql::connection::PageInfo {
                $crate::graphql::connection::PageInfo::of(&self.page)
            }

            async fn total_count(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::Result<i32> {
                self.total.resolve(ctx).await
            }
        }
    };
}

pub(crate) use connection;

/// A root-level page of one select.
pub async fn root_page<M: paging::Keyed>(
    rc: &RequestCtx,
    base: sea_orm::sea_query::SelectStatement,
    sort: &paging::Sort,
    args: PageArgs,
) -> async_graphql::Result<(paging::Page<M>, TotalCount)> {
    let req = PageRequest::new(&args, sort, rc.limits)?;
    let page = paging::fetch_page(&rc.db, base.clone(), sort, &req).await?;
    Ok((page, TotalCount::Select(Box::new(base))))
}
