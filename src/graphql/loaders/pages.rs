//! The one page loader behind every nested connection (`Project.chats`,
//! `Conversation.messages`, `Team.members`, `Team.projects`).
//!
//! A list says, through [`PageList`], which scoped select its rows come from (a function
//! of its domain module), which expression gives a row's parent, and how an order
//! argument sorts. [`PageLoader`] then groups a wave's keys by order and page arguments
//! and runs one `ROW_NUMBER() OVER (PARTITION BY parent …)` statement per group through
//! `paging`, splitting the rows back per parent. It does not decide access: the select
//! it gets is already scoped.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::sea_query::{Expr, SelectStatement};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::SharedError;
use crate::graphql::local_tasks::LocalTasks;
use crate::paging::{self, Keyed, Page, PageArgs, PageLimits, PageRequest, Sort};

/// What every loader needs: the database and the viewer the rows are scoped to.
#[derive(Clone)]
pub struct Scope {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

pub type LoadError = SharedError;

pub(super) fn shared(err: crate::error::AppError) -> LoadError {
    err.into()
}

/// A paged one-to-many list nested under a parent row.
pub trait PageList: Debug + Clone + Eq + Hash + Send + Sync + 'static {
    type Model: Keyed + Clone + Send + Sync + 'static;
    /// The list's order argument (`()` where it has a single order).
    type Order: Debug + Copy + Eq + Hash + Send + Sync + 'static;

    /// The rows the viewer may read, and the expression giving each row's parent id.
    fn rows(viewer: &Viewer) -> (SelectStatement, Expr);

    /// The total order an order argument stands for.
    fn sort(order: Self::Order) -> Sort;
}

/// One parent's page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey<L: PageList> {
    pub parent: Uuid,
    pub order: L::Order,
    pub page: PageRequest,
}

/// Page windows of one list for all parents of a wave.
pub struct PageLoader<L> {
    scope: Scope,
    list: PhantomData<fn() -> L>,
}

impl<L: PageList> Loader<PageKey<L>> for PageLoader<L> {
    type Value = Page<L::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PageKey<L>],
    ) -> Result<HashMap<PageKey<L>, Self::Value>, Self::Error> {
        let mut groups: HashMap<(L::Order, PageRequest), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.order, key.page.clone()))
                .or_default()
                .push(key.parent);
        }
        let mut out = HashMap::new();
        for ((order, page), parents) in groups {
            let mut pages = windows::<L>(&self.scope, &parents, order, &page).await?;
            for parent in parents {
                let value = pages.remove(&parent).unwrap_or_default();
                out.insert(
                    PageKey {
                        parent,
                        order,
                        page: page.clone(),
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

/// A list's page loader, as resolvers use it.
pub struct Pages<L: PageList>(DataLoader<super::traced::Traced<PageLoader<L>>>);

impl<L: PageList> Pages<L> {
    /// A loader whose batches run through `tasks` (see `local_tasks`).
    pub fn new(scope: Scope, tasks: &LocalTasks) -> Self {
        let loader = PageLoader {
            scope,
            list: PhantomData,
        };
        Pages(DataLoader::new(
            super::traced::Traced(loader),
            tasks.spawner(),
        ))
    }

    /// The page of `parent`'s list that `args` ask for, in `order`; fetched together with
    /// the pages of the other parents of the wave.
    pub async fn load(
        &self,
        parent: Uuid,
        order: L::Order,
        args: &PageArgs,
        limits: PageLimits,
    ) -> async_graphql::Result<Page<L::Model>> {
        let page = PageRequest::new(args, &L::sort(order), limits)?;
        Ok(self
            .0
            .load_one(PageKey {
                parent,
                order,
                page,
            })
            .await?
            .unwrap_or_default())
    }
}

/// One statement of page windows: `page` of the list in `order`, for each of `parents`.
pub(super) async fn windows<L: PageList>(
    scope: &Scope,
    parents: &[Uuid],
    order: L::Order,
    page: &PageRequest,
) -> Result<HashMap<Uuid, Page<L::Model>>, LoadError> {
    let (base, parent) = L::rows(&scope.viewer);
    paging::fetch_windows(&scope.db, base, parent, parents, &L::sort(order), page)
        .await
        .map_err(shared)
}

/// One grouped statement: how many rows of the list each of `parents` has.
pub(super) async fn counts<L: PageList>(
    scope: &Scope,
    parents: &[Uuid],
) -> Result<HashMap<Uuid, i64>, LoadError> {
    let (base, parent) = L::rows(&scope.viewer);
    paging::count_by_parent(&scope.db, base, parent, parents)
        .await
        .map_err(shared)
}
