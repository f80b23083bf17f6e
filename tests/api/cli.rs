//! The `confab` binary's commands, as a new user runs them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const VIEWER_ID_EMAIL: &str = "{ viewer { id email } }";

const VIEWER_PROJECTS_AND_CHATS: &str = r#"
    {
        viewer {
            projects(orderBy: TITLE_ASC) {
                totalCount
                nodes { title isPublic chats { nodes { title messageCount } } }
            }
            conversations { totalCount }
        }
    }
"#;

fn confab(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("CONFAB_JWT_SECRET")
        .env_remove("CONFAB_JWKS_URL")
        .env_remove("CONFAB_JWKS_FILE")
        .env_remove("CONFAB_LISTEN");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when the test ends, whatever happens.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_with_nothing_configured_prints_url_and_a_working_dev_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = confab(dir.path())
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut url = None;
    let mut token = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = BufReader::new(stdout).lines();
    while (url.is_none() || token.is_none()) && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("GraphiQL: ") {
            url = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("Authorization: Bearer ") {
            token = Some(rest.trim().to_owned());
        }
    }
    let url = url.expect("the GraphiQL URL is printed");
    let token = token.expect("a dev token is printed");
    assert_eq!(url, format!("http://127.0.0.1:{port}/graphql"));
    assert!(
        dir.path().join("confab.db").exists(),
        "the SQLite file is created"
    );
    assert!(
        dir.path().join(".confab-dev-secret").exists(),
        "the dev secret is kept"
    );
    let body: Value = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "query": VIEWER_ID_EMAIL }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["viewer"]["id"],
        json!(confab::seed::DEMO_USER.to_string())
    );
    assert_eq!(
        body["data"]["viewer"]["email"],
        json!(confab::seed::DEMO_EMAIL)
    );
    drop(running);

    // `confab token` signs with the same kept secret; a restart accepts it.
    let minted = confab(dir.path())
        .args([
            "token",
            "--sub",
            "7b0d5e3c-1111-4222-8333-944445555666",
            "--email",
            "t@example.com",
        ])
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let minted = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let port = free_port();
    let child = confab(dir.path())
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let body: Value = loop {
        let attempt = client
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(&minted)
            .json(&json!({ "query": VIEWER_ID_EMAIL }))
            .send()
            .await;
        match attempt {
            Ok(response) => break response.json().await.unwrap(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("the gateway did not come back: {err}"),
        }
    };
    assert_eq!(
        body["data"]["viewer"],
        json!({"id": "7b0d5e3c-1111-4222-8333-944445555666", "email": "t@example.com"})
    );
}

#[test]
fn migrate_seed_and_token_commands() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = confab(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout).trim(),
        "migrations applied"
    );
    assert!(dir.path().join("confab.db").exists());

    let seed = confab(dir.path())
        .args(["seed", "--demo"])
        .output()
        .unwrap();
    assert!(seed.status.success(), "{seed:?}");
    let token = String::from_utf8(seed.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "prints a JWT: {token}");
    let again = confab(dir.path())
        .args(["seed", "--demo"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already present"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("confab.db").display()
        );
        let mut settings = confab::config::Settings::for_database(&url);
        settings.jwt_secret = None;
        // Development mode reads the secret kept beside the database.
        let app = confab::app::build(&settings).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app.router).await.ok() });
        let body: Value = reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": VIEWER_PROJECTS_AND_CHATS }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let viewer = &body["data"]["viewer"];
        assert_eq!(viewer["projects"]["totalCount"], json!(2), "{body}");
        assert_eq!(
            viewer["projects"]["nodes"][0]["title"],
            json!("Launch plan")
        );
        assert_eq!(
            viewer["projects"]["nodes"][0]["chats"]["nodes"],
            json!([{ "title": "Launch checklist", "messageCount": 2 }])
        );
        assert_eq!(viewer["projects"]["nodes"][1]["isPublic"], json!(true));
        assert_eq!(viewer["conversations"]["totalCount"], json!(2));
    });

    let refused = confab(dir.path())
        .args(["token", "--role", "authenticated"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "authenticated tokens need --sub");
    let service = confab(dir.path())
        .args(["token", "--role", "service_role"])
        .output()
        .unwrap();
    assert!(service.status.success(), "{service:?}");
    let jwt = String::from_utf8(service.stdout).unwrap().trim().to_owned();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "prints a JWT: {jwt}");
    assert!(parts.iter().all(|p| !p.is_empty()), "empty JWT part: {jwt}");
    let payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("JWT payload is base64url")
    };
    let claims: Value = serde_json::from_slice(&payload).expect("JWT payload is JSON");
    assert_eq!(claims["role"], json!("service_role"), "{claims}");
}

#[test]
fn export_schema_needs_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = confab(dir.path())
        .arg("export-schema")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).unwrap();
    assert!(sdl.contains("type Query"));
    assert!(!dir.path().join("confab.db").exists());
}

#[test]
fn each_command_lists_only_its_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let output = confab(dir.path())
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let flags = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.trim_start().strip_prefix("--"))
            .map(|rest| rest.split([' ', '=']).next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        flags(&help(&["migrate"])),
        [
            "database-url",
            "db-max-connections",
            "database-schema",
            "search-config"
        ]
    );
    assert_eq!(
        flags(&help(&["token"])),
        [
            "sub",
            "role",
            "email",
            "ttl",
            "database-url",
            "jwt-secret",
            "jwks-url",
            "jwks-file",
            "jwt-audience",
            "jwt-issuer"
        ]
    );
    assert_eq!(
        flags(&help(&["seed"])),
        [
            "demo",
            "database-url",
            "db-max-connections",
            "database-schema",
            "search-config",
            "jwt-secret",
            "jwks-url",
            "jwks-file",
            "jwt-audience",
            "jwt-issuer"
        ]
    );
    assert_eq!(flags(&help(&["export-schema"])), [] as [&str; 0]);
    assert_eq!(
        flags(&help(&["schema", "diff"])),
        ["sections", "operations"]
    );
    let serve = flags(&help(&["serve"]));
    for flag in [
        "listen",
        "database-url",
        "cors-origin",
        "anon-key",
        "max-depth",
    ] {
        assert!(
            serve.contains(&flag.to_owned()),
            "serve --help lacks --{flag}"
        );
    }
    // A serve flag is refused by a command that does not use it.
    let stderr = refused_run(dir.path(), &["migrate", "--listen", "127.0.0.1:1"]);
    assert!(
        stderr.contains("unexpected argument '--listen'"),
        "{stderr}"
    );
}

/// Runs the binary expecting a failure with nothing on stdout; returns its stderr.
fn refused_run(dir: &std::path::Path, args: &[&str]) -> String {
    let output = confab(dir).args(args).output().unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn a_token_minted_from_another_directory_is_accepted() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("confab.db").display());
    // A development-mode server on that database keeps its secret beside the file.
    let settings = confab::config::Settings::for_database(&url);
    assert!(settings.development_mode());
    let app = confab::app::build(&settings).await.unwrap();
    assert!(data.path().join(".confab-dev-secret").exists());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app.router).await.ok() });

    let user = "2a4b6c8d-1111-4222-8333-944445555666";
    let minted = confab(elsewhere.path())
        .args(["token", "--sub", user, "--email", "far@example.com"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let body: Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": VIEWER_ID_EMAIL }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({ "data": { "viewer": { "id": user, "email": "far@example.com" } } })
    );

    // Without the database URL, there is no secret to sign with: said, not made up.
    let stderr = refused_run(elsewhere.path(), &["token", "--sub", user]);
    assert!(
        stderr.contains(&format!(
            "no development secret at {}",
            elsewhere.path().join(".confab-dev-secret").display()
        )),
        "{stderr}"
    );
    assert!(!elsewhere.path().join(".confab-dev-secret").exists());
}

#[test]
fn a_port_in_use_stops_the_start_before_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let stderr = refused_run(
        dir.path(),
        &["serve", "--listen", &format!("127.0.0.1:{port}")],
    );
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        !dir.path().join("confab.db").exists(),
        "no database touched"
    );
    assert!(!dir.path().join(".confab-dev-secret").exists());
}

#[tokio::test]
async fn listens_on_localhost_creates_a_plain_sqlite_file_and_redirects_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = confab(dir.path())
        .args(["serve", "--listen", &format!("localhost:{port}")])
        .env("DATABASE_URL", "sqlite://plain.db")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = loop {
        match client.get(format!("http://localhost:{port}/")).send().await {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("the gateway did not start: {err}"),
        }
    };
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "/graphql");
    assert!(
        dir.path().join("plain.db").exists(),
        "sqlite://plain.db is created"
    );

    let stderr = refused_run(dir.path(), &["serve", "--listen", "localhost"]);
    assert!(stderr.contains("`localhost` is not HOST:PORT"), "{stderr}");
}
