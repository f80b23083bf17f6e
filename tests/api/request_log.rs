//! The request log of the built binary: one JSON line per HTTP request and per WebSocket
//! operation, with the fields an operator needs and nothing a client sent as content.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{self, SECRET};

const CREATE_PROJECT: &str = r#"
    mutation CreateSecretProject($t: String!) {
        createProject(input: {title: $t}) { id }
    }
"#;

const MY_PROJECTS: &str = r#"
    query MyProjects {
        viewer { projects { totalCount nodes { title } } }
    }
"#;

const RENAME_MISSING_PROJECT: &str = r#"
    mutation RenameMissing($id: UUID!, $t: String!) {
        updateProject(id: $id, input: {title: $t}) { id }
    }
"#;

const ANONYMOUS_VIEWER: &str = "query WhoAmI { viewer { id } }";

const GET_MUTATION: &str = "mutation SneakyGet { deleteAccount }";

const WS_PROJECTS: &str = "query WsProjects { viewer { email projects { totalCount } } }";

/// A `confab serve` process on a fresh SQLite file, its stderr collected line by line.
pub struct Gateway {
    pub url: String,
    child: Child,
    stderr: Arc<Mutex<Vec<Vec<u8>>>>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts the binary with `args` and `env` (beside the test secret and a database).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .current_dir(dir.path())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("CONFAB_LOG_FORMAT")
            .env_remove("CONFAB_JWKS_URL")
            .env_remove("CONFAB_JWKS_FILE")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_SERVICE_NAME")
            .env("CONFAB_JWT_SECRET", SECRET)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display()),
            )
            .env("CONFAB_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = BufReader::new(child.stderr.take().unwrap());
        let lines = stderr.clone();
        std::thread::spawn(move || loop {
            let mut line = Vec::new();
            match pipe.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => lines.lock().unwrap().push(line),
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        for line in stdout.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("confab listening on ") {
                url = Some(rest.trim().to_owned());
                break;
            }
        }
        // The rest of stdout is drained: a closed pipe would end the process.
        std::thread::spawn(move || stdout.for_each(drop));
        let gateway = Gateway {
            url: url.unwrap_or_default(),
            child,
            stderr,
            _dir: dir,
        };
        assert!(
            !gateway.url.is_empty(),
            "the gateway did not start: {}",
            gateway.stderr_text()
        );
        gateway
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        String::from_utf8_lossy(&lines.concat()).into_owned()
    }

    /// The raw stderr lines once `done` holds for the request lines read so far (or
    /// after a minute), and those request lines as JSON.
    pub fn request_lines_until(
        &self,
        done: impl Fn(&[Value]) -> bool,
    ) -> (Vec<Vec<u8>>, Vec<Value>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let raw = self.stderr.lock().unwrap().clone();
            let requests: Vec<Value> = raw
                .iter()
                .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
                .filter(|line| line["message"] == "request")
                .collect();
            if done(&requests) || Instant::now() > deadline {
                return (raw, requests);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The request line whose span has `field` = `value`.
fn line_with<'a>(lines: &'a [Value], field: &str, value: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["span"][field] == value)
        .unwrap_or_else(|| panic!("no request line with {field} = {value}: {lines:#?}"))
}

#[tokio::test]
async fn each_request_and_ws_operation_writes_one_json_line_without_secrets() {
    let gateway = Gateway::start(&["--log-format", "json"], &[]);
    let client = reqwest::Client::new();
    let alice = harness::user("alice");
    let secret_title = "the-title-nobody-may-log-7f3a";
    let post = |token: Option<String>, query: &str, variables: Value| {
        let mut request = client
            .post(format!("{}/graphql", gateway.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let created = post(
        Some(alice.token.clone()),
        CREATE_PROJECT,
        json!({ "t": secret_title }),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    let listed: Value = post(Some(alice.token.clone()), MY_PROJECTS, json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"]["viewer"]["projects"]["totalCount"], 1);
    let missing = uuid::Uuid::new_v4().to_string();
    let renamed: Value = post(
        Some(alice.token.clone()),
        RENAME_MISSING_PROJECT,
        json!({ "id": missing, "t": secret_title }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(renamed["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let bad_token = format!("{}x", alice.token);
    let refused = post(Some(bad_token.clone()), ANONYMOUS_VIEWER, json!({}))
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let get_mutation = client
        .get(format!("{}/graphql", gateway.url))
        .query(&[("query", GET_MUTATION)])
        .send()
        .await
        .unwrap();
    assert_eq!(get_mutation.status(), 405);

    let mut ws = crate::ws::connect_as(&gateway.url, &alice.token).await;
    ws.subscribe("1", WS_PROJECTS, json!({})).await;
    let next = ws.next().await.expect("the operation's result");
    assert_eq!(
        next["payload"]["data"]["viewer"]["email"],
        alice.email.as_str()
    );
    assert_eq!(
        next["payload"]["data"]["viewer"]["projects"]["totalCount"],
        1
    );
    let complete = ws.next().await.expect("the operation completes");
    assert_eq!(complete["type"], "complete");

    let (raw, lines) = gateway.request_lines_until(|lines| {
        lines.len() >= 7 && lines.iter().any(|l| l["span"]["method"] == "WS")
    });

    // Nothing a client sent as a secret or as content, no colours, all JSON.
    for line in &raw {
        let text = String::from_utf8_lossy(line);
        assert!(!line.contains(&0x1b), "an ANSI escape in {text}");
        assert!(!text.contains(&alice.token), "the token in {text}");
        assert!(!text.contains(&bad_token), "the refused token in {text}");
        assert!(!text.contains(secret_title), "a variable's value in {text}");
        assert!(!text.contains(&missing), "a variable's value in {text}");
        assert!(
            !text.contains(&alice.email),
            "content of a response in {text}"
        );
    }

    let mutation = line_with(&lines, "operation_name", "CreateSecretProject");
    assert_eq!(mutation["level"], "INFO");
    assert_eq!(mutation["span"]["method"], "POST");
    assert_eq!(mutation["span"]["path"], "/graphql");
    assert_eq!(mutation["span"]["status"], 200);
    assert_eq!(mutation["span"]["operation_type"], "mutation");
    assert_eq!(mutation["span"]["viewer"], "user");
    assert!(mutation["span"]["error_codes"].is_null(), "{mutation}");
    assert!(mutation["span"]["duration_ms"].as_f64().unwrap() >= 0.0);

    let query = line_with(&lines, "operation_name", "MyProjects");
    assert_eq!(query["span"]["operation_type"], "query");
    assert_eq!(query["span"]["status"], 200);
    assert_eq!(query["span"]["viewer"], "user");
    assert!(
        query["span"]["sql_statements"].as_u64().unwrap() > 0,
        "{query}"
    );

    let failed = line_with(&lines, "operation_name", "RenameMissing");
    assert_eq!(failed["span"]["operation_type"], "mutation");
    assert_eq!(failed["span"]["status"], 200);
    assert_eq!(failed["span"]["error_codes"], "NOT_FOUND");

    let unauthenticated = lines
        .iter()
        .find(|l| l["span"]["status"] == 401)
        .expect("a line for the 401");
    assert_eq!(unauthenticated["span"]["method"], "POST");
    assert_eq!(unauthenticated["span"]["error_codes"], "UNAUTHENTICATED");
    assert!(
        unauthenticated["span"]["viewer"].is_null(),
        "{unauthenticated}"
    );
    assert_eq!(unauthenticated["span"]["sql_statements"], 0);

    let not_allowed = lines
        .iter()
        .find(|l| l["span"]["status"] == 405)
        .expect("a line for the 405");
    assert_eq!(not_allowed["span"]["method"], "GET");
    assert_eq!(not_allowed["span"]["path"], "/graphql");
    assert_eq!(not_allowed["span"]["operation_name"], "SneakyGet");
    assert_eq!(not_allowed["span"]["operation_type"], "mutation");
    assert_eq!(not_allowed["span"]["viewer"], "anonymous");
    assert_eq!(not_allowed["span"]["error_codes"], "BAD_USER_INPUT");

    let operation = line_with(&lines, "method", "WS");
    assert_eq!(operation["span"]["path"], "/graphql");
    assert_eq!(operation["span"]["operation_name"], "WsProjects");
    assert_eq!(operation["span"]["operation_type"], "query");
    assert_eq!(operation["span"]["viewer"], "user");
    assert!(operation["span"]["status"].is_null(), "{operation}");
    assert!(operation["span"]["sql_statements"].as_u64().unwrap() > 0);
    let upgrade = lines
        .iter()
        .find(|l| l["span"]["status"] == 101)
        .expect("a line for the WebSocket upgrade");
    assert_eq!(upgrade["span"]["method"], "GET");

    // One line per request: two POSTs as alice before the failing one, one 401, one 405,
    // the upgrade and the operation.
    assert_eq!(lines.len(), 7, "{lines:#?}");
}

#[tokio::test]
async fn text_lines_off_a_terminal_have_no_colours() {
    let gateway = Gateway::start(&["--log-format", "text"], &[]);
    let status = reqwest::get(format!("{}/healthz", gateway.url))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let text = gateway.stderr_text();
        if let Some(line) = text.lines().find(|l| l.contains("path=/healthz")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no request line in {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!line.contains('\u{1b}'), "{line}");
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains("sql_statements=0"), "{line}");
}
