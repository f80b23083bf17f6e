//! The [workspace] API end to end, attacker side included.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{DELETE_ACCOUNT, DELETE_PROJECT_PERMANENTLY, SOFT_DELETE_PROJECT};
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;

const WRITE_NOTES_V1: &str = r#"
    mutation {
        writeWorkspaceFile(input: {
            path: "notes.md",
            content: "v1",
            mimeType: "text/markdown",
            metadata: {v: 1}
        }) { id createdAt updatedAt }
    }
"#;

const WRITE_NOTES_V2: &str = r#"
    mutation {
        writeWorkspaceFile(input: {path: "notes.md", content: "version two"}) {
            id content sizeBytes mimeType metadata createdAt updatedAt
        }
    }
"#;

const NODE_ID: &str = "query($n: ID!) { node(nodeId: $n) { nodeId } }";

const FILE_NODE: &str = r#"
    query($n: ID!) {
        node(nodeId: $n) { ... on WorkspaceFile { path content } }
    }
"#;

const FILE_NODE_TYPENAME: &str = r#"
    query($n: ID!) {
        node(nodeId: $n) { __typename ... on WorkspaceFile { path } }
    }
"#;

const CREATE_TASK_P: &str = r#"mutation { createTask(input: {prompt: "p"}) { id nodeId } }"#;

const APPEND_LOG_M: &str = r#"
    mutation($id: UUID!) {
        appendTaskLog(id: $id, input: {message: "m"}) { id }
    }
"#;

const WRITE_NESTED_FILE: &str = r#"
    mutation {
        writeWorkspaceFile(input: {path: "a/b.txt", content: "x"}) { nodeId }
    }
"#;

const TASK_AND_NODES: &str = r#"
    query($t: UUID!, $tn: ID!, $f: ID!) {
        task(id: $t) { id }
        tn: node(nodeId: $tn) { nodeId }
        f: node(nodeId: $f) { nodeId }
    }
"#;

const CREATE_ALICE_TASK: &str = r#"mutation { createTask(input: {prompt: "alice task"}) { id } }"#;

const APPEND_ALICE_LOG: &str = r#"
    mutation($id: UUID!) {
        appendTaskLog(id: $id, input: {message: "alice line"}) { id }
    }
"#;

const READ_TASK_PROGRESS: &str = "query($id: UUID!) { task(id: $id) { progress prompt } }";

const FIELDS: &str = "id nodeId projectId path name parentPath isDirectory mimeType sizeBytes content metadata createdAt updatedAt";

const WRITE_FILE: &str = r#"
    mutation($i: WriteWorkspaceFileInput!) {
        writeWorkspaceFile(input: $i) {
            id path name parentPath isDirectory sizeBytes content projectId
        }
    }
"#;
const CREATE_DIRECTORY: &str = r#"
    mutation($p: String!, $proj: UUID) {
        createWorkspaceDirectory(path: $p, projectId: $proj) {
            id path name parentPath isDirectory sizeBytes content projectId
        }
    }
"#;
const MOVE_FILE: &str = r#"
    mutation($f: String!, $t: String!) {
        moveWorkspaceFile(from: $f, to: $t) { id path name parentPath isDirectory content }
    }
"#;
const DELETE_FILE: &str = r#"
    mutation($p: String!, $r: Boolean) {
        deleteWorkspaceFile(path: $p, recursive: $r)
    }
"#;
const READ_FILE: &str = r#"
    query($p: String!) {
        viewer {
            workspaceFile(path: $p) {
                id path name parentPath isDirectory sizeBytes content mimeType metadata projectId
            }
        }
    }
"#;
const LIST_FILES: &str = r#"
    query($p: String, $proj: UUID) {
        viewer { workspaceFiles(parentPath: $p, projectId: $proj) { path name isDirectory } }
    }
"#;

async fn write(app: &TestApp, user: &User, path: &str, content: &str) -> Value {
    app.ok(
        user,
        WRITE_FILE,
        json!({ "i": { "path": path, "content": content } }),
    )
    .await["writeWorkspaceFile"]
        .clone()
}

async fn get(app: &TestApp, user: &User, path: &str) -> Value {
    app.ok(user, READ_FILE, json!({ "p": path })).await["viewer"]["workspaceFile"].clone()
}

/// (path, isDirectory) of the entries under `parent`, in the listing's order.
async fn list(app: &TestApp, user: &User, parent: Option<&str>) -> Vec<(String, bool)> {
    let data = app.ok(user, LIST_FILES, json!({ "p": parent })).await;
    data["viewer"]["workspaceFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["isDirectory"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn entries(items: &[(&str, bool)]) -> Vec<(String, bool)> {
    items.iter().map(|(p, d)| (p.to_string(), *d)).collect()
}

/// Every path the user has, sorted (walks the tree through the API).
async fn all_paths(app: &TestApp, user: &User) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Vec<Option<String>> = vec![None];
    while let Some(parent) = pending.pop() {
        for (path, dir) in list(app, user, parent.as_deref()).await {
            if dir {
                pending.push(Some(path.clone()));
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

on_both!(
    writes_create_parents_and_listings_put_directories_first,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app
            .ok(
                &alice,
                &format!("mutation {{ writeWorkspaceFile(input: {{path: \"src/components/Button.tsx\", content: \"héllo ✓\", mimeType: \"text/typescript\", metadata: {{lang: \"tsx\"}}}}) {{ {FIELDS} }} }}"),
                json!({}),
            )
            .await;
        let f = &data["writeWorkspaceFile"];
        assert_eq!(f["path"], json!("src/components/Button.tsx"));
        assert_eq!(f["name"], json!("Button.tsx"));
        assert_eq!(f["parentPath"], json!("src/components"));
        assert_eq!(f["isDirectory"], json!(false));
        assert_eq!(f["content"], json!("héllo ✓"));
        assert_eq!(f["sizeBytes"], json!("héllo ✓".len()), "UTF-8 bytes");
        assert_eq!(f["sizeBytes"], json!(10));
        assert_eq!(f["mimeType"], json!("text/typescript"));
        assert_eq!(f["metadata"], json!({ "lang": "tsx" }));
        assert_eq!(f["projectId"], json!(null));
        assert_eq!(f["createdAt"], f["updatedAt"]);

        let src = get(&app, &alice, "src").await;
        assert_eq!(src["isDirectory"], json!(true));
        assert_eq!(
            src["parentPath"],
            json!(null),
            "root entries have no parent"
        );
        assert_eq!(src["name"], json!("src"));
        assert_eq!(src["content"], json!(null));
        assert_eq!(src["sizeBytes"], json!(0));
        assert_eq!(src["metadata"], json!({}));
        let components = get(&app, &alice, "src/components/").await;
        assert_eq!(
            components["path"],
            json!("src/components"),
            "trailing slash dropped"
        );
        assert_eq!(components["parentPath"], json!("src"));
        assert_eq!(components["isDirectory"], json!(true));

        write(&app, &alice, "README.md", "# hi").await;
        write(&app, &alice, "b.txt", "").await;
        write(&app, &alice, "a.txt", "a").await;
        write(&app, &alice, "Zeta/x", "x").await;
        write(&app, &alice, "docs/guide.md", "g").await;
        app.ok(&alice, CREATE_DIRECTORY, json!({ "p": "assets" }))
            .await;
        assert_eq!(
            list(&app, &alice, None).await,
            entries(&[
                ("assets", true),
                ("docs", true),
                ("src", true),
                ("Zeta", true),
                ("a.txt", false),
                ("b.txt", false),
                ("README.md", false),
            ])
        );
        assert_eq!(
            list(&app, &alice, Some("src")).await,
            entries(&[("src/components", true)])
        );
        assert_eq!(list(&app, &alice, Some("assets")).await, vec![]);
        assert_eq!(list(&app, &alice, Some("nowhere")).await, vec![]);
        let empty = get(&app, &alice, "b.txt").await;
        assert_eq!(empty["content"], json!(""));
        assert_eq!(empty["sizeBytes"], json!(0));
        assert_eq!(get(&app, &alice, "missing.txt").await, json!(null));
    }
);

on_both!(
    writing_again_replaces_the_file_in_place,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let first = app.ok(&alice, WRITE_NOTES_V1, json!({})).await["writeWorkspaceFile"].clone();
        let second = app.ok(&alice, WRITE_NOTES_V2, json!({})).await["writeWorkspaceFile"].clone();
        assert_eq!(second["id"], first["id"]);
        assert_eq!(second["createdAt"], first["createdAt"]);
        assert_ne!(second["updatedAt"], first["updatedAt"]);
        assert_eq!(second["content"], json!("version two"));
        assert_eq!(second["sizeBytes"], json!(11));
        // Replaced, not merged: absent mimeType and metadata are null and {}.
        assert_eq!(second["mimeType"], json!(null));
        assert_eq!(second["metadata"], json!({}));
        assert_eq!(all_paths(&app, &alice).await, vec!["notes.md"]);
    }
);

on_both!(
    directories_and_files_do_not_stand_in_for_each_other,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let dir = app
            .ok(&alice, CREATE_DIRECTORY, json!({ "p": "a/b/c" }))
            .await["createWorkspaceDirectory"]
            .clone();
        assert_eq!(dir["isDirectory"], json!(true));
        assert_eq!(dir["name"], json!("c"));
        assert_eq!(dir["parentPath"], json!("a/b"));
        assert_eq!(dir["content"], json!(null));
        assert_eq!(dir["sizeBytes"], json!(0));
        assert_eq!(all_paths(&app, &alice).await, vec!["a", "a/b", "a/b/c"]);
        // Creating an existing directory returns it.
        let again = app
            .ok(&alice, CREATE_DIRECTORY, json!({ "p": "a/b/c/" }))
            .await["createWorkspaceDirectory"]
            .clone();
        assert_eq!(again["id"], dir["id"]);
        let parent = app
            .ok(&alice, CREATE_DIRECTORY, json!({ "p": "a/b" }))
            .await["createWorkspaceDirectory"]
            .clone();
        assert_eq!(parent["path"], json!("a/b"));

        write(&app, &alice, "a/file.txt", "f").await;
        for (query, vars) in [
            // A file where a directory is wanted ...
            (CREATE_DIRECTORY, json!({ "p": "a/file.txt" })),
            (CREATE_DIRECTORY, json!({ "p": "a/file.txt/sub" })),
            (
                WRITE_FILE,
                json!({ "i": { "path": "a/file.txt/inner.txt", "content": "x" } }),
            ),
            // ... and a directory where a file is wanted.
            (
                WRITE_FILE,
                json!({ "i": { "path": "a/b", "content": "x" } }),
            ),
        ] {
            let reply = app.as_user(&alice, query, vars.clone()).await;
            assert_eq!(reply.code(), "CONFLICT", "{vars}");
        }
        assert_eq!(
            all_paths(&app, &alice).await,
            vec!["a", "a/b", "a/b/c", "a/file.txt"],
            "a refused write creates no parents"
        );
        assert_eq!(get(&app, &alice, "a/file.txt").await["content"], json!("f"));
    }
);

on_both!(
    moves_take_whole_trees_and_refuse_taken_targets,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        write(&app, &alice, "src/lib/util.ts", "u").await;
        write(&app, &alice, "src/lib/deep/x.ts", "x").await;
        write(&app, &alice, "src/main.ts", "m").await;
        write(&app, &alice, "src2/keep.ts", "k").await;
        let util_id = get(&app, &alice, "src/lib/util.ts").await["id"].clone();

        // A file, into a directory that does not exist yet.
        let moved = app
            .ok(
                &alice,
                MOVE_FILE,
                json!({ "f": "src/main.ts", "t": "app/entry/main.ts" }),
            )
            .await["moveWorkspaceFile"]
            .clone();
        assert_eq!(moved["path"], json!("app/entry/main.ts"));
        assert_eq!(moved["name"], json!("main.ts"));
        assert_eq!(moved["parentPath"], json!("app/entry"));
        assert_eq!(moved["content"], json!("m"));
        assert_eq!(
            get(&app, &alice, "app/entry").await["isDirectory"],
            json!(true)
        );

        // A directory with everything beneath it.
        let moved = app
            .ok(&alice, MOVE_FILE, json!({ "f": "src", "t": "app/source" }))
            .await["moveWorkspaceFile"]
            .clone();
        assert_eq!(moved["path"], json!("app/source"));
        assert_eq!(moved["name"], json!("source"));
        assert_eq!(moved["parentPath"], json!("app"));
        assert_eq!(moved["isDirectory"], json!(true));
        assert_eq!(
            all_paths(&app, &alice).await,
            vec![
                "app",
                "app/entry",
                "app/entry/main.ts",
                "app/source",
                "app/source/lib",
                "app/source/lib/deep",
                "app/source/lib/deep/x.ts",
                "app/source/lib/util.ts",
                "src2",
                "src2/keep.ts",
            ]
        );
        let util = get(&app, &alice, "app/source/lib/util.ts").await;
        assert_eq!(util["id"], util_id, "a moved entry keeps its id");
        assert_eq!(util["parentPath"], json!("app/source/lib"));
        assert_eq!(util["name"], json!("util.ts"));
        assert_eq!(util["content"], json!("u"));
        assert_eq!(
            get(&app, &alice, "app/source/lib/deep").await["parentPath"],
            json!("app/source/lib")
        );
        assert_eq!(get(&app, &alice, "src/lib/util.ts").await, json!(null));

        // Refusals, in precedence order.
        for (from, to, code) in [
            ("nothing/here", "x", "NOT_FOUND"),
            ("app/source", "app/source/inner", "BAD_USER_INPUT"),
            ("app/source", "app/source", "BAD_USER_INPUT"),
            ("app/source", "../up", "BAD_USER_INPUT"),
            ("/app", "x", "BAD_USER_INPUT"),
            ("app/source", "src2", "CONFLICT"),
            ("app/entry/main.ts", "src2/keep.ts", "CONFLICT"),
            ("app/entry/main.ts", "src2/keep.ts/sub.ts", "CONFLICT"),
            ("src2", "app", "CONFLICT"),
        ] {
            let reply = app
                .as_user(&alice, MOVE_FILE, json!({ "f": from, "t": to }))
                .await;
            assert_eq!(reply.code(), code, "{from} -> {to}");
        }
        assert_eq!(
            get(&app, &alice, "src2/keep.ts").await["content"],
            json!("k")
        );
        // A directory may move beneath a sibling whose name it prefixes.
        let moved = app
            .ok(&alice, MOVE_FILE, json!({ "f": "src2", "t": "src2x/src2" }))
            .await["moveWorkspaceFile"]
            .clone();
        assert_eq!(moved["path"], json!("src2x/src2"));
        assert_eq!(
            get(&app, &alice, "src2x/src2/keep.ts").await["content"],
            json!("k")
        );
    }
);

on_both!(deletes_count_what_they_remove, |app: TestApp| async move {
    let alice = harness::user("alice");
    write(&app, &alice, "p/a.txt", "a").await;
    write(&app, &alice, "p/q/b.txt", "b").await;
    write(&app, &alice, "p/q/r/c.txt", "c").await;
    write(&app, &alice, "pq/keep.txt", "k").await;
    write(&app, &alice, "P/keep.txt", "k").await;
    app.ok(&alice, CREATE_DIRECTORY, json!({ "p": "empty" }))
        .await;

    let reply = app.as_user(&alice, DELETE_FILE, json!({ "p": "p" })).await;
    assert_eq!(
        reply.code(),
        "CONFLICT",
        "a non-empty directory needs recursive"
    );
    let reply = app
        .as_user(&alice, DELETE_FILE, json!({ "p": "p", "r": false }))
        .await;
    assert_eq!(reply.code(), "CONFLICT");
    let data = app.ok(&alice, DELETE_FILE, json!({ "p": "p/a.txt" })).await;
    assert_eq!(data["deleteWorkspaceFile"], json!(1));
    let data = app.ok(&alice, DELETE_FILE, json!({ "p": "empty" })).await;
    assert_eq!(data["deleteWorkspaceFile"], json!(1));
    // p, p/q, p/q/b.txt, p/q/r, p/q/r/c.txt
    let data = app
        .ok(&alice, DELETE_FILE, json!({ "p": "p", "r": true }))
        .await;
    assert_eq!(data["deleteWorkspaceFile"], json!(5));
    assert_eq!(
        all_paths(&app, &alice).await,
        vec!["P", "P/keep.txt", "pq", "pq/keep.txt"],
        "siblings sharing a prefix, or differing in case, stay"
    );
    let data = app
        .ok(&alice, DELETE_FILE, json!({ "p": "P/keep.txt", "r": true }))
        .await;
    assert_eq!(data["deleteWorkspaceFile"], json!(1), "recursive on a file");
    for (path, code) in [
        ("p", "NOT_FOUND"),
        ("p/q/b.txt", "NOT_FOUND"),
        ("a//b", "BAD_USER_INPUT"),
    ] {
        let reply = app
            .as_user(&alice, DELETE_FILE, json!({ "p": path, "r": true }))
            .await;
        assert_eq!(reply.code(), code, "{path}");
    }
});

on_both!(
    bad_paths_are_bad_input_everywhere,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        write(&app, &alice, "ok/file.txt", "x").await;
        let long_segment = "s".repeat(256);
        let long_path = vec!["abcdefghi"; 103].join("/");
        let bad = [
            "",
            "/",
            "/abs.txt",
            "a//b",
            "./a",
            "a/./b",
            "a/../b",
            "..",
            "tab\there",
            "nul\u{0}byte",
            "line\nbreak",
            long_segment.as_str(),
            long_path.as_str(),
        ];
        for path in bad {
            for (query, vars) in [
                (WRITE_FILE, json!({ "i": { "path": path, "content": "x" } })),
                (CREATE_DIRECTORY, json!({ "p": path })),
                (MOVE_FILE, json!({ "f": "ok/file.txt", "t": path })),
                (MOVE_FILE, json!({ "f": path, "t": "ok/other.txt" })),
                (DELETE_FILE, json!({ "p": path, "r": true })),
                (READ_FILE, json!({ "p": path })),
                (LIST_FILES, json!({ "p": path })),
            ] {
                let reply = app.as_user(&alice, query, vars).await;
                assert_eq!(reply.code(), "BAD_USER_INPUT", "{path:?} in {query}");
            }
        }
        // The limits themselves are allowed.
        let longest_name = "n".repeat(255);
        let f = write(&app, &alice, &longest_name, "x").await;
        assert_eq!(f["name"], json!(longest_name));
        let longest_path = format!("{}/{}", vec!["abcdefghi"; 101].join("/"), "abcdefghijklmn");
        assert_eq!(longest_path.chars().count(), 1024);
        let f = write(&app, &alice, &longest_path, "x").await;
        assert_eq!(f["path"], json!(longest_path));
        // A move that would push a path past the limit is refused, and changes nothing.
        let reply = app
            .as_user(
                &alice,
                MOVE_FILE,
                json!({ "f": "abcdefghi", "t": "longer-name/abcdefghi" }),
            )
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        assert_eq!(
            get(&app, &alice, &longest_path).await["content"],
            json!("x")
        );
        assert_eq!(
            all_paths(&app, &alice).await.len(),
            2 + 102 + 1,
            "ok, ok/file.txt, the 102 entries of the long path, the long name"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_is_limited_to_one_mebibyte() {
    let configure = |s: &mut confab::config::Settings| s.body_limit = 4 * 1024 * 1024;
    let mut apps = vec![harness::sqlite_with(configure).await];
    if let Some(pg) = harness::postgres_with(configure).await {
        apps.push(pg);
    }
    for app in apps {
        let alice = harness::user("alice");
        let exact = "é".repeat(512 * 1024);
        let f = write(&app, &alice, "big.txt", &exact).await;
        assert_eq!(f["sizeBytes"], json!(1024 * 1024));
        let reply = app
            .as_user(
                &alice,
                WRITE_FILE,
                json!({ "i": { "path": "big.txt", "content": format!("{exact}!") } }),
            )
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        assert_eq!(
            get(&app, &alice, "big.txt").await["sizeBytes"],
            json!(1024 * 1024)
        );
    }
}

on_both!(
    project_labels_narrow_listings_and_must_be_readable,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let mine = app.create_project(&alice, "mine", false).await;
        let other = app.create_project(&alice, "other", false).await;
        let bobs_private = app.create_project(&bob, "bob private", false).await;
        let bobs_public = app.create_project(&bob, "bob public", true).await;

        let f = app
            .ok(
                &alice,
                WRITE_FILE,
                json!({ "i": { "path": "web/index.html", "content": "<p>", "projectId": mine } }),
            )
            .await["writeWorkspaceFile"]
            .clone();
        assert_eq!(uuid(&f["projectId"]), mine);
        assert_eq!(
            uuid(&get(&app, &alice, "web").await["projectId"]),
            mine,
            "created parents share the label"
        );
        app.ok(
            &alice,
            WRITE_FILE,
            json!({ "i": { "path": "web/other.html", "content": "o", "projectId": other } }),
        )
        .await;
        write(&app, &alice, "web/plain.html", "p").await;
        let d = app
            .ok(
                &alice,
                CREATE_DIRECTORY,
                json!({ "p": "web/assets", "proj": mine }),
            )
            .await["createWorkspaceDirectory"]
            .clone();
        assert_eq!(uuid(&d["projectId"]), mine);
        // A public project of someone else is readable, so it may label an entry.
        let f = app
            .ok(
                &alice,
                WRITE_FILE,
                json!({ "i": { "path": "fork.md", "content": "f", "projectId": bobs_public } }),
            )
            .await["writeWorkspaceFile"]
            .clone();
        assert_eq!(uuid(&f["projectId"]), bobs_public);

        let data = app
            .ok(&alice, LIST_FILES, json!({ "p": "web", "proj": mine }))
            .await;
        assert_eq!(
            data["viewer"]["workspaceFiles"],
            json!([
                { "path": "web/assets", "name": "assets", "isDirectory": true },
                { "path": "web/index.html", "name": "index.html", "isDirectory": false },
            ])
        );
        let data = app
            .ok(&alice, LIST_FILES, json!({ "p": "web", "proj": other }))
            .await;
        assert_eq!(
            data["viewer"]["workspaceFiles"].as_array().unwrap().len(),
            1
        );
        assert_eq!(
            data["viewer"]["workspaceFiles"],
            json!([
                { "path": "web/other.html", "name": "other.html", "isDirectory": false },
            ])
        );
        assert_eq!(list(&app, &alice, Some("web")).await.len(), 4);

        // Paths are unique per user across projects: another label replaces, not adds.
        let f = app
            .ok(
                &alice,
                WRITE_FILE,
                json!({ "i": { "path": "web/plain.html", "content": "p2", "projectId": other } }),
            )
            .await["writeWorkspaceFile"]
            .clone();
        assert_eq!(uuid(&f["projectId"]), other);
        assert_eq!(list(&app, &alice, Some("web")).await.len(), 4);

        // A project the viewer cannot read (or that does not exist) is NOT_FOUND, first.
        for project in [bobs_private, Uuid::new_v4()] {
            for (query, vars) in [
                (
                    WRITE_FILE,
                    json!({ "i": { "path": "x.txt", "content": "x", "projectId": project } }),
                ),
                (
                    WRITE_FILE,
                    json!({ "i": { "path": "/bad", "content": "x", "projectId": project } }),
                ),
                (CREATE_DIRECTORY, json!({ "p": "x", "proj": project })),
                (LIST_FILES, json!({ "proj": project })),
            ] {
                let reply = app.as_user(&alice, query, vars).await;
                assert_eq!(reply.code(), "NOT_FOUND", "{query}");
            }
        }
        // A DELETED project is read-only: nothing new is labelled with it.
        app.ok(&alice, SOFT_DELETE_PROJECT, json!({ "id": other }))
            .await;
        let reply = app
            .as_user(
                &alice,
                WRITE_FILE,
                json!({ "i": { "path": "late.txt", "content": "x", "projectId": other } }),
            )
            .await;
        assert_eq!(reply.code(), "CONFLICT");
        // Deleting a project for good keeps the files and drops the label.
        app.ok(&alice, DELETE_PROJECT_PERMANENTLY, json!({ "id": mine }))
            .await;
        let index = get(&app, &alice, "web/index.html").await;
        assert_eq!(index["content"], json!("<p>"));
        assert_eq!(index["projectId"], json!(null));
        assert_eq!(get(&app, &alice, "web").await["projectId"], json!(null));
        assert_eq!(list(&app, &alice, Some("web")).await.len(), 4);
    }
);

on_both!(
    racing_writers_never_make_two_rows,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        // Twenty writers of one new path (with a new parent): one row, one parent.
        let writes = (0..20).map(|i| {
            let app = &app;
            let alice = &alice;
            async move {
                app.as_user(
                    alice,
                    WRITE_FILE,
                    json!({ "i": { "path": "race/new.txt", "content": format!("writer {i}") } }),
                )
                .await
            }
        });
        let replies = futures::future::join_all(writes).await;
        let mut ids = std::collections::HashSet::new();
        let mut written = Vec::new();
        for reply in &replies {
            if reply.body.get("errors").is_some() {
                assert_eq!(reply.code(), "CONFLICT", "a race loses with CONFLICT");
            } else {
                ids.insert(reply.data()["writeWorkspaceFile"]["id"].clone());
                written.push(reply.data()["writeWorkspaceFile"]["content"].clone());
            }
        }
        assert_eq!(ids.len(), 1, "every successful write saved the same row");
        assert_eq!(all_paths(&app, &alice).await, vec!["race", "race/new.txt"]);
        let last = get(&app, &alice, "race/new.txt").await;
        assert!(written.contains(&last["content"]), "{last}");

        // Twenty creators of one directory: all get the same one.
        let mkdirs = (0..20).map(|_| {
            let app = &app;
            let alice = &alice;
            async move {
                app.as_user(alice, CREATE_DIRECTORY, json!({ "p": "dirs/one/two" }))
                    .await
            }
        });
        let ids: std::collections::HashSet<String> = futures::future::join_all(mkdirs)
            .await
            .iter()
            .map(|r| {
                r.data()["createWorkspaceDirectory"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1);

        // Twenty files moving onto one free target: exactly one wins, the rest CONFLICT.
        for i in 0..20 {
            write(
                &app,
                &alice,
                &format!("movers/m{i}.txt"),
                &format!("mover {i}"),
            )
            .await;
        }
        let moves = (0..20).map(|i| {
            let app = &app;
            let alice = &alice;
            async move {
                app.as_user(
                    alice,
                    MOVE_FILE,
                    json!({ "f": format!("movers/m{i}.txt"), "t": "target/won.txt" }),
                )
                .await
            }
        });
        let replies = futures::future::join_all(moves).await;
        let winners: Vec<&harness::Reply> = replies
            .iter()
            .filter(|r| r.body.get("errors").is_none())
            .collect();
        assert_eq!(winners.len(), 1);
        for loser in replies.iter().filter(|r| r.body.get("errors").is_some()) {
            assert_eq!(loser.code(), "CONFLICT");
        }
        let won = winners[0].data()["moveWorkspaceFile"]["content"].clone();
        assert_eq!(get(&app, &alice, "target/won.txt").await["content"], won);
        assert_eq!(list(&app, &alice, Some("movers")).await.len(), 19);
        assert_eq!(list(&app, &alice, Some("target")).await.len(), 1);
    }
);

on_both!(
    racing_deletes_and_writes_leave_no_orphans,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        // Writers keep filling a tree while deleters remove it: whatever interleaving the
        // database picks, every entry's parent exists and is a directory afterwards.
        for round in 0..3 {
            let writes = (0..12).map(|i| {
                let app = &app;
                let alice = &alice;
                async move {
                    app.as_user(
                        alice,
                        WRITE_FILE,
                        json!({ "i": { "path": format!("tree/a{}/b/f{i}.txt", i % 3), "content": "x" } }),
                    )
                    .await
                }
            });
            let deletes = (0..4).map(|_| {
                let app = &app;
                let alice = &alice;
                async move {
                    app.as_user(alice, DELETE_FILE, json!({ "p": "tree", "r": true }))
                        .await
                }
            });
            let (writes, deletes) = futures::future::join(
                futures::future::join_all(writes),
                futures::future::join_all(deletes),
            )
            .await;
            for reply in writes {
                reply.data();
            }
            for reply in deletes {
                if reply.body.get("errors").is_some() {
                    assert_eq!(reply.code(), "NOT_FOUND", "round {round}");
                }
            }
            // One more write after the race: the tree below must hold it and its parents,
            // so the parent check below never runs over an empty set.
            let late = format!("tree/a0/b/late{round}.txt");
            write(&app, &alice, &late, "late").await;
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let rows = entity::workspace_file::Entity::find()
                .filter(entity::workspace_file::Column::UserId.eq(alice.id))
                .all(&app.db)
                .await
                .unwrap();
            assert!(
                !rows.is_empty(),
                "round {round}: no rows after the late write"
            );
            for path in [late.as_str(), "tree/a0/b", "tree/a0", "tree"] {
                assert!(
                    rows.iter().any(|r| r.path == path),
                    "round {round}: {path} is missing"
                );
            }
            for row in &rows {
                if let Some(parent) = &row.parent_path {
                    let holder = rows.iter().find(|r| &r.path == parent);
                    assert!(
                        holder.is_some_and(|h| h.is_directory),
                        "round {round}: {} has no parent directory",
                        row.path
                    );
                }
            }
        }
    }
);

on_both!(
    another_user_has_a_separate_tree_and_cannot_reach_this_one,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let secret = app
            .ok(&alice, &format!("mutation {{ writeWorkspaceFile(input: {{path: \"private/keys.txt\", content: \"alice secret\"}}) {{ {FIELDS} }} }}"), json!({}))
            .await["writeWorkspaceFile"]
            .clone();
        let before = all_paths(&app, &alice).await;

        // Lookups are null and lists leave it out, by path and by node id.
        assert_eq!(get(&app, &bob, "private/keys.txt").await, json!(null));
        assert_eq!(get(&app, &bob, "private").await, json!(null));
        assert!(list(&app, &bob, None).await.is_empty());
        assert!(list(&app, &bob, Some("private")).await.is_empty());
        let data = app
            .ok(&bob, NODE_ID, json!({ "n": secret["nodeId"] }))
            .await;
        assert_eq!(data["node"], json!(null));

        // Mutations on A's paths are NOT_FOUND for B: B's paths are B's own.
        for (query, vars) in [
            (
                MOVE_FILE,
                json!({ "f": "private/keys.txt", "t": "stolen.txt" }),
            ),
            (MOVE_FILE, json!({ "f": "private", "t": "stolen" })),
            (DELETE_FILE, json!({ "p": "private/keys.txt" })),
            (DELETE_FILE, json!({ "p": "private", "r": true })),
        ] {
            let reply = app.as_user(&bob, query, vars).await;
            assert_eq!(reply.code(), "NOT_FOUND", "{query}");
        }
        // Writing the same path makes B's own file; A's is untouched.
        let mine = write(&app, &bob, "private/keys.txt", "bob's").await;
        assert_ne!(mine["id"], secret["id"]);
        let dir = app
            .ok(&bob, CREATE_DIRECTORY, json!({ "p": "private" }))
            .await["createWorkspaceDirectory"]
            .clone();
        assert_eq!(dir["isDirectory"], json!(true));
        let data = app
            .ok(&bob, DELETE_FILE, json!({ "p": "private", "r": true }))
            .await;
        assert_eq!(data["deleteWorkspaceFile"], json!(2));

        // Anonymous callers: UNAUTHENTICATED on every mutation; no viewer to list with.
        let anon = harness::anon_key();
        for token in [None, Some(anon.as_str())] {
            for (query, vars) in [
                (
                    WRITE_FILE,
                    json!({ "i": { "path": "private/keys.txt", "content": "x" } }),
                ),
                (CREATE_DIRECTORY, json!({ "p": "private" })),
                (MOVE_FILE, json!({ "f": "private/keys.txt", "t": "x" })),
                (DELETE_FILE, json!({ "p": "private", "r": true })),
            ] {
                let reply = app.post(token, query, vars).await;
                assert_eq!(reply.code(), "UNAUTHENTICATED", "{query}");
            }
            let reply = app
                .post(token, READ_FILE, json!({ "p": "private/keys.txt" }))
                .await;
            assert_eq!(reply.data()["viewer"], json!(null));
            let reply = app
                .post(token, NODE_ID, json!({ "n": secret["nodeId"] }))
                .await;
            assert_eq!(reply.data()["node"], json!(null));
        }

        // The service role has no tree of its own: FORBIDDEN; it reads entries by node id.
        let service = harness::service_token();
        for (query, vars) in [
            (
                WRITE_FILE,
                json!({ "i": { "path": "svc.txt", "content": "x" } }),
            ),
            (CREATE_DIRECTORY, json!({ "p": "svc" })),
            (MOVE_FILE, json!({ "f": "private/keys.txt", "t": "x" })),
            (DELETE_FILE, json!({ "p": "private", "r": true })),
        ] {
            let reply = app.post(Some(&service), query, vars).await;
            assert_eq!(reply.code(), "FORBIDDEN", "{query}");
        }
        let reply = app
            .post(Some(&service), FILE_NODE, json!({ "n": secret["nodeId"] }))
            .await;
        assert_eq!(
            reply.data()["node"],
            json!({ "path": "private/keys.txt", "content": "alice secret" })
        );

        // A's tree is exactly as it was.
        assert_eq!(all_paths(&app, &alice).await, before);
        let after = get(&app, &alice, "private/keys.txt").await;
        assert_eq!(after["id"], secret["id"]);
        assert_eq!(after["content"], json!("alice secret"));
        let data = app
            .ok(&alice, FILE_NODE_TYPENAME, json!({ "n": secret["nodeId"] }))
            .await;
        assert_eq!(
            data["node"],
            json!({ "__typename": "WorkspaceFile", "path": "private/keys.txt" })
        );
    }
);

on_both!(
    deleting_an_account_removes_its_tasks_and_files,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let task = app.ok(&alice, CREATE_TASK_P, json!({})).await["createTask"].clone();
        app.ok(&alice, APPEND_LOG_M, json!({ "id": task["id"] }))
            .await;
        let file = app.ok(&alice, WRITE_NESTED_FILE, json!({})).await["writeWorkspaceFile"].clone();
        write(&app, &bob, "a/b.txt", "bob's").await;
        app.ok(&alice, DELETE_ACCOUNT, json!({})).await;
        let service = harness::service_token();
        let reply = app
            .post(
                Some(&service),
                TASK_AND_NODES,
                json!({ "t": task["id"], "tn": task["nodeId"], "f": file["nodeId"] }),
            )
            .await;
        assert_eq!(
            reply.data(),
            &json!({ "task": null, "tn": null, "f": null })
        );
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(
            entity::task_log::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            0
        );
        assert_eq!(get(&app, &bob, "a/b.txt").await["content"], json!("bob's"));
        assert!(all_paths(&app, &alice).await.is_empty());
    }
);

/// Postgres RLS on the new tables says what the gateway says, for other clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_policies_cover_tasks_and_workspace_files() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let Some(app) = harness::postgres().await else {
        return;
    };
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let task = app.ok(&alice, CREATE_ALICE_TASK, json!({})).await["createTask"]["id"].clone();
    app.ok(&alice, APPEND_ALICE_LOG, json!({ "id": task }))
        .await;
    write(&app, &alice, "alice.txt", "a").await;
    write(&app, &bob, "bob.txt", "b").await;
    let bobs_private = app.create_project(&bob, "bob private", false).await;

    let role = format!("confab_probe_{}", Uuid::new_v4().simple());
    app.db
        .execute_unprepared(&format!(
            "CREATE ROLE {role} NOLOGIN; \
             GRANT USAGE ON SCHEMA confab, auth TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA confab TO {role}; \
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO {role};"
        ))
        .await
        .unwrap();
    async fn strings(txn: &sea_orm::DatabaseTransaction, sql: &str) -> Vec<String> {
        let mut v: Vec<String> = txn
            .query_all_raw(Statement::from_string(
                txn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        v.sort();
        v
    }
    let as_user = |sub: Uuid| {
        format!(
            "SET LOCAL ROLE {role}; SELECT set_config('request.jwt.claim.sub', '{sub}', true), set_config('request.jwt.claim.role', 'authenticated', true);"
        )
    };

    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared(&as_user(bob.id)).await.unwrap();
    assert!(strings(&txn, "SELECT prompt FROM tasks").await.is_empty());
    assert!(strings(&txn, "SELECT message FROM task_logs")
        .await
        .is_empty());
    assert_eq!(
        strings(&txn, "SELECT path FROM workspace_files").await,
        vec!["bob.txt"]
    );
    let changed = txn
        .execute_unprepared("UPDATE tasks SET progress = 99")
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let forged = txn
        .execute_unprepared(&format!(
            "INSERT INTO tasks (id, user_id, status, progress, prompt, selected_agent, created_at, updated_at) \
             VALUES ('{}', '{}', 'pending', 0, 'forged', 'claude', now(), now())",
            Uuid::new_v4(),
            alice.id
        ))
        .await;
    assert!(
        forged.is_err(),
        "a task for someone else cannot be inserted"
    );
    txn.rollback().await.unwrap();

    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared(&as_user(alice.id)).await.unwrap();
    assert_eq!(
        strings(&txn, "SELECT message FROM task_logs").await,
        vec!["alice line"]
    );
    assert_eq!(
        strings(&txn, "SELECT path FROM workspace_files").await,
        vec!["alice.txt"]
    );
    let labelled = txn
        .execute_unprepared(&format!(
            "UPDATE workspace_files SET project_id = '{bobs_private}' WHERE path = 'alice.txt'"
        ))
        .await;
    assert!(
        labelled.is_err(),
        "a project alice cannot read cannot label her file"
    );
    txn.rollback().await.unwrap();

    let data = app
        .ok(&alice, READ_TASK_PROGRESS, json!({ "id": task }))
        .await;
    assert_eq!(
        data["task"],
        json!({ "progress": 0, "prompt": "alice task" })
    );
    app.db
        .execute_unprepared(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await
        .unwrap();
}
