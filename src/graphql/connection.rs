//! Relay connections: `PageInfo`, the connection/edge types, and `totalCount` sources.

use async_graphql::{Context, Object};
use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::graphql::graphql_int;
use crate::graphql::RequestCtx;
use crate::paging::{self, Page, PageArgs, PageRequest, Position};

/// A page's `pageInfo`; its cursors are encoded only when asked for.
pub struct PageInfo<'a> {
    has_previous_page: bool,
    has_next_page: bool,
    start: Option<&'a Position>,
    end: Option<&'a Position>,
}

impl<'a> PageInfo<'a> {
    pub fn of<M>(page: &'a Page<M>) -> Self {
        PageInfo {
            has_previous_page: page.has_previous,
            has_next_page: page.has_next,
            start: page.positions.first(),
            end: page.positions.last(),
        }
    }
}

#[Object]
impl<'a> PageInfo<'a> {
    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }
    async fn start_cursor(&self) -> Option<String> {
        self.start.map(Position::cursor)
    }
    async fn end_cursor(&self) -> Option<String> {
        self.end.map(Position::cursor)
    }
}

/// Which count a nested connection's `totalCount` asks the count loader for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountKey {
    ProjectChats(Uuid),
    ConversationMessages(Uuid),
    TeamMembers(Uuid),
    TeamProjects(Uuid),
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

/// Declares `XConnection` and `XEdge` for a GraphQL object wrapping a model. The
/// connection holds its page's objects once: `nodes` and each edge's `node` borrow them,
/// and an edge's `cursor` is encoded only when asked for.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ident, $model:ty) => {
        pub struct $conn {
            pub page: $crate::paging::Page<$node>,
            pub total: $crate::graphql::connection::TotalCount,
        }

        impl $conn {
            pub fn new(
                page: $crate::paging::Page<$model>,
                total: $crate::graphql::connection::TotalCount,
            ) -> Self {
                $conn {
                    page: page.map($node),
                    total,
                }
            }
        }

        pub struct $edge<'a> {
            node: &'a $node,
            position: &'a $crate::paging::Position,
        }

        #[async_graphql::Object]
        impl<'a> $edge<'a> {
            async fn cursor(&self) -> String {
                self.position.cursor()
            }

            async fn node(&self) -> &'a $node {
                self.node
            }
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> Vec<$edge<'_>> {
                self.page
                    .rows
                    .iter()
                    .zip(&self.page.positions)
                    .map(|(node, position)| $edge { node, position })
                    .collect()
            }

            async fn nodes(&self) -> &[$node] {
                &self.page.rows
            }

            async fn page_info(&self) -> $crate::graphql::connection::PageInfo<'_> {
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
