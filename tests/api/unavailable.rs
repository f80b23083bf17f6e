//! Database trouble answers fast and clean: a pool that cannot lend a connection, a
//! Postgres that is gone, a SQLite file locked by another process past the busy timeout or
//! opened read-only all answer HTTP 503 `SERVICE_UNAVAILABLE` with `Retry-After` within the
//! configured timeouts (never 500 `INTERNAL`), new users included, and `/readyz` says 503
//! within its 2 s. On SQLite, writers queue for the one writer connection without taking
//! the readers' connections, and `/metrics` counts them as `waiting`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::documents::{VIEWER_ID, VIEWER_PROJECT_IDS};
use crate::harness::{self, Reply, TestApp, User};
use crate::metrics::sample;

const CREATE_PROJECT: &str = "mutation($t: String!) { createProject(input: {title: $t}) { id } }";
const JOIN_WAITLIST: &str = "mutation($e: String!) { joinWaitlist(email: $e) }";
const WAITING: &str = "confab_db_pool_connections{state=\"waiting\"}";

/// A request as `user` (None: anonymous), with its status, `Retry-After` and how long the
/// answer took.
async fn timed(
    app: &TestApp,
    user: Option<&User>,
    query: &str,
    variables: Value,
) -> (Reply, Option<String>, Duration) {
    let started = Instant::now();
    let mut request = app
        .client
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(user) = user {
        request = request.bearer_auth(&user.token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap();
    (Reply { status, body }, retry_after, started.elapsed())
}

/// The answer is the database-unavailable refusal: 503, `Retry-After: 5`, one coded error
/// with a message that names no internals, within `within`.
fn assert_unavailable(answer: &(Reply, Option<String>, Duration), within: Duration) {
    let (reply, retry_after, took) = answer;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(reply.codes(), ["SERVICE_UNAVAILABLE"], "{}", reply.body);
    assert_eq!(
        reply.body["errors"][0]["message"],
        "the database is unavailable; retry later"
    );
    assert!(*took < within, "answered after {took:?}");
}

async fn project_count(app: &TestApp, user: &User) -> usize {
    app.ok(user, VIEWER_PROJECT_IDS, json!({})).await["viewer"]["projects"]["nodes"]
        .as_array()
        .unwrap()
        .len()
}

async fn readyz(app: &TestApp) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, body) = crate::readiness::readyz(app).await;
    (status, body, started.elapsed())
}

async fn waiting(app: &TestApp) -> f64 {
    let text = crate::metrics::scrape(&app.url).await;
    sample(&text, WAITING).expect("the waiting gauge is rendered")
}

async fn wait_for_waiting(app: &TestApp, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = waiting(app).await;
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "waiting stays {now}, not {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The pool's only connection is held: a read, and a new user's first request (whose rows
/// the auth extractor makes), give up after the 1 s acquire timeout with 503.
async fn an_exhausted_pool_answers_503_fast(app: TestApp) {
    let alice = harness::user("alice");
    app.ok(&alice, VIEWER_ID, json!({})).await;
    let held = app.db.begin().await.unwrap();
    let limit = Duration::from_secs(3);
    assert_unavailable(
        &timed(&app, Some(&alice), VIEWER_ID, json!({})).await,
        limit,
    );
    let bob = harness::user("bob");
    assert_unavailable(&timed(&app, Some(&bob), VIEWER_ID, json!({})).await, limit);
    held.rollback().await.unwrap();
    let data = app.ok(&bob, VIEWER_ID, json!({})).await;
    assert_eq!(data["viewer"]["id"], bob.id.to_string());
}

fn one_connection(settings: &mut confab::config::Settings) {
    settings.db_max_connections = 1;
    settings.db_acquire_timeout = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_pool_answers_503_fast_sqlite() {
    an_exhausted_pool_answers_503_fast(harness::sqlite_with(one_connection).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_pool_answers_503_fast_postgres() {
    if let Some(app) = harness::postgres_with(one_connection).await {
        an_exhausted_pool_answers_503_fast(app).await;
    }
}

/// Postgres: a write waiting for the pool's only connection is counted as `waiting`
/// (SQLite's writes wait for its writer instead: see below). `held` is given back before
/// the gateway is dropped, or closing the pool would wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_waiting_for_the_pool_is_counted_postgres() {
    let Some(app) = harness::postgres_with(|s| {
        s.db_max_connections = 1;
        s.db_acquire_timeout = Duration::from_secs(2);
    })
    .await
    else {
        return;
    };
    assert_eq!(waiting(&app).await, 0.0);
    let held = app.db.begin().await.unwrap();
    let app = Arc::new(app);
    // An anonymous write: no user rows to look up before it asks for its transaction.
    let write = {
        let app = app.clone();
        tokio::spawn(async move {
            timed(&app, None, JOIN_WAITLIST, json!({"e": "ann@example.com"})).await
        })
    };
    wait_for_waiting(&app, 1.0).await;
    held.rollback().await.unwrap();
    let (reply, _, _) = write.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(waiting(&app).await, 0.0);
}

/// Another process's connection to the SQLite file, holding the write lock.
async fn hold_write_lock(app: &TestApp) -> (DatabaseConnection, DatabaseTransaction) {
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).sqlx_logging(false);
    let other = Database::connect(options).await.unwrap();
    let txn = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    (other, txn)
}

/// SQLite locked by another connection past the (short) busy timeout: a write, and a new
/// user's first request, answer 503 soon after it; reads go on; nothing is half-written;
/// the waiting write is counted while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_locked_past_the_busy_timeout_answers_503() {
    let app = harness::sqlite_with(|s| {
        s.sqlite_busy_timeout = Duration::from_millis(1500);
    })
    .await;
    let alice = harness::user("alice");
    app.create_project(&alice, "before", false).await;
    let (_other, lock) = hold_write_lock(&app).await;

    let app = Arc::new(app);
    let write = {
        let (app, alice) = (app.clone(), alice.clone());
        tokio::spawn(
            async move { timed(&app, Some(&alice), CREATE_PROJECT, json!({"t": "x"})).await },
        )
    };
    wait_for_waiting(&app, 1.0).await;
    // Readers are not held up by the lock (WAL).
    let (read, _, took) = timed(&app, Some(&alice), VIEWER_PROJECT_IDS, json!({})).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(took < Duration::from_millis(500), "a read took {took:?}");
    let answer = write.await.unwrap();
    assert!(answer.2 >= Duration::from_millis(1400), "{:?}", answer.2);
    assert_unavailable(&answer, Duration::from_secs(4));
    assert_eq!(waiting(&app).await, 0.0);
    let bob = harness::user("bob");
    assert_unavailable(
        &timed(&app, Some(&bob), VIEWER_ID, json!({})).await,
        Duration::from_secs(4),
    );

    lock.rollback().await.unwrap();
    assert_eq!(project_count(&app, &alice).await, 1, "nothing half-written");
    app.create_project(&alice, "after", false).await;
    assert_eq!(project_count(&app, &alice).await, 2);
    let data = app.ok(&bob, VIEWER_ID, json!({})).await;
    assert_eq!(data["viewer"]["id"], bob.id.to_string());
}

/// Writers queue for SQLite's one writer connection, not for the readers' pool: with the
/// write lock held elsewhere, three writes wait (and are counted) while a read on a pool
/// of two still answers at once. Before, each waiting write held a pool connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_do_not_starve_readers() {
    let app = harness::sqlite_with(|s| {
        s.db_max_connections = 2;
        s.sqlite_busy_timeout = Duration::from_secs(10);
        s.db_acquire_timeout = Duration::from_secs(10);
    })
    .await;
    let alice = harness::user("alice");
    app.ok(&alice, VIEWER_ID, json!({})).await;
    let (_other, lock) = hold_write_lock(&app).await;
    let app = Arc::new(app);
    let writes: Vec<JoinHandle<_>> = (0..3)
        .map(|i| {
            let (app, alice) = (app.clone(), alice.clone());
            tokio::spawn(async move {
                timed(
                    &app,
                    Some(&alice),
                    CREATE_PROJECT,
                    json!({ "t": format!("p{i}") }),
                )
                .await
            })
        })
        .collect();
    wait_for_waiting(&app, 3.0).await;
    let (read, _, took) = timed(&app, Some(&alice), VIEWER_PROJECT_IDS, json!({})).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(took < Duration::from_secs(1), "a read waited {took:?}");
    lock.rollback().await.unwrap();
    for write in writes {
        let (reply, _, _) = write.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(project_count(&app, &alice).await, 3);
    assert_eq!(waiting(&app).await, 0.0);
}

/// A SQLite file that cannot be written (opened read-only): reads are answered, writes and
/// new users are 503, and `/readyz` is 503 "the database cannot be written".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_sqlite_file_is_unavailable_for_writes_and_not_ready() {
    let writable = harness::sqlite().await;
    let alice = harness::user("alice");
    writable.create_project(&alice, "kept", false).await;
    let read_only_url = writable.database_url.replace("mode=rwc", "mode=ro");
    assert_ne!(read_only_url, writable.database_url);
    let app = harness::sqlite_with(|s| s.database_url = read_only_url).await;

    assert_eq!(project_count(&app, &alice).await, 1);
    let limit = Duration::from_secs(3);
    assert_unavailable(
        &timed(&app, Some(&alice), CREATE_PROJECT, json!({"t": "no"})).await,
        limit,
    );
    let bob = harness::user("bob");
    assert_unavailable(&timed(&app, Some(&bob), VIEWER_ID, json!({})).await, limit);
    let (status, body, took) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["checks"]["database"],
        json!({ "status": "down", "error": "the database cannot be written" })
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The writable gateway on the same file is ready.
    assert_eq!(readyz(&writable).await.0, 200);
    assert_eq!(project_count(&writable, &alice).await, 1);
}

/// A TCP relay between the gateway and Postgres that can go down (close every relayed
/// connection and the port) and come back on the same port: Postgres stopping, without
/// stopping the shared server.
struct Relay {
    port: u16,
    target: String,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    async fn start(target: String) -> Arc<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Arc::new(Relay {
            port: listener.local_addr().unwrap().port(),
            target,
            running: Mutex::new(None),
        });
        *relay.running.lock().await = Some(relay.serve(listener));
        relay
    }

    fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let target = self.target.clone();
        tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                // Aborting this task drops the JoinSet, which aborts every pipe: their
                // sockets close, as when the server goes away.
                pipes.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                            .await
                            .ok();
                    }
                });
            }
        })
    }

    async fn down(&self) {
        if let Some(task) = self.running.lock().await.take() {
            task.abort();
            task.await.ok();
        }
    }

    async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        *self.running.lock().await = Some(self.serve(listener));
    }
}

/// Postgres goes away under a running gateway: requests answer 503 within the acquire
/// timeout, new users too, `/readyz` 503 within its 2 s; when it is back, they work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_down_answers_503_fast_and_recovers() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        harness::postgres().await; // skips, or fails under CONFAB_REQUIRE_POSTGRES
        return;
    };
    let server = reqwest::Url::parse(&admin_url).unwrap();
    let target = format!(
        "{}:{}",
        server.host_str().unwrap(),
        server.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let port = relay.port;
    let app = harness::postgres_with(|s| {
        let mut url = reqwest::Url::parse(&s.database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        s.database_url = url.to_string();
        s.db_acquire_timeout = Duration::from_secs(1);
    })
    .await
    .expect("TEST_DATABASE_URL is set");
    let alice = harness::user("alice");
    app.create_project(&alice, "before", false).await;

    relay.down().await;
    let limit = Duration::from_secs(3);
    assert_unavailable(
        &timed(&app, Some(&alice), VIEWER_ID, json!({})).await,
        limit,
    );
    assert_unavailable(
        &timed(&app, Some(&alice), CREATE_PROJECT, json!({"t": "x"})).await,
        limit,
    );
    let bob = harness::user("bob");
    assert_unavailable(&timed(&app, Some(&bob), VIEWER_ID, json!({})).await, limit);
    let (status, body, took) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(took < Duration::from_millis(2500), "{took:?}");

    relay.up().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (reply, _, _) = timed(&app, Some(&alice), VIEWER_PROJECT_IDS, json!({})).await;
        if reply.status == 200 {
            let nodes = reply.body["data"]["viewer"]["projects"]["nodes"].clone();
            assert_eq!(nodes.as_array().unwrap().len(), 1, "nothing half-written");
            break;
        }
        assert_eq!(reply.codes(), ["SERVICE_UNAVAILABLE"], "{}", reply.body);
        assert!(Instant::now() < deadline, "still unavailable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
