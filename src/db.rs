//! Connecting to the database, counting and timing statements, reading the pool's
//! counters, starting write transactions, and the SQL helpers that are the same for every
//! backend.
//!
//! Statements are counted three ways through sea-orm's metric callback: in total (for
//! tests), per request ([`RequestStatements`], a task-local the request log reads), and
//! as a debug-level `confab::sql` span each, with the statement text as sea-orm built it
//! (placeholders, never the bound values), which only the OTLP exporter enables.
//!
//! On Postgres confab's tables, functions and policies live in a schema of their own
//! (`--database-schema`, default `confab`): every pooled connection sets `search_path` to
//! it, so the migrations create their objects there and every statement finds them there,
//! and nothing lands in `public`, which Supabase's PostgREST publishes. A database that an
//! earlier version migrated into `public` is detected (its `public.seaql_migrations` lists
//! confab's first migration while the configured schema has none) and kept there.
//!
//! SQLite (the embedded default) runs in WAL mode with a busy timeout; its write
//! transactions run on one writer connection beside the read pool and begin IMMEDIATE, so
//! that concurrent writers queue for the writer (without holding a reader's connection)
//! instead of failing on a lock upgrade. Postgres write paths take row locks where they read-then-write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sea_query::{BinOper, Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database as SeaDatabase, DatabaseConnection,
    DatabaseConnectionType, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

/// Counts the SQL statements sent through a connection: all of them, and those sent on
/// behalf of a request (inside [`RequestStatements::count`]), which leaves out background
/// work such as realtime dispatch, the outbox reads and the storage sweep.
#[derive(Clone, Default)]
pub struct StatementCounter {
    all: Arc<AtomicU64>,
    in_requests: Arc<AtomicU64>,
}

impl StatementCounter {
    /// Every statement, background work included.
    pub fn get(&self) -> u64 {
        self.all.load(Ordering::SeqCst)
    }

    /// The statements sent on behalf of requests.
    pub fn in_requests(&self) -> u64 {
        self.in_requests.load(Ordering::SeqCst)
    }
}

tokio::task_local! {
    static REQUEST_STATEMENTS: RequestStatements;
}

/// Counts the statements run on behalf of one request: those sent from inside
/// [`count`](Self::count) (or [`count_sync`](Self::count_sync)), in the request's task.
/// Dataloader batches run in that task too (`graphql::local_tasks`), so they count.
#[derive(Clone, Default)]
pub struct RequestStatements(Arc<AtomicU64>);

impl RequestStatements {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The count as a span field: signed, since OpenTelemetry attributes have no unsigned
    /// integers (tracing-opentelemetry would export a `u64` as text).
    pub fn get_i64(&self) -> i64 {
        i64::try_from(self.get()).unwrap_or(i64::MAX)
    }

    /// Runs `work`, counting its statements here.
    pub async fn count<F: std::future::Future>(&self, work: F) -> F::Output {
        REQUEST_STATEMENTS.scope(self.clone(), work).await
    }

    /// Runs `work` (one poll of a stream), counting its statements here.
    pub fn count_sync<R>(&self, work: impl FnOnce() -> R) -> R {
        REQUEST_STATEMENTS.sync_scope(self.clone(), work)
    }
}

/// What the metric callback does for every statement: true when it ran for a request.
fn observe_statement(info: &sea_orm::metric::Info<'_>) -> bool {
    crate::metrics::record_sql_statement(info.failed, info.elapsed);
    // Outside a request (realtime dispatch, migrations) there is no request to count for.
    let in_request = REQUEST_STATEMENTS
        .try_with(|request| request.0.fetch_add(1, Ordering::Relaxed))
        .is_ok();
    // The callback runs after the statement: the span's own duration is ~0, the
    // statement's is its `db.duration_ms`.
    let _sql = tracing::debug_span!(
        target: "confab::sql",
        "sql",
        db.query.text = %info.statement.sql,
        db.duration_ms = crate::telemetry::millis(info.elapsed),
        db.failed = info.failed,
    );
    in_request
}

pub struct Connected {
    pub conn: DatabaseConnection,
    pub statements: StatementCounter,
}

/// The first migration's name: how an earlier version's install into `public` is known.
const FIRST_MIGRATION: &str = "m20261122_000001_core";

/// The schema confab's objects are in on this Postgres database: `schema`, created when
/// missing, or `public` when an earlier version installed confab there. One short-lived
/// connection, before the pool is opened.
async fn postgres_schema(url: &str, schema: &str, timeout: Duration) -> Result<String, DbErr> {
    let probe = SeaDatabase::connect(
        ConnectOptions::new(url.to_owned())
            .max_connections(1)
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false)
            .to_owned(),
    )
    .await?;
    let found = probe
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass(format('%I.seaql_migrations', $1::text)) IS NOT NULL AS ours, \
                    to_regclass('public.seaql_migrations') IS NOT NULL AS legacy",
            [schema.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no answer about the schema".into()))?;
    let ours: bool = found.try_get("", "ours")?;
    let legacy_table: bool = found.try_get("", "legacy")?;
    let legacy = !ours
        && schema != "public"
        && legacy_table
        && probe
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS one FROM public.seaql_migrations WHERE version = $1",
                [FIRST_MIGRATION.into()],
            ))
            .await?
            .is_some();
    let chosen = if legacy {
        tracing::warn!(
            "confab's tables are in the `public` schema, where an earlier version installed \
             them; keeping them there (see README, \"Postgres schema\")"
        );
        "public".to_owned()
    } else {
        // `schema` was checked to be a plain identifier by the configuration.
        probe
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
        schema.to_owned()
    };
    probe.close().await?;
    Ok(chosen)
}

/// How the pool behaves when the database is slow or gone.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a statement waits for a pool connection (then `SERVICE_UNAVAILABLE`).
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for another connection's lock.
    pub sqlite_busy_timeout: Duration,
}

impl PoolSettings {
    fn options(
        &self,
        url: &str,
        max_connections: u32,
        min_connections: u32,
        search_path: Option<&str>,
    ) -> ConnectOptions {
        let busy_timeout = self.sqlite_busy_timeout;
        // `sqlite://file.db` creates the file, as `sqlite://file.db?mode=rwc` does; an
        // explicit `mode=` (`ro`, `rw`, `memory`) is kept.
        let create_sqlite_file = url.starts_with("sqlite:")
            && !url
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("mode=")));
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(min_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_timeout(self.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(move |opts| {
                let opts = if create_sqlite_file {
                    opts.create_if_missing(true)
                } else {
                    opts
                };
                // `regexp` is what Unicode-aware case-insensitive matching uses on SQLite
                // (`contains_ignoring_case`, `equals_ignoring_case`).
                opts.with_regexp()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(busy_timeout)
                    .foreign_keys(true)
            });
        if let Some(search_path) = search_path {
            options.set_schema_search_path(search_path.to_owned());
        }
        options
    }
}

/// Connects a pool; on Postgres every connection's `search_path` is confab's schema (see
/// the module doc), `schema` or, for an earlier install, `public`.
pub async fn connect(url: &str, pool: &PoolSettings, schema: &str) -> Result<Connected, DbErr> {
    let search_path = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Some(postgres_schema(url, schema, pool.acquire_timeout).await?)
    } else {
        None
    };
    let mut conn =
        SeaDatabase::connect(pool.options(url, pool.max_connections, 1, search_path.as_deref()))
            .await?;
    let statements = StatementCounter::default();
    let counter = statements.clone();
    let observe = move |info: &sea_orm::metric::Info<'_>| {
        counter.all.fetch_add(1, Ordering::SeqCst);
        if observe_statement(info) {
            counter.in_requests.fetch_add(1, Ordering::SeqCst);
        }
    };
    let writer = if conn.get_database_backend() == DbBackend::Sqlite && !is_memory(url) {
        // One writer beside the read pool: writers queue for it without holding a read
        // connection, so a burst of writes cannot take every connection from the readers.
        let mut writer = SeaDatabase::connect(pool.options(url, 1, 0, None)).await?;
        writer.set_metric_callback(observe.clone());
        Some(writer)
    } else {
        None
    };
    gates::register(&conn, writer);
    conn.set_metric_callback(observe);
    Ok(Connected { conn, statements })
}

/// An in-memory SQLite database lives in one connection's memory: a second pool would be
/// another database, so it gets no separate writer.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// What each pool has in front of its writes: on SQLite the one writer connection, and on
/// both backends the count of writes waiting to begin. Found from the pool, because the
/// domain operations are handed the pool only.
mod gates {
    use std::any::Any;
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    use sea_orm::{DatabaseConnection, DatabaseConnectionType};

    pub(super) struct Gate {
        pub writer: Option<DatabaseConnection>,
        pub waiting: AtomicU64,
    }

    /// One entry per pool this process opened (one in production, one per test gateway).
    /// The pool's connect options (an `Arc` it keeps for its life) identify it; holding
    /// them keeps the address from being reused.
    type Entry = (Arc<dyn Any + Send + Sync>, Arc<Gate>);
    static GATES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    fn key(conn: &DatabaseConnection) -> Option<Arc<dyn Any + Send + Sync>> {
        match &conn.inner {
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                Some(conn.get_sqlite_connection_pool().connect_options())
            }
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(conn.get_postgres_connection_pool().connect_options())
            }
            _ => None,
        }
    }

    fn same(a: &Arc<dyn Any + Send + Sync>, b: &Arc<dyn Any + Send + Sync>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
    }

    pub(super) fn register(conn: &DatabaseConnection, writer: Option<DatabaseConnection>) {
        let Some(key) = key(conn) else {
            return;
        };
        let gate = Arc::new(Gate {
            writer,
            waiting: AtomicU64::new(0),
        });
        let mut gates = GATES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        gates.push((key, gate));
    }

    /// The gate of the pool behind `conn`, if it was opened by `connect`.
    pub(super) fn of(conn: &DatabaseConnection) -> Option<Arc<Gate>> {
        let key = key(conn)?;
        let gates = GATES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        gates
            .iter()
            .find(|(k, _)| same(k, &key))
            .map(|(_, gate)| gate.clone())
    }
}

/// Write transactions waiting to begin on the pool behind `conn`: for the SQLite writer
/// connection (and its lock), or on Postgres for a pool connection.
pub fn writes_waiting(conn: &DatabaseConnection) -> u64 {
    gates::of(conn).map_or(0, |gate| gate.waiting.load(Ordering::Relaxed))
}

/// Counts one waiting write while it lives.
struct Waiting(Option<Arc<gates::Gate>>);

impl Waiting {
    fn start(gate: Option<Arc<gates::Gate>>) -> Self {
        if let Some(gate) = &gate {
            gate.waiting.fetch_add(1, Ordering::Relaxed);
        }
        Waiting(gate)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(gate) = &self.0 {
            gate.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Connections of the pool behind `conn` and of its SQLite writer: (lent out, idle). Read
/// from the pools' counters, no statement is sent. sqlx does not say how many acquires are
/// waiting for a connection; [`writes_waiting`] counts the writes.
pub fn pool_connections(conn: &DatabaseConnection) -> (u64, u64) {
    let (in_use, idle) = pool_counts(conn);
    match gates::of(conn).and_then(|gate| gate.writer.clone()) {
        Some(writer) => {
            let (writer_in_use, writer_idle) = pool_counts(&writer);
            (in_use + writer_in_use, idle + writer_idle)
        }
        None => (in_use, idle),
    }
}

fn pool_counts(conn: &DatabaseConnection) -> (u64, u64) {
    let (size, idle) = match &conn.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            let pool = conn.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let pool = conn.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    };
    let idle = u64::try_from(idle).unwrap_or(u64::MAX);
    (u64::from(size).saturating_sub(idle), idle)
}

pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(conn, None).await
}

/// Begins a transaction that will write. On SQLite it runs on the one writer connection
/// and takes the write lock at once (`IMMEDIATE`); writers queue for the writer within the
/// acquire timeout, then the lock within the busy timeout.
pub async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let gate = gates::of(conn);
    let writer = gate.as_ref().and_then(|gate| gate.writer.clone());
    let _waiting = Waiting::start(gate);
    if conn.get_database_backend() == DbBackend::Sqlite {
        writer
            .as_ref()
            .unwrap_or(conn)
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    } else {
        conn.begin().await
    }
}

/// Whether the database takes writes: a write transaction that deletes no row, rolled back.
/// A read-only SQLite file (or a Postgres standby) refuses it. Three statements.
pub async fn check_writable(conn: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = begin_write(conn).await?;
    txn.execute_unprepared("DELETE FROM seaql_migrations WHERE 1 = 0")
        .await?;
    txn.rollback().await
}

/// The current time at the microsecond precision both backends keep.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1))
        .expect("truncating a current timestamp to microseconds cannot overflow")
}

/// A case-insensitive substring match on a text column, Unicode-aware on both backends.
///
/// Postgres lower-cases both sides (`lower()` follows the database's locale, beyond
/// ASCII). SQLite's own `lower()` and `LIKE` fold ASCII only, so there the match is a
/// `REGEXP` with the `(?i)` flag (the `regexp` function sqlx registers on every
/// connection, see [`connect`]): Unicode simple case folding, so `Ä/ä`, `Σ/σ`, `É/é`
/// match as on Postgres. The needle is escaped: its characters match literally.
pub fn contains_ignoring_case(backend: DbBackend, expr: Expr, needle: &str) -> Condition {
    match backend {
        DbBackend::Sqlite => regexp(expr, format!("(?i){}", regex::escape(needle))),
        _ => {
            let escaped = needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            Condition::all().add(
                Expr::expr(Func::lower(expr))
                    .like(LikeExpr::new(lower_case(&format!("%{escaped}%"))).escape('\\')),
            )
        }
    }
}

/// A case-insensitive equality on a text column (an email), Unicode-aware on both
/// backends like [`contains_ignoring_case`].
pub fn equals_ignoring_case(backend: DbBackend, expr: Expr, value: &str) -> Condition {
    match backend {
        DbBackend::Sqlite => regexp(expr, format!("(?i)^{}$", regex::escape(value))),
        _ => Condition::all().add(Expr::expr(Func::lower(expr)).eq(lower_case(value))),
    }
}

/// `expr REGEXP pattern` (SQLite, through sqlx's `regexp` function).
fn regexp(expr: Expr, pattern: String) -> Condition {
    Condition::all().add(expr.binary(BinOper::Custom("REGEXP"), Expr::val(pattern)))
}

/// Lower case character by character, as Postgres' `lower()` does (no final-sigma rule:
/// `Σ` always becomes `σ`).
pub fn lower_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}
