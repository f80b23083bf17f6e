//! Connecting to the database, counting and timing statements, reading the pool's
//! counters, starting write transactions, and the SQL helpers that are the same for every
//! backend.
//!
//! Statements are counted three ways through sea-orm's metric callback: in total (for
//! tests), per request ([`RequestStatements`], a task-local the request log reads), and
//! as a debug-level `confab::sql` span each, with the statement text as sea-orm built it
//! (placeholders, never the bound values), which only the OTLP exporter enables.
//!
//! SQLite (the embedded default) runs in WAL mode with a busy timeout, and its write
//! transactions begin IMMEDIATE so that concurrent writers queue instead of failing on a
//! lock upgrade. Postgres write paths take row locks where they read-then-write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sea_query::{BinOper, Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database as SeaDatabase, DatabaseConnection, DatabaseConnectionType,
    DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Counts every SQL statement sent through a connection.
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
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

/// What the metric callback does for every statement.
fn observe_statement(info: &sea_orm::metric::Info<'_>) {
    crate::metrics::record_sql_statement(info.failed, info.elapsed);
    // Outside a request (realtime dispatch, migrations) there is no request to count for.
    let _ = REQUEST_STATEMENTS.try_with(|request| request.0.fetch_add(1, Ordering::Relaxed));
    // The callback runs after the statement: the span's own duration is ~0, the
    // statement's is its `db.duration_ms`.
    let _sql = tracing::debug_span!(
        target: "confab::sql",
        "sql",
        db.query.text = %info.statement.sql,
        db.duration_ms = crate::telemetry::millis(info.elapsed),
        db.failed = info.failed,
    );
}

pub struct Connected {
    pub conn: DatabaseConnection,
    pub statements: StatementCounter,
}

pub async fn connect(url: &str, max_connections: u32) -> Result<Connected, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // `regexp` is what Unicode-aware case-insensitive matching uses on SQLite
            // (`contains_ignoring_case`, `equals_ignoring_case`).
            opts.with_regexp()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    let mut conn = SeaDatabase::connect(options).await?;
    let statements = StatementCounter::default();
    let counter = statements.clone();
    conn.set_metric_callback(move |info| {
        counter.0.fetch_add(1, Ordering::SeqCst);
        observe_statement(info);
    });
    Ok(Connected { conn, statements })
}

/// Connections of the pool behind `conn`: (lent out, idle). Read from the pool's counters,
/// no statement is sent. sqlx does not say how many acquires are waiting for a connection.
pub fn pool_connections(conn: &DatabaseConnection) -> (u64, u64) {
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

/// Begins a transaction that will write. On SQLite it takes the write lock at once.
pub async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if conn.get_database_backend() == DbBackend::Sqlite {
        conn.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        conn.begin().await
    }
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
