//! Subscriptions over WebSocket: protocols, tokens, per-subscriber access at delivery,
//! ordering, limits, and (on Postgres) fan-out across gateway processes and a lost LISTEN
//! connection.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{REMOVE_TEAM_MEMBER, VIEWER_ID, VIEWER_PROJECT_IDS};
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;
use crate::ws::{self, Closed};

const ADD_TEAM_MEMBER_USER_ID: &str = r#"
    mutation($t: UUID!, $e: String!) {
        addTeamMember(teamId: $t, email: $e) { userId }
    }
"#;

const CREATE_PROJECT_IN_TEAM: &str = r#"
    mutation($t: UUID!) {
        createProject(input: {title: "Team", teamId: $t}) { id }
    }
"#;

const SEND_MESSAGE_REWRITTEN: &str = r#"
    mutation($c: UUID!) {
        sendMessage(input: {
            conversationId: $c,
            role: ASSISTANT,
            content: "rewritten",
            sequence: 3
        }) { id }
    }
"#;

const CREATE_TASK_BUILD: &str = r#"mutation { createTask(input: {prompt: "build"}) { id } }"#;
const ON_TASK_UPDATED_BY_ID: &str = "subscription($id: UUID) { taskUpdated(id: $id) { id } }";
const ON_TASK_PROGRESS: &str = "subscription { taskUpdated { id progress } }";
const ON_GOAL_UPDATED: &str = "subscription { goalUpdated { id title } }";
const ON_PROGRESS_UPDATED: &str = "subscription { progressUpdated { metricType value } }";
const ON_PROFILE_UPDATED: &str = "subscription { profileUpdated { id displayName } }";

const UPDATE_TASK_PROGRESS: &str = r#"
    mutation($id: UUID!) {
        updateTask(id: $id, input: {progress: 40}) { id }
    }
"#;

const CREATE_GOAL_RUN: &str = r#"mutation { createGoal(input: {title: "Run"}) { id } }"#;
const RECORD_STREAK: &str = r#"mutation { recordProgress(metricType: "streak", value: 3) { id } }"#;

const UPDATE_DISPLAY_NAME: &str = r#"
    mutation {
        updateProfile(input: {displayName: "Alice"}) { id }
    }
"#;

const CREATE_CHAT: &str = "mutation($t: String!) { createConversation(input: {title: $t}) { id } }";

const SEND_MESSAGE_LOST: &str = r#"
    mutation($c: UUID!) {
        sendMessage(input: {conversationId: $c, role: USER, content: "lost"}) { id }
    }
"#;

const CREATE_TASK_ONE: &str = r#"mutation { createTask(input: {prompt: "one"}) { id } }"#;

const ON_TASK_UPDATED_IN_FULL: &str = r#"
    subscription($id: UUID) {
        taskUpdated(id: $id) { id status progress logs { message } }
    }
"#;

const ON_TASK_UPDATED: &str = "subscription { taskUpdated { id prompt } }";
const CREATE_TASK_TWO: &str = r#"mutation { createTask(input: {prompt: "two"}) { id } }"#;

const UPDATE_TASK_PROCESSING: &str = r#"
    mutation($id: UUID!) {
        updateTask(id: $id, input: {status: PROCESSING, progress: 50}) { id }
    }
"#;

const APPEND_CLONED_LOG: &str = r#"
    mutation($id: UUID!) {
        appendTaskLog(id: $id, input: {message: "cloned"}) { id }
    }
"#;

const CREATE_CHAT_OVER_WS: &str = r#"
    mutation {
        createConversation(input: {title: "Over WS"}) { title }
    }
"#;

const ON_MESSAGE_ADDED_WITH_PROJECT_CHATS: &str = r#"
    subscription($c: UUID!) {
        messageAdded(conversationId: $c) {
            conversation { projects { nodes { chats { totalCount } } } }
        }
    }
"#;

const SUBSCRIBE_UNKNOWN_FIELD: &str = "subscription { noSuchField }";

const ON_MESSAGE_ADDED_WITH_MESSAGES: &str = r#"
    subscription($c: UUID!) {
        messageAdded(conversationId: $c) { conversation { messages(first: 100) { nodes { id } } } }
    }
"#;

const SEND_MESSAGE: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m}) { id sequence }
    }
"#;

const ON_MESSAGE_ADDED: &str = r#"
    subscription($c: UUID!) {
        messageAdded(conversationId: $c) { sequence content }
    }
"#;

const MAKE_ADMIN: &str = r#"
    mutation($t: UUID!, $u: UUID!) {
        updateTeamMember(teamId: $t, userId: $u, role: ADMIN) { role }
    }
"#;

const MESSAGES: &str = r#"
    subscription($c: UUID!) {
        messageAdded(conversationId: $c) {
            id sequence content role
            conversation { id messageCount }
        }
    }
"#;
const CONVERSATIONS: &str = "subscription { conversationUpdated { id title messageCount } }";

/// Long enough for an event that is coming to have come.
const SETTLE: Duration = Duration::from_millis(400);

async fn add_member(app: &TestApp, owner: &User, team: Uuid, who: &User) {
    app.ok(who, VIEWER_ID, json!({})).await;
    let data = app
        .ok(
            owner,
            ADD_TEAM_MEMBER_USER_ID,
            json!({ "t": team, "e": who.email }),
        )
        .await;
    assert_eq!(uuid(&data["addTeamMember"]["userId"]), who.id);
}

async fn team_chat(app: &TestApp, owner: &User, team: Uuid) -> Uuid {
    let data = app
        .ok(owner, CREATE_PROJECT_IN_TEAM, json!({ "t": team }))
        .await;
    let project = uuid(&data["createProject"]["id"]);
    app.create_chat(owner, "Team chat", Some(project)).await
}

on_both!(
    messages_arrive_in_sequence_order_with_their_fields,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Live", None).await;
        let mut socket = ws::connect_as(&app.url, &alice.token).await;
        socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        app.wait_for_subscriptions(1).await;

        // Concurrent senders: the sequence is decided under the conversation lock, and the
        // subscriber must see 1..=8 in order whatever order the requests finished in.
        let sends = (1..=8).map(|i| {
            let app = &app;
            let alice = &alice;
            async move { app.send(alice, chat, &format!("hello {i}")).await }
        });
        let sent = futures::future::join_all(sends).await;
        let mut sequences = Vec::new();
        for _ in 0..8 {
            let event = socket.data("m").await["messageAdded"].clone();
            let sequence = event["sequence"].as_i64().unwrap();
            let original = sent
                .iter()
                .find(|m| m["sequence"].as_i64() == Some(sequence))
                .expect("every delivered message was sent");
            assert_eq!(event["id"], original["id"]);
            assert_eq!(event["content"], original["content"]);
            assert_eq!(event["role"], "USER");
            assert_eq!(event["conversation"]["id"], chat.to_string());
            sequences.push(sequence);
        }
        assert_eq!(sequences, (1..=8).collect::<Vec<_>>());

        // A changed message (an upsert at an existing sequence) is delivered too.
        let upserted = app
            .ok(&alice, SEND_MESSAGE_REWRITTEN, json!({ "c": chat }))
            .await;
        let event = socket.data("m").await["messageAdded"].clone();
        assert_eq!(event["id"], upserted["sendMessage"]["id"]);
        assert_eq!(event["sequence"], 3);
        assert_eq!(event["content"], "rewritten");
        assert_eq!(event["role"], "ASSISTANT");
        assert_eq!(event["conversation"]["messageCount"], 8);
        socket.quiet_for(SETTLE).await;
    }
);

on_both!(
    another_user_receives_nothing_of_mine,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let mallory = harness::user("mallory");
        let chat = app.create_chat(&alice, "Private", None).await;
        let task = app.ok(&alice, CREATE_TASK_BUILD, json!({})).await["createTask"]["id"].clone();

        // Naming alice's conversation or task: it does not exist for mallory.
        let mut probe = ws::connect_as(&app.url, &mallory.token).await;
        probe.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        assert_eq!(probe.error_code("m").await, "NOT_FOUND");
        probe
            .subscribe("t", ON_TASK_UPDATED_BY_ID, json!({ "id": task }))
            .await;
        assert_eq!(probe.error_code("t").await, "NOT_FOUND");

        // Every viewer-wide subscription, held by mallory and by alice.
        let all = [
            ("c", CONVERSATIONS),
            ("t", ON_TASK_PROGRESS),
            ("g", ON_GOAL_UPDATED),
            ("p", ON_PROGRESS_UPDATED),
            ("u", ON_PROFILE_UPDATED),
        ];
        let mut theirs = ws::connect_as(&app.url, &mallory.token).await;
        let mut mine = ws::connect_as(&app.url, &alice.token).await;
        for (id, query) in all {
            theirs.subscribe(id, query, json!({})).await;
            mine.subscribe(id, query, json!({})).await;
        }
        app.wait_for_subscriptions(10).await;

        app.send(&alice, chat, "secret").await;
        assert_eq!(
            mine.data("c").await["conversationUpdated"]["messageCount"],
            1
        );
        app.ok(&alice, UPDATE_TASK_PROGRESS, json!({ "id": task }))
            .await;
        assert_eq!(mine.data("t").await["taskUpdated"]["progress"], 40);
        app.ok(&alice, CREATE_GOAL_RUN, json!({})).await;
        assert_eq!(mine.data("g").await["goalUpdated"]["title"], "Run");
        app.ok(&alice, RECORD_STREAK, json!({})).await;
        assert_eq!(mine.data("p").await["progressUpdated"]["value"], 3.0);
        app.ok(&alice, UPDATE_DISPLAY_NAME, json!({})).await;
        assert_eq!(
            mine.data("u").await["profileUpdated"]["displayName"],
            "Alice"
        );

        // Alice's five events all reached her; none reached mallory.
        theirs.quiet_for(SETTLE).await;
        probe.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(
    a_removed_team_member_stops_receiving_the_teams_chats,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let team = app.create_team(&owner, "Crew").await;
        add_member(&app, &owner, team, &member).await;
        let chat = team_chat(&app, &owner, team).await;

        let mut watcher = ws::connect_as(&app.url, &owner.token).await;
        watcher.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        let mut socket = ws::connect_as(&app.url, &member.token).await;
        socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        socket.subscribe("c", CONVERSATIONS, json!({})).await;
        app.wait_for_subscriptions(3).await;

        app.send(&owner, chat, "welcome").await;
        assert_eq!(socket.data("m").await["messageAdded"]["content"], "welcome");
        assert_eq!(
            watcher.data("m").await["messageAdded"]["content"],
            "welcome"
        );

        app.ok(
            &owner,
            REMOVE_TEAM_MEMBER,
            json!({ "t": team, "u": member.id }),
        )
        .await;
        // The removed member's messageAdded ends; their conversationUpdated stays open.
        let complete = socket.next_of("m").await.unwrap();
        assert_eq!(complete, json!({ "id": "m", "type": "complete" }));
        app.send(&owner, chat, "after you left").await;
        assert_eq!(
            watcher.data("m").await["messageAdded"]["content"],
            "after you left"
        );
        socket.quiet_for(SETTLE).await;
        app.wait_for_subscriptions(2).await;
    }
);

const VIEWER_CONVERSATION_IDS: &str = "{ viewer { conversations { nodes { id } } } }";

on_both!(
    conversation_updated_delivers_what_viewer_conversations_lists,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let team = app.create_team(&owner, "Crew").await;
        add_member(&app, &owner, team, &member).await;
        let team_chat = team_chat(&app, &owner, team).await;
        let own = app.create_chat(&member, "Mine", None).await;
        // The member may read the team chat, but it is not among their conversations.
        let listed = app.ok(&member, VIEWER_CONVERSATION_IDS, json!({})).await;
        assert_eq!(
            listed["viewer"]["conversations"]["nodes"],
            json!([{ "id": own.to_string() }])
        );

        let mut socket = ws::connect_as(&app.url, &member.token).await;
        socket.subscribe("c", CONVERSATIONS, json!({})).await;
        let mut service = ws::connect_as(&app.url, &harness::service_token()).await;
        service.subscribe("c", CONVERSATIONS, json!({})).await;
        app.wait_for_subscriptions(2).await;
        app.send(&owner, team_chat, "for the team").await;
        app.send(&member, own, "mine").await;
        let update = socket.data("c").await["conversationUpdated"].clone();
        assert_eq!(update["id"], own.to_string());
        assert_eq!(update["messageCount"], 1);
        // Nothing else: not the team chat; the service role lists no conversations.
        socket.quiet_for(SETTLE).await;
        service.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(refused_writes_publish_nothing, |app: TestApp| async move {
    let alice = harness::user("alice");
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket.subscribe("c", CONVERSATIONS, json!({})).await;
    app.wait_for_subscriptions(1).await;

    // Refused writes (a title over the limit, a message into a conversation that is not
    // there) publish nothing; the next good write is the first event.
    let reply = app
        .as_user(&alice, CREATE_CHAT, json!({ "t": "x".repeat(200_000) }))
        .await;
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    let reply = app
        .as_user(&alice, SEND_MESSAGE_LOST, json!({ "c": Uuid::new_v4() }))
        .await;
    assert_eq!(reply.code(), "NOT_FOUND");
    let kept = app.create_chat(&alice, "Kept", None).await;
    let event = socket.data("c").await["conversationUpdated"].clone();
    assert_eq!(event["id"], kept.to_string());
    assert_eq!(event["title"], "Kept");
    socket.quiet_for(SETTLE).await;
});

on_both!(
    tasks_report_status_progress_and_logs,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let first = app.ok(&alice, CREATE_TASK_ONE, json!({})).await["createTask"]["id"].clone();
        let mut socket = ws::connect_as(&app.url, &alice.token).await;
        socket
            .subscribe("one", ON_TASK_UPDATED_IN_FULL, json!({ "id": first }))
            .await;
        socket.subscribe("all", ON_TASK_UPDATED, json!({})).await;
        app.wait_for_subscriptions(2).await;

        let second = app.ok(&alice, CREATE_TASK_TWO, json!({})).await["createTask"]["id"].clone();
        let event = socket.data("all").await["taskUpdated"].clone();
        assert_eq!(event, json!({ "id": second, "prompt": "two" }));

        // An agent backend (service role) reports progress and a log line on the first task.
        let service = harness::service_token();
        let reply = app
            .post(
                Some(&service),
                UPDATE_TASK_PROCESSING,
                json!({ "id": first }),
            )
            .await;
        assert_eq!(reply.body["errors"], Value::Null, "{}", reply.body);
        let event = socket.data("one").await["taskUpdated"].clone();
        assert_eq!(event["status"], "PROCESSING");
        assert_eq!(event["progress"], 50);
        assert_eq!(socket.data("all").await["taskUpdated"]["id"], first);
        app.post(Some(&service), APPEND_CLONED_LOG, json!({ "id": first }))
            .await;
        let event = socket.data("one").await["taskUpdated"].clone();
        assert_eq!(event["logs"], json!([{ "message": "cloned" }]));
        assert_eq!(socket.data("all").await["taskUpdated"]["id"], first);
        socket.quiet_for(SETTLE).await;
    }
);

on_both!(
    one_read_of_the_row_per_event_whatever_the_subscriber_count,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let team = app.create_team(&owner, "Crew").await;
        add_member(&app, &owner, team, &member).await;
        let chat = team_chat(&app, &owner, team).await;
        // The cost of a send nobody watches, before anyone subscribes.
        let other = app.create_chat(&owner, "Unwatched", None).await;
        // Let the earlier writes' events be dispatched first (on Postgres each wake-up
        // costs one read of the outbox, in both windows below).
        tokio::time::sleep(SETTLE).await;
        let before = app.all_statement_count();
        app.send(&owner, other, "unwatched").await;
        tokio::time::sleep(SETTLE).await;
        let unwatched = app.all_statement_count() - before;
        // Three connections of the owner and two of the member on the same conversation.
        let mut sockets = Vec::new();
        for user in [&owner, &owner, &owner, &member, &member] {
            let mut socket = ws::connect_as(&app.url, &user.token).await;
            socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
            sockets.push(socket);
        }
        app.wait_for_subscriptions(5).await;
        // A subscribe reads the conversation once more after registering; a first message
        // received by all five makes sure those reads are over before counting.
        app.send(&owner, chat, "warm-up").await;
        for socket in &mut sockets {
            assert_eq!(socket.data("m").await["messageAdded"]["content"], "warm-up");
        }

        let before = app.all_statement_count();
        app.send(&owner, chat, "watched").await;
        for socket in &mut sockets {
            assert_eq!(socket.data("m").await["messageAdded"]["content"], "watched");
        }
        // Delivering to five subscribers: one read of the message, one statement asking who
        // may read its conversation, and the nested `conversation` field once per subscriber.
        let watched = app.all_statement_count() - before;
        assert_eq!(watched - unwatched, 2 + 5);
    }
);

on_both!(
    tokens_are_checked_at_connection_init,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Mine", None).await;

        // A bad token closes the connection with 4403, whichever key carries it.
        for payload in [
            json!({ "Authorization": "Bearer not-a-token" }),
            json!({ "authorization": "not-a-token" }),
            json!({ "authToken": format!("{}x", alice.token) }),
        ] {
            let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
            socket.init(payload.clone()).await;
            let closed = socket.closed().await;
            assert_eq!(closed.code, 4403, "{payload}: {closed:?}");
        }
        // An expired token too, and a bad token on the upgrade request itself.
        let expired = harness::mint_for(Some(alice.id), "authenticated", Some(&alice.email), 1);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
        socket
            .init(json!({ "authorization": format!("Bearer {expired}") }))
            .await;
        let closed = socket.closed().await;
        // Within the clock-skew leeway the token is accepted, and closed at once as expired.
        assert_eq!(closed.code, 4403, "{closed:?}");
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some("garbage")).await;
        socket.init(json!({})).await;
        assert_eq!(socket.closed().await.code, 4403);

        // An empty token in the payload is no token: the upgrade request's header counts.
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some(&alice.token)).await;
        socket.init(json!({ "Authorization": "" })).await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        app.wait_for_subscriptions(1).await;
        drop(socket);
        app.wait_for_subscriptions(0).await;

        // Each good form of the token works: payload keys and the upgrade header.
        for payload in [
            json!({ "Authorization": format!("Bearer {}", alice.token) }),
            json!({ "authorization": alice.token }),
            json!({ "authToken": alice.token }),
        ] {
            let mut socket = ws::connect(&app.url, payload).await;
            socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
            app.wait_for_subscriptions(1).await;
            app.send(&alice, chat, "hi").await;
            assert_eq!(socket.data("m").await["messageAdded"]["content"], "hi");
            drop(socket);
            app.wait_for_subscriptions(0).await;
        }
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, Some(&alice.token)).await;
        socket.init(json!({})).await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
        app.wait_for_subscriptions(1).await;
        app.send(&alice, chat, "via header").await;
        assert_eq!(
            socket.data("m").await["messageAdded"]["content"],
            "via header"
        );

        // Without a token the connection is anonymous: viewer-wide subscriptions need a user.
        let mut anonymous = ws::connect(&app.url, json!({})).await;
        anonymous.subscribe("c", CONVERSATIONS, json!({})).await;
        assert_eq!(anonymous.error_code("c").await, "UNAUTHENTICATED");
        anonymous
            .subscribe("m", MESSAGES, json!({ "c": chat }))
            .await;
        assert_eq!(anonymous.error_code("m").await, "NOT_FOUND");
    }
);

on_both!(
    a_connection_closes_when_its_token_expires,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let short = harness::mint_for(Some(alice.id), "authenticated", Some(&alice.email), 2);
        let mut socket = ws::connect_as(&app.url, &short).await;
        socket.subscribe("c", CONVERSATIONS, json!({})).await;
        app.wait_for_subscriptions(1).await;
        let started = std::time::Instant::now();
        let closed = socket.closed().await;
        assert_eq!(closed.code, 4403, "{closed:?}");
        assert!(closed.reason.contains("expired"), "{closed:?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        app.wait_for_subscriptions(0).await;
    }
);

on_both!(
    the_older_graphql_ws_protocol_works_too,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Legacy", None).await;
        let mut socket = ws::open(&app.url, ws::LEGACY_WS, None).await;
        socket.init(json!({ "authToken": alice.token })).await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        socket.subscribe("1", MESSAGES, json!({ "c": chat })).await;
        app.wait_for_subscriptions(1).await;
        app.send(&alice, chat, "old school").await;
        assert_eq!(
            socket.data("1").await["messageAdded"]["content"],
            "old school"
        );

        let mut refused = ws::open(&app.url, ws::LEGACY_WS, None).await;
        refused.init(json!({ "authToken": "bad" })).await;
        let message = refused.next().await.expect("a connection_error");
        assert_eq!(message["type"], "connection_error", "{message}");
    }
);

on_both!(
    protocol_errors_use_graphql_ws_close_codes,
    |app: TestApp| async move {
        // Subscribing before connection_init: 4401.
        let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
        socket.subscribe("1", CONVERSATIONS, json!({})).await;
        assert_eq!(socket.closed().await.code, 4401);
        // A message that is not a protocol message: 4400.
        let mut socket = ws::connect(&app.url, json!({})).await;
        socket.send(json!({ "type": "no-such-type" })).await;
        assert_eq!(socket.closed().await.code, 4400);
        // A second connection_init: 4429.
        let mut socket = ws::connect(&app.url, json!({})).await;
        socket.init(json!({})).await;
        assert_eq!(socket.closed().await.code, 4429);
        // Queries and mutations also run over the socket, as the connection's viewer.
        let alice = harness::user("alice");
        let mut socket = ws::connect_as(&app.url, &alice.token).await;
        socket.subscribe("q", CREATE_CHAT_OVER_WS, json!({})).await;
        assert_eq!(
            socket.data("q").await["createConversation"]["title"],
            "Over WS"
        );
        let complete = socket.next().await.unwrap();
        assert_eq!(complete, json!({ "id": "q", "type": "complete" }));
        // An id may be reused once its operation is over; reusing an active one closes
        // the connection with 4409.
        socket.subscribe("q", CONVERSATIONS, json!({})).await;
        app.wait_for_subscriptions(1).await;
        socket.subscribe("q", CONVERSATIONS, json!({})).await;
        let closed = socket.closed().await;
        assert_eq!(
            closed,
            Closed {
                code: 4409,
                reason: "Subscriber for q already exists".to_owned()
            }
        );
        app.wait_for_subscriptions(0).await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_sends_connection_init_is_closed_with_4408() {
    let app = harness::sqlite_with(|s| s.ws_init_timeout = 1).await;
    let mut socket = ws::open(&app.url, ws::TRANSPORT_WS, None).await;
    let closed = socket.closed().await;
    assert_eq!(
        closed,
        Closed {
            code: 4408,
            reason: "Connection initialisation timeout".to_owned()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_get_keep_alive_pings() {
    let app = harness::sqlite_with(|s| s.ws_keepalive = 1).await;
    let mut socket = ws::connect(&app.url, json!({})).await;
    // The client helper answers pings itself; read raw frames instead.
    let started = std::time::Instant::now();
    let raw = socket.raw_text_within(Duration::from_secs(3)).await;
    assert_eq!(raw, Some(json!({ "type": "ping" })));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_obey_the_limits() {
    let app = harness::sqlite_with(|s| {
        s.max_subscriptions_per_connection = 2;
        s.max_depth = 4;
    })
    .await;
    let alice = harness::user("alice");
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket.subscribe("1", CONVERSATIONS, json!({})).await;
    socket.subscribe("2", CONVERSATIONS, json!({})).await;
    app.wait_for_subscriptions(2).await;
    socket.subscribe("3", CONVERSATIONS, json!({})).await;
    assert_eq!(socket.error_code("3").await, "RATE_LIMITED");
    // Ending one frees its slot.
    socket.send(json!({ "id": "1", "type": "complete" })).await;
    app.wait_for_subscriptions(1).await;
    socket.subscribe("4", CONVERSATIONS, json!({})).await;
    app.wait_for_subscriptions(2).await;

    // Depth: messageAdded → conversation → projects → nodes → chats is too deep.
    let mut other = ws::connect_as(&app.url, &alice.token).await;
    other
        .subscribe(
            "deep",
            ON_MESSAGE_ADDED_WITH_PROJECT_CHATS,
            json!({ "c": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(other.refusal_code("deep").await, "QUERY_TOO_COMPLEX");
    // A document that does not validate is refused the same way; the connection stays.
    other
        .subscribe("bad", SUBSCRIBE_UNKNOWN_FIELD, json!({}))
        .await;
    assert_eq!(other.refusal_code("bad").await, "GRAPHQL_VALIDATION_FAILED");
    other.subscribe("ok", CONVERSATIONS, json!({})).await;
    app.wait_for_subscriptions(3).await;
    other.quiet_for(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_obey_the_complexity_limit() {
    let app = harness::sqlite_with(|s| s.max_complexity = 50).await;
    let alice = harness::user("alice");
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket
        .subscribe(
            "wide",
            ON_MESSAGE_ADDED_WITH_MESSAGES,
            json!({ "c": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(socket.refusal_code("wide").await, "QUERY_TOO_COMPLEX");
}

/// A `confab serve` process of the built binary; killed when dropped.
struct Gateway {
    child: std::process::Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_gateway(database_url: &str) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_JWT_SECRET", harness::SECRET)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("CONFAB_JWKS_URL")
        .env_remove("CONFAB_JWKS_FILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start a gateway process");
    let gateway = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/readyz", gateway.url)).await {
            if r.status() == 200 {
                return gateway;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until a gateway process reports `n` subscriptions on /metrics.
async fn wait_for_metric_subscriptions(gateway: &Gateway, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{}/metrics", gateway.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text
            .lines()
            .any(|l| l == format!("confab_subscriptions {n}"))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {n} subscriptions in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send_over(url: &str, user: &User, chat: Uuid, content: &str) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(&user.token)
        .json(&json!({
            "query": SEND_MESSAGE,
            "variables": { "c": chat, "m": content },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errors"], Value::Null, "{body}");
    body["data"]["sendMessage"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_gateway_process_reaches_a_subscriber_on_another() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let team = app.create_team(&alice, "Crew").await;
    add_member(&app, &alice, team, &bob).await;
    let chat = team_chat(&app, &alice, team).await;
    let private = app.create_chat(&alice, "Private", None).await;
    let bobs = app.create_chat(&bob, "Bob's", None).await;

    let first = spawn_gateway(&app.database_url).await;
    let second = spawn_gateway(&app.database_url).await;
    let mut socket = ws::connect_as(&first.url, &bob.token).await;
    socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
    socket.subscribe("c", CONVERSATIONS, json!({})).await;
    wait_for_metric_subscriptions(&first, 2).await;

    for i in 1..=3 {
        let sent = send_over(
            &second.url,
            &alice,
            chat,
            &format!("from the other process {i}"),
        )
        .await;
        let event = socket.data("m").await["messageAdded"].clone();
        assert_eq!(event["id"], sent["id"]);
        assert_eq!(event["sequence"], i);
        assert_eq!(event["content"], format!("from the other process {i}"));
        // Bob's own chat changes on the second process: his conversationUpdated has it
        // (alice's team chat is not among his conversations).
        send_over(&second.url, &bob, bobs, &format!("bob {i}")).await;
        let update = socket.data("c").await["conversationUpdated"].clone();
        assert_eq!(update["id"], bobs.to_string());
        assert_eq!(update["messageCount"], i);
    }
    // Alice's private chat changes on the second process too; bob may not read it.
    send_over(&second.url, &alice, private, "not for bob").await;
    socket.quiet_for(SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_listen_connection_is_re_established() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Resilient", None).await;
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
    app.wait_for_subscriptions(1).await;
    app.send(&alice, chat, "before").await;
    assert_eq!(socket.data("m").await["messageAdded"]["content"], "before");

    let listener_pid = || async {
        let rows = app
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    // A backend counts once its LISTEN has run: the new connection shows up
                    // in pg_stat_activity before it listens (then it reads the outbox on
                    // the same connection).
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = '{}' AND state = 'idle' AND (query ILIKE 'LISTEN%' OR query ILIKE '%FROM realtime_events%')",
                    confab::realtime::LISTENER_APPLICATION_NAME
                ),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<i32>("", "pid").unwrap())
            .collect::<Vec<_>>()
    };
    let pids = listener_pid().await;
    assert_eq!(pids.len(), 1, "one LISTEN connection: {pids:?}");
    let terminated = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_terminate_backend({})", pids[0]),
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(terminated
        .try_get::<bool>("", "pg_terminate_backend")
        .unwrap());

    // The gateway reconnects by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = listener_pid().await;
        // The new connection shows in pg_stat_activity before its LISTEN is in place; the
        // hub's flag says when it is (as /readyz reports it).
        if now.len() == 1
            && now[0] != pids[0]
            && app.realtime.listener_connected().await == Some(true)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new LISTEN connection: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.send(&alice, chat, "after").await;
    let event = socket.data("m").await["messageAdded"].clone();
    assert_eq!(event["content"], "after");
    assert_eq!(event["sequence"], 2);
}

/// A client that stops reading while events keep coming: once the socket's buffers are
/// full its queue fills, and it is dropped with RATE_LIMITED instead of growing memory.
async fn slow_consumer_is_dropped(app: TestApp) {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Firehose", None).await;
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket
        .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
        .await;
    app.wait_for_subscriptions(1).await;
    let big = "x".repeat(400_000);
    for _ in 0..40 {
        app.send(&alice, chat, &big).await;
    }
    // Now read: some events, then the error that ends the subscription.
    let mut delivered = 0;
    loop {
        let message = socket.next_of("m").await.expect("the subscription answers");
        if message["payload"]["errors"].is_array() {
            assert_eq!(
                message["payload"]["errors"][0]["extensions"]["code"], "RATE_LIMITED",
                "{message}"
            );
            break;
        }
        delivered += 1;
        assert_eq!(
            message["payload"]["data"]["messageAdded"]["sequence"],
            delivered
        );
    }
    assert!(delivered < 40, "all {delivered} were delivered");
    let complete = socket.next_of("m").await.unwrap();
    assert_eq!(complete["type"], "complete");
    app.wait_for_subscriptions(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_consumer_is_dropped_sqlite() {
    slow_consumer_is_dropped(harness::sqlite_with(|s| s.subscriber_queue = 2).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_consumer_is_dropped_postgres() {
    if let Some(app) = harness::postgres_with(|s| s.subscriber_queue = 2).await {
        slow_consumer_is_dropped(app).await;
    }
}

fn viewer_of(user: &User) -> confab::auth::Viewer {
    confab::auth::Viewer::User(confab::auth::UserClaims {
        id: user.id,
        email: Some(user.email.clone()),
        is_anonymous: false,
    })
}

/// The dispatcher's question (who may read this conversation?) and the queries' condition
/// (which conversations may this viewer read?) must agree, before and after a member leaves.
async fn readers_agree_with_readable_conversations(app: &TestApp, users: &[&User], chats: &[Uuid]) {
    let mut viewers: Vec<confab::auth::Viewer> = users.iter().map(|u| viewer_of(u)).collect();
    viewers.push(confab::auth::Viewer::Anonymous);
    viewers.push(confab::auth::Viewer::Service);
    let mut readable_pairs = 0;
    for chat in chats {
        let readers = confab::access::conversation_readers(&app.db, *chat)
            .await
            .unwrap();
        for viewer in &viewers {
            let readable = confab::domain::conversations::find_readable(&app.db, viewer, *chat)
                .await
                .unwrap()
                .is_some();
            assert_eq!(readers.may_read(viewer), readable, "{viewer:?} on {chat}");
            readable_pairs += usize::from(readable);
        }
    }
    assert!(readable_pairs > chats.len(), "the fixture has shared chats");
}

on_both!(
    conversation_readers_mirror_readable_conversations,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let admin = harness::user("admin");
        let member = harness::user("member");
        let outsider = harness::user("outsider");
        let team = app.create_team(&owner, "Crew").await;
        add_member(&app, &owner, team, &admin).await;
        app.ok(&owner, MAKE_ADMIN, json!({ "t": team, "u": admin.id }))
            .await;
        add_member(&app, &owner, team, &member).await;
        app.ok(&outsider, VIEWER_ID, json!({})).await;
        let team_chat = team_chat(&app, &owner, team).await;
        let team_project = app.ok(&admin, VIEWER_PROJECT_IDS, json!({})).await["viewer"]
            ["projects"]["nodes"][0]["id"]
            .clone();
        let admins_chat = app
            .create_chat(&admin, "Admin's", Some(uuid(&team_project)))
            .await;
        let public = app.create_project(&owner, "Public", true).await;
        let in_public = app.create_chat(&owner, "In public", Some(public)).await;
        let private = app.create_chat(&outsider, "Private", None).await;
        let users = [&owner, &admin, &member, &outsider];
        let chats = [team_chat, admins_chat, in_public, private];
        readers_agree_with_readable_conversations(&app, &users, &chats).await;
        app.ok(
            &owner,
            REMOVE_TEAM_MEMBER,
            json!({ "t": team, "u": member.id }),
        )
        .await;
        readers_agree_with_readable_conversations(&app, &users, &chats).await;
    }
);

/// Terminates this gateway's LISTEN backend, if it has one right now; true if it did.
async fn terminate_listener(app: &TestApp) -> bool {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = '{}'",
                confab::realtime::LISTENER_APPLICATION_NAME
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_committed_while_the_listener_is_down_arrive_once_in_order() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    const SENT: i64 = 200;
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Outbox", None).await;
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
    app.wait_for_subscriptions(1).await;

    let mut kills = 0;
    let mut acknowledged = Vec::new();
    for i in 1..=SENT {
        if i % 20 == 0 && terminate_listener(&app).await {
            kills += 1;
        }
        let sent = app.send(&alice, chat, &format!("m{i}")).await;
        acknowledged.push((sent["sequence"].as_i64().unwrap(), sent["id"].clone()));
    }
    assert!(kills >= 5, "the listener was terminated {kills} times");
    assert_eq!(
        acknowledged.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=SENT).collect::<Vec<_>>()
    );
    // Every acknowledged message, once, in sequence order.
    for (sequence, id) in &acknowledged {
        let event = socket.data("m").await["messageAdded"].clone();
        assert_eq!(event["sequence"], *sequence);
        assert_eq!(event["id"], *id);
        assert_eq!(event["content"], format!("m{sequence}"));
    }
    socket.quiet_for(SETTLE).await;
}

/// Rows in the Postgres realtime outbox.
async fn outbox_rows(app: &TestApp) -> i64 {
    app.db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM realtime_events",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_is_pruned_after_the_retention_window() {
    let Some(app) = harness::postgres_with(|s| s.realtime_retention = 1).await else {
        return;
    };
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Short-lived", None).await;
    app.send(&alice, chat, "gone soon").await;
    let count = || outbox_rows(&app);
    // The chat's creation and the message (with its chat's counters): two batches, unless
    // a slow machine already pruned the first.
    let written = count().await;
    assert!(written == 2 || written == 1, "{written} outbox rows");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox was not pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn realtime_off(app: TestApp) {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "Quiet", None).await;
    let mut socket = ws::connect_as(&app.url, &alice.token).await;
    socket.subscribe("m", MESSAGES, json!({ "c": chat })).await;
    assert_eq!(socket.error_code("m").await, "BAD_USER_INPUT");
    app.send(&alice, chat, "unpublished").await;
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        assert_eq!(outbox_rows(&app).await, 0);
        assert_eq!(app.realtime.listener_connected().await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn realtime_off_publishes_nothing_and_refuses_subscriptions_sqlite() {
    realtime_off(harness::sqlite_with(|s| s.realtime = confab::config::Switch::Off).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn realtime_off_publishes_nothing_and_refuses_subscriptions_postgres() {
    if let Some(app) = harness::postgres_with(|s| s.realtime = confab::config::Switch::Off).await {
        realtime_off(app).await;
    }
}
