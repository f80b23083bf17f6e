//! The full-text index over message content, shared by the [search] migration and the
//! gateway's start (which rebuilds it when the configured text-search configuration
//! differs from the one the index was built with).
//!
//! - Postgres: a generated `tsvector` column `messages.search_vector` over the first
//!   [`POSTGRES_INDEXED_CHARS`] characters of the content (a `tsvector` holds at most 1 MB,
//!   so a longer message would otherwise fail to save), with a GIN index.
//! - SQLite: an FTS5 external-content table `messages_fts` over `messages.content`, keyed by
//!   the messages' rowid and kept in step by three triggers.
//!
//! Adding the column (Postgres) or running `rebuild` (SQLite) indexes the messages that
//! already exist.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// The text-search configuration the migration builds the index with.
pub const DEFAULT_CONFIG: &str = "english";

/// Characters of a message's content that Postgres indexes (the rest is not searchable).
pub const POSTGRES_INDEXED_CHARS: usize = 100_000;

/// Whether `name` may be used as a text-search configuration name: a lowercase SQL
/// identifier (it is written into DDL, so nothing else is accepted).
pub fn is_valid_config_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// The FTS5 tokenizer SQLite uses for a configuration: `english` stems (Porter), `simple`
/// does not; SQLite has no other stemmer.
pub fn sqlite_tokenizer(config: &str) -> Option<&'static str> {
    match config {
        "english" => Some("porter unicode61"),
        "simple" => Some("unicode61"),
        _ => None,
    }
}

/// Why SQLite cannot search with `config`.
pub fn sqlite_refusal(config: &str) -> String {
    format!("SQLite searches with `english` (Porter stemmer) or `simple`, not `{config}`")
}

fn postgres_create(config: &str) -> Vec<String> {
    vec![
        format!(
            "ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS \
             (to_tsvector('{config}'::regconfig, left(content, {POSTGRES_INDEXED_CHARS}))) STORED"
        ),
        "CREATE INDEX messages_search_idx ON messages USING GIN (search_vector)".to_owned(),
    ]
}

const POSTGRES_DROP: &[&str] = &["ALTER TABLE messages DROP COLUMN IF EXISTS search_vector"];

fn sqlite_create(tokenizer: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', \
             content_rowid='rowid', tokenize='{tokenizer}')"
        ),
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN \
         INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END"
            .to_owned(),
        "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN \
         INSERT INTO messages_fts(messages_fts, rowid, content) \
         VALUES ('delete', old.rowid, old.content); END"
            .to_owned(),
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN \
         INSERT INTO messages_fts(messages_fts, rowid, content) \
         VALUES ('delete', old.rowid, old.content); \
         INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END"
            .to_owned(),
        "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')".to_owned(),
    ]
}

const SQLITE_DROP: &[&str] = &[
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TABLE IF EXISTS messages_fts",
];

async fn run(db: &impl ConnectionTrait, statements: &[String]) -> Result<(), DbErr> {
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

fn owned(statements: &[&str]) -> Vec<String> {
    statements.iter().map(|s| (*s).to_owned()).collect()
}

/// Creates the index for `config` and indexes every existing message.
pub async fn create(db: &impl ConnectionTrait, config: &str) -> Result<(), DbErr> {
    if !is_valid_config_name(config) {
        return Err(DbErr::Custom(format!(
            "`{config}` is not a text-search configuration name"
        )));
    }
    match db.get_database_backend() {
        DbBackend::Postgres => run(db, &postgres_create(config)).await,
        DbBackend::Sqlite => {
            let tokenizer =
                sqlite_tokenizer(config).ok_or_else(|| DbErr::Custom(sqlite_refusal(config)))?;
            run(db, &sqlite_create(tokenizer)).await
        }
        other => Err(DbErr::Custom(format!("no full-text index for {other:?}"))),
    }
}

/// Removes the index.
pub async fn drop(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => run(db, &owned(POSTGRES_DROP)).await,
        _ => run(db, &owned(SQLITE_DROP)).await,
    }
}

/// Whether the index was built with `config`: the generated column's expression names it
/// (Postgres), the FTS5 table uses its tokenizer (SQLite).
pub async fn built_with(db: &impl ConnectionTrait, config: &str) -> Result<bool, DbErr> {
    use sea_orm_migration::sea_orm::Statement;
    let backend = db.get_database_backend();
    let (sql, wanted) = match backend {
        DbBackend::Postgres => (
            "SELECT pg_get_expr(d.adbin, d.adrelid) AS definition FROM pg_attrdef d \
             JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
             WHERE d.adrelid = 'messages'::regclass AND a.attname = 'search_vector'",
            format!("to_tsvector('{config}'::regconfig"),
        ),
        _ => (
            "SELECT sql AS definition FROM sqlite_master WHERE name = 'messages_fts'",
            format!("tokenize='{}'", sqlite_tokenizer(config).unwrap_or("")),
        ),
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<String>("", "definition")?.contains(&wanted),
        None => false,
    })
}
