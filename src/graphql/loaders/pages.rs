//! The one page loader behind every nested connection (`Project.chats`,
//! `Conversation.messages`, `Team.members`, `Team.projects`).
//!
//! A list says, through [`PageList`], which scoped select its rows come from (a function
//! of its domain module), which expression gives a row's parent, how an order argument
//! sorts, and which of its columns a page may leave unread. [`PageLoader`] then groups a
//! wave's keys by order and page arguments and runs one statement of page windows per
//! group through `paging` (each parent's rows with their own `LIMIT`), reading the
//! columns any key of the group asks for, and splits the rows back per parent. It does
//! not decide access: the select it gets is already scoped.

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
    /// Which of the list's costly columns a page reads (`()` where it reads them all);
    /// the default reads the fewest.
    type Columns: Debug + Copy + Eq + Hash + Default + Send + Sync + 'static;

    /// The rows the viewer may read, with `columns`, and the expression giving each row's
    /// parent id.
    fn rows(viewer: &Viewer, columns: Self::Columns) -> (SelectStatement, Expr);

    /// Columns that serve both `a` and `b`.
    fn both(a: Self::Columns, b: Self::Columns) -> Self::Columns;

    /// The total order an order argument stands for.
    fn sort(order: Self::Order) -> Sort;
}

/// One parent's page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey<L: PageList> {
    pub parent: Uuid,
    pub order: L::Order,
    pub columns: L::Columns,
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
        // Per group: the columns its keys ask for together, and its keys.
        type Group<'k, L> = (<L as PageList>::Columns, Vec<&'k PageKey<L>>);
        let mut groups: HashMap<(L::Order, &PageRequest), Group<'_, L>> = HashMap::new();
        for key in keys {
            let (columns, members) = groups
                .entry((key.order, &key.page))
                .or_insert_with(|| (key.columns, Vec::new()));
            *columns = L::both(*columns, key.columns);
            members.push(key);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((order, page), (columns, members)) in groups {
            let mut parents: Vec<Uuid> = members.iter().map(|key| key.parent).collect();
            parents.sort_unstable();
            parents.dedup();
            let mut pages = windows::<L>(&self.scope, &parents, order, columns, page).await?;
            // A parent asked for with different columns shares its page: copied for all
            // but the last of its keys, moved into that one.
            let mut left: HashMap<Uuid, usize> = HashMap::new();
            for key in &members {
                *left.entry(key.parent).or_default() += 1;
            }
            for key in members {
                let count = left.entry(key.parent).or_default();
                *count -= 1;
                let value = if *count == 0 {
                    pages.remove(&key.parent).unwrap_or_default()
                } else {
                    pages.get(&key.parent).cloned().unwrap_or_default()
                };
                out.insert(key.clone(), value);
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

    /// The page of `parent`'s list that `args` ask for, in `order`, with at least
    /// `columns`; fetched together with the pages of the other parents of the wave.
    pub async fn load(
        &self,
        parent: Uuid,
        order: L::Order,
        columns: L::Columns,
        args: &PageArgs,
        limits: PageLimits,
    ) -> async_graphql::Result<Page<L::Model>> {
        let page = PageRequest::new(args, &L::sort(order), limits)?;
        Ok(self
            .0
            .load_one(PageKey {
                parent,
                order,
                columns,
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
    columns: L::Columns,
    page: &PageRequest,
) -> Result<HashMap<Uuid, Page<L::Model>>, LoadError> {
    let (base, parent) = L::rows(&scope.viewer, columns);
    paging::fetch_windows(&scope.db, base, parent, parents, &L::sort(order), page)
        .await
        .map_err(shared)
}

/// One grouped statement: how many rows of the list each of `parents` has.
pub(super) async fn counts<L: PageList>(
    scope: &Scope,
    parents: &[Uuid],
) -> Result<HashMap<Uuid, i64>, LoadError> {
    let (base, parent) = L::rows(&scope.viewer, L::Columns::default());
    paging::count_by_parent(&scope.db, base, parent, parents)
        .await
        .map_err(shared)
}
