//! Full-text search benchmark (not a test): `cargo bench --bench search`.
//!
//! Builds the gateway in this process on SQLite (a temporary file) and, when
//! CONFAB_BENCH_POSTGRES names a server, on a fresh Postgres database beside it; fills it
//! with CONFAB_BENCH_USERS users (default 200) × CONFAB_BENCH_PROJECTS projects (20) ×
//! CONFAB_BENCH_CHATS chats per project (10) × CONFAB_BENCH_MESSAGES messages per chat (30),
//! i.e. 1.2 M messages of 8 to 16 words drawn from a skewed vocabulary; then sends
//! CONFAB_BENCH_SEARCHES (default 200) two-word searches for one user, first page of 20
//! with snippets, over HTTP, and prints p50/p99 of the request and of the search statement
//! alone, the hit counts, and the plan (`EXPLAIN ANALYZE` on Postgres, `EXPLAIN QUERY PLAN`
//! on SQLite) of the statement the gateway sent.
//!
//! CONFAB_BENCH_SQLITE=0 skips SQLite; CONFAB_BENCH_KEEP=1 keeps the Postgres database
//! (its name is printed) for looking at plans by hand.
//!
//! Data generation: on Postgres one `INSERT ... SELECT` over `generate_series` for the
//! messages; on SQLite batched multi-row inserts. The search index is dropped during the
//! load and built once afterwards (`migration::search_index`), then `ANALYZE` runs, as it
//! would have on a database that grew over time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::enums::{ConversationStatus, MessageRole, ProjectStatus};
use entity::{conversation, message, profile, project, project_conversation};
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "bench-secret-that-is-long-enough-for-hs256-0123456789";

/// The words messages are made of; earlier ones are more frequent (index ⌊r²·n⌋).
const VOCABULARY: &[&str] = &[
    "the",
    "and",
    "project",
    "model",
    "data",
    "user",
    "team",
    "code",
    "build",
    "test",
    "deploy",
    "meeting",
    "deadline",
    "budget",
    "design",
    "review",
    "feature",
    "release",
    "server",
    "client",
    "query",
    "index",
    "search",
    "cache",
    "memory",
    "latency",
    "error",
    "bug",
    "fix",
    "patch",
    "branch",
    "merge",
    "commit",
    "issue",
    "ticket",
    "sprint",
    "plan",
    "roadmap",
    "customer",
    "feedback",
    "report",
    "metric",
    "chart",
    "dashboard",
    "alert",
    "incident",
    "outage",
    "backup",
    "restore",
    "database",
    "schema",
    "migration",
    "table",
    "column",
    "row",
    "key",
    "token",
    "secret",
    "password",
    "login",
    "session",
    "cookie",
    "browser",
    "mobile",
    "desktop",
    "window",
    "button",
    "form",
    "input",
    "output",
    "file",
    "folder",
    "upload",
    "download",
    "image",
    "video",
    "audio",
    "voice",
    "chat",
    "message",
    "thread",
    "reply",
    "mention",
    "notification",
    "email",
    "calendar",
    "schedule",
    "task",
    "goal",
    "journal",
    "progress",
    "score",
    "coach",
    "lesson",
    "practice",
    "exercise",
    "health",
    "sleep",
    "mood",
    "energy",
    "focus",
    "habit",
    "routine",
    "morning",
    "evening",
    "weekend",
    "holiday",
    "travel",
    "flight",
    "hotel",
    "dinner",
    "lunch",
    "coffee",
    "tea",
    "recipe",
    "kitchen",
    "garden",
    "weather",
    "rain",
    "snow",
    "summer",
    "winter",
    "spring",
    "autumn",
    "music",
    "guitar",
    "piano",
    "song",
    "movie",
    "book",
    "chapter",
    "story",
    "writer",
    "editor",
    "draft",
    "publish",
    "article",
    "blog",
    "podcast",
    "episode",
    "interview",
    "question",
    "answer",
    "idea",
    "concept",
    "theory",
    "experiment",
    "result",
    "analysis",
    "summary",
    "insight",
    "decision",
    "strategy",
    "market",
    "price",
    "invoice",
    "payment",
    "contract",
    "lawyer",
    "office",
    "remote",
    "hybrid",
    "salary",
    "hiring",
    "onboarding",
    "training",
    "mentor",
    "career",
    "promotion",
    "conference",
    "talk",
    "slide",
    "demo",
    "prototype",
    "sketch",
    "wireframe",
    "color",
    "font",
    "layout",
    "spacing",
    "animation",
    "performance",
    "security",
    "privacy",
    "compliance",
    "audit",
    "policy",
    "access",
    "permission",
    "role",
    "owner",
    "member",
    "admin",
    "guest",
    "invite",
    "share",
    "link",
    "public",
    "private",
    "archive",
    "delete",
    "rename",
    "move",
    "copy",
    "paste",
    "undo",
    "redo",
    "shortcut",
    "keyboard",
    "mouse",
    "screen",
    "monitor",
    "laptop",
    "phone",
    "tablet",
    "battery",
    "charger",
    "cable",
    "network",
    "wifi",
    "router",
    "firewall",
    "proxy",
    "gateway",
    "cluster",
    "container",
    "kubernetes",
    "docker",
    "pipeline",
    "workflow",
    "automation",
    "script",
    "python",
    "rust",
    "javascript",
    "typescript",
    "compiler",
    "runtime",
    "library",
    "framework",
    "plugin",
    "extension",
    "version",
    "upgrade",
    "dependency",
    "package",
    "registry",
    "mirror",
    "vendor",
    "license",
    "support",
];

/// The two words searched for: moderately frequent (each in about one message in seven).
const QUERY: &str = "budget meeting";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Shape {
    users: usize,
    projects: usize,
    chats: usize,
    messages: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn content(rng: &mut impl Rng) -> String {
    let n = rng.random_range(8..=16);
    (0..n)
        .map(|_| {
            let r: f64 = rng.random();
            VOCABULARY[((r * r) * VOCABULARY.len() as f64) as usize % VOCABULARY.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn insert_batched<E, A>(db: &sea_orm::DatabaseConnection, rows: Vec<A>)
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(500).collect();
        E::insert_many(batch)
            .exec_without_returning(db)
            .await
            .expect("insert a batch");
    }
}

/// Users, their projects, chats (each filed in its project) and messages. Returns the
/// users' ids.
async fn load(db: &sea_orm::DatabaseConnection, shape: &Shape) -> Vec<Uuid> {
    let now = Utc::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let users: Vec<Uuid> = (0..shape.users).map(|_| Uuid::new_v4()).collect();
    insert_batched(
        db,
        users
            .iter()
            .map(|id| profile::ActiveModel {
                id: Set(*id),
                email: Set(Some(format!("{id}@bench.test"))),
                display_name: Set(None),
                full_name: Set(None),
                avatar_url: Set(None),
                onboarding_completed: Set(false),
                onboarding: Set(json!({})),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await;
    let mut projects = Vec::new();
    let mut chats = Vec::new();
    let mut links = Vec::new();
    for owner in &users {
        for p in 0..shape.projects {
            let project_id = Uuid::new_v4();
            projects.push(project::ActiveModel {
                id: Set(project_id),
                owner_id: Set(*owner),
                team_id: Set(None),
                title: Set(format!("project {p}")),
                description: Set(None),
                status: Set(ProjectStatus::Active),
                is_public: Set(false),
                metadata: Set(json!({})),
                created_at: Set(now),
                updated_at: Set(now),
                deleted_at: Set(None),
            });
            for c in 0..shape.chats {
                let chat = Uuid::new_v4();
                let created = now - chrono::Duration::hours(rng.random_range(0..24 * 365));
                chats.push(conversation::ActiveModel {
                    id: Set(chat),
                    owner_id: Set(*owner),
                    title: Set(Some(format!("chat {p}-{c}"))),
                    model: Set(None),
                    status: Set(ConversationStatus::Active),
                    pinned: Set(false),
                    encrypted: Set(false),
                    metadata: Set(json!({})),
                    message_count: Set(shape.messages as i32),
                    total_tokens: Set(0),
                    last_message_at: Set(None),
                    created_at: Set(created),
                    updated_at: Set(created),
                });
                links.push(project_conversation::ActiveModel {
                    project_id: Set(project_id),
                    conversation_id: Set(chat),
                    created_at: Set(now),
                });
            }
        }
    }
    insert_batched(db, projects).await;
    insert_batched(db, chats).await;
    insert_batched(db, links).await;

    match db.get_database_backend() {
        DbBackend::Postgres => {
            let words = VOCABULARY
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(",");
            db.execute_unprepared(&format!(
                "INSERT INTO messages (id, conversation_id, sequence, role, content, metadata, \
                 token_count, feedback, audio_url, created_at, updated_at) \
                 SELECT gen_random_uuid(), c.id, s.n, \
                   CASE WHEN s.n % 2 = 1 THEN 'user' ELSE 'assistant' END, \
                   (SELECT string_agg(v.words[1 + floor(power(random(), 2) * \
                      array_length(v.words, 1))::int + 0 * g], ' ') \
                    FROM generate_series(1, 8 + (s.n + ascii(c.id::text)) % 9) g), \
                   '{{}}'::jsonb, NULL, NULL, NULL, \
                   c.created_at + s.n * interval '1 minute', \
                   c.created_at + s.n * interval '1 minute' \
                 FROM conversations c CROSS JOIN generate_series(1, {}) s(n), \
                   (SELECT '{{{words}}}'::text[] AS words) v",
                shape.messages
            ))
            .await
            .expect("generate the messages");
        }
        _ => {
            let chats: Vec<(Uuid, chrono::DateTime<Utc>)> = conversation::Entity::find()
                .all(db)
                .await
                .expect("read the chats")
                .into_iter()
                .map(|c| (c.id, c.created_at))
                .collect();
            let mut batch = Vec::with_capacity(50_000);
            for (chat, created) in chats {
                for n in 1..=shape.messages {
                    let at = created + chrono::Duration::minutes(n as i64);
                    batch.push(message::ActiveModel {
                        id: Set(Uuid::new_v4()),
                        conversation_id: Set(chat),
                        sequence: Set(n as i32),
                        role: Set(if n % 2 == 1 {
                            MessageRole::User
                        } else {
                            MessageRole::Assistant
                        }),
                        content: Set(content(&mut rng)),
                        metadata: Set(json!({})),
                        token_count: Set(None),
                        feedback: Set(None),
                        audio_url: Set(None),
                        created_at: Set(at),
                        updated_at: Set(at),
                    });
                }
                if batch.len() >= 50_000 {
                    let txn = sea_orm::TransactionTrait::begin(db)
                        .await
                        .expect("a transaction");
                    let rows = std::mem::take(&mut batch);
                    let mut rows = rows.into_iter().peekable();
                    while rows.peek().is_some() {
                        let part: Vec<_> = rows.by_ref().take(500).collect();
                        message::Entity::insert_many(part)
                            .exec_without_returning(&txn)
                            .await
                            .expect("insert messages");
                    }
                    txn.commit().await.expect("commit");
                }
            }
            insert_batched(db, batch).await;
        }
    }
    users
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
}

async fn run(database_url: &str, backend: &str, shape: &Shape, searches: usize) {
    let mut settings = confab::config::Settings::for_database(database_url);
    settings.jwt_secret = Some(SECRET.to_owned());
    let app = confab::app::build(&settings).await.expect("gateway starts");
    let db = app.state.db.clone();

    let started = Instant::now();
    migration::search_index::drop(&db)
        .await
        .expect("drop the index for the load");
    let users = load(&db, shape).await;
    let loaded = started.elapsed();
    migration::search_index::create(&db, migration::search_index::DEFAULT_CONFIG)
        .await
        .expect("build the index");
    db.execute_unprepared("ANALYZE").await.expect("analyze");
    let indexed = started.elapsed() - loaded;
    let total = count(&db, "SELECT COUNT(*) FROM messages").await;
    println!(
        "{backend}: {total} messages loaded in {:.1} s, indexed in {:.1} s",
        loaded.as_secs_f64(),
        indexed.as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });

    let viewer = users[0];
    let token = confab::auth::mint_token(
        SECRET.as_bytes(),
        &confab::auth::MintClaims::user(viewer, format!("{viewer}@bench.test")),
    )
    .expect("a token");
    let http = reqwest::Client::new();
    let document = "query Bench($q: String!) { viewer { searchMessages(query: $q, first: 20) { \
                    edges { snippet node { id content createdAt } } pageInfo { hasNextPage } } } }";
    let post = |body: serde_json::Value| http.post(&url).bearer_auth(&token).json(&body).send();
    let counted: serde_json::Value = post(json!({
        "query": "query($q: String!) { viewer { searchMessages(query: $q) { totalCount } } }",
        "variables": { "q": QUERY }
    }))
    .await
    .expect("a reply")
    .json()
    .await
    .expect("JSON");
    let viewer_hits = &counted["data"]["viewer"]["searchMessages"]["totalCount"];

    // The same search through the domain operation on a connection that records its
    // statement, for the statement's own time and its plan.
    let seen: Arc<Mutex<Option<Statement>>> = Arc::default();
    let mut options = sea_orm::ConnectOptions::new(database_url.to_owned());
    if database_url.starts_with("postgres") {
        // The gateway's tables are in its own schema (`--database-schema`, default `confab`).
        options.set_schema_search_path(confab::config::DEFAULT_SCHEMA);
    }
    let mut probe = sea_orm::Database::connect(options)
        .await
        .expect("a second connection");
    let recorder = seen.clone();
    probe.set_metric_callback(move |info| {
        *recorder.lock().expect("not poisoned") = Some(info.statement.clone());
    });
    let search_viewer = confab::auth::Viewer::User(confab::auth::UserClaims {
        id: viewer,
        email: None,
        is_anonymous: false,
    });
    let search_settings = confab::domain::search::SearchSettings::default();
    let search_once = || {
        confab::domain::search::search_messages(
            &probe,
            &search_viewer,
            &search_settings,
            app.state.limits,
            confab::domain::search::SearchRequest {
                query: QUERY.to_owned(),
                conversation_id: None,
                first: Some(20),
                after: None,
            },
        )
    };

    let mut requests = Vec::with_capacity(searches);
    let mut statements = Vec::with_capacity(searches);
    for _ in 0..searches {
        let start = Instant::now();
        let reply: serde_json::Value =
            post(json!({ "query": document, "variables": { "q": QUERY } }))
                .await
                .expect("a reply")
                .json()
                .await
                .expect("JSON");
        requests.push(start.elapsed());
        assert!(reply.get("errors").is_none(), "{reply}");
        assert_eq!(
            reply["data"]["viewer"]["searchMessages"]["edges"]
                .as_array()
                .map(Vec::len),
            Some(20)
        );
        let start = Instant::now();
        let (page, _) = search_once().await.expect("a search");
        statements.push(start.elapsed());
        assert_eq!(page.rows.len(), 20);
    }
    requests.sort();
    statements.sort();
    let all_hits = match db.get_database_backend() {
        DbBackend::Postgres => {
            count(
                &db,
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE search_vector @@ \
                     plainto_tsquery('english', '{QUERY}')"
                ),
            )
            .await
        }
        _ => {
            let words = QUERY
                .split(' ')
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" ");
            count(
                &db,
                &format!("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '{words}'"),
            )
            .await
        }
    };
    println!(
        "{backend}: \"{QUERY}\", first 20 with snippets, {searches} searches for one user \
         ({viewer_hits} hits among their {} messages; {all_hits} among all users')",
        shape.projects * shape.chats * shape.messages
    );
    println!(
        "{backend}: HTTP request  p50 {}  p99 {}  max {}",
        ms(percentile(&requests, 0.5)),
        ms(percentile(&requests, 0.99)),
        ms(*requests.last().expect("a sample"))
    );
    println!(
        "{backend}: statement     p50 {}  p99 {}  max {}",
        ms(percentile(&statements, 0.5)),
        ms(percentile(&statements, 0.99)),
        ms(*statements.last().expect("a sample"))
    );

    let statement = seen
        .lock()
        .expect("not poisoned")
        .clone()
        .expect("the search sent a statement");
    let explain = match probe.get_database_backend() {
        DbBackend::Postgres => "EXPLAIN (ANALYZE, BUFFERS)",
        _ => "EXPLAIN QUERY PLAN",
    };
    let plan = probe
        .query_all_raw(Statement {
            sql: format!("{explain} {}", statement.sql),
            ..statement.clone()
        })
        .await
        .expect("explain the search");
    println!(
        "{backend}: the search statement:\n{}\n{backend}: its plan:",
        statement.sql
    );
    for row in plan {
        let line = match probe.get_database_backend() {
            DbBackend::Postgres => row.try_get_by_index::<String>(0).unwrap_or_default(),
            _ => row.try_get::<String>("", "detail").unwrap_or_default(),
        };
        println!("  {line}");
    }
}

#[tokio::main]
async fn main() {
    let shape = Shape {
        users: env_number("CONFAB_BENCH_USERS", 200),
        projects: env_number("CONFAB_BENCH_PROJECTS", 20),
        chats: env_number("CONFAB_BENCH_CHATS", 10),
        messages: env_number("CONFAB_BENCH_MESSAGES", 30),
    };
    let searches = env_number("CONFAB_BENCH_SEARCHES", 200);
    println!(
        "confab search bench: {} users x {} projects x {} chats x {} messages",
        shape.users, shape.projects, shape.chats, shape.messages
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    if std::env::var("CONFAB_BENCH_SQLITE").as_deref() != Ok("0") {
        run(&sqlite, "SQLite", &shape, searches).await;
    }

    if let Ok(server) = std::env::var("CONFAB_BENCH_POSTGRES") {
        let name = format!("confab_bench_{}", Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&server)
            .await
            .expect("connect to Postgres");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the bench database");
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        run(&format!("{base}/{name}"), "Postgres", &shape, searches).await;
        if std::env::var("CONFAB_BENCH_KEEP").as_deref() == Ok("1") {
            println!("Postgres: kept the database {name}");
        } else {
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .ok();
        }
    } else {
        println!("Postgres: skipped (set CONFAB_BENCH_POSTGRES=postgres://...)");
    }
}
