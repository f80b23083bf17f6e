//! The GraphQL schema, assembled from per-capability parts, and what each request
//! carries: the viewer, the database handle, page limits and fresh, viewer-scoped
//! dataloaders. Resolvers are thin: arguments in, an operation or a loader, objects out.

pub mod connection;
pub mod core;
pub mod credits;
pub mod date;
pub mod errors;
pub mod loaders;
pub mod local_tasks;
pub mod node;
pub mod public_forms;
pub mod types;
pub mod wellness;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::Viewer;
use crate::config::Settings;
use crate::paging::PageLimits;

#[derive(MergedObject, Default)]
pub struct Query(
    core::CoreQuery,
    wellness::WellnessQuery,
    public_forms::PublicQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    core::CoreMutation,
    wellness::WellnessMutation,
    credits::CreditsMutation,
    public_forms::PublicMutation,
);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits the schema is built with.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: usize,
}

impl From<&Settings> for SchemaLimits {
    fn from(s: &Settings) -> Self {
        SchemaLimits {
            max_depth: s.max_depth,
            max_complexity: s.max_complexity,
            default_page_size: s.default_page_size.min(s.max_page_size) as usize,
        }
    }
}

pub fn build_schema(limits: SchemaLimits) -> AppSchema {
    DEFAULT_PAGE_COST.store(
        limits.default_page_size,
        std::sync::atomic::Ordering::Relaxed,
    );
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(errors::ErrorCodes)
        .finish()
}

/// The SDL `confab export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build_schema(SchemaLimits {
        max_depth: usize::MAX,
        max_complexity: usize::MAX,
        default_page_size: 100,
    })
    .sdl()
}

/// Per-request data every resolver reads.
pub struct RequestCtx {
    pub viewer: Viewer,
    pub db: DatabaseConnection,
    pub limits: PageLimits,
    pub loaders: loaders::Loaders,
    /// The request's `User-Agent` header, if any.
    pub user_agent: Option<String>,
}

impl RequestCtx {
    /// The request data; its loaders' batches run through `tasks`, which must drive the
    /// execution (`tasks.run(schema.execute(request))`).
    pub fn new(
        viewer: Viewer,
        db: DatabaseConnection,
        limits: PageLimits,
        tasks: &local_tasks::LocalTasks,
    ) -> Self {
        let loaders = loaders::Loaders::new(
            loaders::Scope {
                db: db.clone(),
                viewer: viewer.clone(),
            },
            tasks,
        );
        RequestCtx {
            viewer,
            db,
            limits,
            loaders,
            user_agent: None,
        }
    }
}

/// The complexity weight of a connection field: its page size (the default page size
/// when neither `first` nor `last` is given).
pub fn page_cost(first: Option<i32>, last: Option<i32>) -> usize {
    match first.or(last) {
        Some(n) if n > 0 => n as usize,
        Some(_) => 1,
        None => DEFAULT_PAGE_COST.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// The page size assumed for a connection without `first`/`last`: the configured default
/// page size (complexity attributes cannot read request data, so the schema keeps it).
static DEFAULT_PAGE_COST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(100);
