//! `/metrics`: SQL statement durations, the database pool, subscriptions and their queues,
//! rate-limit refusals.
//!
//! Counters are process-global, so the tests that assert on their deltas run the built
//! binary as a process of its own; the pool and queue gauges are read per gateway at scrape
//! time, so those tests use the in-process harness.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::TransactionTrait;
use serde_json::{json, Value};

use crate::documents::VIEWER_ID;
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;
use crate::ws;

const CREATE_PROJECT: &str = r#"
    mutation($t: String!) { createProject(input: {title: $t}) { id } }
"#;

const CREATE_CHAT_IN_PROJECT: &str = r#"
    mutation($t: String!, $p: UUID) {
        createConversation(input: {title: $t, projectId: $p}) { id }
    }
"#;

const CREATE_CHAT: &str = "mutation($t: String!) { createConversation(input: {title: $t}) { id } }";

const SEND_MESSAGE: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id }
    }
"#;

/// Projects → chats → last message and message pages: six statements whatever the number
/// of parents (`loading.rs` says which).
const NESTED: &str = r#"
    query($n: Int!) {
        viewer {
            projects(first: $n) {
                nodes {
                    id title
                    chats(first: 10) {
                        totalCount
                        nodes {
                            id title
                            lastMessage { content sequence }
                            messages(last: 20) { nodes { sequence content } }
                        }
                    }
                }
            }
        }
    }
"#;

const ON_MESSAGE_ADDED: &str =
    "subscription($c: UUID!) { messageAdded(conversationId: $c) { id content } }";

/// A `confab serve` process of the built binary, its stderr kept line by line; killed when
/// dropped.
pub struct Gateway {
    pub child: Child,
    pub url: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// The stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The first stderr line containing `text`, waiting for it up to 10 s.
    pub async fn log_line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {text:?} in:\n{}",
                self.log().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn post(&self, user: &User, query: &str, variables: Value) -> Value {
        let body: Value = reqwest::Client::new()
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&user.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["errors"], Value::Null, "{body}");
        body["data"].clone()
    }
}

/// Starts the binary on `database_url` with extra environment, and waits until it answers.
pub async fn spawn_gateway(database_url: &str, env: &[(&str, &str)]) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_JWT_SECRET", harness::SECRET)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("CONFAB_JWKS_URL")
        .env_remove("CONFAB_JWKS_FILE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start a gateway process");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let kept = stderr.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    let gateway = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
        stderr,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/healthz", gateway.url))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the gateway did not start:\n{}",
            gateway.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway
}

/// The value of one series (`name` with its labels, as rendered), or None.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("a number"))
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
}

/// `/metrics` of the gateway at `base` (http://host:port).
pub async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until `series` reads `expected` on the `/metrics` of the gateway at `base`.
async fn wait_for(base: &str, series: &str, expected: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(base).await;
        if sample(&text, series) == Some(expected) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is not {expected} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SQL_COUNT: &str = "confab_sql_statement_duration_seconds_count";
const SQL_SUM: &str = "confab_sql_statement_duration_seconds_sum";
const SQL_INF: &str = "confab_sql_statement_duration_seconds_bucket{le=\"+Inf\"}";
const STATEMENTS: &str = "confab_sql_statements_total";
const IN_USE: &str = "confab_db_pool_connections{state=\"in_use\"}";
const IDLE: &str = "confab_db_pool_connections{state=\"idle\"}";
const SUBSCRIPTIONS: &str = "confab_subscriptions";
const QUEUED: &str = "confab_subscriber_queued_events";
const CAP_REFUSALS: &str = "confab_rate_limited_total{reason=\"subscriptions_per_connection\"}";
const QUEUE_REFUSALS: &str = "confab_rate_limited_total{reason=\"subscriber_queue\"}";
const JWKS_REFUSALS: &str = "confab_rate_limited_total{reason=\"jwks_refetch\"}";

/// A nested query on a gateway process of its own: the duration histogram counts exactly
/// the statements the statement counter counts, six for this query.
async fn sql_durations_count_every_statement(database_url: &str) {
    let gateway = spawn_gateway(database_url, &[]).await;
    let alice = harness::user("alice");
    gateway.post(&alice, VIEWER_ID, json!({})).await;
    for p in 0..2 {
        let data = gateway
            .post(
                &alice,
                CREATE_PROJECT,
                json!({ "t": format!("project {p}") }),
            )
            .await;
        let project = uuid(&data["createProject"]["id"]);
        for c in 0..2 {
            let data = gateway
                .post(
                    &alice,
                    CREATE_CHAT_IN_PROJECT,
                    json!({ "t": format!("chat {p}-{c}"), "p": project }),
                )
                .await;
            let chat = uuid(&data["createConversation"]["id"]);
            gateway
                .post(&alice, SEND_MESSAGE, json!({ "c": chat, "m": "hello" }))
                .await;
        }
    }
    let before = scrape(&gateway.url).await;
    assert_eq!(value(&before, SQL_COUNT), value(&before, STATEMENTS));
    let data = gateway.post(&alice, NESTED, json!({ "n": 2 })).await;
    assert_eq!(
        data["viewer"]["projects"]["nodes"][1]["chats"]["totalCount"],
        2
    );
    let after = scrape(&gateway.url).await;
    assert_eq!(value(&after, STATEMENTS) - value(&before, STATEMENTS), 6.0);
    assert_eq!(value(&after, SQL_COUNT) - value(&before, SQL_COUNT), 6.0);
    assert_eq!(value(&after, SQL_INF), value(&after, SQL_COUNT));
    assert!(value(&after, SQL_SUM) > value(&before, SQL_SUM));
    // Nothing is lent out between requests; the pool keeps at least its one connection.
    let settled = wait_for(&gateway.url, IN_USE, 0.0).await;
    let idle = value(&settled, IDLE);
    assert!((1.0..=10.0).contains(&idle), "{idle} idle connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_durations_count_every_statement_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("confab.db").display()
    );
    sql_durations_count_every_statement(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_durations_count_every_statement_postgres() {
    // The harness makes (and later drops) a fresh database; the process runs on it.
    if let Some(app) = harness::postgres().await {
        sql_durations_count_every_statement(&app.database_url).await;
    }
}

on_both!(
    pool_gauges_show_connections_lent_and_idle,
    |app: TestApp| async move {
        // A connection coming back from a statement is "in use" until the pool has it
        // back (sqlx returns it in a task of its own): hence waiting, not reading once.
        let text = wait_for(&app.url, IN_USE, 0.0).await;
        let idle = value(&text, IDLE);
        assert!((1.0..=12.0).contains(&idle), "{idle} idle of at most 12");
        // An open transaction holds one connection.
        let txn = app.db.begin().await.unwrap();
        let text = wait_for(&app.url, IN_USE, 1.0).await;
        assert!(value(&text, IN_USE) + value(&text, IDLE) <= 12.0);
        txn.rollback().await.unwrap();
        wait_for(&app.url, IN_USE, 0.0).await;
    }
);

on_both!(
    queued_events_count_what_a_subscriber_has_not_read,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Unread", None).await;
        assert_eq!(value(&scrape(&app.url).await, QUEUED), 0.0);
        // A subscriber of this gateway that does not read its stream.
        let viewer = confab::auth::Viewer::User(confab::auth::UserClaims {
            id: alice.id,
            email: Some(alice.email.clone()),
            is_anonymous: false,
        });
        let mut subscription = app
            .realtime
            .subscribe(viewer, confab::realtime::Filter::MessagesOf(chat))
            .await;
        app.send(&alice, chat, "one").await;
        wait_for(&app.url, QUEUED, 1.0).await;
        app.send(&alice, chat, "two").await;
        wait_for(&app.url, QUEUED, 2.0).await;
        // Reading one takes it off the queue.
        let delivery = subscription.next().await.unwrap().unwrap();
        assert!(matches!(delivery, confab::realtime::Delivery::Message(m) if m.content == "one"));
        assert_eq!(value(&scrape(&app.url).await, QUEUED), 1.0);
        drop(subscription);
        assert_eq!(value(&scrape(&app.url).await, QUEUED), 0.0);
    }
);

/// On a process of its own: a subscription raises `confab_subscriptions`; one over the
/// per-connection cap and one whose queue overflows are each counted with their reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_refusals_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("confab.db").display()
    );
    let gateway = spawn_gateway(
        &url,
        &[
            ("CONFAB_MAX_SUBSCRIPTIONS_PER_CONNECTION", "1"),
            ("CONFAB_SUBSCRIBER_QUEUE", "1"),
        ],
    )
    .await;
    let start = scrape(&gateway.url).await;
    for series in [SUBSCRIPTIONS, CAP_REFUSALS, QUEUE_REFUSALS, JWKS_REFUSALS] {
        assert_eq!(value(&start, series), 0.0, "{series}");
    }
    let alice = harness::user("alice");
    let data = gateway
        .post(&alice, CREATE_CHAT, json!({ "t": "Firehose" }))
        .await;
    let chat = uuid(&data["createConversation"]["id"]);
    let mut socket = ws::connect_as(&gateway.url, &alice.token).await;
    socket
        .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
        .await;
    wait_for(&gateway.url, SUBSCRIPTIONS, 1.0).await;

    // Over the cap of one per connection.
    socket
        .subscribe("again", ON_MESSAGE_ADDED, json!({ "c": chat }))
        .await;
    assert_eq!(socket.error_code("again").await, "RATE_LIMITED");
    let text = scrape(&gateway.url).await;
    assert_eq!(value(&text, CAP_REFUSALS), 1.0);
    assert_eq!(value(&text, QUEUE_REFUSALS), 0.0);
    assert_eq!(value(&text, SUBSCRIPTIONS), 1.0);

    // The socket is not read: once its buffers are full, the queue of one overflows.
    let big = "x".repeat(400_000);
    let mut sent = 0;
    while sample(&scrape(&gateway.url).await, QUEUE_REFUSALS) == Some(0.0) {
        assert!(sent < 60, "no overflow after {sent} large messages");
        gateway
            .post(&alice, SEND_MESSAGE, json!({ "c": chat, "m": big }))
            .await;
        sent += 1;
    }
    let text = scrape(&gateway.url).await;
    assert_eq!(
        value(&text, QUEUE_REFUSALS),
        1.0,
        "one subscriber dropped once"
    );
    assert_eq!(value(&text, CAP_REFUSALS), 1.0);
    assert_eq!(value(&text, JWKS_REFUSALS), 0.0);
    // Reading now: the events that fitted, then the error; the subscription is gone.
    let mut delivered = 0;
    loop {
        let message = socket.next_of("m").await.expect("the subscription answers");
        if let Some(code) = message["payload"]["errors"][0]["extensions"]["code"].as_str() {
            assert_eq!(code, "RATE_LIMITED", "{message}");
            break;
        }
        delivered += 1;
    }
    assert!(delivered < sent, "all {delivered} of {sent} were delivered");
    wait_for(&gateway.url, SUBSCRIPTIONS, 0.0).await;
}
