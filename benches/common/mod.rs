//! What the benches share: the gateway process they start and measure, tokens, requests.
#![allow(dead_code)] // each bench uses part of it

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A user token signed with `secret`, valid for an hour.
pub fn token(secret: &str, id: Uuid) -> String {
    confab::auth::mint_token(
        secret.as_bytes(),
        &confab::auth::MintClaims::user(id, format!("{id}@bench.test")),
    )
    .expect("mint a token")
}

/// A `confab serve` process of the release build; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Resident set size of the gateway process, in MiB.
    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.child.id())
    }
}

/// Resident set size of process `pid`, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Starts the gateway (the release build, or CONFAB_BENCH_BIN) on `database_url` with
/// `secret` and the extra environment `env`, and waits until `/readyz` answers 200.
pub async fn start(database_url: &str, secret: &str, env: &[(&str, &str)]) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port();
    // CONFAB_BENCH_BIN: another build of the gateway (e.g. a copy kept while the next
    // build replaces target/release/confab).
    let binary = std::env::var("CONFAB_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_confab").to_owned());
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_JWT_SECRET", secret)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let gateway = Gateway {
        child: command.spawn().expect("start confab serve"),
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{}/readyz", gateway.url)).await {
            if r.status() == 200 {
                return gateway;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not become ready");
}

/// A GraphQL request that must succeed; its `data`.
pub async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let body: Value = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("a JSON body");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A fresh database on the Postgres server `server` names: (its URL, its name).
pub async fn create_postgres_database(server: &str) -> (String, String) {
    use sea_orm::ConnectionTrait;
    let name = format!("confab_bench_{}", Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(server)
        .await
        .expect("connect to Postgres");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the bench database");
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

pub async fn drop_postgres_database(server: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    if let Ok(admin) = sea_orm::Database::connect(server).await {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .ok();
    }
}
