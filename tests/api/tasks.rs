//! The [tasks] API end to end, attacker side included.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;

const CREATE_TASK: &str = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }";

const TASK_LOGS_WITH_TIMESTAMPS: &str = r#"
    query($id: UUID!) {
        task(id: $id) { logs { id type message timestamp } }
    }
"#;

const APPEND_COMMAND_LOG: &str = r#"
    mutation($id: UUID!, $m: String!) {
        appendTaskLog(id: $id, input: {type: COMMAND, message: $m}) { id }
    }
"#;

const TASK_LOGS: &str = "query($id: UUID!) { task(id: $id) { logs { id type message } } }";

const FIRST_TWO_TASKS_AFTER: &str = r#"
    query($a: String) {
        viewer {
            tasks(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage hasPreviousPage } }
        }
    }
"#;

const LAST_TWO_TASKS_BEFORE: &str = r#"
    query($b: String) {
        viewer {
            tasks(last: 2, before: $b) { nodes { id } pageInfo { hasNextPage hasPreviousPage } }
        }
    }
"#;

const TASK_COUNT_LAST_BEFORE: &str = r#"
    query($b: String) {
        viewer { tasks(last: 2, before: $b, orderBy: CREATED_AT_ASC) { totalCount } }
    }
"#;

const TASK_COUNTS: &str = "{ viewer { taskCounts { status count } } }";

const TASK_NODE: &str = r#"
    query($n: ID!) {
        node(nodeId: $n) { nodeId __typename ... on Task { id prompt } }
    }
"#;

const FIRST_TASKS_WITH_LOGS: &str = r#"
    query($n: Int!) {
        viewer { tasks(first: $n) { nodes { id logs { message } } } }
    }
"#;

const TASK_EVERYWHERE: &str = r#"
    query($id: UUID!, $n: ID!) {
        task(id: $id) { id }
        node(nodeId: $n) { nodeId }
        viewer { tasks { totalCount nodes { id } } taskCounts { count } }
    }
"#;

const CREATE_TASK_X: &str = r#"mutation { createTask(input: {prompt: "x"}) { id } }"#;

const CREATE_TASK_FROM_BACKEND: &str = r#"
    mutation {
        createTask(input: {prompt: "from the backend"}) { id }
    }
"#;

const VIEWER_AND_TASK: &str = "query($id: UUID!) { viewer { id } task(id: $id) { prompt status } }";

const TASK_FIELDS: &str = "id nodeId status progress prompt repoUrl selectedAgent selectedModel sandboxUrl branchName logs { id type message timestamp } createdAt updatedAt";

async fn create_task(app: &TestApp, user: &User, input: Value) -> Value {
    app.ok(
        user,
        &format!("mutation($i: CreateTaskInput!) {{ createTask(input: $i) {{ {TASK_FIELDS} }} }}"),
        json!({ "i": input }),
    )
    .await["createTask"]
        .clone()
}

async fn new_task(app: &TestApp, user: &User, prompt: &str) -> Uuid {
    uuid(&create_task(app, user, json!({ "prompt": prompt })).await["id"])
}

const UPDATE_TASK: &str = r#"
    mutation($id: UUID!, $i: UpdateTaskInput!) {
        updateTask(id: $id, input: $i) {
            status progress selectedModel sandboxUrl branchName updatedAt
        }
    }
"#;
const APPEND_TASK_LOG: &str = r#"
    mutation($id: UUID!, $i: TaskLogInput!) {
        appendTaskLog(id: $id, input: $i) { updatedAt logs { type message } }
    }
"#;
const DELETE_TASK: &str = "mutation($id: UUID!) { deleteTask(id: $id) }";
const DELETE_TASKS_BY_STATUS: &str = r#"
    mutation($s: [TaskStatus!]!) {
        deleteTasksByStatus(statuses: $s)
    }
"#;
const READ_TASK: &str = r#"
    query($id: UUID!) {
        task(id: $id) { status progress prompt branchName updatedAt logs { type message } }
    }
"#;

async fn set_status(app: &TestApp, user: &User, id: Uuid, status: &str) {
    app.ok(
        user,
        UPDATE_TASK,
        json!({ "id": id, "i": { "status": status } }),
    )
    .await;
}

on_both!(
    tasks_have_defaults_and_updates_keep_absent_fields,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let t = create_task(&app, &alice, json!({ "prompt": "Fix the login bug" })).await;
        assert_eq!(t["status"], json!("PENDING"));
        assert_eq!(t["progress"], json!(0));
        assert_eq!(t["prompt"], json!("Fix the login bug"));
        assert_eq!(t["selectedAgent"], json!("claude"));
        for field in ["repoUrl", "selectedModel", "sandboxUrl", "branchName"] {
            assert_eq!(t[field], json!(null), "{field}");
        }
        assert_eq!(t["logs"], json!([]));
        assert_eq!(t["createdAt"], t["updatedAt"]);
        let id = uuid(&t["id"]);

        let full = create_task(
            &app,
            &alice,
            json!({ "prompt": "Add tests", "repoUrl": "https://github.com/a/b", "selectedAgent": "codex", "selectedModel": "gpt-5", "branchName": "feature/tests" }),
        )
        .await;
        assert_eq!(full["repoUrl"], json!("https://github.com/a/b"));
        assert_eq!(full["selectedAgent"], json!("codex"));
        assert_eq!(full["selectedModel"], json!("gpt-5"));
        assert_eq!(full["branchName"], json!("feature/tests"));
        // An explicit null agent gets the default too.
        let null_agent = create_task(
            &app,
            &alice,
            json!({ "prompt": "x", "selectedAgent": null }),
        )
        .await;
        assert_eq!(null_agent["selectedAgent"], json!("claude"));

        for input in [
            json!({ "prompt": "" }),
            json!({ "prompt": "   " }),
            json!({ "prompt": "ok", "selectedAgent": "" }),
        ] {
            let reply = app
                .as_user(&alice, CREATE_TASK, json!({ "i": input }))
                .await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{input}");
        }

        let data = app
            .ok(
                &alice,
                UPDATE_TASK,
                json!({ "id": id, "i": { "status": "PROCESSING", "progress": 40, "sandboxUrl": "https://sb/1", "branchName": "fix/login" } }),
            )
            .await;
        let u = &data["updateTask"];
        assert_eq!(u["status"], json!("PROCESSING"));
        assert_eq!(u["progress"], json!(40));
        assert_eq!(u["sandboxUrl"], json!("https://sb/1"));
        assert_eq!(u["branchName"], json!("fix/login"));
        assert_eq!(u["selectedModel"], json!(null));
        assert_ne!(u["updatedAt"], t["updatedAt"]);

        // Absent fields stay; an explicit null clears a nullable one.
        let data = app
            .ok(
                &alice,
                UPDATE_TASK,
                json!({ "id": id, "i": { "branchName": null, "progress": 100 } }),
            )
            .await;
        assert_eq!(
            data["updateTask"]["status"],
            json!("PROCESSING"),
            "absent status stays"
        );
        assert_eq!(data["updateTask"]["progress"], json!(100));
        assert_eq!(data["updateTask"]["sandboxUrl"], json!("https://sb/1"));
        assert_eq!(data["updateTask"]["branchName"], json!(null));
        let data = app
            .ok(
                &alice,
                UPDATE_TASK,
                json!({ "id": id, "i": { "progress": 0 } }),
            )
            .await;
        assert_eq!(data["updateTask"]["progress"], json!(0));

        for input in [
            json!({ "progress": 101 }),
            json!({ "progress": -1 }),
            json!({ "progress": null }),
            json!({ "status": null }),
        ] {
            let reply = app
                .as_user(&alice, UPDATE_TASK, json!({ "id": id, "i": input }))
                .await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{input}");
        }
        // Visibility answers before input.
        let reply = app
            .as_user(
                &alice,
                UPDATE_TASK,
                json!({ "id": Uuid::new_v4(), "i": { "progress": 500 } }),
            )
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");
        let data = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        assert_eq!(data["task"]["status"], json!("PROCESSING"));
        assert_eq!(data["task"]["progress"], json!(0));
    }
);

on_both!(log_lines_are_kept_oldest_first, |app: TestApp| async move {
    let alice = harness::user("alice");
    let id = new_task(&app, &alice, "build").await;
    let before = app.ok(&alice, READ_TASK, json!({ "id": id })).await["task"]["updatedAt"].clone();
    let data = app
        .ok(
            &alice,
            APPEND_TASK_LOG,
            json!({ "id": id, "i": { "message": "cloning" } }),
        )
        .await;
    assert_eq!(
        data["appendTaskLog"]["logs"],
        json!([{ "type": "INFO", "message": "cloning" }])
    );
    assert_ne!(data["appendTaskLog"]["updatedAt"], before);
    for (kind, message) in [
        ("COMMAND", "npm test"),
        ("ERROR", "1 failing"),
        ("INFO", "retrying"),
        ("SUCCESS", "all green"),
    ] {
        app.ok(
            &alice,
            APPEND_TASK_LOG,
            json!({ "id": id, "i": { "type": kind, "message": message } }),
        )
        .await;
    }
    let data = app
        .ok(&alice, TASK_LOGS_WITH_TIMESTAMPS, json!({ "id": id }))
        .await;
    let logs = data["task"]["logs"].as_array().unwrap();
    let lines: Vec<(String, String)> = logs
        .iter()
        .map(|l| {
            (
                l["type"].as_str().unwrap().to_owned(),
                l["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("INFO", "cloning"),
            ("COMMAND", "npm test"),
            ("ERROR", "1 failing"),
            ("INFO", "retrying"),
            ("SUCCESS", "all green"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let stamps: Vec<&str> = logs
        .iter()
        .map(|l| l["timestamp"].as_str().unwrap())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "timestamps grow with the order");
    let ids: std::collections::HashSet<&str> =
        logs.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);

    for input in [json!({ "message": "" }), json!({ "message": "  " })] {
        let reply = app
            .as_user(&alice, APPEND_TASK_LOG, json!({ "id": id, "i": input }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
    let reply = app
        .as_user(
            &alice,
            APPEND_TASK_LOG,
            json!({ "id": Uuid::new_v4(), "i": { "message": "" } }),
        )
        .await;
    assert_eq!(reply.code(), "NOT_FOUND");
});

on_both!(
    concurrent_appends_never_lose_a_line,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let service = harness::service_token();
        let id = new_task(&app, &alice, "busy").await;
        // Half from the user, half from an agent backend with the service key.
        let appends = (0..24).map(|i| {
            let app = &app;
            let token = if i % 2 == 0 {
                alice.token.clone()
            } else {
                service.clone()
            };
            async move {
                app.post(
                    Some(&token),
                    APPEND_COMMAND_LOG,
                    json!({ "id": id, "m": format!("line {i}") }),
                )
                .await
            }
        });
        for reply in futures::future::join_all(appends).await {
            assert_eq!(uuid(&reply.data()["appendTaskLog"]["id"]), id);
        }
        let data = app.ok(&alice, TASK_LOGS, json!({ "id": id })).await;
        let logs = data["task"]["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 24);
        let mut messages: Vec<String> = logs
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_owned())
            .collect();
        messages.sort();
        let mut expected: Vec<String> = (0..24).map(|i| format!("line {i}")).collect();
        expected.sort();
        assert_eq!(messages, expected);
        assert!(logs.iter().all(|l| l["type"] == json!("COMMAND")));
        // Appends from one client, one after another, keep their order.
        for i in 0..3 {
            app.ok(
                &alice,
                APPEND_TASK_LOG,
                json!({ "id": id, "i": { "message": format!("after {i}") } }),
            )
            .await;
        }
        let data = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        let logs = data["task"]["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 27);
        assert_eq!(logs[24]["message"], json!("after 0"));
        assert_eq!(logs[26]["message"], json!("after 2"));
        let after: Vec<&Value> = logs[24..27].iter().map(|l| &l["message"]).collect();
        assert_eq!(
            after,
            [&json!("after 0"), &json!("after 1"), &json!("after 2")]
        );
    }
);

on_both!(
    viewer_tasks_filter_order_and_page_both_ways,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let mut ids = Vec::new();
        for (i, (status, repo)) in [
            ("PENDING", "https://r/one"),
            ("PROCESSING", "https://r/one"),
            ("COMPLETED", "https://r/two"),
            ("ERROR", "https://r/two"),
            ("COMPLETED", "https://r/one"),
        ]
        .iter()
        .enumerate()
        {
            let t = create_task(
                &app,
                &alice,
                json!({ "prompt": format!("task {i}"), "repoUrl": repo }),
            )
            .await;
            let id = uuid(&t["id"]);
            set_status(&app, &alice, id, status).await;
            ids.push(id);
        }
        new_task(&app, &bob, "bob's").await;
        let list = |args: &'static str| {
            let app = &app;
            let alice = alice.clone();
            async move {
                let data = app
                    .ok(
                        &alice,
                        &format!("{{ viewer {{ tasks{args} {{ totalCount nodes {{ id }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }} }}"),
                        json!({}),
                    )
                    .await;
                data["viewer"]["tasks"].clone()
            }
        };
        let ids_of = |conn: &Value| -> Vec<Uuid> {
            conn["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| uuid(&n["id"]))
                .collect()
        };
        let newest_first: Vec<Uuid> = ids.iter().rev().copied().collect();
        let all = list("").await;
        assert_eq!(all["totalCount"], json!(5));
        assert_eq!(ids_of(&all), newest_first, "CREATED_AT_DESC by default");
        let asc = list("(orderBy: CREATED_AT_ASC)").await;
        assert_eq!(ids_of(&asc), ids);

        // Touch the oldest: it leads UPDATED_AT_DESC.
        app.ok(
            &alice,
            UPDATE_TASK,
            json!({ "id": ids[0], "i": { "progress": 5 } }),
        )
        .await;
        let by_update = list("(orderBy: UPDATED_AT_DESC, first: 2)").await;
        assert_eq!(ids_of(&by_update), vec![ids[0], ids[4]]);

        // Forward pages.
        let page1 = list("(first: 2)").await;
        assert_eq!(ids_of(&page1), newest_first[..2]);
        assert_eq!(page1["pageInfo"]["hasNextPage"], json!(true));
        assert_eq!(page1["pageInfo"]["hasPreviousPage"], json!(false));
        let cursor = page1["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        let data = app
            .ok(&alice, FIRST_TWO_TASKS_AFTER, json!({ "a": cursor }))
            .await;
        let page2 = &data["viewer"]["tasks"];
        assert_eq!(ids_of(page2), newest_first[2..4]);
        assert_eq!(
            page2["pageInfo"],
            json!({ "hasNextPage": true, "hasPreviousPage": true })
        );

        // Backward pages.
        let tail = list("(last: 2)").await;
        assert_eq!(ids_of(&tail), newest_first[3..]);
        assert_eq!(tail["pageInfo"]["hasPreviousPage"], json!(true));
        assert_eq!(tail["pageInfo"]["hasNextPage"], json!(false));
        let cursor = tail["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
        let data = app
            .ok(&alice, LAST_TWO_TASKS_BEFORE, json!({ "b": cursor }))
            .await;
        let before = &data["viewer"]["tasks"];
        assert_eq!(ids_of(before), newest_first[1..3]);
        assert_eq!(
            before["pageInfo"],
            json!({ "hasNextPage": true, "hasPreviousPage": true })
        );
        // A cursor from another order is refused.
        let reply = app
            .as_user(&alice, TASK_COUNT_LAST_BEFORE, json!({ "b": cursor }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");

        // Filters.
        let done = list("(filter: {status: [COMPLETED, ERROR]})").await;
        assert_eq!(done["totalCount"], json!(3));
        assert_eq!(ids_of(&done), vec![ids[4], ids[3], ids[2]]);
        let one = list("(filter: {repoUrl: \"https://r/one\", status: [COMPLETED]})").await;
        assert_eq!(ids_of(&one), vec![ids[4]]);
        let repo = list("(filter: {repoUrl: \"https://r/two\"})").await;
        assert_eq!(repo["totalCount"], json!(2));
        assert_eq!(ids_of(&repo), vec![ids[3], ids[2]], "r/two, newest first");
        let none = list("(filter: {status: []})").await;
        assert_eq!(none["totalCount"], json!(0));
        assert_eq!(none["nodes"], json!([]));
    }
);

on_both!(
    counts_are_per_status_and_bulk_delete_takes_only_the_viewers,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let data = app.ok(&alice, TASK_COUNTS, json!({})).await;
        assert_eq!(
            data["viewer"]["taskCounts"],
            json!([
                { "status": "PENDING", "count": 0 },
                { "status": "PROCESSING", "count": 0 },
                { "status": "COMPLETED", "count": 0 },
                { "status": "ERROR", "count": 0 },
            ])
        );
        for (status, n) in [("PENDING", 2), ("COMPLETED", 3), ("ERROR", 1)] {
            for i in 0..n {
                let id = new_task(&app, &alice, &format!("{status} {i}")).await;
                set_status(&app, &alice, id, status).await;
            }
        }
        let bobs_done = new_task(&app, &bob, "bob done").await;
        set_status(&app, &bob, bobs_done, "COMPLETED").await;
        let data = app.ok(&alice, TASK_COUNTS, json!({})).await;
        assert_eq!(
            data["viewer"]["taskCounts"],
            json!([
                { "status": "PENDING", "count": 2 },
                { "status": "PROCESSING", "count": 0 },
                { "status": "COMPLETED", "count": 3 },
                { "status": "ERROR", "count": 1 },
            ])
        );
        let data = app
            .ok(
                &alice,
                DELETE_TASKS_BY_STATUS,
                json!({ "s": ["COMPLETED", "ERROR"] }),
            )
            .await;
        assert_eq!(data["deleteTasksByStatus"], json!(4));
        let data = app
            .ok(&alice, DELETE_TASKS_BY_STATUS, json!({ "s": [] }))
            .await;
        assert_eq!(data["deleteTasksByStatus"], json!(0));
        let data = app
            .ok(
                &alice,
                DELETE_TASKS_BY_STATUS,
                json!({ "s": ["COMPLETED"] }),
            )
            .await;
        assert_eq!(data["deleteTasksByStatus"], json!(0));
        let data = app.ok(&alice, TASK_COUNTS, json!({})).await;
        assert_eq!(
            data["viewer"]["taskCounts"],
            json!([
                { "status": "PENDING", "count": 2 },
                { "status": "PROCESSING", "count": 0 },
                { "status": "COMPLETED", "count": 0 },
                { "status": "ERROR", "count": 0 },
            ])
        );
        // Bob's completed task is still there.
        let data = app.ok(&bob, READ_TASK, json!({ "id": bobs_done })).await;
        assert_eq!(data["task"]["status"], json!("COMPLETED"));
        let data = app.ok(&bob, TASK_COUNTS, json!({})).await;
        assert_eq!(data["viewer"]["taskCounts"][2]["count"], json!(1));

        // deleteTask returns the id; the task and its log lines are gone.
        let id = new_task(&app, &alice, "short-lived").await;
        app.ok(
            &alice,
            APPEND_TASK_LOG,
            json!({ "id": id, "i": { "message": "hi" } }),
        )
        .await;
        let data = app.ok(&alice, DELETE_TASK, json!({ "id": id })).await;
        assert_eq!(uuid(&data["deleteTask"]), id);
        let data = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        assert_eq!(data["task"], json!(null));
        let reply = app.as_user(&alice, DELETE_TASK, json!({ "id": id })).await;
        assert_eq!(reply.code(), "NOT_FOUND");
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let left = entity::task_log::Entity::find()
            .filter(entity::task_log::Column::TaskId.eq(id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0, "log lines go with their task");
    }
);

on_both!(
    tasks_are_nodes_and_their_logs_load_in_one_statement,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let t = create_task(&app, &alice, json!({ "prompt": "as a node" })).await;
        let data = app.ok(&alice, TASK_NODE, json!({ "n": t["nodeId"] })).await;
        assert_eq!(data["node"]["__typename"], json!("Task"));
        assert_eq!(data["node"]["prompt"], json!("as a node"));
        assert_eq!(data["node"]["id"], t["id"]);
        assert_eq!(data["node"]["nodeId"], t["nodeId"]);

        for i in 0..19 {
            let id = new_task(&app, &alice, &format!("t{i}")).await;
            for j in 0..(i % 3) {
                app.ok(
                    &alice,
                    APPEND_TASK_LOG,
                    json!({ "id": id, "i": { "message": format!("{i}.{j}") } }),
                )
                .await;
            }
        }
        let mut costs = Vec::new();
        for n in [2, 20] {
            let before = app.statement_count();
            let data = app
                .ok(&alice, FIRST_TASKS_WITH_LOGS, json!({ "n": n }))
                .await;
            costs.push(app.statement_count() - before);
            let nodes = data["viewer"]["tasks"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), n as usize);
            let lines: usize = nodes
                .iter()
                .map(|t| t["logs"].as_array().unwrap().len())
                .sum();
            if n == 20 {
                assert_eq!(lines, (0..19).map(|i| i % 3).sum::<usize>());
            }
        }
        // ensure-user lookup, the task page, the log lines of every task on it.
        assert_eq!(costs, vec![3, 3]);
    }
);

on_both!(
    another_user_cannot_see_or_touch_a_task,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let t = create_task(
            &app,
            &alice,
            json!({ "prompt": "secret work", "branchName": "main" }),
        )
        .await;
        let id = uuid(&t["id"]);
        app.ok(
            &alice,
            UPDATE_TASK,
            json!({ "id": id, "i": { "status": "PROCESSING", "progress": 30 } }),
        )
        .await;
        app.ok(
            &alice,
            APPEND_TASK_LOG,
            json!({ "id": id, "i": { "message": "started" } }),
        )
        .await;
        let snapshot = app.ok(&alice, READ_TASK, json!({ "id": id })).await;

        // Lookups are null, lists and counts leave it out.
        let data = app
            .ok(&bob, TASK_EVERYWHERE, json!({ "id": id, "n": t["nodeId"] }))
            .await;
        assert_eq!(data["task"], json!(null));
        assert_eq!(data["node"], json!(null));
        assert_eq!(data["viewer"]["tasks"]["totalCount"], json!(0));
        assert_eq!(data["viewer"]["tasks"]["nodes"], json!([]));
        let counts: Vec<i64> = data["viewer"]["taskCounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["count"].as_i64().unwrap())
            .collect();
        assert_eq!(counts, vec![0, 0, 0, 0]);

        // Mutations answer NOT_FOUND (no existence leak), whatever the input.
        for (query, vars) in [
            (
                UPDATE_TASK,
                json!({ "id": id, "i": { "progress": 100, "status": "COMPLETED" } }),
            ),
            (UPDATE_TASK, json!({ "id": id, "i": { "progress": 900 } })),
            (
                APPEND_TASK_LOG,
                json!({ "id": id, "i": { "message": "pwned" } }),
            ),
            (DELETE_TASK, json!({ "id": id })),
        ] {
            let reply = app.as_user(&bob, query, vars).await;
            assert_eq!(reply.code(), "NOT_FOUND", "{query}");
        }
        let data = app
            .ok(
                &bob,
                DELETE_TASKS_BY_STATUS,
                json!({ "s": ["PENDING", "PROCESSING", "COMPLETED", "ERROR"] }),
            )
            .await;
        assert_eq!(data["deleteTasksByStatus"], json!(0));

        // Anonymous callers: UNAUTHENTICATED on every mutation, null on the lookup.
        let anon = harness::anon_key();
        for token in [None, Some(anon.as_str())] {
            for (query, vars) in [
                (CREATE_TASK_X, json!({})),
                (UPDATE_TASK, json!({ "id": id, "i": { "progress": 1 } })),
                (
                    APPEND_TASK_LOG,
                    json!({ "id": id, "i": { "message": "x" } }),
                ),
                (DELETE_TASK, json!({ "id": id })),
                (DELETE_TASKS_BY_STATUS, json!({ "s": ["PROCESSING"] })),
            ] {
                let reply = app.post(token, query, vars).await;
                assert_eq!(reply.code(), "UNAUTHENTICATED", "{query}");
            }
            let reply = app.post(token, READ_TASK, json!({ "id": id })).await;
            assert_eq!(reply.data()["task"], json!(null));
        }

        // A's task is exactly as it was.
        let after = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        assert_eq!(after, snapshot);
        assert_eq!(after["task"]["status"], json!("PROCESSING"));
        assert_eq!(after["task"]["progress"], json!(30));
        assert_eq!(
            after["task"]["logs"],
            json!([{ "type": "INFO", "message": "started" }])
        );
    }
);

on_both!(
    the_service_role_reports_progress_but_creates_no_tasks,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let service = harness::service_token();
        let id = new_task(&app, &alice, "agent job").await;
        let reply = app
            .post(Some(&service), CREATE_TASK_FROM_BACKEND, json!({}))
            .await;
        assert_eq!(reply.code(), "FORBIDDEN");
        let reply = app
            .post(
                Some(&service),
                DELETE_TASKS_BY_STATUS,
                json!({ "s": ["PENDING"] }),
            )
            .await;
        assert_eq!(reply.code(), "FORBIDDEN");

        let reply = app
            .post(
                Some(&service),
                UPDATE_TASK,
                json!({ "id": id, "i": { "status": "PROCESSING", "progress": 75, "sandboxUrl": "https://sandbox/9" } }),
            )
            .await;
        assert_eq!(reply.data()["updateTask"]["progress"], json!(75));
        let reply = app
            .post(
                Some(&service),
                APPEND_TASK_LOG,
                json!({ "id": id, "i": { "type": "SUCCESS", "message": "deployed" } }),
            )
            .await;
        assert_eq!(
            reply.data()["appendTaskLog"]["logs"],
            json!([{ "type": "SUCCESS", "message": "deployed" }])
        );
        // The service role reads any task; viewer is null for it.
        let reply = app
            .post(Some(&service), VIEWER_AND_TASK, json!({ "id": id }))
            .await;
        assert_eq!(
            reply.data(),
            &json!({ "viewer": null, "task": { "prompt": "agent job", "status": "PROCESSING" } })
        );
        // Its input is checked like anyone's; a missing task is NOT_FOUND.
        let reply = app
            .post(
                Some(&service),
                UPDATE_TASK,
                json!({ "id": id, "i": { "progress": 101 } }),
            )
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let reply = app
            .post(
                Some(&service),
                UPDATE_TASK,
                json!({ "id": Uuid::new_v4(), "i": { "progress": 1 } }),
            )
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");

        // The owner sees what the backend reported.
        let data = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        assert_eq!(data["task"]["status"], json!("PROCESSING"));
        assert_eq!(data["task"]["progress"], json!(75));
        assert_eq!(
            data["task"]["logs"],
            json!([{ "type": "SUCCESS", "message": "deployed" }])
        );
        // And the service role may delete it.
        let reply = app
            .post(Some(&service), DELETE_TASK, json!({ "id": id }))
            .await;
        assert_eq!(uuid(&reply.data()["deleteTask"]), id);
        let data = app.ok(&alice, READ_TASK, json!({ "id": id })).await;
        assert_eq!(data["task"], json!(null));
    }
);
