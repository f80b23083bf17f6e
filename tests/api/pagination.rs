//! Relay pagination, orders and filters of the [core] connections, end to end:
//! `viewer.projects`, `viewer.conversations`, `publicProjects`, `project.chats` and
//! `conversation.messages` walked forward and backward at several page sizes in every
//! order, every filter value, stability under inserts between pages, ties broken by id,
//! and the page-argument errors. Each test runs on SQLite and (with TEST_DATABASE_URL)
//! on Postgres.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{ADD_CHAT_TO_PROJECT, RESTORE_PROJECT, SOFT_DELETE_PROJECT};
use crate::harness::{self, uuid, Reply, TestApp, User};
use crate::on_both;

const UPDATE_PROJECT: &str = r#"
    mutation($id: UUID!, $i: UpdateProjectInput!) {
        updateProject(id: $id, input: $i) { id status updatedAt }
    }
"#;

const UPDATE_CHAT: &str = r#"
    mutation($id: UUID!, $i: UpdateConversationInput!) {
        updateConversation(id: $id, input: $i) { id status pinned updatedAt }
    }
"#;

const SEND_MESSAGE_AT_SEQUENCE: &str = r#"
    mutation($c: UUID!, $s: Int, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m, sequence: $s}) {
            id sequence
        }
    }
"#;

const PROJECTS_BY_TITLE: &str = r#"
    {
        viewer { projects(first: 10, orderBy: TITLE_ASC) { nodes { title } } }
    }
"#;

const CHATS_BY_LAST_MESSAGE_AT: &str = r#"
    {
        viewer {
            conversations(first: 10, orderBy: LAST_MESSAGE_AT_DESC) {
                nodes { id lastMessageAt messageCount }
            }
        }
    }
"#;

const MESSAGES_FIRST_OR_LAST: &str = r#"
    query($c: UUID!, $first: Int, $last: Int) {
        conversation(id: $c) {
            messages(first: $first, last: $last) {
                nodes { sequence }
                pageInfo { hasPreviousPage hasNextPage }
                totalCount
            }
            lastMessage { sequence }
        }
    }
"#;

const LAST_TWO_MESSAGES_PER_CHAT: &str = r#"
    {
        viewer {
            conversations(orderBy: CREATED_AT_ASC) {
                nodes {
                    id
                    messages(last: 2) {
                        nodes { sequence content }
                        pageInfo { hasPreviousPage hasNextPage }
                        totalCount
                    }
                }
            }
        }
    }
"#;

const FIRST_MESSAGE_AND_LAST: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) {
            messages(first: 1) {
                nodes { id sequence content }
                pageInfo { hasPreviousPage hasNextPage }
                totalCount
            }
            lastMessage { id sequence }
        }
    }
"#;

const PROJECT_TIMESTAMPS: &str = r#"
    {
        viewer { projects(first: 10) { nodes { updatedAt createdAt } } }
    }
"#;

const DELETED_PROJECTS: &str = r#"
    {
        viewer { projects(filter: {status: DELETED}) { nodes { id status deletedAt } } }
    }
"#;

const CREATE_UNTITLED_CHAT: &str = "mutation { createConversation(input: {}) { id title } }";

const CHATS_BY_UPDATED_AT: &str = r#"
    {
        viewer { conversations(first: 100, orderBy: UPDATED_AT_ASC) { nodes { id updatedAt } } }
    }
"#;

const UNPINNED_CHATS_UPDATED_AFTER: &str = r#"
    query($t: DateTime) {
        viewer {
            conversations(filter: {updatedAfter: $t, pinned: false}) { nodes { id } totalCount }
        }
    }
"#;

const PAGE_VARS: &str = "$first: Int, $after: String, $last: Int, $before: String";
const PAGE_ARGS: &str = "first: $first, after: $after, last: $last, before: $before";
const CONN: &str = "edges { cursor node { id } } nodes { id } \
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } totalCount";

/// Page sizes every walk uses: single rows, a size that splits ties, an uneven split and
/// one page for everything.
const SIZES: [usize; 4] = [1, 2, 3, 100];

// ------------------------------------------------------------------ lists and pages

/// One connection of the API: a query, its fixed variables, the path to the connection.
struct List<'a> {
    app: &'a TestApp,
    token: Option<String>,
    query: String,
    vars: Value,
    path: Vec<&'static str>,
}

fn order_arg(order: Option<&str>) -> String {
    order.map(|o| format!(", orderBy: {o}")).unwrap_or_default()
}

fn viewer_projects<'a>(
    app: &'a TestApp,
    user: &User,
    order: Option<&str>,
    filter: Value,
) -> List<'a> {
    List {
        app,
        token: Some(user.token.clone()),
        query: format!(
            "query({PAGE_VARS}, $filter: ProjectFilter) {{ viewer {{ projects({PAGE_ARGS}, filter: $filter{}) {{ {CONN} }} }} }}",
            order_arg(order)
        ),
        vars: json!({ "filter": filter }),
        path: vec!["viewer", "projects"],
    }
}

fn viewer_chats<'a>(app: &'a TestApp, user: &User, order: Option<&str>, filter: Value) -> List<'a> {
    List {
        app,
        token: Some(user.token.clone()),
        query: format!(
            "query({PAGE_VARS}, $filter: ConversationFilter) {{ viewer {{ conversations({PAGE_ARGS}, filter: $filter{}) {{ {CONN} }} }} }}",
            order_arg(order)
        ),
        vars: json!({ "filter": filter }),
        path: vec!["viewer", "conversations"],
    }
}

fn public_projects<'a>(app: &'a TestApp, token: Option<&str>, order: Option<&str>) -> List<'a> {
    List {
        app,
        token: token.map(str::to_owned),
        query: format!(
            "query({PAGE_VARS}) {{ publicProjects({PAGE_ARGS}{}) {{ {CONN} }} }}",
            order_arg(order)
        ),
        vars: json!({}),
        path: vec!["publicProjects"],
    }
}

fn project_chats<'a>(
    app: &'a TestApp,
    user: &User,
    project: Uuid,
    order: Option<&str>,
) -> List<'a> {
    List {
        app,
        token: Some(user.token.clone()),
        query: format!(
            "query($p: UUID!, {PAGE_VARS}) {{ project(id: $p) {{ chats({PAGE_ARGS}{}) {{ {CONN} }} }} }}",
            order_arg(order)
        ),
        vars: json!({ "p": project }),
        path: vec!["project", "chats"],
    }
}

fn chat_messages<'a>(app: &'a TestApp, user: &User, chat: Uuid) -> List<'a> {
    List {
        app,
        token: Some(user.token.clone()),
        query: format!(
            "query($c: UUID!, {PAGE_VARS}) {{ conversation(id: $c) {{ messages({PAGE_ARGS}) {{ {CONN} }} }} }}"
        ),
        vars: json!({ "c": chat }),
        path: vec!["conversation", "messages"],
    }
}

/// One page as the API answered it, with the Relay invariants already checked.
#[derive(Debug)]
struct Page {
    ids: Vec<Uuid>,
    cursors: Vec<String>,
    has_previous: bool,
    has_next: bool,
    start: Option<String>,
    end: Option<String>,
    total: i64,
}

impl Page {
    fn parse(conn: &Value) -> Page {
        let edges = conn["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("no edges in {conn}"));
        let ids: Vec<Uuid> = edges.iter().map(|e| uuid(&e["node"]["id"])).collect();
        let cursors: Vec<String> = edges
            .iter()
            .map(|e| e["cursor"].as_str().expect("a string cursor").to_owned())
            .collect();
        let nodes: Vec<Uuid> = conn["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("no nodes in {conn}"))
            .iter()
            .map(|n| uuid(&n["id"]))
            .collect();
        assert_eq!(nodes, ids, "nodes must equal edges.node");
        let mut distinct = cursors.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), cursors.len(), "cursors differ per edge");
        let info = &conn["pageInfo"];
        let start = info["startCursor"].as_str().map(str::to_owned);
        let end = info["endCursor"].as_str().map(str::to_owned);
        assert_eq!(start.as_ref(), cursors.first(), "startCursor = first edge");
        assert_eq!(end.as_ref(), cursors.last(), "endCursor = last edge");
        Page {
            ids,
            cursors,
            has_previous: info["hasPreviousPage"].as_bool().expect("hasPreviousPage"),
            has_next: info["hasNextPage"].as_bool().expect("hasNextPage"),
            start,
            end,
            total: conn["totalCount"].as_i64().expect("totalCount"),
        }
    }
}

impl List<'_> {
    async fn reply(&self, args: Value) -> Reply {
        let mut vars = self.vars.clone();
        for (k, v) in args.as_object().expect("page arguments are an object") {
            vars[k.as_str()] = v.clone();
        }
        self.app
            .post(self.token.as_deref(), &self.query, vars)
            .await
    }

    async fn page(&self, args: Value) -> Page {
        let reply = self.reply(args.clone()).await;
        let mut conn = reply.data();
        for key in &self.path {
            conn = &conn[*key];
        }
        assert!(
            conn.is_object(),
            "no connection at {:?} for {args}: {}",
            self.path,
            reply.body
        );
        Page::parse(conn)
    }

    /// The code of the one error the arguments give.
    async fn error(&self, args: Value) -> String {
        let reply = self.reply(args.clone()).await;
        let codes = reply.codes();
        assert_eq!(
            codes.len(),
            1,
            "expected one error for {args}, got {}",
            reply.body
        );
        reply.code()
    }

    /// Walks forward with `first`/`after`: pages are consecutive slices of `expected`.
    async fn walk_forward(&self, size: usize, expected: &[Uuid]) {
        let n = expected.len();
        let mut seen: Vec<Uuid> = Vec::new();
        let mut after: Option<String> = None;
        let mut index = 0;
        loop {
            let page = self.page(json!({ "first": size, "after": after })).await;
            let from = index * size;
            let to = (from + size).min(n);
            let at = format!("forward page {index} (size {size}) of {:?}", self.path);
            assert_eq!(page.ids, expected[from..to], "{at}: rows");
            assert_eq!(page.has_next, to < n, "{at}: hasNextPage");
            assert_eq!(page.has_previous, index > 0, "{at}: hasPreviousPage");
            assert_eq!(page.total, n as i64, "{at}: totalCount");
            seen.extend(&page.ids);
            if to >= n {
                if let Some(end) = page.end {
                    let past = self.page(json!({ "first": size, "after": end })).await;
                    assert!(past.ids.is_empty(), "{at}: nothing after the end");
                    assert!(!past.has_next, "{at}: past the end, hasNextPage");
                    assert!(past.has_previous, "{at}: past the end, hasPreviousPage");
                    assert_eq!(past.total, n as i64, "{at}: past the end, totalCount");
                }
                break;
            }
            after = Some(page.end.expect("endCursor on a non-empty page"));
            index += 1;
        }
        assert_eq!(
            seen, expected,
            "forward walk, size {size}: no overlap or gap"
        );
    }

    /// Walks backward with `last`/`before`: pages are consecutive slices from the end.
    async fn walk_backward(&self, size: usize, expected: &[Uuid]) {
        let n = expected.len();
        let mut chunks: Vec<Vec<Uuid>> = Vec::new();
        let mut before: Option<String> = None;
        let mut index = 0;
        loop {
            let page = self.page(json!({ "last": size, "before": before })).await;
            let to = n.saturating_sub(index * size);
            let from = to.saturating_sub(size);
            let at = format!("backward page {index} (size {size}) of {:?}", self.path);
            assert_eq!(page.ids, expected[from..to], "{at}: rows");
            assert_eq!(page.has_previous, from > 0, "{at}: hasPreviousPage");
            assert_eq!(page.has_next, index > 0, "{at}: hasNextPage");
            assert_eq!(page.total, n as i64, "{at}: totalCount");
            chunks.push(page.ids.clone());
            if from == 0 {
                if let Some(start) = page.start {
                    let past = self.page(json!({ "last": size, "before": start })).await;
                    assert!(past.ids.is_empty(), "{at}: nothing before the start");
                    assert!(
                        !past.has_previous,
                        "{at}: before the start, hasPreviousPage"
                    );
                    assert!(past.has_next, "{at}: before the start, hasNextPage");
                    assert_eq!(past.total, n as i64, "{at}: before the start, totalCount");
                }
                break;
            }
            before = Some(page.start.expect("startCursor on a non-empty page"));
            index += 1;
        }
        let seen: Vec<Uuid> = chunks.into_iter().rev().flatten().collect();
        assert_eq!(
            seen, expected,
            "backward walk, size {size}: no overlap or gap"
        );
    }

    /// Both walks at every size, plus a page from a cursor in the middle each way.
    async fn walk(&self, expected: &[Uuid]) {
        for size in SIZES {
            self.walk_forward(size, expected).await;
            self.walk_backward(size, expected).await;
        }
        let all = self.page(json!({ "first": 100 })).await;
        assert_eq!(all.ids, expected);
        let n = expected.len();
        if n >= 5 {
            let mid = n / 2;
            let cursor = &all.cursors[mid];
            let after = self.page(json!({ "first": 2, "after": cursor })).await;
            assert_eq!(after.ids, expected[mid + 1..mid + 3]);
            assert!(after.has_previous);
            assert_eq!(after.has_next, mid + 3 < n);
            let before = self.page(json!({ "last": 2, "before": cursor })).await;
            assert_eq!(before.ids, expected[mid - 2..mid]);
            assert!(before.has_next);
            assert_eq!(before.has_previous, mid > 2);
            // The cursors of a page address the same rows when asked for again.
            assert_eq!(after.cursors, all.cursors[mid + 1..mid + 3]);
            assert_eq!(before.cursors, all.cursors[mid - 2..mid]);
        }
    }

    /// The ids of everything in the list, in one page.
    async fn ids(&self) -> Vec<Uuid> {
        let page = self.page(json!({ "first": 100 })).await;
        assert!(!page.has_next);
        assert_eq!(page.total, page.ids.len() as i64);
        page.ids
    }
}

// ------------------------------------------------------------------ fixtures

async fn update_project(app: &TestApp, user: &User, id: Uuid, input: Value) -> Value {
    app.ok(user, UPDATE_PROJECT, json!({ "id": id, "i": input }))
        .await["updateProject"]
        .clone()
}

async fn delete_project(app: &TestApp, user: &User, id: Uuid) {
    let data = app.ok(user, SOFT_DELETE_PROJECT, json!({ "id": id })).await;
    assert_eq!(uuid(&data["deleteProject"]), id);
}

async fn update_chat(app: &TestApp, user: &User, id: Uuid, input: Value) -> Value {
    app.ok(user, UPDATE_CHAT, json!({ "id": id, "i": input }))
        .await["updateConversation"]
        .clone()
}

async fn file_chat(app: &TestApp, user: &User, project: Uuid, chat: Uuid) {
    app.ok(
        user,
        ADD_CHAT_TO_PROJECT,
        json!({ "p": project, "c": chat }),
    )
    .await;
}

/// Saves a message at an explicit sequence; returns its id.
async fn send_at(app: &TestApp, user: &User, chat: Uuid, sequence: i32) -> Uuid {
    let data = app
        .ok(
            user,
            SEND_MESSAGE_AT_SEQUENCE,
            json!({ "c": chat, "s": sequence, "m": format!("message {sequence}") }),
        )
        .await;
    assert_eq!(data["sendMessage"]["sequence"], json!(sequence));
    uuid(&data["sendMessage"]["id"])
}

async fn create_projects(app: &TestApp, user: &User, titles: &[&str], public: bool) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for title in titles {
        ids.push(app.create_project(user, title, public).await);
    }
    ids
}

async fn create_chats(app: &TestApp, user: &User, titles: &[&str]) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for title in titles {
        ids.push(app.create_chat(user, title, None).await);
    }
    ids
}

fn pick(ids: &[Uuid], order: &[usize]) -> Vec<Uuid> {
    order.iter().map(|&i| ids[i]).collect()
}

fn reversed(ids: &[Uuid]) -> Vec<Uuid> {
    ids.iter().rev().copied().collect()
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

fn sorted_desc(ids: Vec<Uuid>) -> Vec<Uuid> {
    reversed(&sorted(ids))
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp string"))
        .expect("an RFC 3339 timestamp")
        .with_timezone(&Utc)
}

/// Sets a timestamp column of some rows directly, to make ties no API call can make.
async fn set_time(app: &TestApp, table: &str, column: &str, ids: &[Uuid], at: DateTime<Utc>) {
    let update = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), at)
        .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
        .to_owned();
    let result = app.db.execute(&update).await.expect("update timestamps");
    assert_eq!(result.rows_affected(), ids.len() as u64);
}

// ------------------------------------------------------------------ orders

on_both!(viewer_projects_in_every_order, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    // Created in this order: createdAt ascending is p0..p6.
    let p = create_projects(
        &app,
        &alice,
        &[
            "cherry", "apple", "Banana", "date", "Apple", "elder", "APPLE",
        ],
        false,
    )
    .await;
    // Someone else's project never shows up.
    app.create_project(&bob, "apple of bob", false).await;
    // Older rows updated later: updatedAt order differs from createdAt order.
    for i in [1, 4, 0] {
        let updated = update_project(&app, &alice, p[i], json!({ "description": "touched" })).await;
        assert_eq!(uuid(&updated["id"]), p[i]);
    }

    let by_update = pick(&p, &[0, 4, 1, 6, 5, 3, 2]);
    let by_creation = p.clone();
    // "apple" < "Banana" < "cherry": case ignored; the three apples tie, broken by id.
    let mut by_title = sorted(vec![p[1], p[4], p[6]]);
    by_title.extend(pick(&p, &[2, 0, 3, 5]));

    viewer_projects(&app, &alice, None, Value::Null)
        .walk(&by_update)
        .await;
    let cases = [
        ("UPDATED_AT_DESC", by_update.clone()),
        ("UPDATED_AT_ASC", reversed(&by_update)),
        ("CREATED_AT_DESC", reversed(&by_creation)),
        ("CREATED_AT_ASC", by_creation.clone()),
        ("TITLE_ASC", by_title.clone()),
    ];
    for (order, expected) in cases {
        viewer_projects(&app, &alice, Some(order), Value::Null)
            .walk(&expected)
            .await;
    }

    // The titles come back as stored, in that order.
    let data = app.ok(&alice, PROJECTS_BY_TITLE, json!({})).await;
    let titles: Vec<&str> = data["viewer"]["projects"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    let apples: Vec<&str> = titles[..3].to_vec();
    assert_eq!(
        sorted_titles(&apples),
        vec!["APPLE", "Apple", "apple"],
        "{titles:?}"
    );
    assert_eq!(titles[3..], ["Banana", "cherry", "date", "elder"]);
});

fn sorted_titles<'a>(titles: &[&'a str]) -> Vec<&'a str> {
    let mut t = titles.to_vec();
    t.sort();
    t
}

on_both!(public_projects_in_every_order, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let titles = [
        "Mango", "kiwi", "Lemon", "banana", "Cherry", "apple", "Date",
    ];
    // Alternating owners: a0 b0 a1 b1 a2 b2 a3.
    let mut p = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        let owner = if i % 2 == 0 { &alice } else { &bob };
        p.push(app.create_project(owner, title, true).await);
    }
    // Not listed: private, archived public, deleted public.
    app.create_project(&alice, "private", false).await;
    let archived = app.create_project(&bob, "archived", true).await;
    let archived_row = update_project(&app, &bob, archived, json!({ "status": "ARCHIVED" })).await;
    assert_eq!(archived_row["status"], json!("ARCHIVED"));
    let deleted = app.create_project(&alice, "deleted", true).await;
    delete_project(&app, &alice, deleted).await;
    // A public project made private afterwards leaves the list.
    let hidden = app.create_project(&bob, "hidden later", true).await;
    update_project(&app, &bob, hidden, json!({ "isPublic": false })).await;
    // Touch two older ones: p1 (bob's), then p0 (alice's).
    update_project(&app, &bob, p[1], json!({ "description": "x" })).await;
    update_project(&app, &alice, p[0], json!({ "description": "x" })).await;

    let by_update = pick(&p, &[0, 1, 6, 5, 4, 3, 2]);
    // apple banana Cherry Date kiwi Lemon Mango
    let by_title = pick(&p, &[5, 3, 4, 6, 1, 2, 0]);
    let anon = harness::anon_key();
    public_projects(&app, Some(&anon), None)
        .walk(&by_update)
        .await;
    let cases = [
        ("UPDATED_AT_DESC", by_update.clone()),
        ("UPDATED_AT_ASC", reversed(&by_update)),
        ("CREATED_AT_DESC", reversed(&p)),
        ("CREATED_AT_ASC", p.clone()),
        ("TITLE_ASC", by_title),
    ];
    for (order, expected) in cases {
        public_projects(&app, Some(&anon), Some(order))
            .walk(&expected)
            .await;
    }
    // Without a token, and for a signed-in user, the list is the same.
    assert_eq!(public_projects(&app, None, None).ids().await, by_update);
    assert_eq!(
        public_projects(&app, Some(&alice.token), None).ids().await,
        by_update
    );
    assert_eq!(
        public_projects(&app, Some(&bob.token), Some("CREATED_AT_ASC"))
            .ids()
            .await,
        p
    );
    // The service role reads every row, but this list is still public ACTIVE ones.
    let service = harness::service_token();
    assert_eq!(
        public_projects(&app, Some(&service), Some("TITLE_ASC"))
            .ids()
            .await,
        pick(&p, &[5, 3, 4, 6, 1, 2, 0])
    );
});

on_both!(
    viewer_conversations_in_every_order,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let c = create_chats(&app, &alice, &["c0", "c1", "c2", "c3", "c4", "c5", "c6"]).await;
        let bobs = app.create_chat(&bob, "bob's", None).await;
        app.send(&bob, bobs, "hello").await;
        // Messages in c2, then c5, then c0; c3 is only pinned (updatedAt, no message).
        for i in [2, 5, 0] {
            app.send(&alice, c[i], "hi").await;
        }
        let pinned = update_chat(&app, &alice, c[3], json!({ "pinned": true })).await;
        assert_eq!(pinned["pinned"], json!(true));

        let by_update = pick(&c, &[3, 0, 5, 2, 6, 4, 1]);
        // Chats with messages first (newest message first), then the others by id.
        let mut by_last_message = pick(&c, &[0, 5, 2]);
        by_last_message.extend(sorted_desc(pick(&c, &[1, 3, 4, 6])));

        viewer_chats(&app, &alice, None, Value::Null)
            .walk(&by_update)
            .await;
        let cases = [
            ("UPDATED_AT_DESC", by_update.clone()),
            ("UPDATED_AT_ASC", reversed(&by_update)),
            ("CREATED_AT_DESC", reversed(&c)),
            ("CREATED_AT_ASC", c.clone()),
            ("LAST_MESSAGE_AT_DESC", by_last_message),
        ];
        for (order, expected) in cases {
            viewer_chats(&app, &alice, Some(order), Value::Null)
                .walk(&expected)
                .await;
        }
        // lastMessageAt is what the order says: set on three chats, null on the rest.
        let data = app.ok(&alice, CHATS_BY_LAST_MESSAGE_AT, json!({})).await;
        let nodes = data["viewer"]["conversations"]["nodes"].as_array().unwrap();
        let stamps: Vec<DateTime<Utc>> = nodes[..3]
            .iter()
            .map(|n| timestamp(&n["lastMessageAt"]))
            .collect();
        assert!(stamps[0] > stamps[1] && stamps[1] > stamps[2], "{stamps:?}");
        for n in &nodes[3..] {
            assert_eq!(n["lastMessageAt"], Value::Null);
            assert_eq!(n["messageCount"], json!(0));
        }
    }
);

on_both!(project_chats_in_every_order, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let project = app.create_project(&alice, "work", true).await;
    let other = app.create_project(&alice, "other", false).await;
    let mut c = Vec::new();
    for i in 0..7 {
        c.push(
            app.create_chat(&alice, &format!("c{i}"), Some(project))
                .await,
        );
    }
    // Not in the project: an unfiled chat, and a chat filed only in the other project.
    app.create_chat(&alice, "loose", None).await;
    let elsewhere = app.create_chat(&alice, "elsewhere", Some(other)).await;
    // c3 is in both projects.
    file_chat(&app, &alice, other, c[3]).await;
    for i in [2, 5] {
        app.send(&alice, c[i], "hi").await;
    }
    update_chat(&app, &alice, c[1], json!({ "title": "renamed" })).await;

    let by_update = pick(&c, &[1, 5, 2, 6, 4, 3, 0]);
    let mut by_last_message = pick(&c, &[5, 2]);
    by_last_message.extend(sorted_desc(pick(&c, &[0, 1, 3, 4, 6])));

    project_chats(&app, &alice, project, None)
        .walk(&by_update)
        .await;
    let cases = [
        ("UPDATED_AT_DESC", by_update.clone()),
        ("UPDATED_AT_ASC", reversed(&by_update)),
        ("CREATED_AT_DESC", reversed(&c)),
        ("CREATED_AT_ASC", c.clone()),
        ("LAST_MESSAGE_AT_DESC", by_last_message),
    ];
    for (order, expected) in cases {
        project_chats(&app, &alice, project, Some(order))
            .walk(&expected)
            .await;
    }
    // The other project's list is its own.
    assert_eq!(
        project_chats(&app, &alice, other, Some("CREATED_AT_ASC"))
            .ids()
            .await,
        vec![c[3], elsewhere]
    );

    // Page windows of several parents in one query: each project gets its own window,
    // count and page info.
    let data = app
        .ok(
            &alice,
            &format!(
                "{{ viewer {{ projects(orderBy: CREATED_AT_ASC) {{ nodes {{ id \
                   first: chats(first: 2, orderBy: CREATED_AT_ASC) {{ {CONN} }} \
                   last: chats(last: 2, orderBy: CREATED_AT_ASC) {{ {CONN} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let nodes = data["viewer"]["projects"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(uuid(&nodes[0]["id"]), project);
    assert_eq!(uuid(&nodes[1]["id"]), other);
    let first = Page::parse(&nodes[0]["first"]);
    assert_eq!(first.ids, pick(&c, &[0, 1]));
    assert!(first.has_next && !first.has_previous);
    assert_eq!(first.total, 7);
    let last = Page::parse(&nodes[0]["last"]);
    assert_eq!(last.ids, pick(&c, &[5, 6]));
    assert!(last.has_previous && !last.has_next);
    assert_eq!(last.total, 7);
    let first = Page::parse(&nodes[1]["first"]);
    assert_eq!(first.ids, vec![c[3], elsewhere]);
    assert!(!first.has_next && !first.has_previous);
    assert_eq!(first.total, 2);
    let last = Page::parse(&nodes[1]["last"]);
    assert_eq!(last.ids, vec![c[3], elsewhere]);
    assert!(!last.has_next && !last.has_previous);
    assert_eq!(last.total, 2);

    // A cursor continues inside each window: after c[1] in both projects.
    let after_c1 = project_chats(&app, &alice, project, Some("CREATED_AT_ASC"))
        .page(json!({ "first": 2 }))
        .await
        .end;
    let data = app
        .ok(
            &alice,
            &format!(
                "query($a: String) {{ viewer {{ projects(orderBy: CREATED_AT_ASC) {{ nodes {{ \
                   chats(first: 2, after: $a, orderBy: CREATED_AT_ASC) {{ {CONN} }} }} }} }} }}"
            ),
            json!({ "a": after_c1 }),
        )
        .await;
    let nodes = data["viewer"]["projects"]["nodes"].as_array().unwrap();
    let work = Page::parse(&nodes[0]["chats"]);
    assert_eq!(work.ids, pick(&c, &[2, 3]));
    assert!(work.has_next && work.has_previous);
    assert_eq!(work.total, 7);
    // In the other project, c[3] and `elsewhere` (both created after c[1]) follow
    // c[1]'s position; nothing precedes it.
    let rest = Page::parse(&nodes[1]["chats"]);
    assert_eq!(rest.ids, vec![c[3], elsewhere]);
    assert!(!rest.has_next && !rest.has_previous);

    // One statement per level whatever the number of parents: the same nested query
    // costs as many statements for 2 projects as for 6.
    let nested = format!(
        "{{ viewer {{ projects(first: 10) {{ nodes {{ id chats(first: 2) {{ {CONN} \
           nodes {{ messages(last: 1) {{ {CONN} }} }} }} }} }} }} }}"
    );
    let statements = |before: u64| app.statement_count() - before;
    let start = app.statement_count();
    app.ok(&alice, &nested, json!({})).await;
    let with_two = statements(start);
    for i in 0..4 {
        let extra = app
            .create_project(&alice, &format!("extra {i}"), false)
            .await;
        for _ in 0..3 {
            let chat = app.create_chat(&alice, "extra chat", Some(extra)).await;
            app.send(&alice, chat, "hi").await;
        }
    }
    let start = app.statement_count();
    let data = app.ok(&alice, &nested, json!({})).await;
    // Loading per parent would cost 20+ more statements here.
    let with_six = statements(start);
    assert_eq!(with_six, with_two, "statements for 6 projects and for 2");
    let nodes = data["viewer"]["projects"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    for node in &nodes[..4] {
        let chats = Page::parse(&node["chats"]);
        assert_eq!((chats.ids.len(), chats.total, chats.has_next), (2, 3, true));
        for chat in node["chats"]["nodes"].as_array().unwrap() {
            let messages = Page::parse(&chat["messages"]);
            assert_eq!(messages.ids.len(), 1);
            assert_eq!(messages.total, 1);
        }
    }

    // Bob may read the public project but none of alice's chats in it.
    let none = project_chats(&app, &bob, project, None)
        .page(json!({ "first": 10 }))
        .await;
    assert!(none.ids.is_empty());
    assert_eq!(none.total, 0);
    assert!(!none.has_next && !none.has_previous);
});

on_both!(messages_page_by_sequence, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "long", None).await;
    let short = app.create_chat(&alice, "short", None).await;
    // Saved out of order and with gaps: the list follows the sequence, not the save time.
    let mut by_sequence: Vec<(i32, Uuid)> = Vec::new();
    for sequence in [5, 1, 21, 2, 13, 3, 8] {
        by_sequence.push((sequence, send_at(&app, &alice, chat, sequence).await));
    }
    by_sequence.sort();
    let expected: Vec<Uuid> = by_sequence.iter().map(|(_, id)| *id).collect();
    let mut short_ids = Vec::new();
    for text in ["a", "b", "c"] {
        short_ids.push(uuid(&app.send(&alice, short, text).await["id"]));
    }

    let list = chat_messages(&app, &alice, chat);
    list.walk(&expected).await;
    chat_messages(&app, &alice, short).walk(&short_ids).await;

    // last: 2 is the two highest sequences, ascending.
    let data = app
        .ok(
            &alice,
            MESSAGES_FIRST_OR_LAST,
            json!({ "c": chat, "last": 2 }),
        )
        .await;
    let conv = &data["conversation"];
    assert_eq!(
        conv["messages"]["nodes"],
        json!([{ "sequence": 13 }, { "sequence": 21 }])
    );
    assert_eq!(
        conv["messages"]["pageInfo"],
        json!({ "hasPreviousPage": true, "hasNextPage": false })
    );
    assert_eq!(conv["messages"]["totalCount"], json!(7));
    assert_eq!(conv["lastMessage"]["sequence"], json!(21));
    let data = app
        .ok(
            &alice,
            MESSAGES_FIRST_OR_LAST,
            json!({ "c": chat, "first": 3 }),
        )
        .await;
    assert_eq!(
        data["conversation"]["messages"]["nodes"],
        json!([{ "sequence": 1 }, { "sequence": 2 }, { "sequence": 3 }])
    );
    assert_eq!(
        data["conversation"]["messages"]["pageInfo"],
        json!({ "hasPreviousPage": false, "hasNextPage": true })
    );

    // Windows of several conversations in one statement each: last: 2 of both.
    let data = app.ok(&alice, LAST_TWO_MESSAGES_PER_CHAT, json!({})).await;
    let nodes = data["viewer"]["conversations"]["nodes"].as_array().unwrap();
    assert_eq!(uuid(&nodes[0]["id"]), chat);
    assert_eq!(
        nodes[0]["messages"],
        json!({
            "nodes": [{ "sequence": 13, "content": "message 13" }, { "sequence": 21, "content": "message 21" }],
            "pageInfo": { "hasPreviousPage": true, "hasNextPage": false },
            "totalCount": 7
        })
    );
    assert_eq!(uuid(&nodes[1]["id"]), short);
    assert_eq!(
        nodes[1]["messages"],
        json!({
            "nodes": [{ "sequence": 2, "content": "b" }, { "sequence": 3, "content": "c" }],
            "pageInfo": { "hasPreviousPage": true, "hasNextPage": false },
            "totalCount": 3
        })
    );

    // An upsert at an existing sequence keeps the row and its place.
    let again = send_at(&app, &alice, chat, 5).await;
    assert_eq!(again, by_sequence[3].1);
    list.walk(&expected).await;
});

on_both!(one_message_reads_back, |app: TestApp| async move {
    // The smallest message page, and lastMessage (read through the same page windows).
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "one", None).await;
    let message = app.send(&alice, chat, "only").await;
    let data = app
        .ok(&alice, FIRST_MESSAGE_AND_LAST, json!({ "c": chat }))
        .await;
    assert_eq!(
        data["conversation"],
        json!({
            "messages": {
                "nodes": [{ "id": message["id"], "sequence": 1, "content": "only" }],
                "pageInfo": { "hasPreviousPage": false, "hasNextPage": false },
                "totalCount": 1
            },
            "lastMessage": { "id": message["id"], "sequence": 1 }
        })
    );
});

const SEND_WITH_METADATA: &str = r#"
    mutation($c: UUID!, $m: String!, $meta: JSON) {
        sendMessage(input: {conversationId: $c, role: ASSISTANT, content: $m, metadata: $meta}) {
            id
        }
    }
"#;

const SET_FEEDBACK: &str = r#"
    mutation($id: UUID!, $f: JSON) { updateMessage(id: $id, input: {feedback: $f}) { id } }
"#;

/// The same messages through selections that name the large fields in every way a
/// document can (aliases, edges, fragments, inline fragments) or not at all.
const MESSAGE_FIELDS_EVERY_WAY: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) {
            bare: messages(first: 2) { nodes { sequence } }
            text: messages(first: 2) { edges { node { sequence content } } }
            spread: messages(first: 2) { nodes { ...Large } }
            inline: messages(first: 2) { nodes { ... on Message { sequence metadata } } }
            lastBare: lastMessage { sequence }
            lastLarge: lastMessage { ...Large }
        }
    }
    fragment Large on Message { sequence content metadata feedback }
"#;

const LAST_MESSAGE_BARE: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) {
            messages(first: 2) { nodes { id sequence role } }
            lastMessage { id sequence }
        }
    }
"#;

on_both!(
    message_fields_read_whatever_the_selection,
    |app: TestApp| async move {
        // Pages leave the content and JSON columns unread when no field shows them; every
        // selection that shows one gets the stored value, also beside one that does not.
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "fields", None).await;
        let mut ids = Vec::new();
        for i in 1..=3 {
            let sent = app
                .ok(
                    &alice,
                    SEND_WITH_METADATA,
                    json!({ "c": chat, "m": format!("text {i}"), "meta": { "n": i, "tools": ["a"] } }),
                )
                .await;
            ids.push(sent["sendMessage"]["id"].clone());
        }
        for id in &ids {
            app.ok(
                &alice,
                SET_FEEDBACK,
                json!({ "id": id, "f": { "up": true } }),
            )
            .await;
        }
        let before = app.statement_count();
        let data = app
            .ok(&alice, MESSAGE_FIELDS_EVERY_WAY, json!({ "c": chat }))
            .await;
        // ensure-user lookup, the conversation, one window for the four message pages,
        // one for both last messages.
        assert_eq!(app.statement_count() - before, 4);
        let full = |i: i64| {
            json!({
                "sequence": i,
                "content": format!("text {i}"),
                "metadata": { "n": i, "tools": ["a"] },
                "feedback": { "up": true }
            })
        };
        assert_eq!(
            data["conversation"],
            json!({
                "bare": { "nodes": [{ "sequence": 1 }, { "sequence": 2 }] },
                "text": { "edges": [
                    { "node": { "sequence": 1, "content": "text 1" } },
                    { "node": { "sequence": 2, "content": "text 2" } }
                ] },
                "spread": { "nodes": [full(1), full(2)] },
                "inline": { "nodes": [
                    { "sequence": 1, "metadata": { "n": 1, "tools": ["a"] } },
                    { "sequence": 2, "metadata": { "n": 2, "tools": ["a"] } }
                ] },
                "lastBare": { "sequence": 3 },
                "lastLarge": full(3)
            })
        );
        // Alone, the pages without large fields read none of them.
        let data = app
            .ok(&alice, LAST_MESSAGE_BARE, json!({ "c": chat }))
            .await;
        assert_eq!(
            data["conversation"],
            json!({
                "messages": { "nodes": [
                    { "id": ids[0], "sequence": 1, "role": "ASSISTANT" },
                    { "id": ids[1], "sequence": 2, "role": "ASSISTANT" }
                ] },
                "lastMessage": { "id": ids[2], "sequence": 3 }
            })
        );
    }
);

on_both!(
    the_cursor_row_is_outside_the_page,
    |app: TestApp| async move {
        // The row an `after` cursor points at precedes the page (and a `before` cursor's row
        // follows it): Relay's "edges prior to the set the arguments define".
        let alice = harness::user("alice");
        let p = create_projects(&app, &alice, &["a", "b", "c"], false).await;
        let chats = create_chats(&app, &alice, &["x", "y", "z"]).await;
        for &chat in &chats {
            file_chat(&app, &alice, p[0], chat).await;
        }
        let lists = [
            (
                viewer_projects(&app, &alice, Some("CREATED_AT_ASC"), Value::Null),
                p.clone(),
            ),
            (
                project_chats(&app, &alice, p[0], Some("CREATED_AT_ASC")),
                chats.clone(),
            ),
        ];
        for (list, rows) in &lists {
            let first = list.page(json!({ "first": 1 })).await;
            assert_eq!(first.ids, rows[..1]);
            let second = list.page(json!({ "first": 1, "after": first.end })).await;
            assert_eq!(second.ids, rows[1..2]);
            assert!(
                second.has_previous,
                "{:?}: after the first row, the first row precedes the page",
                list.path
            );
            let last = list.page(json!({ "last": 1 })).await;
            assert_eq!(last.ids, rows[2..]);
            let before = list.page(json!({ "last": 1, "before": last.start })).await;
            assert_eq!(before.ids, rows[1..2]);
            assert!(
                before.has_next,
                "{:?}: before the last row, the last row follows the page",
                list.path
            );
        }
    }
);

// ------------------------------------------------------------------ ties

on_both!(timestamp_ties_are_broken_by_id, |app: TestApp| async move {
    let alice = harness::user("alice");
    let p = create_projects(
        &app,
        &alice,
        &["p0", "p1", "p2", "p3", "p4", "p5", "p6"],
        false,
    )
    .await;
    // Timestamps with 0, 6 and 3 fractional digits, ties at whole seconds: the order
    // must hold whatever the stored text looks like.
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap();
    set_time(&app, "projects", "updated_at", &pick(&p, &[0, 1, 2]), t0).await;
    set_time(
        &app,
        "projects",
        "updated_at",
        &[p[3]],
        t0 + TimeDelta::microseconds(1),
    )
    .await;
    set_time(
        &app,
        "projects",
        "updated_at",
        &[p[4]],
        t0 + TimeDelta::milliseconds(500),
    )
    .await;
    set_time(
        &app,
        "projects",
        "updated_at",
        &pick(&p, &[5, 6]),
        t0 + TimeDelta::seconds(1),
    )
    .await;
    // createdAt: all seven at one instant.
    set_time(&app, "projects", "created_at", &p, t0).await;

    let mut by_update = sorted_desc(pick(&p, &[5, 6]));
    by_update.extend(pick(&p, &[4, 3]));
    by_update.extend(sorted_desc(pick(&p, &[0, 1, 2])));
    let cases = [
        ("UPDATED_AT_DESC", by_update.clone()),
        ("UPDATED_AT_ASC", reversed(&by_update)),
        ("CREATED_AT_DESC", sorted_desc(p.clone())),
        ("CREATED_AT_ASC", sorted(p.clone())),
        // All titles differ only by digit: a plain text order.
        ("TITLE_ASC", p.clone()),
    ];
    for (order, expected) in cases {
        viewer_projects(&app, &alice, Some(order), Value::Null)
            .walk(&expected)
            .await;
    }
    // The API reports the instants it sorted by.
    let data = app.ok(&alice, PROJECT_TIMESTAMPS, json!({})).await;
    let nodes = data["viewer"]["projects"]["nodes"].as_array().unwrap();
    let stamps: Vec<DateTime<Utc>> = nodes.iter().map(|n| timestamp(&n["updatedAt"])).collect();
    assert_eq!(
        stamps,
        vec![
            t0 + TimeDelta::seconds(1),
            t0 + TimeDelta::seconds(1),
            t0 + TimeDelta::milliseconds(500),
            t0 + TimeDelta::microseconds(1),
            t0,
            t0,
            t0
        ]
    );
    assert!(nodes.iter().all(|n| timestamp(&n["createdAt"]) == t0));

    // Chats: createdAt ties, and lastMessageAt ties among chats with messages.
    let c = create_chats(&app, &alice, &["c0", "c1", "c2", "c3", "c4", "c5"]).await;
    for &chat in &c[..4] {
        app.send(&alice, chat, "hi").await;
    }
    set_time(&app, "conversations", "created_at", &c, t0).await;
    set_time(
        &app,
        "conversations",
        "last_message_at",
        &pick(&c, &[0, 1, 2]),
        t0,
    )
    .await;
    set_time(
        &app,
        "conversations",
        "last_message_at",
        &[c[3]],
        t0 + TimeDelta::seconds(1),
    )
    .await;
    let mut by_last_message = vec![c[3]];
    by_last_message.extend(sorted_desc(pick(&c, &[0, 1, 2])));
    by_last_message.extend(sorted_desc(pick(&c, &[4, 5])));
    let cases = [
        ("CREATED_AT_DESC", sorted_desc(c.clone())),
        ("CREATED_AT_ASC", sorted(c.clone())),
        ("LAST_MESSAGE_AT_DESC", by_last_message),
    ];
    for (order, expected) in cases {
        viewer_chats(&app, &alice, Some(order), Value::Null)
            .walk(&expected)
            .await;
    }
});

// ------------------------------------------------------------------ filters

on_both!(project_filters, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let titles = [
        "Alpha Report",  // 0 public
        "ALPHABET soup", // 1
        "beta",          // 2 archived
        "100% done",     // 3 public
        "1000 done",     // 4
        "a_b",           // 5
        "axb",           // 6 public
        "Alpha deleted", // 7 public, deleted
    ];
    let mut p = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        p.push(
            app.create_project(&alice, title, [0, 3, 6, 7].contains(&i))
                .await,
        );
    }
    update_project(&app, &alice, p[2], json!({ "status": "ARCHIVED" })).await;
    delete_project(&app, &alice, p[7]).await;
    app.create_project(&bob, "alpha of bob", true).await;

    let list = |filter: Value| viewer_projects(&app, &alice, Some("CREATED_AT_ASC"), filter);
    let cases: Vec<(Value, Vec<usize>)> = vec![
        (Value::Null, vec![0, 1, 2, 3, 4, 5, 6]),
        (json!({}), vec![0, 1, 2, 3, 4, 5, 6]),
        (json!({ "status": "ACTIVE" }), vec![0, 1, 3, 4, 5, 6]),
        (json!({ "status": "ARCHIVED" }), vec![2]),
        (json!({ "status": "DELETED" }), vec![7]),
        (json!({ "isPublic": true }), vec![0, 3, 6]),
        (json!({ "isPublic": false }), vec![1, 2, 4, 5]),
        (json!({ "isPublic": true, "status": "DELETED" }), vec![7]),
        (json!({ "isPublic": false, "status": "DELETED" }), vec![]),
        (json!({ "titleContains": "alpha" }), vec![0, 1]),
        (json!({ "titleContains": "ALPHA" }), vec![0, 1]),
        (
            json!({ "titleContains": "aLpHa", "status": "DELETED" }),
            vec![7],
        ),
        (json!({ "titleContains": "bet" }), vec![1, 2]),
        (json!({ "titleContains": "%" }), vec![3]),
        (json!({ "titleContains": "0%" }), vec![3]),
        (json!({ "titleContains": "100%" }), vec![3]),
        (json!({ "titleContains": "_" }), vec![5]),
        (json!({ "titleContains": "a_b" }), vec![5]),
        (json!({ "titleContains": "\\" }), vec![]),
        (json!({ "titleContains": "done" }), vec![3, 4]),
        (json!({ "titleContains": "" }), vec![0, 1, 2, 3, 4, 5, 6]),
        (json!({ "titleContains": "nothing like it" }), vec![]),
        (
            json!({ "titleContains": "alpha", "isPublic": false }),
            vec![1],
        ),
        (json!({ "teamId": Uuid::new_v4() }), vec![]),
    ];
    for (filter, expected) in cases {
        let expected = pick(&p, &expected);
        let l = list(filter.clone());
        let page = l.page(json!({ "first": 100 })).await;
        assert_eq!(page.ids, expected, "filter {filter}");
        assert_eq!(
            page.total,
            expected.len() as i64,
            "filter {filter}: totalCount"
        );
        assert!(!page.has_next && !page.has_previous, "filter {filter}");
        if expected.is_empty() {
            assert_eq!(page.start, None);
            assert_eq!(page.end, None);
        }
    }
    // Filters hold on every page, and totalCount counts the filtered list.
    list(json!({ "isPublic": false }))
        .walk(&pick(&p, &[1, 2, 4, 5]))
        .await;
    list(json!({ "status": "ACTIVE" }))
        .walk(&pick(&p, &[0, 1, 3, 4, 5, 6]))
        .await;
    // Statuses as reported.
    let data = app.ok(&alice, DELETED_PROJECTS, json!({})).await;
    let node = &data["viewer"]["projects"]["nodes"][0];
    assert_eq!(node["status"], json!("DELETED"));
    assert!(node["deletedAt"].is_string());
    // A restored project is back in the default list.
    app.ok(&alice, RESTORE_PROJECT, json!({ "id": p[7] })).await;
    assert_eq!(
        list(Value::Null).ids().await,
        pick(&p, &[0, 1, 2, 3, 4, 5, 6, 7])
    );
    assert!(list(json!({ "status": "DELETED" })).ids().await.is_empty());
});

on_both!(conversation_filters, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let titles = [
        "Daily standup",       // 0 pinned
        "daily STANDUP notes", // 1 archived
        "Retro",               // 2 completed, pinned
        "50% off",             // 3
        "500 off",             // 4
        "x_y",                 // 5 in project
        "xzy",                 // 6 in project
    ];
    let mut c = create_chats(&app, &alice, &titles).await;
    let untitled = app.ok(&alice, CREATE_UNTITLED_CHAT, json!({})).await;
    assert_eq!(untitled["createConversation"]["title"], Value::Null);
    c.push(uuid(&untitled["createConversation"]["id"])); // 7: in both projects
    update_chat(&app, &alice, c[0], json!({ "pinned": true })).await;
    update_chat(&app, &alice, c[1], json!({ "status": "ARCHIVED" })).await;
    let retro = update_chat(
        &app,
        &alice,
        c[2],
        json!({ "status": "COMPLETED", "pinned": true }),
    )
    .await;
    assert_eq!(retro["status"], json!("COMPLETED"));
    let project = app.create_project(&alice, "work", false).await;
    let side = app.create_project(&alice, "side", false).await;
    for i in [5, 6, 7] {
        file_chat(&app, &alice, project, c[i]).await;
    }
    file_chat(&app, &alice, side, c[7]).await;
    let empty_project = app.create_project(&alice, "empty", false).await;
    let bobs_project = app.create_project(&bob, "bob's", true).await;
    let bobs_chat = app
        .create_chat(&bob, "Daily standup of bob", Some(bobs_project))
        .await;

    let list = |filter: Value| viewer_chats(&app, &alice, Some("CREATED_AT_ASC"), filter);
    // Bob's chat matches "standup" (he sees it under that filter), yet Alice's
    // listing with the same filter returns only her own chats.
    let standup = json!({ "titleContains": "standup" });
    assert_eq!(
        viewer_chats(&app, &bob, Some("CREATED_AT_ASC"), standup.clone())
            .ids()
            .await,
        vec![bobs_chat]
    );
    let alices_standups = list(standup).ids().await;
    assert!(
        !alices_standups.contains(&bobs_chat),
        "Bob's chat leaked into Alice's titleContains listing: {alices_standups:?}"
    );
    assert_eq!(alices_standups, pick(&c, &[0, 1]));
    let all = vec![0, 1, 2, 3, 4, 5, 6, 7];
    let cases: Vec<(Value, Vec<usize>)> = vec![
        (Value::Null, all.clone()),
        (json!({}), all.clone()),
        (json!({ "status": "ACTIVE" }), vec![0, 3, 4, 5, 6, 7]),
        (json!({ "status": "ARCHIVED" }), vec![1]),
        (json!({ "status": "COMPLETED" }), vec![2]),
        (json!({ "pinned": true }), vec![0, 2]),
        (json!({ "pinned": false }), vec![1, 3, 4, 5, 6, 7]),
        (json!({ "pinned": true, "status": "ACTIVE" }), vec![0]),
        (json!({ "projectId": project }), vec![5, 6, 7]),
        (json!({ "projectId": side }), vec![7]),
        (json!({ "projectId": empty_project }), vec![]),
        (json!({ "projectId": bobs_project }), vec![]),
        (json!({ "projectId": Uuid::new_v4() }), vec![]),
        (
            json!({ "projectId": project, "titleContains": "X_" }),
            vec![5],
        ),
        (json!({ "titleContains": "standup" }), vec![0, 1]),
        (json!({ "titleContains": "STAND" }), vec![0, 1]),
        (
            json!({ "titleContains": "standup", "status": "ARCHIVED" }),
            vec![1],
        ),
        (json!({ "titleContains": "%" }), vec![3]),
        (json!({ "titleContains": "0%" }), vec![3]),
        (json!({ "titleContains": "_" }), vec![5]),
        (json!({ "titleContains": "x_y" }), vec![5]),
        (json!({ "titleContains": "off" }), vec![3, 4]),
        (json!({ "titleContains": "nothing like it" }), vec![]),
    ];
    for (filter, expected) in cases {
        let expected = pick(&c, &expected);
        let page = list(filter.clone()).page(json!({ "first": 100 })).await;
        assert_eq!(page.ids, expected, "filter {filter}");
        assert_eq!(
            page.total,
            expected.len() as i64,
            "filter {filter}: totalCount"
        );
        assert!(!page.has_next && !page.has_previous, "filter {filter}");
    }
    list(json!({ "status": "ACTIVE" }))
        .walk(&pick(&c, &[0, 3, 4, 5, 6, 7]))
        .await;
    viewer_chats(
        &app,
        &alice,
        Some("UPDATED_AT_DESC"),
        json!({ "pinned": false }),
    )
    .walk(&pick(&c, &[1, 7, 6, 5, 4, 3]))
    .await;
});

on_both!(updated_after_is_strict, |app: TestApp| async move {
    let alice = harness::user("alice");
    let c = create_chats(&app, &alice, &["c0", "c1", "c2", "c3", "c4", "c5", "c6"]).await;
    // Updated in the order c4, c1, c6: updatedAt order is c0 c2 c3 c5 c4 c1 c6.
    update_chat(&app, &alice, c[4], json!({ "title": "c4!" })).await;
    app.send(&alice, c[1], "bump").await;
    update_chat(&app, &alice, c[6], json!({ "pinned": true })).await;

    let data = app.ok(&alice, CHATS_BY_UPDATED_AT, json!({})).await;
    let nodes = data["viewer"]["conversations"]["nodes"].as_array().unwrap();
    let by_update = pick(&c, &[0, 2, 3, 5, 4, 1, 6]);
    assert_eq!(
        nodes.iter().map(|n| uuid(&n["id"])).collect::<Vec<_>>(),
        by_update
    );
    let stamps: Vec<&str> = nodes
        .iter()
        .map(|n| n["updatedAt"].as_str().unwrap())
        .collect();
    for pair in stamps.windows(2) {
        assert!(
            timestamp(&json!(pair[0])) < timestamp(&json!(pair[1])),
            "{stamps:?}"
        );
    }

    let after = |bound: Value| {
        viewer_chats(
            &app,
            &alice,
            Some("UPDATED_AT_ASC"),
            json!({ "updatedAfter": bound }),
        )
    };
    // The bound itself is excluded: strictly later rows only.
    for (i, stamp) in stamps.iter().enumerate() {
        let got = after(json!(stamp)).ids().await;
        assert_eq!(got, by_update[i + 1..], "updatedAfter {stamp}");
        // One microsecond earlier includes the row at the bound.
        let earlier = timestamp(&json!(stamp)) - TimeDelta::microseconds(1);
        let got = after(json!(earlier.to_rfc3339())).ids().await;
        assert_eq!(got, by_update[i..], "updatedAfter {earlier}");
    }
    // The same instant in another offset is the same bound.
    let bound = timestamp(&json!(stamps[4]));
    let shifted = bound.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
    assert_eq!(
        after(json!(shifted.to_rfc3339())).ids().await,
        by_update[5..]
    );
    // Combined with another filter, and paged.
    let reply = app
        .as_user(
            &alice,
            UNPINNED_CHATS_UPDATED_AFTER,
            json!({ "t": stamps[3] }),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.data()["viewer"]["conversations"],
        json!({ "nodes": [{ "id": c[1] }, { "id": c[4] }], "totalCount": 2 })
    );
    after(json!(stamps[1])).walk(&by_update[2..]).await;
    // A bound after everything: nothing.
    let late = timestamp(&json!(stamps[6])) + TimeDelta::seconds(3600);
    assert!(after(json!(late.to_rfc3339())).ids().await.is_empty());
});

// ------------------------------------------------------------------ stability

on_both!(pages_are_stable_under_inserts, |app: TestApp| async move {
    let alice = harness::user("alice");
    let p = create_projects(&app, &alice, &["b", "d", "f", "h", "j", "l", "n"], false).await;

    // UPDATED_AT_DESC: a new project lands before the cursor; page 2 continues exactly.
    let list = viewer_projects(&app, &alice, None, Value::Null);
    let page1 = list.page(json!({ "first": 3 })).await;
    assert_eq!(page1.ids, pick(&p, &[6, 5, 4]));
    let fresh = app.create_project(&alice, "fresh", false).await;
    let page2 = list.page(json!({ "first": 3, "after": page1.end })).await;
    assert_eq!(page2.ids, pick(&p, &[3, 2, 1]));
    assert!(page2.has_next && page2.has_previous);
    assert_eq!(page2.total, 8);
    let page3 = list.page(json!({ "first": 3, "after": page2.end })).await;
    assert_eq!(page3.ids, vec![p[0]]);
    assert!(!page3.has_next && page3.has_previous);
    // A fresh first page shows it on top.
    assert_eq!(list.page(json!({ "first": 1 })).await.ids, vec![fresh]);

    // CREATED_AT_ASC: new rows land after the cursor and are reached by paging on.
    let list = viewer_projects(&app, &alice, Some("CREATED_AT_ASC"), Value::Null);
    let page1 = list.page(json!({ "first": 3 })).await;
    assert_eq!(page1.ids, pick(&p, &[0, 1, 2]));
    let newer = app.create_project(&alice, "newer", false).await;
    let mut rest = Vec::new();
    let mut after = page1.end;
    loop {
        let page = list.page(json!({ "first": 3, "after": after })).await;
        rest.extend(page.ids.iter().copied());
        if !page.has_next {
            break;
        }
        after = page.end;
    }
    let mut expected = pick(&p, &[3, 4, 5, 6]);
    expected.extend([fresh, newer]);
    assert_eq!(rest, expected);

    // TITLE_ASC: one insert before the cursor ("c"), one after it ("i").
    let list = viewer_projects(&app, &alice, Some("TITLE_ASC"), Value::Null);
    let page1 = list.page(json!({ "first": 3 })).await;
    assert_eq!(page1.ids, pick(&p, &[0, 1, 2]));
    let c = app.create_project(&alice, "c", false).await;
    let i = app.create_project(&alice, "i", false).await;
    let page2 = list.page(json!({ "first": 3, "after": page1.end })).await;
    // b c d f | fresh h i j l n newer
    assert_eq!(page2.ids, vec![fresh, p[3], i]);
    assert_eq!(page2.total, 11);
    // Backward from page 2's start: the rows before it, now including "c".
    let back = list.page(json!({ "last": 3, "before": page2.start })).await;
    assert_eq!(back.ids, vec![c, p[1], p[2]]);
    assert!(back.has_previous && back.has_next);

    // Backward walk of chats, UPDATED_AT_DESC: new chats land at the far end (the top),
    // the walk toward it continues exactly and then reaches them.
    let chats = create_chats(&app, &alice, &["k0", "k1", "k2", "k3", "k4", "k5", "k6"]).await;
    let list = viewer_chats(&app, &alice, None, Value::Null);
    let last = list.page(json!({ "last": 3 })).await;
    assert_eq!(last.ids, pick(&chats, &[2, 1, 0]));
    assert!(last.has_previous && !last.has_next);
    let newest = app.create_chat(&alice, "k7", None).await;
    let page = list.page(json!({ "last": 3, "before": last.start })).await;
    assert_eq!(page.ids, pick(&chats, &[5, 4, 3]));
    assert!(page.has_previous && page.has_next);
    assert_eq!(page.total, 8);
    let page = list.page(json!({ "last": 3, "before": page.start })).await;
    assert_eq!(page.ids, vec![newest, chats[6]]);
    assert!(!page.has_previous && page.has_next);

    // Messages: a message appended between pages follows on the next page.
    let chat = chats[0];
    let mut messages = Vec::new();
    for _ in 0..4 {
        messages.push(uuid(&app.send(&alice, chat, "m").await["id"]));
    }
    let list = chat_messages(&app, &alice, chat);
    let page1 = list.page(json!({ "first": 3 })).await;
    assert_eq!(page1.ids, messages[..3]);
    messages.push(uuid(&app.send(&alice, chat, "late").await["id"]));
    let page2 = list.page(json!({ "first": 3, "after": page1.end })).await;
    assert_eq!(page2.ids, messages[3..]);
    assert!(!page2.has_next && page2.has_previous);
    assert_eq!(page2.total, 5);
});

// ------------------------------------------------------------------ errors and limits

on_both!(page_arguments_are_checked, |app: TestApp| async move {
    let alice = harness::user("alice");
    let project = app.create_project(&alice, "public", true).await;
    let chat = app.create_chat(&alice, "chat", Some(project)).await;
    let message = uuid(&app.send(&alice, chat, "hello").await["id"]);
    let anon = harness::anon_key();
    // The default maximum page size.
    let max = 100;
    let lists = [
        (
            viewer_projects(&app, &alice, None, Value::Null),
            vec![project],
        ),
        (viewer_chats(&app, &alice, None, Value::Null), vec![chat]),
        (public_projects(&app, Some(&anon), None), vec![project]),
        (project_chats(&app, &alice, project, None), vec![chat]),
        (chat_messages(&app, &alice, chat), vec![message]),
    ];
    // base64url of {"a":1}: decodes, but is no cursor.
    let not_a_cursor = "eyJhIjoxfQ";
    for (list, expected) in &lists {
        for args in [
            json!({ "first": max + 1 }),
            json!({ "last": max + 1 }),
            json!({ "first": -1 }),
            json!({ "last": -1 }),
            json!({ "first": 2, "after": "garbage" }),
            json!({ "last": 2, "before": "garbage" }),
            json!({ "first": 2, "after": not_a_cursor }),
            json!({ "last": 2, "before": "" }),
        ] {
            assert_eq!(
                list.error(args.clone()).await,
                "BAD_USER_INPUT",
                "{args} on {:?}",
                list.path
            );
        }
        // The maximum itself is fine.
        for args in [json!({ "first": max }), json!({ "last": max })] {
            let page = list.page(args).await;
            assert_eq!(&page.ids, expected);
            assert!(!page.has_next && !page.has_previous);
            assert_eq!(page.total, 1);
        }
        // No first/last: the default page (up to 100 rows) holds the list's only row.
        assert_eq!(&list.page(json!({})).await.ids, expected);
        // first: 0 is an empty page that knows more follows.
        let empty = list.page(json!({ "first": 0 })).await;
        assert!(empty.ids.is_empty());
        assert!(empty.has_next);
        assert_eq!(empty.total, 1);
    }
});

on_both!(
    cursors_belong_to_one_order_and_list,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let p = create_projects(&app, &alice, &["a", "b", "c"], false).await;
        let chat = app.create_chat(&alice, "chat", Some(p[0])).await;
        let chat2 = app.create_chat(&alice, "chat 2", Some(p[0])).await;
        app.send(&alice, chat, "one").await;
        app.send(&alice, chat, "two").await;

        let projects = viewer_projects(&app, &alice, None, Value::Null);
        let cursor = projects.page(json!({ "first": 1 })).await.end.unwrap();
        // In its own order the cursor works.
        assert_eq!(
            projects
                .page(json!({ "first": 5, "after": cursor }))
                .await
                .ids,
            pick(&p, &[2, 1])
        );
        assert_eq!(
            viewer_projects(&app, &alice, Some("UPDATED_AT_DESC"), Value::Null)
                .page(json!({ "first": 5, "after": cursor }))
                .await
                .ids,
            pick(&p, &[2, 1])
        );
        for order in [
            "UPDATED_AT_ASC",
            "CREATED_AT_DESC",
            "CREATED_AT_ASC",
            "TITLE_ASC",
        ] {
            let other = viewer_projects(&app, &alice, Some(order), Value::Null);
            assert_eq!(
                other.error(json!({ "first": 2, "after": cursor })).await,
                "BAD_USER_INPUT",
                "after, {order}"
            );
            assert_eq!(
                other.error(json!({ "last": 2, "before": cursor })).await,
                "BAD_USER_INPUT",
                "before, {order}"
            );
        }
        // Across lists.
        let chats = viewer_chats(&app, &alice, None, Value::Null);
        let chat_cursor = chats.page(json!({ "first": 1 })).await.end.unwrap();
        let messages = chat_messages(&app, &alice, chat);
        let message_cursor = messages.page(json!({ "first": 1 })).await.end.unwrap();
        let cases = [
            (&chats, cursor.clone()),
            (&projects, chat_cursor.clone()),
            (&messages, chat_cursor.clone()),
            (&messages, cursor.clone()),
        ];
        for (list, foreign) in cases {
            assert_eq!(
                list.error(json!({ "first": 2, "after": foreign })).await,
                "BAD_USER_INPUT",
                "{:?}",
                list.path
            );
        }
        let in_project = project_chats(&app, &alice, p[0], Some("LAST_MESSAGE_AT_DESC"));
        for foreign in [&chat_cursor, &message_cursor, &cursor] {
            assert_eq!(
                in_project
                    .error(json!({ "first": 2, "after": foreign }))
                    .await,
                "BAD_USER_INPUT"
            );
        }
        for order in [
            "UPDATED_AT_ASC",
            "CREATED_AT_DESC",
            "CREATED_AT_ASC",
            "LAST_MESSAGE_AT_DESC",
        ] {
            assert_eq!(
                viewer_chats(&app, &alice, Some(order), Value::Null)
                    .error(json!({ "last": 2, "before": chat_cursor }))
                    .await,
                "BAD_USER_INPUT",
                "{order}"
            );
        }
        // The chat cursor of the default order is a position in that order.
        assert_eq!(
            chats
                .page(json!({ "first": 5, "after": chat_cursor }))
                .await
                .ids,
            vec![chat2]
        );
    }
);

/// Page limits come from the configuration: a maximum of 5, and the default page
/// (100 unless configured) never larger than the maximum.
async fn configured_limits(app: TestApp) {
    let alice = harness::user("alice");
    let p = create_projects(&app, &alice, &["a", "b", "c", "d", "e", "f", "g"], false).await;
    let list = viewer_projects(&app, &alice, Some("CREATED_AT_ASC"), Value::Null);
    assert_eq!(list.error(json!({ "first": 6 })).await, "BAD_USER_INPUT");
    assert_eq!(list.error(json!({ "last": 6 })).await, "BAD_USER_INPUT");
    let page = list.page(json!({ "first": 5 })).await;
    assert_eq!(page.ids, p[..5]);
    assert!(page.has_next);
    // Neither first nor last: the default size capped at the maximum, from the start.
    let page = list.page(json!({})).await;
    assert_eq!(page.ids, p[..5]);
    assert!(page.has_next && !page.has_previous);
    assert_eq!(page.total, 7);
    let page = list.page(json!({ "after": page.end })).await;
    assert_eq!(page.ids, p[5..]);
    assert!(!page.has_next && page.has_previous);
    // Only `before`: the default size just before the cursor.
    let page = list.page(json!({ "before": page.end })).await;
    assert_eq!(page.ids, p[1..6]);
    assert!(page.has_next && page.has_previous);
}

fn small_pages(settings: &mut confab::config::Settings) {
    // Only the maximum: a small configured default would also lower the complexity of
    // other tests' schemas in this process (see `default_page_cost_is_per_instance`).
    settings.max_page_size = 5;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_page_limits_sqlite() {
    configured_limits(harness::sqlite_with(small_pages).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_page_limits_postgres() {
    if let Some(app) = harness::postgres_with(small_pages).await {
        configured_limits(app).await;
    }
}

on_both!(default_page_is_100, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "long", None).await;
    let mut ids = Vec::new();
    for i in 0..101 {
        ids.push(uuid(&app.send(&alice, chat, &format!("m{i}")).await["id"]));
    }
    let list = chat_messages(&app, &alice, chat);
    let page = list.page(json!({})).await;
    assert_eq!(page.ids, ids[..100]);
    assert!(page.has_next && !page.has_previous);
    assert_eq!(page.total, 101);
    let page = list.page(json!({ "after": page.end })).await;
    assert_eq!(page.ids, ids[100..]);
    assert!(!page.has_next && page.has_previous);
    // Backward without `last`: the default size before the cursor.
    let page = list.page(json!({ "before": page.start })).await;
    assert_eq!(page.ids, ids[..100]);
    assert!(page.has_next && !page.has_previous);
});

/// The complexity of a connection without `first`/`last` assumes the instance's own
/// configured default page size, whatever other instances in the process configure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_page_cost_is_per_instance() {
    // `{ viewer { projects(first: N) { nodes { id } } } }` costs 1 + (N * 2 + 1).
    let limited = harness::sqlite_with(|s| s.max_complexity = 200).await;
    let alice = harness::user("alice");
    let project = limited.create_project(&alice, "only", false).await;
    let query = |first: &str| format!("{{ viewer {{ projects{first} {{ nodes {{ id }} }} }} }}");
    let reply = limited
        .as_user(&alice, &query("(first: 99)"), json!({}))
        .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["data"]["viewer"]["projects"]["nodes"],
        json!([{ "id": project.to_string() }]),
        "{}",
        reply.body
    );
    let reply = limited
        .as_user(&alice, &query("(first: 100)"), json!({}))
        .await;
    assert_eq!(reply.code(), "QUERY_TOO_COMPLEX");
    // This instance's default page is 100: an unbounded connection costs what
    // first: 100 costs, also after another instance is built with a default of 99.
    for _ in 0..3 {
        let _other = harness::sqlite_with(|s| s.default_page_size = 99).await;
        let reply = limited.as_user(&alice, &query(""), json!({})).await;
        assert_eq!(
            reply.codes(),
            vec!["QUERY_TOO_COMPLEX"],
            "another instance's default page size changed this one's complexity: {}",
            reply.body
        );
    }
}
