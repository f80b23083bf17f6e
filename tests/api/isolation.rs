//! Isolation from the attacker's side: user B, the anonymous caller (no token, the anon
//! key as a bearer token, the anon key in the `apikey` header) and the service role try
//! every [core] query and mutation on user A's ids. DESIGN.md: a row the caller may not
//! read does not exist for them (`null` from lookups, absent from lists, `NOT_FOUND` from
//! mutations); a row they may read but not change is `FORBIDDEN`; no user where one is
//! needed is `UNAUTHENTICATED`; checks run caller, visibility, permission, input. After
//! every refused attack A's data is read again and must be exactly as before.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{
    ADD_CHAT_TO_PROJECT, CHAT_PROJECTS, DELETE_ACCOUNT, DELETE_MESSAGE, VIEWER_ID,
};
use crate::harness::{self, uuid, Reply, TestApp, User};
use crate::on_both;

const CHAT_PROJECTS_AND_MESSAGE_CHATS: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { projects { id } messages { nodes { conversation { id } } } }
    }
"#;

const VIEWER_LISTS_AND_PUBLIC_PROJECT: &str = r#"
    query($q: UUID!, $p: UUID!) {
        viewer {
            projects(first: 50) { totalCount nodes { id } }
            publicOnes: projects(first: 50, filter: {isPublic: true}) { totalCount nodes { id } }
            named: projects(first: 50, filter: {titleContains: "A p"}) { totalCount nodes { id } }
            deleted: projects(first: 50, filter: {status: DELETED}) { totalCount nodes { id } }
            conversations(first: 50) { totalCount nodes { id } }
            secret: conversations(first: 50, filter: {titleContains: "secret"}) {
                totalCount
                nodes { id }
            }
            inPublic: conversations(first: 50, filter: {projectId: $q}) { totalCount nodes { id } }
            inPrivate: conversations(first: 50, filter: {projectId: $p}) { totalCount nodes { id } }
        }
        project(id: $q) {
            id title viewerAccess ownerId
            owner { id displayName }
            chats(first: 50) { totalCount nodes { id } }
            lastFirst: chats(last: 50, orderBy: LAST_MESSAGE_AT_DESC) { totalCount nodes { id } }
        }
    }
"#;

const PUBLIC_PROJECTS_WITH_CHATS: &str = r#"
    {
        publicProjects(first: 50) { totalCount nodes { id chats { totalCount nodes { id } } } }
    }
"#;

const PROJECT_OWNER_EMAIL: &str = "query($q: UUID!) { project(id: $q) { owner { email } } }";

const CHAT_LINKS_SEEN_BY_A: &str = r#"
    query($c: UUID!, $p: UUID!, $q: UUID!) {
        conversation(id: $c) { projects { id title } }
        viewer {
            inPrivate: conversations(filter: {projectId: $p}) { totalCount nodes { id } }
            inPublic: conversations(filter: {projectId: $q}) { totalCount nodes { id } }
        }
        public: project(id: $q) { chats { totalCount nodes { id } } }
    }
"#;

const PROJECT_CHATS_AND_PROJECT_CHATS: &str = r#"
    query($p: UUID!, $q: UUID!) {
        private: project(id: $p) { chats { totalCount nodes { id } } }
        public: project(id: $q) { chats { totalCount nodes { id } } }
    }
"#;

const PROJECT_FIELDS: &str = r#"
    query($q: UUID!) {
        project(id: $q) { title status isPublic description metadata viewerAccess }
    }
"#;

const CHAT_COUNT_AND_PROJECTS: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { messageCount projects { id } }
    }
"#;

const B_PROJECT_CHATS: &str = r#"
    query($bp: UUID!) {
        project(id: $bp) {
            viewerAccess
            chats(first: 50) { totalCount nodes { id title messageCount lastMessage { content } } }
            byLast: chats(last: 50, orderBy: LAST_MESSAGE_AT_DESC) { totalCount nodes { id } }
        }
        viewer { conversations(filter: {projectId: $bp}) { totalCount nodes { id } } }
    }
"#;

const VIEWER_AND_OWN_ROWS: &str = r#"
    query($p: UUID!, $c: UUID!, $m: UUID!) {
        viewer { id }
        project(id: $p) {
            id title status isPublic viewerAccess
            owner { id displayName }
            chats { totalCount nodes { id } }
        }
        conversation(id: $c) {
            id title messageCount totalTokens
            projects { id }
            messages { nodes { content } }
        }
        message(id: $m) { id content tokenCount conversation { id } }
    }
"#;

const PROJECT_TITLE_AND_ACCESS: &str = r#"
    query($id: UUID!) {
        project(id: $id) { title viewerAccess }
    }
"#;

const WHAT_B_SEES: &str = r#"
    query($q: UUID!, $p: UUID!, $c: UUID!, $m: UUID!) {
        viewer { id }
        public: project(id: $q) {
            id title isPublic status viewerAccess ownerId
            owner { id displayName }
            chats(first: 50) { totalCount nodes { id } }
            byLast: chats(last: 50, orderBy: LAST_MESSAGE_AT_DESC) { totalCount nodes { id } }
        }
        private: project(id: $p) { id }
        chat: conversation(id: $c) { id }
        message(id: $m) { id }
        publicProjects(first: 50) {
            totalCount
            nodes { id title chats { totalCount nodes { id } } }
        }
    }
"#;

const PUBLIC_PROJECT_AND_LIST: &str = r#"
    query($q: UUID!) {
        project(id: $q) { id title }
        publicProjects { totalCount nodes { id } }
    }
"#;

const VIEWER_CHAT_COUNT_IN_PROJECT: &str = r#"
    query($q: UUID!) {
        viewer { conversations(filter: {projectId: $q}) { totalCount } }
    }
"#;

const PUBLIC_PROJECT_IN_FULL: &str = r#"
    query($q: UUID!) {
        project(id: $q) {
            id title status isPublic viewerAccess
            owner { id }
            chats { totalCount nodes { id } }
        }
        publicProjects { totalCount nodes { id } }
    }
"#;

// ------------------------------------------------------------------ documents

const UPDATE_PROJECT: &str = r#"
    mutation($id: UUID!, $input: UpdateProjectInput!) {
        updateProject(id: $id, input: $input) { id title status }
    }
"#;
const DELETE_PROJECT: &str = r#"
    mutation($id: UUID!, $permanent: Boolean) {
        deleteProject(id: $id, permanent: $permanent)
    }
"#;
const RESTORE_PROJECT_STATUS: &str = r#"
    mutation($id: UUID!) {
        restoreProject(id: $id) { id status }
    }
"#;
const REMOVE_CHAT: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        removeChatFromProject(projectId: $p, conversationId: $c) { id }
    }
"#;
const CREATE_PROJECT: &str = r#"
    mutation($input: CreateProjectInput!) {
        createProject(input: $input) { id }
    }
"#;
const CREATE_CHAT: &str = r#"
    mutation($input: CreateConversationInput!) {
        createConversation(input: $input) { id }
    }
"#;
const UPDATE_CHAT: &str = r#"
    mutation($id: UUID!, $input: UpdateConversationInput!) {
        updateConversation(id: $id, input: $input) { id title }
    }
"#;
const DELETE_CHAT: &str = "mutation($id: UUID!) { deleteConversation(id: $id) }";
const SEND: &str = r#"
    mutation($input: SendMessageInput!) {
        sendMessage(input: $input) { id sequence content }
    }
"#;
const UPDATE_MESSAGE: &str = r#"
    mutation($id: UUID!, $input: UpdateMessageInput!) {
        updateMessage(id: $id, input: $input) { id content }
    }
"#;
const UPDATE_PROFILE: &str = r#"
    mutation($input: UpdateProfileInput!) {
        updateProfile(input: $input) { id displayName }
    }
"#;
const UPDATE_SETTINGS: &str = r#"
    mutation($input: UpdateSettingsInput!) {
        updateSettings(input: $input) { model }
    }
"#;

const NODE: &str = r#"
    query($id: ID!) {
        node(nodeId: $id) {
            nodeId
            ... on Project { id title }
            ... on Conversation { id title }
            ... on Message { id content }
        }
    }
"#;
const PUBLIC_PROJECTS: &str = r#"
    {
        publicProjects(first: 50) { totalCount nodes { id title status } }
    }
"#;

/// Everything of A's that an attack could touch, read as A.
const A_SNAPSHOT: &str = r#"
query($p: UUID!, $q: UUID!, $c1: UUID!, $c2: UUID!, $m1: UUID!, $m2: UUID!, $m3: UUID!) {
  viewer {
    id
    profile { id email displayName fullName avatarUrl onboardingCompleted onboarding updatedAt }
    settings { model systemPrompt theme language timezone notifications features updatedAt }
    projects(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id title status isPublic } }
    deleted: projects(first: 20, filter: {status: DELETED}) { totalCount nodes { id } }
    conversations(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id title messageCount totalTokens } }
  }
  private: project(id: $p) { ...P }
  public: project(id: $q) { ...P }
  chatOne: conversation(id: $c1) { ...C }
  chatTwo: conversation(id: $c2) { ...C }
  m1: message(id: $m1) { ...M }
  m2: message(id: $m2) { ...M }
  m3: message(id: $m3) { ...M }
}
fragment P on Project {
  id ownerId title description status isPublic metadata createdAt updatedAt deletedAt viewerAccess
  owner { id displayName avatarUrl }
  chats(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id title } }
}
fragment C on Conversation {
  id ownerId title model status pinned encrypted metadata messageCount totalTokens lastMessageAt createdAt updatedAt
  projects { id title status }
  lastMessage { id sequence content }
  messages(first: 20) { totalCount nodes { ...M } }
}
fragment M on Message {
  id conversationId sequence role content metadata tokenCount feedback audioUrl createdAt updatedAt
}
"#;

/// Every project↔chat link of the world, read by the service role (which sees all).
const LINKS: &str = r#"
query($p: UUID!, $q: UUID!, $bp: UUID!) {
  private: project(id: $p) { chats(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id } } }
  public: project(id: $q) { chats(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id } } }
  bProject: project(id: $bp) { chats(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id } } }
}
"#;

/// What B owns, read as B.
const B_SNAPSHOT: &str = r#"
{ viewer {
    projects(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id title } }
    conversations(first: 20, orderBy: CREATED_AT_ASC) { totalCount nodes { id title messageCount } }
} }
"#;

// ------------------------------------------------------------------ the world

/// A with a private and a public project, a chat in each, messages with token counts;
/// B with a project and a chat of their own.
struct World {
    a: User,
    b: User,
    /// A's private project; holds `chat_one`.
    private: Uuid,
    /// A's public project; holds `chat_two`.
    public: Uuid,
    /// A's chat with two messages (5 + 7 tokens).
    chat_one: Uuid,
    /// A's chat filed in the public project, one message (3 tokens).
    chat_two: Uuid,
    msg_one: Uuid,
    msg_two: Uuid,
    msg_three: Uuid,
    b_project: Uuid,
    b_chat: Uuid,
}

async fn send_with_tokens(
    app: &TestApp,
    user: &User,
    chat: Uuid,
    role: &str,
    content: &str,
    tokens: i32,
) -> Uuid {
    let data = app
        .ok(
            user,
            SEND,
            json!({ "input": { "conversationId": chat, "role": role, "content": content, "tokenCount": tokens } }),
        )
        .await;
    uuid(&data["sendMessage"]["id"])
}

async fn world(app: &TestApp) -> World {
    let a = harness::user("alice");
    let b = harness::user("bob");
    app.ok(
        &a,
        UPDATE_PROFILE,
        json!({ "input": { "displayName": "Alice" } }),
    )
    .await;
    app.ok(
        &a,
        UPDATE_SETTINGS,
        json!({ "input": { "model": "a-model" } }),
    )
    .await;
    let private = app.create_project(&a, "A private plans", false).await;
    let public = app.create_project(&a, "A public showcase", true).await;
    let chat_one = app.create_chat(&a, "A secret chat", Some(private)).await;
    let msg_one = send_with_tokens(app, &a, chat_one, "USER", "A secret one", 5).await;
    let msg_two = send_with_tokens(app, &a, chat_one, "ASSISTANT", "A secret two", 7).await;
    let chat_two = app.create_chat(&a, "A showcase chat", Some(public)).await;
    let msg_three = send_with_tokens(app, &a, chat_two, "USER", "A showcase message", 3).await;

    app.ok(
        &b,
        UPDATE_PROFILE,
        json!({ "input": { "displayName": "Bob" } }),
    )
    .await;
    let b_project = app.create_project(&b, "B own project", false).await;
    let b_chat = app.create_chat(&b, "B own chat", Some(b_project)).await;
    app.send(&b, b_chat, "B says hi").await;

    World {
        a,
        b,
        private,
        public,
        chat_one,
        chat_two,
        msg_one,
        msg_two,
        msg_three,
        b_project,
        b_chat,
    }
}

/// A's data as A sees it, every link as the service role sees it, and B's own rows.
async fn snapshot(app: &TestApp, w: &World) -> Value {
    let a = app
        .ok(
            &w.a,
            A_SNAPSHOT,
            json!({
                "p": w.private, "q": w.public, "c1": w.chat_one, "c2": w.chat_two,
                "m1": w.msg_one, "m2": w.msg_two, "m3": w.msg_three,
            }),
        )
        .await;
    let links = service(
        app,
        LINKS,
        json!({ "p": w.private, "q": w.public, "bp": w.b_project }),
    )
    .await
    .data()
    .clone();
    let b = app.ok(&w.b, B_SNAPSHOT, json!({})).await;
    json!({ "a": a, "links": links, "b": b })
}

fn ids(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|n| uuid(&n["id"]))
        .collect()
}

/// The world as built, value by value.
fn check_baseline(s: &Value, w: &World) {
    check_a(&s["a"], w);
    let links = &s["links"];
    assert_eq!(ids(&links["private"]["chats"]["nodes"]), vec![w.chat_one]);
    assert_eq!(ids(&links["public"]["chats"]["nodes"]), vec![w.chat_two]);
    assert_eq!(ids(&links["bProject"]["chats"]["nodes"]), vec![w.b_chat]);

    assert_eq!(s["b"]["viewer"]["projects"]["totalCount"], json!(1));
    assert_eq!(s["b"]["viewer"]["conversations"]["totalCount"], json!(1));
}

/// A's data as built, value by value.
fn check_a(a: &Value, w: &World) {
    assert_eq!(uuid(&a["viewer"]["id"]), w.a.id);
    assert_eq!(a["viewer"]["profile"]["displayName"], json!("Alice"));
    assert_eq!(a["viewer"]["settings"]["model"], json!("a-model"));
    assert_eq!(a["viewer"]["projects"]["totalCount"], json!(2));
    assert_eq!(
        ids(&a["viewer"]["projects"]["nodes"]),
        vec![w.private, w.public]
    );
    assert_eq!(
        ids(&a["viewer"]["conversations"]["nodes"]),
        vec![w.chat_one, w.chat_two]
    );

    let private = &a["private"];
    assert_eq!(private["title"], json!("A private plans"));
    assert_eq!(private["status"], json!("ACTIVE"));
    assert_eq!(private["isPublic"], json!(false));
    assert_eq!(private["deletedAt"], json!(null));
    assert_eq!(private["viewerAccess"], json!("OWNER"));
    assert_eq!(private["chats"]["totalCount"], json!(1));
    assert_eq!(ids(&private["chats"]["nodes"]), vec![w.chat_one]);

    let public = &a["public"];
    assert_eq!(public["title"], json!("A public showcase"));
    assert_eq!(public["status"], json!("ACTIVE"));
    assert_eq!(public["isPublic"], json!(true));
    assert_eq!(ids(&public["chats"]["nodes"]), vec![w.chat_two]);

    let one = &a["chatOne"];
    assert_eq!(one["title"], json!("A secret chat"));
    assert_eq!(one["status"], json!("ACTIVE"));
    assert_eq!(one["messageCount"], json!(2));
    assert_eq!(one["totalTokens"], json!(12));
    assert_eq!(ids(&one["projects"]), vec![w.private]);
    assert_eq!(uuid(&one["lastMessage"]["id"]), w.msg_two);
    let contents: Vec<&Value> = one["messages"]["nodes"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["content"])
        .collect();
    assert_eq!(
        contents,
        vec![&json!("A secret one"), &json!("A secret two")]
    );

    let two = &a["chatTwo"];
    assert_eq!(two["messageCount"], json!(1));
    assert_eq!(two["totalTokens"], json!(3));
    assert_eq!(ids(&two["projects"]), vec![w.public]);

    assert_eq!(a["m1"]["content"], json!("A secret one"));
    assert_eq!(a["m1"]["sequence"], json!(1));
    assert_eq!(a["m1"]["tokenCount"], json!(5));
    assert_eq!(a["m1"]["feedback"], json!(null));
    assert_eq!(a["m2"]["content"], json!("A secret two"));
    assert_eq!(a["m3"]["content"], json!("A showcase message"));
}

async fn assert_unchanged(app: &TestApp, w: &World, before: &Value, after_what: &str) {
    let now = snapshot(app, w).await;
    assert_eq!(&now, before, "the data changed after: {after_what}");
}

// ------------------------------------------------------------------ callers

async fn service(app: &TestApp, query: &str, vars: Value) -> Reply {
    app.post(Some(&harness::service_token()), query, vars).await
}

/// The three faces of the anonymous caller.
#[derive(Clone, Copy, Debug)]
enum Anon {
    NoToken,
    KeyAsBearer,
    KeyInApikeyHeader,
}

const ANONS: [Anon; 3] = [Anon::NoToken, Anon::KeyAsBearer, Anon::KeyInApikeyHeader];

async fn as_anon(app: &TestApp, who: Anon, query: &str, vars: Value) -> Reply {
    match who {
        Anon::NoToken => app.post(None, query, vars).await,
        Anon::KeyAsBearer => app.post(Some(&harness::anon_key()), query, vars).await,
        Anon::KeyInApikeyHeader => {
            let response = app
                .client
                .post(format!("{}/graphql", app.url))
                .header("apikey", harness::anon_key())
                .json(&json!({ "query": query, "variables": vars }))
                .send()
                .await
                .expect("request reaches the gateway");
            let status = response.status().as_u16();
            let body = response.json().await.expect("a JSON body");
            Reply { status, body }
        }
    }
}

/// Exactly one error, with this code, and no data for the refused root field.
fn assert_refused(reply: &Reply, code: &str, what: &str) {
    assert_eq!(
        reply.codes(),
        vec![code.to_owned()],
        "{what}: {}",
        reply.body
    );
    assert_eq!(
        reply.body["data"],
        json!(null),
        "{what}: data leaked: {}",
        reply.body
    );
}

/// One refused mutation, then A's world re-read and compared.
struct Attack {
    what: String,
    query: &'static str,
    vars: Value,
    code: &'static str,
}

fn attack(what: impl Into<String>, query: &'static str, vars: Value, code: &'static str) -> Attack {
    Attack {
        what: what.into(),
        query,
        vars,
        code,
    }
}

async fn run_as_user(app: &TestApp, w: &World, who: &User, attacks: Vec<Attack>) {
    let before = snapshot(app, w).await;
    for a in attacks {
        let reply = app.as_user(who, a.query, a.vars).await;
        assert_refused(&reply, a.code, &a.what);
        assert_unchanged(app, w, &before, &a.what).await;
    }
}

async fn node_id(app: &TestApp, user: &User, field: &str, id: Uuid) -> String {
    let data = app
        .ok(
            user,
            &format!("query($id: UUID!) {{ x: {field}(id: $id) {{ nodeId }} }}"),
            json!({ "id": id }),
        )
        .await;
    data["x"]["nodeId"]
        .as_str()
        .unwrap_or_else(|| panic!("no nodeId: {data}"))
        .to_owned()
}

const LOOKUPS: &str = r#"
query($p: UUID!, $c: UUID!, $m: UUID!, $c2: UUID!, $m3: UUID!) {
  project(id: $p) { id title }
  conversation(id: $c) { id title }
  message(id: $m) { id content }
  publicChat: conversation(id: $c2) { id title }
  publicMessage: message(id: $m3) { id content }
}
"#;

fn assert_lookups_null(reply: &Reply, who: &str) {
    assert_eq!(reply.body.get("errors"), None, "{who}: {}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({ "project": null, "conversation": null, "message": null, "publicChat": null, "publicMessage": null }),
        "{who}"
    );
}

// ------------------------------------------------------------------ lookups

on_both!(
    lookups_of_a_rows_are_null_for_b_and_the_anonymous,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);
        let vars = json!({ "p": w.private, "c": w.chat_one, "m": w.msg_one, "c2": w.chat_two, "m3": w.msg_three });

        // A sees them all: the ids are real.
        let own = app.ok(&w.a, LOOKUPS, vars.clone()).await;
        assert_eq!(own["project"]["title"], json!("A private plans"));
        assert_eq!(own["conversation"]["title"], json!("A secret chat"));
        assert_eq!(own["message"]["content"], json!("A secret one"));
        assert_eq!(own["publicChat"]["title"], json!("A showcase chat"));
        assert_eq!(own["publicMessage"]["content"], json!("A showcase message"));

        // B: a chat filed in a public project is still A's alone.
        assert_lookups_null(&app.as_user(&w.b, LOOKUPS, vars.clone()).await, "user B");
        for who in ANONS {
            assert_lookups_null(
                &as_anon(&app, who, LOOKUPS, vars.clone()).await,
                &format!("{who:?}"),
            );
        }

        // Nested lookups from B's own rows do not reach A's rows either.
        let data = app
            .ok(
                &w.b,
                CHAT_PROJECTS_AND_MESSAGE_CHATS,
                json!({ "c": w.b_chat }),
            )
            .await;
        assert_eq!(ids(&data["conversation"]["projects"]), vec![w.b_project]);
        assert_eq!(
            uuid(&data["conversation"]["messages"]["nodes"][0]["conversation"]["id"]),
            w.b_chat
        );

        assert_unchanged(&app, &w, &before, "lookups").await;
    }
);

on_both!(
    node_ids_of_a_rows_are_null_for_b_and_the_anonymous,
    |app: TestApp| async move {
        let w = world(&app).await;
        let private = node_id(&app, &w.a, "project", w.private).await;
        let public = node_id(&app, &w.a, "project", w.public).await;
        let chat = node_id(&app, &w.a, "conversation", w.chat_one).await;
        let public_chat = node_id(&app, &w.a, "conversation", w.chat_two).await;
        let message = node_id(&app, &w.a, "message", w.msg_one).await;
        let public_message = node_id(&app, &w.a, "message", w.msg_three).await;

        // A resolves every one of them.
        for (id, expected) in [
            (&private, w.private),
            (&chat, w.chat_one),
            (&message, w.msg_one),
            (&public_message, w.msg_three),
        ] {
            let data = app.ok(&w.a, NODE, json!({ "id": id })).await;
            assert_eq!(uuid(&data["node"]["id"]), expected);
            assert_eq!(data["node"]["nodeId"], json!(id));
        }

        let hidden = [&private, &chat, &public_chat, &message, &public_message];
        for id in hidden {
            let reply = app.as_user(&w.b, NODE, json!({ "id": id })).await;
            assert_eq!(reply.data()["node"], json!(null), "user B, node {id}");
            for who in ANONS {
                let reply = as_anon(&app, who, NODE, json!({ "id": id })).await;
                assert_eq!(reply.data()["node"], json!(null), "{who:?}, node {id}");
            }
        }

        // The public project's nodeId resolves for everyone.
        let data = app.ok(&w.b, NODE, json!({ "id": public })).await;
        assert_eq!(uuid(&data["node"]["id"]), w.public);
        assert_eq!(data["node"]["title"], json!("A public showcase"));
        for who in ANONS {
            let reply = as_anon(&app, who, NODE, json!({ "id": public })).await;
            assert_eq!(uuid(&reply.data()["node"]["id"]), w.public, "{who:?}");
        }
    }
);

// ------------------------------------------------------------------ lists

on_both!(lists_never_show_a_rows_to_b, |app: TestApp| async move {
    let w = world(&app).await;
    let before = snapshot(&app, &w).await;
    check_baseline(&before, &w);

    let data = app
        .ok(
            &w.b,
            VIEWER_LISTS_AND_PUBLIC_PROJECT,
            json!({ "q": w.public, "p": w.private }),
        )
        .await;
    let v = &data["viewer"];
    assert_eq!(v["projects"]["totalCount"], json!(1));
    assert_eq!(ids(&v["projects"]["nodes"]), vec![w.b_project]);
    assert_eq!(
        v["publicOnes"]["totalCount"],
        json!(0),
        "A's public project is not B's"
    );
    assert_eq!(ids(&v["publicOnes"]["nodes"]), Vec::<Uuid>::new());
    assert_eq!(v["named"]["totalCount"], json!(0));
    assert_eq!(v["deleted"]["totalCount"], json!(0));
    assert_eq!(v["conversations"]["totalCount"], json!(1));
    assert_eq!(ids(&v["conversations"]["nodes"]), vec![w.b_chat]);
    assert_eq!(v["secret"]["totalCount"], json!(0));
    assert_eq!(v["inPublic"]["totalCount"], json!(0));
    assert_eq!(v["inPrivate"]["totalCount"], json!(0));

    // A's public project: readable, but its chats are A's.
    let p = &data["project"];
    assert_eq!(p["title"], json!("A public showcase"));
    assert_eq!(p["viewerAccess"], json!("VIEWER"));
    assert_eq!(uuid(&p["ownerId"]), w.a.id);
    assert_eq!(uuid(&p["owner"]["id"]), w.a.id);
    assert_eq!(p["owner"]["displayName"], json!("Alice"));
    assert_eq!(p["chats"]["totalCount"], json!(0));
    assert_eq!(ids(&p["chats"]["nodes"]), Vec::<Uuid>::new());
    assert_eq!(p["lastFirst"]["totalCount"], json!(0));
    assert_eq!(ids(&p["lastFirst"]["nodes"]), Vec::<Uuid>::new());

    // publicProjects: A's public one only, never the private one, no chats through it.
    let data = app.ok(&w.b, PUBLIC_PROJECTS_WITH_CHATS, json!({})).await;
    assert_eq!(data["publicProjects"]["totalCount"], json!(1));
    assert_eq!(ids(&data["publicProjects"]["nodes"]), vec![w.public]);
    assert_eq!(
        data["publicProjects"]["nodes"][0]["chats"]["totalCount"],
        json!(0)
    );

    // The owner's public profile is all B gets: no email field on PublicProfile.
    let reply = app
        .as_user(&w.b, PROJECT_OWNER_EMAIL, json!({ "q": w.public }))
        .await;
    assert_eq!(reply.code(), "GRAPHQL_VALIDATION_FAILED");

    assert_unchanged(&app, &w, &before, "list reads").await;
});

on_both!(
    conversation_projects_lists_only_projects_the_reader_may_read,
    |app: TestApp| async move {
        let w = world(&app).await;
        // The service role files B's chat in both of A's projects (only it can).
        for project in [w.private, w.public] {
            let reply = service(
                &app,
                ADD_CHAT_TO_PROJECT,
                json!({ "p": project, "c": w.b_chat }),
            )
            .await;
            assert_eq!(uuid(&reply.data()["addChatToProject"]["id"]), project);
        }
        let before = snapshot(&app, &w).await;
        let links = &before["links"];
        assert_eq!(ids(&links["private"]["chats"]["nodes"]).len(), 2);
        assert_eq!(ids(&links["public"]["chats"]["nodes"]).len(), 2);

        // B: the private project holding B's chat does not exist for B.
        let data = app
            .ok(
                &w.b,
                CHAT_LINKS_SEEN_BY_A,
                json!({ "c": w.b_chat, "p": w.private, "q": w.public }),
            )
            .await;
        let mut held = ids(&data["conversation"]["projects"]);
        held.sort();
        let mut expected = vec![w.b_project, w.public];
        expected.sort();
        assert_eq!(
            held, expected,
            "B's chat lists B's project and A's public one, not A's private one"
        );
        assert_eq!(data["viewer"]["inPrivate"]["totalCount"], json!(0));
        assert_eq!(
            ids(&data["viewer"]["inPrivate"]["nodes"]),
            Vec::<Uuid>::new()
        );
        assert_eq!(ids(&data["viewer"]["inPublic"]["nodes"]), vec![w.b_chat]);
        // In A's public project B sees B's own chat only, never A's.
        assert_eq!(data["public"]["chats"]["totalCount"], json!(1));
        assert_eq!(ids(&data["public"]["chats"]["nodes"]), vec![w.b_chat]);

        // A: B's chat in A's projects is not A's to read.
        let data = app
            .ok(
                &w.a,
                PROJECT_CHATS_AND_PROJECT_CHATS,
                json!({ "p": w.private, "q": w.public }),
            )
            .await;
        assert_eq!(data["private"]["chats"]["totalCount"], json!(1));
        assert_eq!(ids(&data["private"]["chats"]["nodes"]), vec![w.chat_one]);
        assert_eq!(data["public"]["chats"]["totalCount"], json!(1));
        assert_eq!(ids(&data["public"]["chats"]["nodes"]), vec![w.chat_two]);

        // B cannot unfile its own chat from A's private project (it does not exist for B),
        // and may not unfile it from A's public project (readable, not editable).
        let before = snapshot(&app, &w).await;
        run_as_user(
            &app,
            &w,
            &w.b,
            vec![
                attack(
                    "unfile B's chat from A's private project",
                    REMOVE_CHAT,
                    json!({ "p": w.private, "c": w.b_chat }),
                    "NOT_FOUND",
                ),
                attack(
                    "unfile B's chat from A's public project",
                    REMOVE_CHAT,
                    json!({ "p": w.public, "c": w.b_chat }),
                    "FORBIDDEN",
                ),
            ],
        )
        .await;
        assert_unchanged(&app, &w, &before, "unfiling attempts").await;
    }
);

// ------------------------------------------------------------------ B's mutations

on_both!(
    b_mutations_on_a_private_rows_are_not_found,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);
        let (p, c, m) = (w.private, w.chat_one, w.msg_one);
        let attacks = vec![
            attack(
                "updateProject title",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": "pwned" } }),
                "NOT_FOUND",
            ),
            attack(
                "updateProject public+status",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "isPublic": true, "status": "ARCHIVED" } }),
                "NOT_FOUND",
            ),
            attack(
                "updateProject status DELETED",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "status": "DELETED" } }),
                "NOT_FOUND",
            ),
            attack(
                "updateProject title null (visibility before input)",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": null } }),
                "NOT_FOUND",
            ),
            attack(
                "updateProject empty title (visibility before input)",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": "" } }),
                "NOT_FOUND",
            ),
            attack(
                "deleteProject",
                DELETE_PROJECT,
                json!({ "id": p }),
                "NOT_FOUND",
            ),
            attack(
                "deleteProject permanent",
                DELETE_PROJECT,
                json!({ "id": p, "permanent": true }),
                "NOT_FOUND",
            ),
            attack(
                "restoreProject",
                RESTORE_PROJECT_STATUS,
                json!({ "id": p }),
                "NOT_FOUND",
            ),
            attack(
                "file B's chat in A's private project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": p, "c": w.b_chat }),
                "NOT_FOUND",
            ),
            attack(
                "file A's chat in B's project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": w.b_project, "c": c }),
                "NOT_FOUND",
            ),
            attack(
                "file A's public chat in B's project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": w.b_project, "c": w.chat_two }),
                "NOT_FOUND",
            ),
            attack(
                "file A's chat in A's private project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": p, "c": c }),
                "NOT_FOUND",
            ),
            attack(
                "file A's chat in A's public project (chat invisible before FORBIDDEN)",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": w.public, "c": c }),
                "NOT_FOUND",
            ),
            attack(
                "unfile A's chat from A's private project",
                REMOVE_CHAT,
                json!({ "p": p, "c": c }),
                "NOT_FOUND",
            ),
            attack(
                "unfile A's public chat from A's public project",
                REMOVE_CHAT,
                json!({ "p": w.public, "c": w.chat_two }),
                "NOT_FOUND",
            ),
            attack(
                "unfile B's chat from A's private project",
                REMOVE_CHAT,
                json!({ "p": p, "c": w.b_chat }),
                "NOT_FOUND",
            ),
            attack(
                "unfile A's chat from B's project",
                REMOVE_CHAT,
                json!({ "p": w.b_project, "c": c }),
                "NOT_FOUND",
            ),
            attack(
                "createConversation in A's private project",
                CREATE_CHAT,
                json!({ "input": { "title": "planted", "projectId": p } }),
                "NOT_FOUND",
            ),
            attack(
                "createConversation with firstMessage in A's private project",
                CREATE_CHAT,
                json!({ "input": { "title": "planted", "projectId": p, "firstMessage": { "role": "USER", "content": "planted", "tokenCount": 1000 } } }),
                "NOT_FOUND",
            ),
            attack(
                "createConversation in A's private project with bad input (visibility first)",
                CREATE_CHAT,
                json!({ "input": { "title": "x".repeat(600), "projectId": p, "firstMessage": { "role": "USER", "content": "x", "tokenCount": -1 } } }),
                "NOT_FOUND",
            ),
            attack(
                "updateConversation",
                UPDATE_CHAT,
                json!({ "id": c, "input": { "title": "pwned", "pinned": true, "status": "ARCHIVED" } }),
                "NOT_FOUND",
            ),
            attack(
                "updateConversation pinned null (visibility first)",
                UPDATE_CHAT,
                json!({ "id": c, "input": { "pinned": null } }),
                "NOT_FOUND",
            ),
            attack(
                "updateConversation of A's public chat",
                UPDATE_CHAT,
                json!({ "id": w.chat_two, "input": { "title": "pwned" } }),
                "NOT_FOUND",
            ),
            attack(
                "deleteConversation",
                DELETE_CHAT,
                json!({ "id": c }),
                "NOT_FOUND",
            ),
            attack(
                "deleteConversation of A's public chat",
                DELETE_CHAT,
                json!({ "id": w.chat_two }),
                "NOT_FOUND",
            ),
            attack(
                "sendMessage append",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "pwned", "tokenCount": 1000 } }),
                "NOT_FOUND",
            ),
            attack(
                "sendMessage overwrite sequence 1",
                SEND,
                json!({ "input": { "conversationId": c, "role": "ASSISTANT", "content": "pwned", "sequence": 1 } }),
                "NOT_FOUND",
            ),
            attack(
                "sendMessage new sequence 9",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "pwned", "sequence": 9, "tokenCount": 1 } }),
                "NOT_FOUND",
            ),
            attack(
                "sendMessage sequence 0 (visibility first)",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "pwned", "sequence": 0 } }),
                "NOT_FOUND",
            ),
            attack(
                "sendMessage to A's public chat",
                SEND,
                json!({ "input": { "conversationId": w.chat_two, "role": "USER", "content": "pwned", "sequence": 1 } }),
                "NOT_FOUND",
            ),
            attack(
                "updateMessage content",
                UPDATE_MESSAGE,
                json!({ "id": m, "input": { "content": "pwned" } }),
                "NOT_FOUND",
            ),
            attack(
                "updateMessage feedback",
                UPDATE_MESSAGE,
                json!({ "id": m, "input": { "feedback": { "rating": -1 } } }),
                "NOT_FOUND",
            ),
            attack(
                "updateMessage content null (visibility first)",
                UPDATE_MESSAGE,
                json!({ "id": m, "input": { "content": null } }),
                "NOT_FOUND",
            ),
            attack(
                "updateMessage of A's public chat",
                UPDATE_MESSAGE,
                json!({ "id": w.msg_three, "input": { "content": "pwned" } }),
                "NOT_FOUND",
            ),
            attack(
                "deleteMessage",
                DELETE_MESSAGE,
                json!({ "id": m }),
                "NOT_FOUND",
            ),
            attack(
                "deleteMessage of A's public chat",
                DELETE_MESSAGE,
                json!({ "id": w.msg_three }),
                "NOT_FOUND",
            ),
        ];
        run_as_user(&app, &w, &w.b, attacks).await;

        // No existence leak: A's ids answer exactly as ids that were never used.
        let unused = Uuid::new_v4();
        for (what, query, real, fake) in [
            (
                "updateProject",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": "t" } }),
                json!({ "id": unused, "input": { "title": "t" } }),
            ),
            (
                "deleteProject",
                DELETE_PROJECT,
                json!({ "id": p }),
                json!({ "id": unused }),
            ),
            (
                "restoreProject",
                RESTORE_PROJECT_STATUS,
                json!({ "id": p }),
                json!({ "id": unused }),
            ),
            (
                "addChatToProject",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": p, "c": w.b_chat }),
                json!({ "p": unused, "c": w.b_chat }),
            ),
            (
                "createConversation",
                CREATE_CHAT,
                json!({ "input": { "projectId": p } }),
                json!({ "input": { "projectId": unused } }),
            ),
            (
                "updateConversation",
                UPDATE_CHAT,
                json!({ "id": c, "input": { "title": "t" } }),
                json!({ "id": unused, "input": { "title": "t" } }),
            ),
            (
                "deleteConversation",
                DELETE_CHAT,
                json!({ "id": c }),
                json!({ "id": unused }),
            ),
            (
                "sendMessage",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "x" } }),
                json!({ "input": { "conversationId": unused, "role": "USER", "content": "x" } }),
            ),
            (
                "updateMessage",
                UPDATE_MESSAGE,
                json!({ "id": m, "input": { "content": "x" } }),
                json!({ "id": unused, "input": { "content": "x" } }),
            ),
            (
                "deleteMessage",
                DELETE_MESSAGE,
                json!({ "id": m }),
                json!({ "id": unused }),
            ),
        ] {
            let real = app.as_user(&w.b, query, real).await;
            let fake = app.as_user(&w.b, query, fake).await;
            assert_eq!(real.code(), "NOT_FOUND", "{what}");
            assert_eq!(
                real.body["errors"][0]["message"], fake.body["errors"][0]["message"],
                "{what}: the message tells A's id from an unused one"
            );
            assert_eq!(real.codes(), fake.codes(), "{what}");
        }

        // B created nothing along the way (the refused createConversation left no chat).
        let after = snapshot(&app, &w).await;
        assert_eq!(after, before);
        assert_eq!(
            ids(&after["b"]["viewer"]["conversations"]["nodes"]),
            vec![w.b_chat]
        );
    }
);

on_both!(
    b_mutations_on_a_public_project_are_forbidden,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);
        let q = w.public;
        let attacks = vec![
            attack(
                "updateProject title",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "title": "pwned" } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject make private",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "isPublic": false } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject metadata",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "metadata": { "x": 1 }, "description": "pwned" } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject status ARCHIVED",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "status": "ARCHIVED" } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject status DELETED",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "status": "DELETED" } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject title null (permission before input)",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "title": null } }),
                "FORBIDDEN",
            ),
            attack(
                "updateProject empty title (permission before input)",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "title": "  " } }),
                "FORBIDDEN",
            ),
            attack(
                "deleteProject",
                DELETE_PROJECT,
                json!({ "id": q }),
                "FORBIDDEN",
            ),
            attack(
                "deleteProject permanent",
                DELETE_PROJECT,
                json!({ "id": q, "permanent": true }),
                "FORBIDDEN",
            ),
            attack(
                "restoreProject",
                RESTORE_PROJECT_STATUS,
                json!({ "id": q }),
                "FORBIDDEN",
            ),
            attack(
                "file B's chat in A's public project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": q, "c": w.b_chat }),
                "FORBIDDEN",
            ),
            attack(
                "unfile B's (unfiled) chat from A's public project",
                REMOVE_CHAT,
                json!({ "p": q, "c": w.b_chat }),
                "FORBIDDEN",
            ),
            attack(
                "createConversation in A's public project",
                CREATE_CHAT,
                json!({ "input": { "title": "planted", "projectId": q } }),
                "FORBIDDEN",
            ),
            attack(
                "createConversation with firstMessage in A's public project",
                CREATE_CHAT,
                json!({ "input": { "title": "planted", "projectId": q, "firstMessage": { "role": "USER", "content": "planted" } } }),
                "FORBIDDEN",
            ),
            attack(
                "createConversation in A's public project with bad input (permission first)",
                CREATE_CHAT,
                json!({ "input": { "title": "x".repeat(600), "projectId": q, "firstMessage": { "role": "USER", "content": "x", "tokenCount": -1 } } }),
                "FORBIDDEN",
            ),
            // A's chat inside it stays invisible: NOT_FOUND before FORBIDDEN.
            attack(
                "refile A's chat in A's public project",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": q, "c": w.chat_two }),
                "NOT_FOUND",
            ),
            attack(
                "unfile A's chat from A's public project",
                REMOVE_CHAT,
                json!({ "p": q, "c": w.chat_two }),
                "NOT_FOUND",
            ),
        ];
        run_as_user(&app, &w, &w.b, attacks).await;

        // Still readable by B, as it was.
        let data = app.ok(&w.b, PROJECT_FIELDS, json!({ "q": q })).await;
        assert_eq!(
            data["project"],
            json!({ "title": "A public showcase", "status": "ACTIVE", "isPublic": true, "description": null, "metadata": {}, "viewerAccess": "VIEWER" })
        );
        let after = snapshot(&app, &w).await;
        assert_eq!(
            ids(&after["links"]["public"]["chats"]["nodes"]),
            vec![w.chat_two],
            "no chat of B's was filed"
        );
        assert_eq!(
            ids(&after["b"]["viewer"]["conversations"]["nodes"]),
            vec![w.b_chat],
            "no chat was created"
        );
    }
);

// ------------------------------------------------------------------ anonymous mutations

on_both!(
    anonymous_mutations_are_unauthenticated,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);
        let (p, q, c, m) = (w.private, w.public, w.chat_one, w.msg_one);
        let unused = Uuid::new_v4();
        let cases: Vec<(&str, &str, Value)> = vec![
            (
                "updateProfile",
                UPDATE_PROFILE,
                json!({ "input": { "displayName": "anon" } }),
            ),
            (
                "updateSettings",
                UPDATE_SETTINGS,
                json!({ "input": { "model": "anon" } }),
            ),
            ("deleteAccount", DELETE_ACCOUNT, json!({})),
            (
                "createProject",
                CREATE_PROJECT,
                json!({ "input": { "title": "anon", "isPublic": true } }),
            ),
            (
                "createProject with bad input",
                CREATE_PROJECT,
                json!({ "input": { "title": "" } }),
            ),
            (
                "updateProject private",
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": "pwned" } }),
            ),
            (
                "updateProject public",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "title": "pwned" } }),
            ),
            (
                "updateProject public title null",
                UPDATE_PROJECT,
                json!({ "id": q, "input": { "title": null } }),
            ),
            (
                "updateProject unused id",
                UPDATE_PROJECT,
                json!({ "id": unused, "input": { "title": "pwned" } }),
            ),
            ("deleteProject private", DELETE_PROJECT, json!({ "id": p })),
            (
                "deleteProject public permanent",
                DELETE_PROJECT,
                json!({ "id": q, "permanent": true }),
            ),
            (
                "restoreProject public",
                RESTORE_PROJECT_STATUS,
                json!({ "id": q }),
            ),
            (
                "restoreProject private",
                RESTORE_PROJECT_STATUS,
                json!({ "id": p }),
            ),
            (
                "addChatToProject public",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": q, "c": c }),
            ),
            (
                "addChatToProject private",
                ADD_CHAT_TO_PROJECT,
                json!({ "p": p, "c": w.chat_two }),
            ),
            (
                "removeChatFromProject public",
                REMOVE_CHAT,
                json!({ "p": q, "c": w.chat_two }),
            ),
            (
                "removeChatFromProject private",
                REMOVE_CHAT,
                json!({ "p": p, "c": c }),
            ),
            (
                "createConversation",
                CREATE_CHAT,
                json!({ "input": { "title": "anon" } }),
            ),
            (
                "createConversation in public",
                CREATE_CHAT,
                json!({ "input": { "title": "anon", "projectId": q } }),
            ),
            (
                "createConversation in private",
                CREATE_CHAT,
                json!({ "input": { "title": "anon", "projectId": p, "firstMessage": { "role": "USER", "content": "x" } } }),
            ),
            (
                "updateConversation",
                UPDATE_CHAT,
                json!({ "id": c, "input": { "title": "pwned" } }),
            ),
            (
                "updateConversation public chat",
                UPDATE_CHAT,
                json!({ "id": w.chat_two, "input": { "pinned": null } }),
            ),
            ("deleteConversation", DELETE_CHAT, json!({ "id": c })),
            (
                "deleteConversation public chat",
                DELETE_CHAT,
                json!({ "id": w.chat_two }),
            ),
            (
                "sendMessage",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "pwned" } }),
            ),
            (
                "sendMessage sequence 1",
                SEND,
                json!({ "input": { "conversationId": c, "role": "USER", "content": "pwned", "sequence": 1 } }),
            ),
            (
                "sendMessage sequence 0",
                SEND,
                json!({ "input": { "conversationId": w.chat_two, "role": "USER", "content": "pwned", "sequence": 0 } }),
            ),
            (
                "updateMessage",
                UPDATE_MESSAGE,
                json!({ "id": m, "input": { "content": "pwned" } }),
            ),
            (
                "updateMessage public chat",
                UPDATE_MESSAGE,
                json!({ "id": w.msg_three, "input": { "content": null } }),
            ),
            ("deleteMessage", DELETE_MESSAGE, json!({ "id": m })),
            (
                "deleteMessage public chat",
                DELETE_MESSAGE,
                json!({ "id": w.msg_three }),
            ),
        ];
        for who in ANONS {
            for (what, query, vars) in &cases {
                let reply = as_anon(&app, who, query, vars.clone()).await;
                assert_refused(&reply, "UNAUTHENTICATED", &format!("{who:?} {what}"));
                assert_unchanged(&app, &w, &before, &format!("{who:?} {what}")).await;
            }
            // And the anonymous caller is nobody.
            let reply = as_anon(&app, who, VIEWER_ID, json!({})).await;
            assert_eq!(reply.data()["viewer"], json!(null), "{who:?}");
        }
        // Nothing anonymous was created: the only public project is still A's.
        let reply = as_anon(&app, Anon::NoToken, PUBLIC_PROJECTS, json!({})).await;
        assert_eq!(ids(&reply.data()["publicProjects"]["nodes"]), vec![q]);
    }
);

// ------------------------------------------------------------------ B's own account

on_both!(
    b_changing_and_deleting_own_account_leaves_a_untouched,
    |app: TestApp| async move {
        let w = world(&app).await;
        // A's chat filed in B's project (by the service role): B's account deletion must
        // not take A's chat or its messages with it.
        let reply = service(
            &app,
            ADD_CHAT_TO_PROJECT,
            json!({ "p": w.b_project, "c": w.chat_one }),
        )
        .await;
        assert_eq!(uuid(&reply.data()["addChatToProject"]["id"]), w.b_project);
        let before = snapshot(&app, &w).await;

        let data = app
            .ok(
                &w.b,
                UPDATE_PROFILE,
                json!({ "input": { "displayName": "Mallory", "onboarding": { "who": "B" } } }),
            )
            .await;
        assert_eq!(uuid(&data["updateProfile"]["id"]), w.b.id);
        assert_eq!(data["updateProfile"]["displayName"], json!("Mallory"));
        let data = app
            .ok(
                &w.b,
                UPDATE_SETTINGS,
                json!({ "input": { "model": "b-model", "theme": { "mode": "dark" } } }),
            )
            .await;
        assert_eq!(data["updateSettings"]["model"], json!("b-model"));
        assert_eq!(
            before["a"],
            snapshot(&app, &w).await["a"],
            "B's profile and settings writes touched A's"
        );

        let data = app.ok(&w.b, DELETE_ACCOUNT, json!({})).await;
        assert_eq!(uuid(&data["deleteAccount"]), w.b.id);

        let after = snapshot(&app, &w).await;
        assert_eq!(
            after["a"], before["a"],
            "B's account deletion touched A's data"
        );
        check_a(&after["a"], &w);
        // B's project is gone, and with it the link to A's chat; A's own links remain.
        assert_eq!(after["links"]["bProject"], json!(null));
        assert_eq!(
            ids(&after["links"]["private"]["chats"]["nodes"]),
            vec![w.chat_one]
        );
        assert_eq!(
            ids(&after["links"]["public"]["chats"]["nodes"]),
            vec![w.chat_two]
        );
        let reply = service(&app, CHAT_COUNT_AND_PROJECTS, json!({ "c": w.chat_one })).await;
        assert_eq!(reply.data()["conversation"]["messageCount"], json!(2));
        assert_eq!(
            ids(&reply.data()["conversation"]["projects"]),
            vec![w.private]
        );
    }
);

on_both!(
    b_own_project_holding_a_chat_gives_b_nothing_of_a,
    |app: TestApp| async move {
        let w = world(&app).await;
        let reply = service(
            &app,
            ADD_CHAT_TO_PROJECT,
            json!({ "p": w.b_project, "c": w.chat_one }),
        )
        .await;
        assert_eq!(uuid(&reply.data()["addChatToProject"]["id"]), w.b_project);
        let before = snapshot(&app, &w).await;
        let mut linked = ids(&before["links"]["bProject"]["chats"]["nodes"]);
        linked.sort();
        let mut expected = vec![w.b_chat, w.chat_one];
        expected.sort();
        assert_eq!(linked, expected);

        // B reads its own project: A's chat filed there is not listed nor counted.
        let data = app
            .ok(&w.b, B_PROJECT_CHATS, json!({ "bp": w.b_project }))
            .await;
        assert_eq!(data["project"]["viewerAccess"], json!("OWNER"));
        assert_eq!(data["project"]["chats"]["totalCount"], json!(1));
        assert_eq!(ids(&data["project"]["chats"]["nodes"]), vec![w.b_chat]);
        assert_eq!(
            data["project"]["chats"]["nodes"][0]["lastMessage"]["content"],
            json!("B says hi")
        );
        assert_eq!(data["project"]["byLast"]["totalCount"], json!(1));
        assert_eq!(ids(&data["project"]["byLast"]["nodes"]), vec![w.b_chat]);
        assert_eq!(
            ids(&data["viewer"]["conversations"]["nodes"]),
            vec![w.b_chat]
        );

        // Owning the project gives no power over A's chat in it.
        run_as_user(
            &app,
            &w,
            &w.b,
            vec![
                attack("unfile A's chat from B's project", REMOVE_CHAT, json!({ "p": w.b_project, "c": w.chat_one }), "NOT_FOUND"),
                attack("refile A's chat in B's project", ADD_CHAT_TO_PROJECT, json!({ "p": w.b_project, "c": w.chat_one }), "NOT_FOUND"),
                attack("rename A's chat", UPDATE_CHAT, json!({ "id": w.chat_one, "input": { "title": "mine" } }), "NOT_FOUND"),
                attack("delete A's chat", DELETE_CHAT, json!({ "id": w.chat_one }), "NOT_FOUND"),
                attack("append to A's chat", SEND, json!({ "input": { "conversationId": w.chat_one, "role": "USER", "content": "pwned" } }), "NOT_FOUND"),
                attack("overwrite A's message by sequence", SEND, json!({ "input": { "conversationId": w.chat_one, "role": "USER", "content": "pwned", "sequence": 2 } }), "NOT_FOUND"),
                attack("delete A's message", DELETE_MESSAGE, json!({ "id": w.msg_two }), "NOT_FOUND"),
            ],
        )
        .await;

        // B's own project changes stay B's: archiving it, then deleting it for good,
        // takes the link with it but never A's chat.
        let data = app
            .ok(&w.b, UPDATE_PROJECT, json!({ "id": w.b_project, "input": { "status": "ARCHIVED", "title": "B renamed" } }))
            .await;
        assert_eq!(data["updateProject"]["status"], json!("ARCHIVED"));
        assert_eq!(before["a"], snapshot(&app, &w).await["a"]);
        let data = app
            .ok(
                &w.b,
                DELETE_PROJECT,
                json!({ "id": w.b_project, "permanent": true }),
            )
            .await;
        assert_eq!(uuid(&data["deleteProject"]), w.b_project);
        let after = snapshot(&app, &w).await;
        assert_eq!(
            after["a"], before["a"],
            "B's permanent delete touched A's chat"
        );
        assert_eq!(after["links"]["bProject"], json!(null));
        assert_eq!(after["a"]["chatOne"]["messageCount"], json!(2));
        assert_eq!(after["a"]["chatOne"]["totalTokens"], json!(12));
    }
);

// ------------------------------------------------------------------ service role

on_both!(
    service_role_reads_any_row_but_is_no_viewer_and_owns_nothing,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);

        let reply = service(
            &app,
            VIEWER_AND_OWN_ROWS,
            json!({ "p": w.private, "c": w.chat_one, "m": w.msg_one }),
        )
        .await;
        let data = reply.data();
        assert_eq!(data["viewer"], json!(null));
        let p = &data["project"];
        assert_eq!(p["title"], json!("A private plans"));
        assert_eq!(p["isPublic"], json!(false));
        assert_eq!(p["viewerAccess"], json!("OWNER"));
        assert_eq!(uuid(&p["owner"]["id"]), w.a.id);
        assert_eq!(p["owner"]["displayName"], json!("Alice"));
        assert_eq!(ids(&p["chats"]["nodes"]), vec![w.chat_one]);
        let c = &data["conversation"];
        assert_eq!(c["title"], json!("A secret chat"));
        assert_eq!(c["messageCount"], json!(2));
        assert_eq!(c["totalTokens"], json!(12));
        assert_eq!(ids(&c["projects"]), vec![w.private]);
        assert_eq!(
            c["messages"]["nodes"],
            json!([{ "content": "A secret one" }, { "content": "A secret two" }])
        );
        assert_eq!(data["message"]["content"], json!("A secret one"));
        assert_eq!(data["message"]["tokenCount"], json!(5));
        assert_eq!(uuid(&data["message"]["conversation"]["id"]), w.chat_one);

        // B's rows too, and the nodeIds of A's.
        let reply = service(&app, PROJECT_TITLE_AND_ACCESS, json!({ "id": w.b_project })).await;
        assert_eq!(
            reply.data()["project"],
            json!({ "title": "B own project", "viewerAccess": "OWNER" })
        );
        let private_node = node_id(&app, &w.a, "project", w.private).await;
        let reply = service(&app, NODE, json!({ "id": private_node })).await;
        assert_eq!(uuid(&reply.data()["node"]["id"]), w.private);

        // It creates no user-owned rows, whatever the input.
        for (what, query, vars) in [
            (
                "createProject",
                CREATE_PROJECT,
                json!({ "input": { "title": "service" } }),
            ),
            (
                "createProject public",
                CREATE_PROJECT,
                json!({ "input": { "title": "service", "isPublic": true } }),
            ),
            (
                "createConversation",
                CREATE_CHAT,
                json!({ "input": { "title": "service" } }),
            ),
            (
                "createConversation in A's project",
                CREATE_CHAT,
                json!({ "input": { "title": "service", "projectId": w.private, "firstMessage": { "role": "SYSTEM", "content": "x" } } }),
            ),
            (
                "createConversation in A's public project",
                CREATE_CHAT,
                json!({ "input": { "projectId": w.public } }),
            ),
        ] {
            let reply = service(&app, query, vars).await;
            assert_refused(&reply, "FORBIDDEN", what);
            assert_unchanged(&app, &w, &before, what).await;
        }
        let reply = as_anon(&app, Anon::NoToken, PUBLIC_PROJECTS, json!({})).await;
        assert_eq!(
            ids(&reply.data()["publicProjects"]["nodes"]),
            vec![w.public]
        );
    }
);

// ------------------------------------------------------------------ public projects

on_both!(
    anonymous_reads_a_public_project_but_not_its_chats,
    |app: TestApp| async move {
        let w = world(&app).await;
        let before = snapshot(&app, &w).await;
        check_baseline(&before, &w);
        let vars = json!({ "q": w.public, "p": w.private, "c": w.chat_two, "m": w.msg_three });
        for who in ANONS {
            let reply = as_anon(&app, who, WHAT_B_SEES, vars.clone()).await;
            let data = reply.data();
            assert_eq!(data["viewer"], json!(null), "{who:?}");
            let p = &data["public"];
            assert_eq!(p["title"], json!("A public showcase"), "{who:?}");
            assert_eq!(p["isPublic"], json!(true));
            assert_eq!(p["status"], json!("ACTIVE"));
            assert_eq!(p["viewerAccess"], json!("VIEWER"));
            assert_eq!(uuid(&p["ownerId"]), w.a.id);
            assert_eq!(uuid(&p["owner"]["id"]), w.a.id, "{who:?}");
            assert_eq!(p["owner"]["displayName"], json!("Alice"));
            assert_eq!(
                p["chats"],
                json!({ "totalCount": 0, "nodes": [] }),
                "{who:?} sees A's chats"
            );
            assert_eq!(
                p["byLast"],
                json!({ "totalCount": 0, "nodes": [] }),
                "{who:?} sees A's chats"
            );
            assert_eq!(data["private"], json!(null));
            assert_eq!(data["chat"], json!(null));
            assert_eq!(data["message"], json!(null));
            let list = &data["publicProjects"];
            assert_eq!(list["totalCount"], json!(1), "{who:?}");
            assert_eq!(ids(&list["nodes"]), vec![w.public]);
            assert_eq!(
                list["nodes"][0]["chats"],
                json!({ "totalCount": 0, "nodes": [] })
            );
        }
        assert_unchanged(&app, &w, &before, "anonymous reads").await;
    }
);

on_both!(
    deleted_public_project_is_invisible_to_others,
    |app: TestApp| async move {
        let w = world(&app).await;
        // B's chat filed in A's public project, so B could see it there while it lived.
        let reply = service(
            &app,
            ADD_CHAT_TO_PROJECT,
            json!({ "p": w.public, "c": w.b_chat }),
        )
        .await;
        assert_eq!(uuid(&reply.data()["addChatToProject"]["id"]), w.public);
        let held = |data: &Value| {
            let mut v = ids(&data["conversation"]["projects"]);
            v.sort();
            v
        };
        let data = app.ok(&w.b, CHAT_PROJECTS, json!({ "c": w.b_chat })).await;
        let mut both = vec![w.b_project, w.public];
        both.sort();
        assert_eq!(held(&data), both);
        let public_node = node_id(&app, &w.a, "project", w.public).await;

        let data = app
            .ok(&w.a, DELETE_PROJECT, json!({ "id": w.public }))
            .await;
        assert_eq!(uuid(&data["deleteProject"]), w.public);
        let before = snapshot(&app, &w).await;
        assert_eq!(before["a"]["public"]["status"], json!("DELETED"));
        assert_ne!(before["a"]["public"]["deletedAt"], json!(null));
        assert_eq!(
            ids(&before["a"]["viewer"]["deleted"]["nodes"]),
            vec![w.public]
        );
        // A's own reverse link excludes it too (DELETED projects are not listed).
        assert_eq!(before["a"]["chatTwo"]["projects"], json!([]));

        // Lookups and lists: gone for B and the anonymous.
        let data = app
            .ok(&w.b, PUBLIC_PROJECT_AND_LIST, json!({ "q": w.public }))
            .await;
        assert_eq!(data["project"], json!(null));
        assert_eq!(
            data["publicProjects"],
            json!({ "totalCount": 0, "nodes": [] })
        );
        let data = app.ok(&w.b, NODE, json!({ "id": public_node })).await;
        assert_eq!(data["node"], json!(null));
        let data = app.ok(&w.b, CHAT_PROJECTS, json!({ "c": w.b_chat })).await;
        assert_eq!(held(&data), vec![w.b_project]);
        let data = app
            .ok(&w.b, VIEWER_CHAT_COUNT_IN_PROJECT, json!({ "q": w.public }))
            .await;
        assert_eq!(data["viewer"]["conversations"]["totalCount"], json!(0));
        for who in ANONS {
            let reply = as_anon(&app, who, PUBLIC_PROJECT_AND_LIST, json!({ "q": w.public })).await;
            assert_eq!(reply.data()["project"], json!(null), "{who:?}");
            assert_eq!(
                reply.data()["publicProjects"]["totalCount"],
                json!(0),
                "{who:?}"
            );
            let reply = as_anon(&app, who, NODE, json!({ "id": public_node })).await;
            assert_eq!(reply.data()["node"], json!(null), "{who:?}");
        }

        // Mutations: NOT_FOUND now, not FORBIDDEN.
        let p = w.public;
        run_as_user(
            &app,
            &w,
            &w.b,
            vec![
                attack(
                    "updateProject",
                    UPDATE_PROJECT,
                    json!({ "id": p, "input": { "title": "pwned" } }),
                    "NOT_FOUND",
                ),
                attack(
                    "updateProject status ACTIVE",
                    UPDATE_PROJECT,
                    json!({ "id": p, "input": { "status": "ACTIVE" } }),
                    "NOT_FOUND",
                ),
                attack(
                    "deleteProject",
                    DELETE_PROJECT,
                    json!({ "id": p }),
                    "NOT_FOUND",
                ),
                attack(
                    "deleteProject permanent",
                    DELETE_PROJECT,
                    json!({ "id": p, "permanent": true }),
                    "NOT_FOUND",
                ),
                attack(
                    "restoreProject",
                    RESTORE_PROJECT_STATUS,
                    json!({ "id": p }),
                    "NOT_FOUND",
                ),
                attack(
                    "addChatToProject",
                    ADD_CHAT_TO_PROJECT,
                    json!({ "p": p, "c": w.b_chat }),
                    "NOT_FOUND",
                ),
                attack(
                    "removeChatFromProject",
                    REMOVE_CHAT,
                    json!({ "p": p, "c": w.b_chat }),
                    "NOT_FOUND",
                ),
                attack(
                    "createConversation",
                    CREATE_CHAT,
                    json!({ "input": { "projectId": p } }),
                    "NOT_FOUND",
                ),
            ],
        )
        .await;

        // Restored by A, it is public again.
        let data = app
            .ok(&w.a, RESTORE_PROJECT_STATUS, json!({ "id": w.public }))
            .await;
        assert_eq!(data["restoreProject"]["status"], json!("ACTIVE"));
        let data = app
            .ok(&w.b, PUBLIC_PROJECT_AND_LIST, json!({ "q": w.public }))
            .await;
        assert_eq!(data["project"]["title"], json!("A public showcase"));
        assert_eq!(ids(&data["publicProjects"]["nodes"]), vec![w.public]);
    }
);

on_both!(
    archived_public_project_is_readable_but_not_listed,
    |app: TestApp| async move {
        let w = world(&app).await;
        let data = app
            .ok(
                &w.a,
                UPDATE_PROJECT,
                json!({ "id": w.public, "input": { "status": "ARCHIVED" } }),
            )
            .await;
        assert_eq!(data["updateProject"]["status"], json!("ARCHIVED"));
        let before = snapshot(&app, &w).await;
        assert_eq!(before["a"]["public"]["status"], json!("ARCHIVED"));

        let check = |data: &Value, who: &str| {
            let p = &data["project"];
            assert_eq!(uuid(&p["id"]), w.public, "{who}");
            assert_eq!(p["title"], json!("A public showcase"), "{who}");
            assert_eq!(p["status"], json!("ARCHIVED"), "{who}");
            assert_eq!(p["viewerAccess"], json!("VIEWER"), "{who}");
            assert_eq!(uuid(&p["owner"]["id"]), w.a.id, "{who}");
            assert_eq!(p["chats"], json!({ "totalCount": 0, "nodes": [] }), "{who}");
            assert_eq!(
                data["publicProjects"],
                json!({ "totalCount": 0, "nodes": [] }),
                "{who}"
            );
        };
        check(
            &app.ok(&w.b, PUBLIC_PROJECT_IN_FULL, json!({ "q": w.public }))
                .await,
            "user B",
        );
        for who in ANONS {
            check(
                as_anon(&app, who, PUBLIC_PROJECT_IN_FULL, json!({ "q": w.public }))
                    .await
                    .data(),
                &format!("{who:?}"),
            );
        }

        // Readable, so changes are FORBIDDEN (not NOT_FOUND).
        let p = w.public;
        run_as_user(
            &app,
            &w,
            &w.b,
            vec![
                attack(
                    "updateProject",
                    UPDATE_PROJECT,
                    json!({ "id": p, "input": { "title": "pwned" } }),
                    "FORBIDDEN",
                ),
                attack(
                    "updateProject status ACTIVE",
                    UPDATE_PROJECT,
                    json!({ "id": p, "input": { "status": "ACTIVE" } }),
                    "FORBIDDEN",
                ),
                attack(
                    "deleteProject",
                    DELETE_PROJECT,
                    json!({ "id": p }),
                    "FORBIDDEN",
                ),
                attack(
                    "restoreProject",
                    RESTORE_PROJECT_STATUS,
                    json!({ "id": p }),
                    "FORBIDDEN",
                ),
                attack(
                    "addChatToProject",
                    ADD_CHAT_TO_PROJECT,
                    json!({ "p": p, "c": w.b_chat }),
                    "FORBIDDEN",
                ),
                attack(
                    "createConversation",
                    CREATE_CHAT,
                    json!({ "input": { "projectId": p } }),
                    "FORBIDDEN",
                ),
            ],
        )
        .await;
        for who in ANONS {
            let reply = as_anon(
                &app,
                who,
                UPDATE_PROJECT,
                json!({ "id": p, "input": { "title": "pwned" } }),
            )
            .await;
            assert_refused(&reply, "UNAUTHENTICATED", &format!("{who:?}"));
        }
        assert_unchanged(&app, &w, &before, "attacks on the archived project").await;
    }
);
