//! The GraphQL schema, assembled from per-capability parts, and what each request
//! carries: the viewer, the database handle, page limits and fresh, viewer-scoped
//! dataloaders. Resolvers are thin: arguments in, an operation or a loader, objects out.

pub mod connection;
pub mod core;
pub mod credits;
pub mod date;
pub mod errors;
pub mod files;
pub mod guard;
pub mod introspection;
pub mod loaders;
pub mod local_tasks;
pub mod node;
pub mod node_id;
pub mod operation_fields;
pub mod public_forms;
pub mod realtime;
pub mod search;
pub mod stored_files;
pub mod tasks;
pub mod teams;
pub mod types;
pub mod values;
pub mod viewer;
pub mod wellness;
pub mod workspace;

use async_graphql::{MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::Viewer;
use crate::config::Settings;
use crate::paging::PageLimits;

#[derive(MergedObject, Default)]
pub struct Query(
    core::CoreQuery,
    teams::TeamsQuery,
    tasks::TasksQuery,
    wellness::WellnessQuery,
    public_forms::PublicQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    core::CoreMutation,
    teams::TeamsMutation,
    tasks::TasksMutation,
    workspace::WorkspaceMutation,
    wellness::WellnessMutation,
    credits::CreditsMutation,
    public_forms::PublicMutation,
    files::FilesMutation,
);

pub type AppSchema = Schema<Query, Mutation, realtime::RealtimeSubscription>;

/// Limits the schema is built with.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` are answered (see [`introspection`]).
    pub introspection: bool,
    /// What a request may cost (see [`guard`]).
    pub guard: guard::GuardLimits,
}

impl From<&Settings> for SchemaLimits {
    fn from(s: &Settings) -> Self {
        SchemaLimits {
            max_depth: s.max_depth,
            max_complexity: s.max_complexity,
            introspection: s.introspection == crate::config::Introspection::On,
            guard: guard::GuardLimits {
                max_selections: s.max_selections,
                max_cost: s.max_cost,
                max_aliases: s.max_aliases,
                max_root_fields: s.max_root_fields,
                max_mutation_fields: s.max_mutation_fields,
                max_anonymous_mutation_fields: s.max_anonymous_mutation_fields,
                default_page: u64::from(s.default_page_size),
                max_page: u64::from(s.max_page_size),
            },
        }
    }
}

pub fn build_schema(
    limits: SchemaLimits,
    search: crate::domain::search::SearchSettings,
) -> AppSchema {
    build_schema_with(limits, search, None)
}

/// As [`build_schema`], with the object store the [files] fields use.
pub fn build_schema_with(
    limits: SchemaLimits,
    search: crate::domain::search::SearchSettings,
    storage: Option<crate::storage::Storage>,
) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        realtime::RealtimeSubscription,
    )
    .data(search);
    if let Some(storage) = storage {
        builder = builder.data(storage);
    }
    let builder = builder
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(guard::DocumentGuard(limits.guard))
        .extension(errors::ErrorCodes)
        .extension(operation_fields::OperationFields);
    if limits.introspection {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .extension(introspection::NoIntrospection)
            .finish()
    }
}

/// The SDL `confab export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build_schema(
        SchemaLimits {
            max_depth: usize::MAX,
            max_complexity: usize::MAX,
            introspection: true,
            guard: guard::GuardLimits::NONE,
        },
        Default::default(),
    )
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
    /// The write bucket of the caller, checked by the [`guard`] for each mutation.
    pub writes: Option<crate::rate_limit::CallerBucket>,
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
            writes: None,
        }
    }
}

/// An integer as GraphQL's 32-bit `Int`, saturating at its bounds.
pub(crate) fn graphql_int<T: TryInto<i32> + PartialOrd + Default + Copy>(n: T) -> i32 {
    let negative = n < T::default();
    n.try_into()
        .unwrap_or(if negative { i32::MIN } else { i32::MAX })
}

/// The complexity weight of a connection field: its page size, at most the maximum page
/// size (a larger `first` is refused as input by the resolver, not as complexity), and
/// the default page size when neither `first` nor `last` is given.
pub fn page_cost(first: Option<i32>, last: Option<i32>) -> usize {
    let limits = PAGE_LIMITS
        .try_with(|limits| *limits)
        .unwrap_or(PageLimits {
            max: 100,
            default: 100,
        });
    match first.or(last) {
        Some(n) if n > 0 => (n as usize).min(limits.max as usize),
        Some(_) => 1,
        None => limits.default.min(limits.max) as usize,
    }
}

tokio::task_local! {
    /// The page limits of the instance executing the current request (complexity
    /// attributes cannot read request data).
    pub static PAGE_LIMITS: PageLimits;
}
