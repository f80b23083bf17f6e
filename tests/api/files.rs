//! [files] Project files, avatars and chat attachments: uploads by the GraphQL multipart
//! request spec, type checks against the content, signed downloads, rows and objects in
//! agreement, quotas, and user B against user A's files.
//!
//! Every test runs on SQLite and Postgres (`TEST_DATABASE_URL`), each with the local store
//! and with an S3-compatible server (`CONFAB_TEST_S3_ENDPOINT`, e.g. moto; skipped when
//! unset, a failure with `CONFAB_REQUIRE_S3=1`).

use confab::config::{Settings, Switch};
use confab::storage::{Bucket, Storage};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::documents::{ADD_TEAM_MEMBER, DELETE_ACCOUNT, DELETE_PROJECT_PERMANENTLY, VIEWER_ID};
use crate::harness::{self, uuid, TestApp, User};

pub const UPLOAD_PROJECT_FILE: &str = r#"
    mutation($p: UUID!, $file: Upload!) {
        uploadProjectFile(projectId: $p, file: $file) {
            id nodeId projectId uploadedBy fileName mimeType sizeBytes url createdAt
        }
    }
"#;
const UPLOAD_AVATAR: &str =
    "mutation($file: Upload!) { uploadAvatar(file: $file) { id avatarUrl } }";
pub const UPLOAD_ATTACHMENT: &str = r#"
    mutation($c: UUID!, $file: Upload!, $kind: AttachmentKind) {
        uploadChatAttachment(conversationId: $c, file: $file, kind: $kind) {
            id conversationId kind fileName mimeType sizeBytes url
        }
    }
"#;
const DELETE_FILE: &str = "mutation($id: UUID!) { deleteProjectFile(id: $id) }";
const PROJECT_FILES: &str = r#"
    query($p: UUID!) {
        project(id: $p) { files(first: 10) { totalCount nodes { id fileName url } } }
    }
"#;
const NODE: &str =
    "query($n: ID!) { node(nodeId: $n) { nodeId ... on ProjectFile { id fileName } } }";
const USED: &str = "{ viewer { storageUsedBytes } }";
const CREATE_ENCRYPTED_CHAT: &str =
    "mutation { createConversation(input: {title: \"secret\", encrypted: true}) { id } }";

const SIGNING_KEY: &str = "a-test-signing-key-that-is-long-enough-0123456789";

/// A PNG's signature and header, then filler.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];
    bytes.extend((0..len.saturating_sub(16)).map(|i| (i % 251) as u8));
    bytes
}

/// An ELF executable's header.
fn elf() -> Vec<u8> {
    let mut bytes = vec![
        0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3E, 0,
    ];
    bytes.extend([0u8; 100]);
    bytes
}

/// An MP3 with an ID3 tag.
fn mp3(len: usize) -> Vec<u8> {
    let mut bytes = b"ID3\x03\x00\x00\x00\x00\x00\x0a".to_vec();
    bytes.extend((0..len).map(|i| (i % 199) as u8));
    bytes
}

/// One file part of a multipart request.
pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub bytes: Vec<u8>,
}

pub const BOUNDARY: &str = "confab-test-boundary-7MA4YWxkTrZu0gW";

/// A GraphQL multipart request body: operations, map, files.
pub fn multipart_body(operations: &Value, map: &Value, parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    text("operations", &operations.to_string());
    text("map", &map.to_string());
    for part in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                part.name, part.file_name, part.content_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A gateway with its storage, for one of the four variants.
pub struct Files {
    pub app: TestApp,
    pub storage: Storage,
    pub s3: bool,
    _dir: tempfile::TempDir,
}

/// The settings of the store: a fresh local directory, or a fresh bucket on the S3 server.
async fn store_settings(s3: bool, dir: &std::path::Path) -> Option<impl Fn(&mut Settings) + Clone> {
    let endpoint = if s3 {
        match std::env::var("CONFAB_TEST_S3_ENDPOINT") {
            Ok(endpoint) => Some(endpoint),
            Err(_) => {
                assert!(
                    std::env::var("CONFAB_REQUIRE_S3").as_deref() != Ok("1"),
                    "CONFAB_REQUIRE_S3=1 but CONFAB_TEST_S3_ENDPOINT is not set"
                );
                eprintln!("skipping the S3 variant: CONFAB_TEST_S3_ENDPOINT is not set");
                return None;
            }
        }
    } else {
        None
    };
    let url = match &endpoint {
        Some(endpoint) => {
            let bucket = format!("confab-test-{}", Uuid::new_v4().simple());
            let made = reqwest::Client::new()
                .put(format!("{endpoint}/{bucket}"))
                .send()
                .await
                .expect("the S3 server answers");
            assert!(made.status().is_success(), "bucket made: {}", made.status());
            format!("s3://{bucket}")
        }
        None => dir.join("objects").display().to_string(),
    };
    Some(move |s: &mut Settings| {
        s.storage_url = Some(url.clone());
        s.storage_signing_key = Some(SIGNING_KEY.to_owned());
        if let Some(endpoint) = &endpoint {
            s.s3_endpoint = Some(endpoint.clone());
            s.s3_access_key_id = Some("testing".to_owned());
            s.s3_secret_access_key = Some("testing".to_owned());
            // Downloads proxied, so the tests read headers the gateway sets; the redirect
            // has its own test.
            s.s3_redirect = Switch::Off;
        }
    })
}

pub async fn start(
    postgres: bool,
    s3: bool,
    configure: impl Fn(&mut Settings) + Clone,
) -> Option<Files> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store_settings(s3, dir.path()).await?;
    let both = {
        let store = store.clone();
        let configure = configure.clone();
        move |s: &mut Settings| {
            store(s);
            configure(s);
        }
    };
    let app = if postgres {
        harness::postgres_with(both.clone()).await?
    } else {
        harness::sqlite_with(both.clone()).await
    };
    let mut settings = Settings::for_database(&app.database_url);
    both(&mut settings);
    let storage = Storage::from_settings(&settings, &app.db)
        .await
        .expect("the same store");
    Some(Files {
        app,
        storage,
        s3,
        _dir: dir,
    })
}

/// Runs a test on SQLite and Postgres, each with the local store and with S3.
macro_rules! on_stores {
    ($name:ident, $configure:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(postgres: bool, s3: bool) {
                if let Some(files) = start(postgres, s3, $configure).await {
                    ($body)(files).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite_local() {
                run(false, false).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres_local() {
                if harness::postgres_admin_url().is_some() {
                    run(true, false).await
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite_s3() {
                run(false, true).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres_s3() {
                if harness::postgres_admin_url().is_some() {
                    run(true, true).await
                }
            }
        }
    };
}

fn defaults(_: &mut Settings) {}

/// A multipart response: status and JSON body.
pub struct Sent {
    pub status: u16,
    pub body: Value,
}

impl Sent {
    fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got {} ({})", self.body, self.status))
    }
    fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "expected no errors, got {} ({})",
            self.body,
            self.status
        );
        &self.body["data"]
    }
}

impl Files {
    /// Sends a raw multipart body with the preflight header.
    pub async fn send_raw(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Sent {
        let mut request = self
            .app
            .client
            .post(format!("{}/graphql", self.app.url))
            .header("content-type", content_type)
            .header("GraphQL-Require-Preflight", "1")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Sent { status, body }
    }

    /// One file as variable `file` of `query`.
    pub async fn upload(
        &self,
        user: &User,
        query: &str,
        variables: Value,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Sent {
        let mut variables = variables;
        variables["file"] = Value::Null;
        let body = multipart_body(
            &json!({ "query": query, "variables": variables }),
            &json!({ "0": ["variables.file"] }),
            &[Part {
                name: "0",
                file_name,
                content_type,
                bytes,
            }],
        );
        self.send_raw(
            Some(&user.token),
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            body,
        )
        .await
    }

    async fn project_file(&self, user: &User, project: Uuid, name: &str, bytes: Vec<u8>) -> Value {
        let sent = self
            .upload(
                user,
                UPLOAD_PROJECT_FILE,
                json!({ "p": project }),
                name,
                "application/octet-stream",
                bytes,
            )
            .await;
        sent.data()["uploadProjectFile"].clone()
    }

    /// GET a download URL (a path on the gateway) with no token.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut request = client.get(format!("{}{url}", self.app.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the gateway answers")
    }

    async fn exists(&self, bucket: Bucket, id: Uuid) -> bool {
        self.storage
            .exists(bucket, id)
            .await
            .expect("the store answers")
    }
}

/// The signature the gateway would make for `bucket/id` until `expires`.
fn sign(bucket: &str, id: Uuid, expires: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap();
    mac.update(format!("{bucket}/{id}:{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

// A project file goes up, is listed, found by node id, and comes down byte for byte
// without a token, with its type, ETag, caching, nosniff, inline (a raster image) and
// ranges; the object is in the store.
on_stores!(
    a_project_file_round_trips,
    defaults,
    |f: Files| async move {
        let alice = harness::user("alice");
        let project = f.app.create_project(&alice, "Files", false).await;
        let bytes = png(5000);
        let file = f
            .project_file(&alice, project, "pic.png", bytes.clone())
            .await;
        assert_eq!(file["mimeType"], "image/png");
        assert_eq!(file["sizeBytes"], 5000);
        assert_eq!(file["fileName"], "pic.png");
        assert_eq!(file["projectId"], project.to_string());
        assert_eq!(file["uploadedBy"], alice.id.to_string());
        let id = uuid(&file["id"]);
        assert!(f.exists(Bucket::ProjectFiles, id).await);

        let listed = f
            .app
            .ok(&alice, PROJECT_FILES, json!({ "p": project }))
            .await;
        assert_eq!(listed["project"]["files"]["totalCount"], 1);
        assert_eq!(listed["project"]["files"]["nodes"][0]["id"], file["id"]);
        let node = f.app.ok(&alice, NODE, json!({ "n": file["nodeId"] })).await;
        assert_eq!(node["node"]["fileName"], "pic.png");

        let url = file["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("/files/project-files/{id}?expires=")),
            "{url}"
        );
        let response = f.get(url, &[]).await;
        assert_eq!(response.status(), 200);
        let h = response.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["etag"], format!("\"{}\"", id.simple()));
        assert!(h["cache-control"].to_str().unwrap().contains("private"));
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline"));
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

        let partial = f.get(url, &[("range", "bytes=10-19")]).await;
        assert_eq!(partial.status(), 206);
        assert_eq!(partial.headers()["content-range"], "bytes 10-19/5000");
        assert_eq!(
            partial.bytes().await.unwrap().to_vec(),
            bytes[10..20].to_vec()
        );
        let past = f.get(url, &[("range", "bytes=6000-")]).await;
        assert_eq!(past.status(), 416);
        let etag = format!("\"{}\"", id.simple());
        let cached = f.get(url, &[("if-none-match", &etag)]).await;
        assert_eq!(cached.status(), 304);
    }
);

// The content decides the type: an executable named x.png and sent as image/png is
// refused (and not kept); HTML is kept as text/plain and downloaded as an attachment;
// an avatar must be an image.
on_stores!(
    types_come_from_the_content,
    defaults,
    |f: Files| async move {
        let alice = harness::user("alice");
        let project = f.app.create_project(&alice, "Types", false).await;
        let sent = f
            .upload(
                &alice,
                UPLOAD_PROJECT_FILE,
                json!({ "p": project }),
                "x.png",
                "image/png",
                elf(),
            )
            .await;
        assert_eq!(sent.code(), "BAD_USER_INPUT", "{}", sent.body);
        assert!(
            sent.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("application/x-executable"),
            "{}",
            sent.body
        );
        let listed = f
            .app
            .ok(&alice, PROJECT_FILES, json!({ "p": project }))
            .await;
        assert_eq!(listed["project"]["files"]["totalCount"], 0);

        let html = b"<html><body><script>alert(document.cookie)</script></body></html>".to_vec();
        let file = f
            .project_file(&alice, project, "page.html", html.clone())
            .await;
        assert_eq!(file["mimeType"], "text/plain");
        let response = f.get(file["url"].as_str().unwrap(), &[]).await;
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox"));
        assert_eq!(response.bytes().await.unwrap().to_vec(), html);

        let sent = f
            .upload(
                &alice,
                UPLOAD_AVATAR,
                json!({}),
                "me.png",
                "image/png",
                b"just text".to_vec(),
            )
            .await;
        assert_eq!(sent.code(), "BAD_USER_INPUT");
    }
);

// Avatars are public: a plain URL, no signature; a new one replaces the old (row and
// object).
on_stores!(
    avatars_are_public_and_replaced,
    defaults,
    |f: Files| async move {
        let alice = harness::user("alice");
        f.app.ok(&alice, VIEWER_ID, json!({})).await;
        let first = f
            .upload(
                &alice,
                UPLOAD_AVATAR,
                json!({}),
                "me.png",
                "image/png",
                png(300),
            )
            .await;
        let url = first.data()["uploadAvatar"]["avatarUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            url.starts_with("/files/avatars/") && !url.contains("sig="),
            "{url}"
        );
        let old_id = Uuid::parse_str(url.rsplit('/').next().unwrap()).unwrap();
        let response = f.get(&url, &[]).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("public"));
        assert_eq!(response.bytes().await.unwrap().to_vec(), png(300));

        let second = f
            .upload(
                &alice,
                UPLOAD_AVATAR,
                json!({}),
                "me2.png",
                "image/png",
                png(400),
            )
            .await;
        let new_url = second.data()["uploadAvatar"]["avatarUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(new_url, url);
        assert!(!f.exists(Bucket::Avatars, old_id).await);
        assert_eq!(f.get(&url, &[]).await.status(), 404);
        assert_eq!(f.get(&new_url, &[]).await.status(), 200);
    }
);

// Chat attachments: a file and a voice recording in their buckets, whose URL is a
// message's audioUrl; in an encrypted chat any bytes are kept as octet-stream, outside
// one they are refused.
on_stores!(chat_attachments, defaults, |f: Files| async move {
    let alice = harness::user("alice");
    let chat = f.app.create_chat(&alice, "Chat", None).await;
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec();
    let sent = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": chat }),
            "a.pdf",
            "application/pdf",
            pdf.clone(),
        )
        .await;
    let file = &sent.data()["uploadChatAttachment"];
    assert_eq!(file["mimeType"], "application/pdf");
    assert_eq!(file["kind"], "FILE");
    assert!(f.exists(Bucket::Attachments, uuid(&file["id"])).await);
    let response = f.get(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("attachment")
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), pdf);

    let voice = mp3(200_000);
    let sent = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": chat, "kind": "AUDIO" }),
            "v.mp3",
            "audio/mpeg",
            voice.clone(),
        )
        .await;
    let audio = &sent.data()["uploadChatAttachment"];
    assert_eq!(audio["kind"], "AUDIO");
    assert_eq!(audio["mimeType"], "audio/mpeg");
    assert!(f.exists(Bucket::Audio, uuid(&audio["id"])).await);
    let message = f
        .app
        .ok(
            &alice,
            "mutation($c: UUID!, $a: String) { sendMessage(input: {conversationId: $c, role: USER, content: \"hi\", audioUrl: $a}) { audioUrl } }",
            json!({ "c": chat, "a": audio["url"] }),
        )
        .await;
    let audio_url = message["sendMessage"]["audioUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        f.get(&audio_url, &[]).await.bytes().await.unwrap().to_vec(),
        voice
    );
    let listed = f
        .app
        .ok(&alice, "query($c: UUID!) { conversation(id: $c) { attachments { totalCount nodes { kind } } } }", json!({ "c": chat }))
        .await;
    assert_eq!(listed["conversation"]["attachments"]["totalCount"], 2);
    assert_eq!(
        listed["conversation"]["attachments"]["nodes"][0]["kind"],
        "AUDIO"
    );

    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    let refused = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": chat }),
            "blob.bin",
            "application/octet-stream",
            random.clone(),
        )
        .await;
    assert_eq!(refused.code(), "BAD_USER_INPUT", "{}", refused.body);
    let secret =
        uuid(&f.app.ok(&alice, CREATE_ENCRYPTED_CHAT, json!({})).await["createConversation"]["id"]);
    let sent = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": secret }),
            "blob.bin",
            "image/png",
            random.clone(),
        )
        .await;
    let kept = &sent.data()["uploadChatAttachment"];
    assert_eq!(kept["mimeType"], "application/octet-stream");
    assert_eq!(
        f.get(kept["url"].as_str().unwrap(), &[])
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        random
    );
});

// Private URLs: without, with a tampered or an expired signature, 403; a signature of
// another file does not open this one.
on_stores!(
    signatures_are_the_permission,
    defaults,
    |f: Files| async move {
        let alice = harness::user("alice");
        let project = f.app.create_project(&alice, "Signed", false).await;
        let file = f
            .project_file(&alice, project, "a.txt", b"hello".to_vec())
            .await;
        let other = f
            .project_file(&alice, project, "b.txt", b"other".to_vec())
            .await;
        let id = uuid(&file["id"]);
        let url = file["url"].as_str().unwrap();
        assert_eq!(f.get(url, &[]).await.status(), 200);
        let bare = format!("/files/project-files/{id}");
        assert_eq!(f.get(&bare, &[]).await.status(), 403);
        let tampered = format!("{}0", &url[..url.len() - 1]);
        let tampered = if tampered == url {
            format!("{}1", &url[..url.len() - 1])
        } else {
            tampered
        };
        assert_eq!(f.get(&tampered, &[]).await.status(), 403);
        let past = chrono::Utc::now().timestamp() - 10;
        let expired = format!(
            "{bare}?expires={past}&sig={}",
            sign("project-files", id, past)
        );
        let refused = f.get(&expired, &[]).await;
        assert_eq!(refused.status(), 403);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        let later = chrono::Utc::now().timestamp() + 600;
        let good = format!(
            "{bare}?expires={later}&sig={}",
            sign("project-files", id, later)
        );
        assert_eq!(f.get(&good, &[]).await.status(), 200);
        // Another file's signature, this file's id.
        let other_sig = sign("project-files", uuid(&other["id"]), later);
        assert_eq!(
            f.get(&format!("{bare}?expires={later}&sig={other_sig}"), &[])
                .await
                .status(),
            403
        );
        // The signature of another bucket.
        let attachment = format!(
            "/files/attachments/{id}?expires={later}&sig={}",
            sign("attachments", id, later)
        );
        assert_eq!(f.get(&attachment, &[]).await.status(), 404);
    }
);

// Refusals of the transport: no preflight header, no boundary, operations or map not
// JSON, a map entry naming a missing part, a part not in the map, a truncated body; the
// anonymous; a file over its bucket's limit and too many files (413); an Upload variable
// in a JSON request. Nothing is left in the store.
on_stores!(
    hostile_multipart_requests,
    |s: &mut Settings| {
        s.project_file_max_bytes = 1000;
        s.upload_max_files = 2;
    },
    |f: Files| async move {
        let alice = harness::user("alice");
        let project = f.app.create_project(&alice, "Hostile", false).await;
        let ops =
            json!({ "query": UPLOAD_PROJECT_FILE, "variables": { "p": project, "file": null } });
        let map = json!({ "0": ["variables.file"] });
        let part = |bytes: Vec<u8>| Part {
            name: "0",
            file_name: "a.txt",
            content_type: "text/plain",
            bytes,
        };
        let multipart = format!("multipart/form-data; boundary={BOUNDARY}");

        // No preflight header: a cross-site form could send this.
        let response = f
            .app
            .client
            .post(format!("{}/graphql", f.app.url))
            .bearer_auth(&alice.token)
            .header("content-type", &multipart)
            .body(multipart_body(&ops, &map, &[part(b"x".to_vec())]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

        let good = multipart_body(&ops, &map, &[part(b"fine".to_vec())]);
        let cases: Vec<(&str, String, Vec<u8>, u16)> = vec![
            (
                "no boundary",
                "multipart/form-data".into(),
                good.clone(),
                400,
            ),
            (
                "operations not JSON",
                multipart.clone(),
                good.clone().splitn_replace(b"{\"query\"", b"{{{\"query\""),
                400,
            ),
            (
                "map not JSON",
                multipart.clone(),
                multipart_body(&ops, &json!("nope"), &[part(b"x".to_vec())]),
                400,
            ),
            (
                "a map entry names a missing part",
                multipart.clone(),
                multipart_body(&ops, &map, &[]),
                400,
            ),
            (
                "a part not in the map",
                multipart.clone(),
                multipart_body(
                    &ops,
                    &map,
                    &[
                        part(b"x".to_vec()),
                        Part {
                            name: "9",
                            file_name: "b",
                            content_type: "text/plain",
                            bytes: b"y".to_vec(),
                        },
                    ],
                ),
                400,
            ),
            (
                "a truncated body",
                multipart.clone(),
                good[..good.len() - 30].to_vec(),
                400,
            ),
            (
                "a file over the bucket's limit",
                multipart.clone(),
                multipart_body(&ops, &map, &[part(vec![b'a'; 5000])]),
                413,
            ),
            (
                "too many files",
                multipart.clone(),
                multipart_body(
                    &ops,
                    &json!({ "0": ["variables.file"], "1": ["variables.file"], "2": ["variables.file"] }),
                    &[],
                ),
                413,
            ),
            (
                "a map path that is no Upload argument",
                multipart.clone(),
                multipart_body(
                    &ops,
                    &json!({ "0": ["variables.p"] }),
                    &[part(b"x".to_vec())],
                ),
                400,
            ),
        ];
        for (what, content_type, body, status) in cases {
            let sent = f.send_raw(Some(&alice.token), &content_type, body).await;
            assert_eq!(sent.status, status, "{what}: {}", sent.body);
            assert_eq!(sent.code(), "BAD_USER_INPUT", "{what}");
        }
        let anonymous = f.send_raw(None, &multipart, good.clone()).await;
        assert_eq!(anonymous.status, 401);
        assert_eq!(anonymous.code(), "UNAUTHENTICATED");
        // A JSON request cannot name a file.
        let json_upload = f
            .app
            .as_user(
                &alice,
                UPLOAD_PROJECT_FILE,
                json!({ "p": project, "file": "confab-upload:0" }),
            )
            .await;
        assert_eq!(json_upload.code(), "BAD_USER_INPUT");
        let listed = f
            .app
            .ok(&alice, PROJECT_FILES, json!({ "p": project }))
            .await;
        assert_eq!(listed["project"]["files"]["totalCount"], 0);
        // And the good one still works.
        let sent = f.send_raw(Some(&alice.token), &multipart, good).await;
        assert_eq!(sent.data()["uploadProjectFile"]["sizeBytes"], 4);
    }
);

trait SplitnReplace {
    fn splitn_replace(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl SplitnReplace for Vec<u8> {
    /// The first `from` replaced by `to`.
    fn splitn_replace(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self
            .windows(from.len())
            .position(|w| w == from)
            .expect("the pattern is there");
        let mut out = self[..at].to_vec();
        out.extend_from_slice(to);
        out.extend_from_slice(&self[at + from.len()..]);
        out
    }
}

// User B against user A's files: upload into A's project, list, find by node id, delete,
// download by a guessed URL: nothing. A team MEMBER reads but may not change; a public
// project's files are read by anyone, changed by none of them.
on_stores!(b_cannot_reach_a_files, defaults, |f: Files| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    f.app.ok(&bob, VIEWER_ID, json!({})).await;
    let private = f.app.create_project(&alice, "Private", false).await;
    let file = f
        .project_file(&alice, private, "secret.txt", b"secret".to_vec())
        .await;
    let id = uuid(&file["id"]);

    let sent = f
        .upload(
            &bob,
            UPLOAD_PROJECT_FILE,
            json!({ "p": private }),
            "x.txt",
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(sent.code(), "NOT_FOUND");
    let listed = f.app.ok(&bob, PROJECT_FILES, json!({ "p": private })).await;
    assert_eq!(listed["project"], Value::Null);
    let node = f.app.ok(&bob, NODE, json!({ "n": file["nodeId"] })).await;
    assert_eq!(node["node"], Value::Null);
    let deleted = f.app.as_user(&bob, DELETE_FILE, json!({ "id": id })).await;
    assert_eq!(deleted.code(), "NOT_FOUND");
    assert_eq!(
        f.get(&format!("/files/project-files/{id}"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        f.get(
            &format!("/files/project-files/{id}?expires=99999999999&sig=00"),
            &[]
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        f.get(&format!("/files/avatars/{id}"), &[]).await.status(),
        404
    );
    let anonymous = f.app.post(None, NODE, json!({ "n": file["nodeId"] })).await;
    assert_eq!(anonymous.body["data"]["node"], Value::Null);
    assert!(f.exists(Bucket::ProjectFiles, id).await);
    // Nothing of Bob's upload was kept either.
    assert_eq!(
        f.app.ok(&bob, USED, json!({})).await["viewer"]["storageUsedBytes"],
        0.0
    );

    // A team MEMBER reads the team's files but may not add or delete them.
    let team = f.app.create_team(&alice, "Team").await;
    f.app
        .ok(
            &alice,
            ADD_TEAM_MEMBER,
            json!({ "t": team, "e": bob.email }),
        )
        .await;
    let shared = uuid(
        &f.app
            .ok(
                &alice,
                "mutation($t: UUID!) { createProject(input: {title: \"T\", teamId: $t}) { id } }",
                json!({ "t": team }),
            )
            .await["createProject"]["id"],
    );
    let team_file = f
        .project_file(&alice, shared, "t.txt", b"team".to_vec())
        .await;
    let seen = f.app.ok(&bob, PROJECT_FILES, json!({ "p": shared })).await;
    assert_eq!(seen["project"]["files"]["totalCount"], 1);
    let sent = f
        .upload(
            &bob,
            UPLOAD_PROJECT_FILE,
            json!({ "p": shared }),
            "x.txt",
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(sent.code(), "FORBIDDEN");
    let deleted = f
        .app
        .as_user(&bob, DELETE_FILE, json!({ "id": team_file["id"] }))
        .await;
    assert_eq!(deleted.code(), "FORBIDDEN");

    // A public project: anyone reads its files, nobody else changes them.
    let public = f.app.create_project(&alice, "Public", true).await;
    let public_file = f
        .project_file(&alice, public, "p.txt", b"public".to_vec())
        .await;
    let anonymous = f
        .app
        .post(None, PROJECT_FILES, json!({ "p": public }))
        .await;
    assert_eq!(anonymous.body["data"]["project"]["files"]["totalCount"], 1);
    let deleted = f
        .app
        .as_user(&bob, DELETE_FILE, json!({ "id": public_file["id"] }))
        .await;
    assert_eq!(deleted.code(), "FORBIDDEN");

    // B's attachment to A's chat: nothing.
    let chat = f.app.create_chat(&alice, "A's chat", None).await;
    let sent = f
        .upload(
            &bob,
            UPLOAD_ATTACHMENT,
            json!({ "c": chat }),
            "x.txt",
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(sent.code(), "NOT_FOUND");
});

// Rows and objects agree: deleting a file, permanently deleting its project, deleting
// the account remove the objects; a failed row write leaves no object; the sweep removes
// old objects no row names, and keeps young ones and named ones.
on_stores!(rows_and_objects_agree, defaults, |f: Files| async move {
    let alice = harness::user("alice");
    let project = f.app.create_project(&alice, "Agree", false).await;
    let a = uuid(
        &f.project_file(&alice, project, "a.txt", b"a".to_vec())
            .await["id"],
    );
    assert!(f.exists(Bucket::ProjectFiles, a).await);
    let deleted = f.app.ok(&alice, DELETE_FILE, json!({ "id": a })).await;
    assert_eq!(deleted["deleteProjectFile"], a.to_string());
    assert!(!f.exists(Bucket::ProjectFiles, a).await);

    let b = uuid(
        &f.project_file(&alice, project, "b.txt", b"b".to_vec())
            .await["id"],
    );
    f.app
        .ok(&alice, DELETE_PROJECT_PERMANENTLY, json!({ "id": project }))
        .await;
    assert!(!f.exists(Bucket::ProjectFiles, b).await);

    // Deleting a conversation takes its attachments.
    let gone_chat = f.app.create_chat(&alice, "Gone", None).await;
    let sent = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": gone_chat }),
            "g.txt",
            "text/plain",
            b"g".to_vec(),
        )
        .await;
    let g = uuid(&sent.data()["uploadChatAttachment"]["id"]);
    assert!(f.exists(Bucket::Attachments, g).await);
    f.app
        .ok(
            &alice,
            "mutation($id: UUID!) { deleteConversation(id: $id) }",
            json!({ "id": gone_chat }),
        )
        .await;
    assert!(!f.exists(Bucket::Attachments, g).await);

    let project = f.app.create_project(&alice, "Again", false).await;
    let c = uuid(
        &f.project_file(&alice, project, "c.txt", b"c".to_vec())
            .await["id"],
    );
    let chat = f.app.create_chat(&alice, "Chat", None).await;
    let sent = f
        .upload(
            &alice,
            UPLOAD_ATTACHMENT,
            json!({ "c": chat }),
            "d.txt",
            "text/plain",
            b"d".to_vec(),
        )
        .await;
    let d = uuid(&sent.data()["uploadChatAttachment"]["id"]);
    let avatar = f
        .upload(
            &alice,
            UPLOAD_AVATAR,
            json!({}),
            "me.png",
            "image/png",
            png(100),
        )
        .await;
    let avatar_url = avatar.data()["uploadAvatar"]["avatarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = Uuid::parse_str(avatar_url.rsplit('/').next().unwrap()).unwrap();
    f.app.ok(&alice, DELETE_ACCOUNT, json!({})).await;
    assert!(!f.exists(Bucket::ProjectFiles, c).await);
    assert!(!f.exists(Bucket::Attachments, d).await);
    assert!(!f.exists(Bucket::Avatars, e).await);

    // An injected failure between the object write and the row.
    let bob = harness::user("bob");
    let project = f.app.create_project(&bob, "Fails", false).await;
    let (add, remove) = if f.app.database_url.starts_with("sqlite:") {
        (
            "CREATE TRIGGER fail_files BEFORE INSERT ON stored_files BEGIN SELECT RAISE(ABORT, 'injected'); END".to_owned(),
            "DROP TRIGGER fail_files".to_owned(),
        )
    } else {
        (
            "CREATE FUNCTION fail_files() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER fail_files BEFORE INSERT ON stored_files FOR EACH ROW EXECUTE FUNCTION fail_files()".to_owned(),
            "DROP TRIGGER fail_files ON stored_files; DROP FUNCTION fail_files()".to_owned(),
        )
    };
    use sea_orm::ConnectionTrait;
    f.app.db.execute_unprepared(&add).await.unwrap();
    let failed = f
        .upload(
            &bob,
            UPLOAD_PROJECT_FILE,
            json!({ "p": project }),
            "f.txt",
            "text/plain",
            b"lost".to_vec(),
        )
        .await;
    assert_eq!(failed.code(), "INTERNAL", "{}", failed.body);
    f.app.db.execute_unprepared(&remove).await.unwrap();
    for bucket in Bucket::ALL {
        let left = f
            .storage
            .list_older(bucket, chrono::Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?} left in {}", bucket.name());
    }

    // The sweep: an old orphan goes, a named object stays; a young orphan stays.
    let kept = uuid(
        &f.project_file(&bob, project, "kept.txt", b"kept".to_vec())
            .await["id"],
    );
    let orphan = Uuid::new_v4();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"orphan",
    ))]);
    f.storage
        .write(Bucket::ProjectFiles, orphan, body, 100)
        .await
        .unwrap();
    assert_eq!(
        confab::domain::files::sweep(&f.app.db, &f.storage)
            .await
            .unwrap(),
        0
    );
    assert!(f.exists(Bucket::ProjectFiles, orphan).await);
    // The same store with no grace period (object times have whole seconds on S3).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let sweeper = f.storage.with_sweep_grace(std::time::Duration::ZERO);
    assert_eq!(
        confab::domain::files::sweep(&f.app.db, &sweeper)
            .await
            .unwrap(),
        1
    );
    assert!(!f.exists(Bucket::ProjectFiles, orphan).await);
    assert!(f.exists(Bucket::ProjectFiles, kept).await);
});

// A per-user quota, answered with QUOTA_EXCEEDED; Viewer.storageUsedBytes counts every
// bucket.
on_stores!(
    quotas,
    |s: &mut Settings| s.storage_quota_bytes = Some(1000),
    |f: Files| async move {
        let alice = harness::user("alice");
        let project = f.app.create_project(&alice, "Quota", false).await;
        assert_eq!(
            f.app.ok(&alice, USED, json!({})).await["viewer"]["storageUsedBytes"],
            0.0
        );
        f.project_file(&alice, project, "a.txt", vec![b'a'; 600])
            .await;
        let chat = f.app.create_chat(&alice, "Chat", None).await;
        let sent = f
            .upload(
                &alice,
                UPLOAD_ATTACHMENT,
                json!({ "c": chat }),
                "b.txt",
                "text/plain",
                vec![b'b'; 300],
            )
            .await;
        sent.data();
        assert_eq!(
            f.app.ok(&alice, USED, json!({})).await["viewer"]["storageUsedBytes"],
            900.0
        );
        let over = f
            .upload(
                &alice,
                UPLOAD_PROJECT_FILE,
                json!({ "p": project }),
                "c.txt",
                "text/plain",
                vec![b'c'; 200],
            )
            .await;
        assert_eq!(over.code(), "QUOTA_EXCEEDED", "{}", over.body);
        assert_eq!(
            f.app.ok(&alice, USED, json!({})).await["viewer"]["storageUsedBytes"],
            900.0
        );
        // Another user has their own quota.
        let bob = harness::user("bob");
        let theirs = f.app.create_project(&bob, "Bob's", false).await;
        f.project_file(&bob, theirs, "c.txt", vec![b'c'; 200]).await;
    }
);

// `Project.files` costs one statement per level whatever the number of projects (and
// `totalCount` one more), as the other nested lists.
on_stores!(
    project_files_load_in_one_statement_per_level,
    defaults,
    |f: Files| async move {
        let alice = harness::user("alice");
        const QUERY: &str = "{ viewer { projects(first: 20) { nodes { id files(first: 5) { totalCount nodes { id fileName } } } } } }";
        let mut counts = Vec::new();
        for round in 0..2 {
            for i in 0..(if round == 0 { 2 } else { 4 }) {
                let project = f
                    .app
                    .create_project(&alice, &format!("P{round}{i}"), false)
                    .await;
                for j in 0..3 {
                    f.project_file(&alice, project, &format!("{j}.txt"), b"x".to_vec())
                        .await;
                }
            }
            let before = f.app.statement_count();
            let data = f.app.ok(&alice, QUERY, json!({})).await;
            counts.push(f.app.statement_count() - before);
            let projects = data["viewer"]["projects"]["nodes"].as_array().unwrap();
            assert_eq!(projects.len(), if round == 0 { 2 } else { 6 });
            for p in projects {
                assert_eq!(p["files"]["totalCount"], 3);
                assert_eq!(p["files"]["nodes"].as_array().unwrap().len(), 3);
            }
        }
        assert_eq!(
            counts[0], counts[1],
            "statements for 2 and 6 projects: {counts:?}"
        );
    }
);

// With S3 and --s3-redirect on, a download is a redirect to a presigned S3 URL that
// serves the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_downloads_redirect_to_presigned_urls() {
    let Some(f) = start(false, true, |s: &mut Settings| s.s3_redirect = Switch::On).await else {
        return;
    };
    assert!(f.s3);
    let alice = harness::user("alice");
    let project = f.app.create_project(&alice, "S3", false).await;
    let file = f.project_file(&alice, project, "a.png", png(2048)).await;
    let response = f.get(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(response.status(), 307);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), png(2048));
}

// /readyz checks the object store: an S3 bucket that does not exist makes it fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_needs_the_object_store() {
    let Some(f) = start(false, false, defaults).await else {
        return;
    };
    let ready: Value = reqwest::get(format!("{}/readyz", f.app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["storage"]["status"], "up", "{ready}");
    // A store that cannot answer: an S3 endpoint nothing listens on.
    let app = harness::sqlite_with(|s| {
        s.storage_url = Some("s3://nowhere".to_owned());
        s.s3_endpoint = Some("http://127.0.0.1:9".to_owned());
        s.s3_access_key_id = Some("x".to_owned());
        s.s3_secret_access_key = Some("x".to_owned());
        s.storage_signing_key = Some(SIGNING_KEY.to_owned());
    })
    .await;
    let response = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["storage"]["status"], "down", "{body}");
}

/// Postgres without `--storage-signing-key`: the first gateway keeps a generated key in
/// the database, and another gateway on the same database (or this one restarted) signs
/// with it, so a private URL from one downloads from the other; a configured key still
/// takes precedence. No client role may read the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_gateways_without_a_key_share_the_one_kept_in_the_database() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let dir = tempfile::tempdir().expect("temporary directory");
    let objects = dir.path().join("objects").display().to_string();
    let configured_objects = objects.clone();
    let store = move |s: &mut Settings| {
        s.storage_url = Some(objects.clone());
        s.storage_signing_key = None;
    };
    let Some(first) = harness::postgres_with(store.clone()).await else {
        return;
    };
    let second = first.another_gateway(store.clone()).await;
    let keys = "SELECT count(*) AS n FROM storage_signing_keys";
    let row = first
        .db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, keys))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);

    let alice = harness::user("alice");
    let project = first.create_project(&alice, "Shared key", false).await;
    let mut settings = Settings::for_database(&first.database_url);
    store(&mut settings);
    let storage = Storage::from_settings(&settings, &first.db)
        .await
        .expect("the store");
    let f = Files {
        app: first,
        storage,
        s3: false,
        _dir: dir,
    };
    let bytes = png(300);
    let file = f
        .project_file(&alice, project, "a.png", bytes.clone())
        .await;
    let url = file["url"].as_str().expect("a url").to_owned();
    assert!(url.contains("sig="), "{url}");
    // The URL the first gateway signed downloads from the second, and the reverse.
    let from_second = reqwest::get(format!("{}{url}", second.url)).await.unwrap();
    assert_eq!(from_second.status(), 200);
    assert_eq!(from_second.bytes().await.unwrap().to_vec(), bytes);
    let data = second
        .ok(
            &alice,
            "query($id: UUID!) { project(id: $id) { files { nodes { url } } } }",
            json!({ "id": project }),
        )
        .await;
    let second_url = data["project"]["files"]["nodes"][0]["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    assert_eq!(f.get(&second_url, &[]).await.status(), 200);
    // A gateway started later (a restart) signs alike: the same URL within the minute.
    let third = f.app.another_gateway(store).await;
    let data = third
        .ok(
            &alice,
            "query($id: UUID!) { project(id: $id) { files { nodes { url } } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(
        data["project"]["files"]["nodes"][0]["url"],
        second_url.as_str()
    );
    // A configured key takes precedence: its gateway refuses the others' URLs.
    let configured = f
        .app
        .another_gateway(|s| {
            s.storage_url = Some(configured_objects);
            s.storage_signing_key = Some(SIGNING_KEY.to_owned());
        })
        .await;
    let refused = reqwest::get(format!("{}{url}", configured.url))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // The key is the gateway's alone.
    for role in ["anon", "authenticated", "service_role"] {
        let txn = f.app.db.begin().await.unwrap();
        txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
            .await
            .unwrap();
        let read = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT key FROM storage_signing_keys",
            ))
            .await;
        let error = read.expect_err("the key stays hidden").to_string();
        assert!(error.contains("permission denied"), "{role}: {error}");
        txn.rollback().await.unwrap();
    }
}

/// A maintained JavaScript upload client (`extract-files` + fetch, tests/browser/upload.mjs)
/// uploads a project file and a chat attachment, then downloads both by their URLs
/// without a token: the same bytes.
async fn javascript_client_uploads_and_downloads(f: Files) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/extract-files").exists() {
        assert!(
            std::env::var("CONFAB_BROWSER_TESTS").as_deref() != Ok("1"),
            "CONFAB_BROWSER_TESTS=1 but tests/browser/node_modules is missing"
        );
        eprintln!("skipping the upload client test: run `npm ci` in tests/browser");
        return;
    }
    let alice = harness::user("alice");
    let project = f.app.create_project(&alice, "From Node", false).await;
    let chat = f.app.create_chat(&alice, "From Node", None).await;
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg("upload.mjs")
            .current_dir(&dir)
            .env("CONFAB_URL", &f.app.url)
            .env("CONFAB_TOKEN", &alice.token)
            .env("CONFAB_PROJECT", project.to_string())
            .env("CONFAB_CHAT", chat.to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the client succeeds: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({ "field": "uploadProjectFile", "status": 200, "mimeType": "image/png",
                    "sizeBytes": 70000, "downloaded": 70000, "same": true }),
            json!({ "field": "uploadChatAttachment", "status": 200, "mimeType": "application/pdf",
                    "sizeBytes": 900, "downloaded": 900, "same": true }),
        ]
    );
    let listed = f
        .app
        .ok(&alice, PROJECT_FILES, json!({ "p": project }))
        .await;
    assert_eq!(
        listed["project"]["files"]["nodes"][0]["fileName"],
        "diagram.png"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn javascript_upload_client_sqlite() {
    if let Some(f) = start(false, false, defaults).await {
        javascript_client_uploads_and_downloads(f).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn javascript_upload_client_postgres_s3() {
    if harness::postgres_admin_url().is_none() {
        return;
    }
    if let Some(f) = start(true, true, defaults).await {
        javascript_client_uploads_and_downloads(f).await;
    }
}

/// Measurement, not a check of speed: `cargo test --test api files::upload_memory --
/// --ignored --nocapture`. Starts `confab serve` as its own process (SQLite and the local
/// store in a temporary directory), warms it with a small upload, then uploads a 50 MiB
/// voice recording while sampling the process's resident memory (VmRSS) every 5 ms, and
/// prints the baseline, the peak and the growth. The upload is streamed part by part into
/// the store, so the growth stays under 10 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run it with --ignored --nocapture"]
async fn upload_memory() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        )
        .env("CONFAB_JWT_SECRET", harness::SECRET)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONFAB_STORAGE_SIGNING_KEY", SIGNING_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("confab serve starts");
    let pid = child.id();
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let alice = harness::user("alice");
    let gql = |query: &'static str| {
        client
            .post(format!("{url}/graphql"))
            .bearer_auth(&alice.token)
            .json(&json!({ "query": query }))
            .send()
    };
    let chat: Value = gql("mutation { createConversation(input: {title: \"m\"}) { id } }")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = chat["data"]["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |bytes: Vec<u8>| {
        let body = multipart_body(
            &json!({ "query": UPLOAD_ATTACHMENT, "variables": { "c": chat, "kind": "AUDIO", "file": null } }),
            &json!({ "0": ["variables.file"] }),
            &[Part {
                name: "0",
                file_name: "v.mp3",
                content_type: "audio/mpeg",
                bytes,
            }],
        );
        client
            .post(format!("{url}/graphql"))
            .bearer_auth(&alice.token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("GraphQL-Require-Preflight", "1")
            .body(body)
            .send()
    };
    let warm = send(mp3(1024 * 1024)).await.unwrap().text().await.unwrap();
    assert!(warm.contains("audio/mpeg"), "{warm}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let rss = || harness_rss_kib(pid);
    let baseline = rss();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(harness_rss_kib(pid));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let size = 50 * 1024 * 1024 - 4096;
    let answer = send(mp3(size)).await.unwrap().text().await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap().max(rss());
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answer.contains(&format!("\"sizeBytes\":{}", size + 10)),
        "{answer}"
    );
    let growth = peak.saturating_sub(baseline);
    println!(
        "50 MiB upload: RSS baseline {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB",
        baseline as f64 / 1024.0,
        peak as f64 / 1024.0,
        growth as f64 / 1024.0
    );
    assert!(growth < 10 * 1024, "RSS grew by {growth} KiB");
}

/// VmRSS of process `pid`, KiB.
fn harness_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
