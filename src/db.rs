//! Connecting to the database, counting statements, starting write transactions, and the
//! SQL helpers that are the same for every backend.
//!
//! SQLite (the embedded default) runs in WAL mode with a busy timeout, and its write
//! transactions begin IMMEDIATE so that concurrent writers queue instead of failing on a
//! lock upgrade. Postgres write paths take row locks where they read-then-write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database as SeaDatabase, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Counts every SQL statement sent through a connection.
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
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
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    let mut conn = SeaDatabase::connect(options).await?;
    let statements = StatementCounter::default();
    let counter = statements.clone();
    conn.set_metric_callback(move |info| {
        counter.0.fetch_add(1, Ordering::SeqCst);
        crate::metrics::record_sql_statement(info.failed);
    });
    Ok(Connected { conn, statements })
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

/// A case-insensitive substring match on a text column.
pub fn contains_ignoring_case(expr: Expr, needle: &str) -> Condition {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Condition::all()
        .add(Expr::expr(Func::lower(expr)).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')))
}
