//! Health for orchestrators: `/readyz` reports each dependency (the database, on Postgres
//! the LISTEN connection) with a bounded time per check; a SIGTERM drains requests in
//! flight, closes WebSocket connections with 1001 and says so in one log line.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{json, Value};

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp};
use crate::metrics::{sample, spawn_gateway};
use crate::on_both;
use crate::ws;

const ON_CONVERSATION_UPDATED: &str = "subscription { conversationUpdated { id } }";

/// `/readyz` of `app`: status and JSON body.
pub async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "readiness is JSON"
    );
    (status, response.json().await.unwrap())
}

/// Waits until `/readyz` answers `status`, and returns that body.
/// `/readyz` once its `status` word is `word`, with the HTTP status it came with.
async fn readyz_until(app: &TestApp, word: &str) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now, body) = readyz(app).await;
        if body["status"] == word {
            return (now, body);
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stays {now} {body}, not {word}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url.starts_with("postgres")
}

on_both!(readyz_reports_each_dependency, |app: TestApp| async move {
    // On Postgres the gateway is ready once its LISTEN connection is in place.
    let (status, body) = readyz_until(&app, "ready").await;
    assert_eq!(status, 200);
    let database = &body["checks"]["database"];
    assert_eq!(database["status"], "up");
    let latency = database["latency_ms"].as_u64().expect("latency in ms");
    assert!(latency < 2000, "a check that answered took {latency} ms");
    let checks: Vec<&String> = body["checks"].as_object().unwrap().keys().collect();
    if is_postgres(&app) {
        assert_eq!(checks, ["database", "listener", "storage"]);
        assert_eq!(body["checks"]["listener"], json!({ "status": "up" }));
    } else {
        assert_eq!(
            checks,
            ["database", "storage"],
            "SQLite has no LISTEN connection"
        );
    }
    // /healthz stays a plain 200.
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
});

/// The only pool connection is held: the database check gives up after its 2 s and the
/// probe answers 503 instead of waiting for the pool's 30 s acquire timeout.
async fn a_database_that_does_not_answer_is_down(app: TestApp) {
    readyz_until(&app, "ready").await;
    let txn = app.db.begin().await.unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["checks"]["database"],
        json!({ "status": "down", "error": "no answer within 2 s" })
    );
    txn.rollback().await.unwrap();
    let (status, body) = readyz_until(&app, "ready").await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["database"]["status"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_does_not_answer_is_down_sqlite() {
    let app = harness::sqlite_with(|s| s.db_max_connections = 1).await;
    a_database_that_does_not_answer_is_down(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_does_not_answer_is_down_postgres() {
    if let Some(app) = harness::postgres_with(|s| s.db_max_connections = 1).await {
        a_database_that_does_not_answer_is_down(app).await;
    }
}

/// The LISTEN connection is terminated while the database refuses new connections: the
/// listener is down (200 `degraded`: the database still answers) until it can reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_shows_the_listener_down_until_it_reconnects() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    readyz_until(&app, "ready").await;
    // A database cannot close itself to connections: that is said from the admin one.
    let admin = sea_orm::Database::connect(std::env::var("TEST_DATABASE_URL").unwrap())
        .await
        .unwrap();
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            admin.execute_unprepared(&sql).await.unwrap();
        }
    };
    let name = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_database() AS name",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "name")
        .unwrap();
    // Keeps the listener from reconnecting at once (the pool keeps its open connections).
    run(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false")).await;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND application_name = '{}'",
        confab::realtime::LISTENER_APPLICATION_NAME
    ))
    .await;
    // Requests are still answered: degraded, not out of service.
    let (status, body) = readyz_until(&app, "degraded").await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["listener"], json!({ "status": "down" }));
    assert_eq!(body["checks"]["database"]["status"], "up");

    run(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    let (status, body) = readyz_until(&app, "ready").await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["listener"], json!({ "status": "up" }));
    admin.close().await.unwrap();
}

/// A gateway process gets SIGTERM with one request in flight (its body half sent) and one
/// WebSocket open: the request still gets its answer, the WebSocket is closed with 1001,
/// and the process logs what it drained and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_closes_websockets_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("confab.db").display()
    );
    let mut gateway = spawn_gateway(&url, &[]).await;
    let alice = harness::user("alice");
    let mut socket = ws::connect_as(&gateway.url, &alice.token).await;
    socket
        .subscribe("c", ON_CONVERSATION_UPDATED, json!({}))
        .await;

    // A request whose body is half sent: in flight until the rest comes.
    let body = json!({ "query": VIEWER_ID }).to_string();
    let (head, rest) = body.split_at(body.len() / 2);
    let address = gateway.url.trim_start_matches("http://").to_owned();
    let mut pending = std::net::TcpStream::connect(&address).unwrap();
    write!(
        pending,
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{head}",
        alice.token,
        body.len()
    )
    .unwrap();
    pending.flush().unwrap();
    // The scrape is in flight too while it renders: 2 means the half-sent one is counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{}/metrics", gateway.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let in_flight = sample(&text, "confab_http_requests_in_flight");
        let sockets = sample(&text, "confab_websocket_connections");
        if in_flight == Some(2.0) && sockets == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "{in_flight:?} {sockets:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = gateway.log_line("shutting down").await;
    assert!(
        started.contains("draining 1 requests in flight, closing 1 WebSocket connections"),
        "{started}"
    );
    let closed = socket.closed().await;
    assert_eq!(closed.code, 1001);
    assert_eq!(closed.reason, "server shutting down");

    // The request in flight is answered, on a connection the server then closes.
    pending.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    pending.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"id\":\"{}\"", alice.id)),
        "{answer}"
    );

    let line = gateway.log_line("shutdown complete").await;
    assert!(
        line.contains(
            "drained 1 requests in flight, closed 1 WebSocket connections (0 still open)"
        ),
        "{line}"
    );
    let status = gateway.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
