//! The test harness: a real gateway on a loopback port, on SQLite or Postgres, each test
//! in its own database; helpers to mint tokens and send GraphQL over HTTP.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::documents::CREATE_TEAM;
use confab::config::Settings;
use confab::db::StatementCounter;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use uuid::Uuid;

const CREATE_PROJECT: &str = r#"
    mutation($t: String!, $p: Boolean) {
        createProject(input: {title: $t, isPublic: $p}) { id }
    }
"#;

const CREATE_CHAT: &str = r#"
    mutation($t: String, $p: UUID) {
        createConversation(input: {title: $t, projectId: $p}) { id }
    }
"#;

const SEND_USER_MESSAGE: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id sequence content }
    }
"#;

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256-0123456789";

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub statements: StatementCounter,
    pub db: sea_orm::DatabaseConnection,
    /// The database this gateway runs on (for a second gateway process).
    pub database_url: String,
    /// This gateway's realtime hub (to wait until subscriptions are registered).
    pub realtime: confab::realtime::Realtime,
    postgres_db: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// Starts a gateway on SQLite in a fresh temporary directory.
pub async fn sqlite() -> TestApp {
    sqlite_with(|_| {}).await
}

pub async fn sqlite_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("confab.db").display()
    );
    start(url, Some(dir), None, configure).await
}

/// Starts a gateway on a fresh Postgres database, or returns None (printing one line)
/// when `TEST_DATABASE_URL` is not set.
pub async fn postgres() -> Option<TestApp> {
    postgres_with(|_| {}).await
}

pub async fn postgres_with(configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    postgres_prepared("", configure).await
}

/// As [`postgres_with`], on a database where `fixture` (SQL) ran before the gateway
/// migrated it.
pub async fn postgres_prepared(
    fixture: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let admin_url = postgres_admin_url()?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "confab_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ) + &Uuid::new_v4().simple().to_string()[..8];
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    if !fixture.is_empty() {
        let db = Database::connect(&url)
            .await
            .expect("connect to the test database");
        db.execute_unprepared(fixture)
            .await
            .expect("the fixture applies");
        db.close().await.ok();
    }
    Some(start(url, None, Some((admin_url, name)), configure).await)
}

/// `TEST_DATABASE_URL`, or None (printing one line) when it is not set; a failure instead
/// with `CONFAB_REQUIRE_POSTGRES=1`.
pub fn postgres_admin_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CONFAB_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CONFAB_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
        );
        eprintln!("skipping the Postgres variant: TEST_DATABASE_URL is not set");
        return None;
    };
    Some(admin_url)
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "confab=warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

async fn start(
    url: String,
    dir: Option<tempfile::TempDir>,
    postgres_db: Option<(String, String)>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    init_logging();
    let mut settings = Settings::for_database(&url);
    settings.jwt_secret = Some(SECRET.to_owned());
    settings.db_max_connections = 12;
    configure(&mut settings);
    let app = confab::app::build(&settings).await.expect("gateway starts");
    let database_url = settings.database_url.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let router = app.router.clone();
    // The binary's accept loop, with the configured connection limits.
    let limits = confab::app::connection_limits(&settings);
    tokio::spawn(confab::http::serve::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    TestApp {
        url: format!("http://{addr}"),
        client: reqwest::Client::new(),
        statements: app.statements,
        db: app.state.db.clone(),
        database_url,
        realtime: app.state.realtime.clone(),
        postgres_db,
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres_db.take() {
            let db = self.db.clone();
            // A separate thread with its own runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Runtime::new() else {
                    return;
                };
                rt.block_on(async move {
                    db.close().await.ok();
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await
                            .ok();
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// A signed-in user of the test app.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

pub fn mint(sub: Option<Uuid>, role: &str, email: Option<&str>) -> String {
    mint_for(sub, role, email, 3600)
}

/// A token that expires `ttl_secs` from now.
pub fn mint_for(sub: Option<Uuid>, role: &str, email: Option<&str>, ttl_secs: u64) -> String {
    confab::auth::mint_token(
        SECRET.as_bytes(),
        &confab::auth::MintClaims {
            sub,
            role: role.to_owned(),
            email: email.map(str::to_owned),
            ttl_secs,
            audience: (role == "authenticated").then(|| "authenticated".to_owned()),
            issuer: None,
        },
    )
    .expect("mint a token")
}

pub fn user(name: &str) -> User {
    let id = Uuid::new_v4();
    let email = format!("{name}-{}@example.com", &id.simple().to_string()[..6]);
    User {
        id,
        token: mint(Some(id), "authenticated", Some(&email)),
        email,
    }
}

pub fn service_token() -> String {
    mint(None, "service_role", None)
}

pub fn anon_key() -> String {
    mint(None, "anon", None)
}

/// One GraphQL response: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `data` when there are no errors; panics with the errors otherwise.
    pub fn data(&self) -> &Value {
        if let Some(errors) = self.body.get("errors") {
            panic!("expected no errors, got {errors} (status {})", self.status);
        }
        &self.body["data"]
    }

    /// The code of the first error; panics when there is none.
    pub fn code(&self) -> String {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code, got {}", self.body))
            .to_owned()
    }

    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    /// A second gateway on this one's database (which stays this one's to drop).
    pub async fn another_gateway(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        start(self.database_url.clone(), None, None, configure).await
    }

    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the gateway");
        let status = response.status().as_u16();
        let body = response.json().await.expect("a JSON body");
        Reply { status, body }
    }

    /// As `user`, expecting success; returns `data`.
    pub async fn ok(&self, user: &User, query: &str, variables: Value) -> Value {
        self.post(Some(&user.token), query, variables)
            .await
            .data()
            .clone()
    }

    pub async fn as_user(&self, user: &User, query: &str, variables: Value) -> Reply {
        self.post(Some(&user.token), query, variables).await
    }

    /// Waits until this gateway serves exactly `n` subscriptions (a subscribe message has
    /// no acknowledgement in the protocol).
    pub async fn wait_for_subscriptions(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.realtime.subscriber_count() != n {
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} subscriptions, have {}",
                self.realtime.subscriber_count()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The statements run on behalf of requests so far (background work such as realtime
    /// dispatch, which runs whenever the scheduler gets to it, is left out).
    pub fn statement_count(&self) -> u64 {
        self.statements.in_requests()
    }

    /// Every statement so far, realtime dispatch and other background work included.
    pub fn all_statement_count(&self) -> u64 {
        self.statements.get()
    }

    pub async fn create_project(&self, user: &User, title: &str, public: bool) -> Uuid {
        let data = self
            .ok(user, CREATE_PROJECT, json!({ "t": title, "p": public }))
            .await;
        uuid(&data["createProject"]["id"])
    }

    pub async fn create_team(&self, owner: &User, name: &str) -> Uuid {
        let data = self.ok(owner, CREATE_TEAM, json!({ "n": name })).await;
        uuid(&data["createTeam"]["id"])
    }

    pub async fn create_chat(&self, user: &User, title: &str, project: Option<Uuid>) -> Uuid {
        let data = self
            .ok(user, CREATE_CHAT, json!({ "t": title, "p": project }))
            .await;
        uuid(&data["createConversation"]["id"])
    }

    pub async fn send(&self, user: &User, chat: Uuid, content: &str) -> Value {
        let data = self
            .ok(user, SEND_USER_MESSAGE, json!({ "c": chat, "m": content }))
            .await;
        data["sendMessage"].clone()
    }
}

pub fn uuid(value: &Value) -> Uuid {
    Uuid::parse_str(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a string: {value}")),
    )
    .unwrap_or_else(|_| panic!("not a UUID: {value}"))
}

/// Runs a test body against SQLite, and against Postgres when `TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::harness::sqlite().await;
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(app) = $crate::harness::postgres().await {
                    ($body)(app).await;
                }
            }
        }
    };
}
