//! Deletions over WebSocket: `messageDeleted`, `conversationDeleted`, `taskDeleted` and
//! `goalDeleted` reach whoever could read the row just before it was deleted, and nobody
//! else; a subscription tied to one conversation (or task) ends with `complete` when that
//! row is deleted or the subscriber may no longer read it; `conversationUpdated` delivers
//! exactly the rows `viewer.conversations` lists; and (Postgres) deletions committed while
//! the LISTEN connection is down arrive once it is back, once each and in order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{
    CREATE_TEAM_PROJECT, DELETE_ACCOUNT, DELETE_MESSAGE, DELETE_PROJECT_PERMANENTLY,
    REMOVE_TEAM_MEMBER, VIEWER_ID,
};
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;
use crate::ws::{self, Ws};

const ADD_MEMBER: &str = r#"
    mutation($t: UUID!, $e: String!) {
        addTeamMember(teamId: $t, email: $e) { userId }
    }
"#;
const DELETE_CONVERSATION: &str = "mutation($id: UUID!) { deleteConversation(id: $id) }";
const DELETE_TEAM: &str = "mutation($id: UUID!) { deleteTeam(id: $id) }";
const DELETE_TASK: &str = "mutation($id: UUID!) { deleteTask(id: $id) }";
const DELETE_PENDING_TASKS: &str = "mutation { deleteTasksByStatus(statuses: [PENDING]) }";
const DELETE_GOAL: &str = "mutation($id: UUID!) { deleteGoal(id: $id) }";
const CREATE_TASK: &str = "mutation($p: String!) { createTask(input: {prompt: $p}) { id } }";
const CREATE_GOAL: &str = "mutation { createGoal(input: {title: \"Run\"}) { id } }";
const REMOVE_CHAT: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        removeChatFromProject(projectId: $p, conversationId: $c) { id }
    }
"#;
const ARCHIVE_CHAT: &str = r#"
    mutation($c: UUID!) {
        updateConversation(id: $c, input: {status: ARCHIVED}) { status }
    }
"#;
const MESSAGE_NODE_ID: &str = "query($id: UUID!) { message(id: $id) { nodeId } }";
const CHAT_NODE_ID: &str = "query($id: UUID!) { conversation(id: $id) { nodeId } }";
const TASK_NODE_ID: &str = "query($id: UUID!) { task(id: $id) { nodeId } }";
const GOAL_NODE_ID: &str = "query($id: UUID!) { goal(id: $id) { nodeId } }";
const VIEWER_CONVERSATIONS: &str =
    "{ viewer { conversations(first: 100) { nodes { id status messageCount } } } }";

const ON_MESSAGE_ADDED: &str =
    "subscription($c: UUID!) { messageAdded(conversationId: $c) { content } }";
const ON_MESSAGE_DELETED: &str =
    "subscription($c: UUID!) { messageDeleted(conversationId: $c) { id nodeId typename } }";
const ON_CONVERSATION_DELETED: &str = "subscription { conversationDeleted { id nodeId typename } }";
const ON_CONVERSATION_UPDATED: &str =
    "subscription { conversationUpdated { id status messageCount } }";
const ON_TASK_DELETED: &str = "subscription { taskDeleted { id nodeId typename } }";
const ON_ONE_TASK: &str = "subscription($id: UUID) { taskUpdated(id: $id) { id } }";
const ON_GOAL_DELETED: &str = "subscription { goalDeleted { id nodeId typename } }";

/// Long enough for an event that is coming to have come.
const SETTLE: Duration = Duration::from_millis(400);

async fn add_member(app: &TestApp, owner: &User, team: Uuid, who: &User) {
    app.ok(who, VIEWER_ID, json!({})).await;
    let data = app
        .ok(owner, ADD_MEMBER, json!({ "t": team, "e": who.email }))
        .await;
    assert_eq!(uuid(&data["addTeamMember"]["userId"]), who.id);
}

/// A team of `owner` with `members`, a project in it, and a chat of `owner` filed there.
async fn team_with_chat(app: &TestApp, owner: &User, members: &[&User]) -> (Uuid, Uuid, Uuid) {
    let team = app.create_team(owner, "Crew").await;
    for member in members {
        add_member(app, owner, team, member).await;
    }
    let project = uuid(
        &app.ok(
            owner,
            CREATE_TEAM_PROJECT,
            json!({ "t": team, "title": "Team" }),
        )
        .await["createProject"]["id"],
    );
    let chat = app.create_chat(owner, "Team chat", Some(project)).await;
    (team, project, chat)
}

/// The nodeId `query` gives for `id`, read before the row is deleted.
async fn node_id(app: &TestApp, user: &User, query: &str, field: &str, id: Uuid) -> Value {
    let data = app.ok(user, query, json!({ "id": id })).await;
    assert!(data[field]["nodeId"].is_string(), "{data}");
    data[field]["nodeId"].clone()
}

/// Asserts that operation `id` ends now: its next message is `complete`.
async fn completes(socket: &mut Ws, id: &str) {
    let message = socket
        .next_of(id)
        .await
        .unwrap_or_else(|| panic!("operation {id} neither completed nor went on"));
    assert_eq!(message, json!({ "id": id, "type": "complete" }));
}

on_both!(
    a_deleted_conversation_reaches_its_readers_only_and_ends_their_subscriptions,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let outsider = harness::user("outsider");
        let (_, _, chat) = team_with_chat(&app, &owner, &[&member]).await;
        let theirs = app.create_chat(&outsider, "Unrelated", None).await;

        let mut members = ws::connect_as(&app.url, &member.token).await;
        members
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        members
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        members
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        let mut owners = ws::connect_as(&app.url, &owner.token).await;
        owners
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        owners
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        // The outsider holds every deletion subscription, and one on a chat of their own.
        let mut outsiders = ws::connect_as(&app.url, &outsider.token).await;
        outsiders
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        outsiders.subscribe("td", ON_TASK_DELETED, json!({})).await;
        outsiders.subscribe("gd", ON_GOAL_DELETED, json!({})).await;
        outsiders
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": theirs }))
            .await;
        outsiders
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": theirs }))
            .await;
        // Naming the team chat: it does not exist for the outsider.
        outsiders
            .subscribe("probe", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        assert_eq!(outsiders.error_code("probe").await, "NOT_FOUND");
        app.wait_for_subscriptions(10).await;

        let sent = app.send(&owner, chat, "soon gone").await;
        assert_eq!(
            members.data("m").await["messageAdded"]["content"],
            "soon gone"
        );
        let message = uuid(&sent["id"]);
        let message_node = node_id(&app, &member, MESSAGE_NODE_ID, "message", message).await;
        app.ok(&owner, DELETE_MESSAGE, json!({ "id": message }))
            .await;
        let expected = json!({
            "messageDeleted": { "id": message, "nodeId": message_node, "typename": "Message" }
        });
        assert_eq!(members.data("md").await, expected);
        assert_eq!(owners.data("md").await, expected);

        let chat_node = node_id(&app, &member, CHAT_NODE_ID, "conversation", chat).await;
        assert_ne!(chat_node, message_node);
        app.ok(&owner, DELETE_CONVERSATION, json!({ "id": chat }))
            .await;
        let expected = json!({
            "conversationDeleted": { "id": chat, "nodeId": chat_node, "typename": "Conversation" }
        });
        assert_eq!(members.data("cd").await, expected);
        assert_eq!(owners.data("cd").await, expected);
        completes(&mut members, "m").await;
        completes(&mut members, "md").await;
        completes(&mut owners, "md").await;
        // Left: the two conversationDeleted and the outsider's five.
        app.wait_for_subscriptions(7).await;

        // Nothing reached the outsider, whose subscriptions are all still open.
        outsiders.quiet_for(SETTLE).await;
        app.send(&outsider, theirs, "still here").await;
        assert_eq!(
            outsiders.data("m").await["messageAdded"]["content"],
            "still here"
        );
        members.quiet_for(Duration::from_millis(50)).await;

        // The deleted chat is not there to subscribe to any more.
        members
            .subscribe("again", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        assert_eq!(members.error_code("again").await, "NOT_FOUND");
    }
);

on_both!(
    a_chat_unfiled_from_the_team_project_ends_the_members_subscriptions,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let (_, project, chat) = team_with_chat(&app, &owner, &[&member]).await;
        let mut members = ws::connect_as(&app.url, &member.token).await;
        members
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        members
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        members
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        let mut owners = ws::connect_as(&app.url, &owner.token).await;
        owners
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        app.wait_for_subscriptions(4).await;

        app.ok(&owner, REMOVE_CHAT, json!({ "p": project, "c": chat }))
            .await;
        completes(&mut members, "m").await;
        completes(&mut members, "md").await;
        app.wait_for_subscriptions(2).await;
        // The owner still reads their chat; the member learns nothing more of it (it was
        // not deleted: no conversationDeleted either).
        app.send(&owner, chat, "just us").await;
        assert_eq!(owners.data("m").await["messageAdded"]["content"], "just us");
        members.quiet_for(SETTLE).await;
    }
);

on_both!(
    leaving_or_being_removed_from_the_team_ends_the_subscriptions_on_its_chats,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let removed = harness::user("removed");
        let leaving = harness::user("leaving");
        let (team, _, chat) = team_with_chat(&app, &owner, &[&removed, &leaving]).await;
        let own = app.create_chat(&leaving, "Own", None).await;
        let mut removeds = ws::connect_as(&app.url, &removed.token).await;
        removeds
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        let mut leavings = ws::connect_as(&app.url, &leaving.token).await;
        leavings
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        leavings
            .subscribe("own", ON_MESSAGE_ADDED, json!({ "c": own }))
            .await;
        app.wait_for_subscriptions(3).await;

        app.ok(
            &owner,
            REMOVE_TEAM_MEMBER,
            json!({ "t": team, "u": removed.id }),
        )
        .await;
        completes(&mut removeds, "m").await;
        app.wait_for_subscriptions(2).await;
        app.send(&owner, chat, "still a member").await;
        assert_eq!(
            leavings.data("m").await["messageAdded"]["content"],
            "still a member"
        );

        // Leaving is removing oneself.
        app.ok(
            &leaving,
            REMOVE_TEAM_MEMBER,
            json!({ "t": team, "u": leaving.id }),
        )
        .await;
        completes(&mut leavings, "m").await;
        app.wait_for_subscriptions(1).await;
        // Their own chat's subscription is theirs to keep.
        app.send(&leaving, own, "mine").await;
        assert_eq!(
            leavings.data("own").await["messageAdded"]["content"],
            "mine"
        );
        app.send(&owner, chat, "gone").await;
        leavings.quiet_for(SETTLE).await;
        removeds.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(
    a_deleted_team_or_team_project_ends_the_members_subscriptions,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        // A team deleted: its projects stay their owners', their chats the owners'.
        let (team, _, chat) = team_with_chat(&app, &owner, &[&member]).await;
        let mut members = ws::connect_as(&app.url, &member.token).await;
        members
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        let mut owners = ws::connect_as(&app.url, &owner.token).await;
        owners
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        app.wait_for_subscriptions(2).await;
        app.ok(&owner, DELETE_TEAM, json!({ "id": team })).await;
        completes(&mut members, "m").await;
        app.wait_for_subscriptions(1).await;
        app.send(&owner, chat, "after the team").await;
        assert_eq!(
            owners.data("m").await["messageAdded"]["content"],
            "after the team"
        );

        // A team project deleted for good: the chats filed there lose the team's readers.
        let (_, project, chat) = team_with_chat(&app, &owner, &[&member]).await;
        members
            .subscribe("m2", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        owners
            .subscribe("m2", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        app.wait_for_subscriptions(3).await;
        app.ok(&owner, DELETE_PROJECT_PERMANENTLY, json!({ "id": project }))
            .await;
        completes(&mut members, "m2").await;
        app.wait_for_subscriptions(2).await;
        app.send(&owner, chat, "after the project").await;
        assert_eq!(
            owners.data("m2").await["messageAdded"]["content"],
            "after the project"
        );
        members.quiet_for(SETTLE).await;
        // The first chat's subscription got nothing of the second chat.
        owners.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(
    a_deleted_account_ends_its_subscriptions_and_deletes_its_chats_for_their_readers,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let departing = harness::user("departing");
        let outsider = harness::user("outsider");
        let (_, _, chat) = team_with_chat(&app, &owner, &[&member, &departing]).await;
        let mut departings = ws::connect_as(&app.url, &departing.token).await;
        departings
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        let mut members = ws::connect_as(&app.url, &member.token).await;
        members
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        members
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        let mut outsiders = ws::connect_as(&app.url, &outsider.token).await;
        outsiders
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        app.wait_for_subscriptions(4).await;

        // A member's account deleted: their subscription on the team's chat ends.
        app.ok(&departing, DELETE_ACCOUNT, json!({})).await;
        completes(&mut departings, "m").await;
        app.wait_for_subscriptions(3).await;
        app.send(&owner, chat, "one fewer").await;
        assert_eq!(
            members.data("m").await["messageAdded"]["content"],
            "one fewer"
        );

        // The owner's account deleted: their chats are deleted, for every reader.
        let chat_node = node_id(&app, &member, CHAT_NODE_ID, "conversation", chat).await;
        app.ok(&owner, DELETE_ACCOUNT, json!({})).await;
        assert_eq!(
            members.data("cd").await,
            json!({
                "conversationDeleted": {
                    "id": chat, "nodeId": chat_node, "typename": "Conversation"
                }
            })
        );
        completes(&mut members, "m").await;
        app.wait_for_subscriptions(2).await;
        outsiders.quiet_for(SETTLE).await;
        members.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(
    deleted_tasks_and_goals_reach_their_owner_only,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let mallory = harness::user("mallory");
        let mut tasks = Vec::new();
        for prompt in ["one", "two", "three"] {
            let data = app.ok(&alice, CREATE_TASK, json!({ "p": prompt })).await;
            tasks.push(uuid(&data["createTask"]["id"]));
        }
        let goal = uuid(&app.ok(&alice, CREATE_GOAL, json!({})).await["createGoal"]["id"]);
        let mut alices = ws::connect_as(&app.url, &alice.token).await;
        alices.subscribe("td", ON_TASK_DELETED, json!({})).await;
        alices.subscribe("gd", ON_GOAL_DELETED, json!({})).await;
        alices
            .subscribe("one", ON_ONE_TASK, json!({ "id": tasks[0] }))
            .await;
        alices
            .subscribe("two", ON_ONE_TASK, json!({ "id": tasks[1] }))
            .await;
        let mut mallorys = ws::connect_as(&app.url, &mallory.token).await;
        mallorys.subscribe("td", ON_TASK_DELETED, json!({})).await;
        mallorys.subscribe("gd", ON_GOAL_DELETED, json!({})).await;
        mallorys
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        app.wait_for_subscriptions(7).await;

        let first_node = node_id(&app, &alice, TASK_NODE_ID, "task", tasks[0]).await;
        app.ok(&alice, DELETE_TASK, json!({ "id": tasks[0] })).await;
        assert_eq!(
            alices.data("td").await,
            json!({ "taskDeleted": { "id": tasks[0], "nodeId": first_node, "typename": "Task" } })
        );
        // A subscription to that one task ends; the other task's stays.
        completes(&mut alices, "one").await;
        app.wait_for_subscriptions(6).await;

        let deleted = app.ok(&alice, DELETE_PENDING_TASKS, json!({})).await;
        assert_eq!(deleted["deleteTasksByStatus"], 2);
        let mut reported = BTreeSet::new();
        for _ in 0..2 {
            let event = alices.data("td").await["taskDeleted"].clone();
            assert_eq!(event["typename"], "Task");
            reported.insert(uuid(&event["id"]));
        }
        assert_eq!(reported, BTreeSet::from([tasks[1], tasks[2]]));
        completes(&mut alices, "two").await;

        let goal_node = node_id(&app, &alice, GOAL_NODE_ID, "goal", goal).await;
        app.ok(&alice, DELETE_GOAL, json!({ "id": goal })).await;
        assert_eq!(
            alices.data("gd").await,
            json!({ "goalDeleted": { "id": goal, "nodeId": goal_node, "typename": "Goal" } })
        );
        mallorys.quiet_for(SETTLE).await;
        alices.quiet_for(Duration::from_millis(50)).await;
    }
);

on_both!(
    conversation_updated_delivers_exactly_what_viewer_conversations_lists,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let team = app.create_team(&owner, "Crew").await;
        add_member(&app, &owner, team, &member).await;
        let mut socket = ws::connect_as(&app.url, &member.token).await;
        socket
            .subscribe("c", ON_CONVERSATION_UPDATED, json!({}))
            .await;
        socket
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        app.wait_for_subscriptions(2).await;

        // A teammate's chat the member may read (filed in the team's project), their own
        // chats: one kept, one archived, one deleted.
        let project = uuid(
            &app.ok(
                &owner,
                CREATE_TEAM_PROJECT,
                json!({ "t": team, "title": "Team" }),
            )
            .await["createProject"]["id"],
        );
        let teammates = app.create_chat(&owner, "Teammate's", Some(project)).await;
        let kept = app.create_chat(&member, "Kept", None).await;
        let archived = app.create_chat(&member, "Archived", None).await;
        let doomed = app.create_chat(&member, "Doomed", None).await;
        app.send(&owner, teammates, "for the team").await;
        app.send(&member, kept, "one").await;
        app.send(&member, archived, "two").await;
        app.ok(&member, ARCHIVE_CHAT, json!({ "c": archived }))
            .await;
        app.send(&member, doomed, "three").await;

        // Creation, message, archive: seven updates of the member's own three chats. (Read
        // before the deletion: a gateway reads a changed row when it dispatches the event,
        // and an update dispatched after the row is gone is not delivered.)
        let mut latest: BTreeMap<Uuid, Value> = BTreeMap::new();
        for _ in 0..7 {
            let update = socket.data("c").await["conversationUpdated"].clone();
            latest.insert(uuid(&update["id"]), update);
        }
        assert_eq!(
            latest.keys().copied().collect::<BTreeSet<_>>(),
            BTreeSet::from([kept, archived, doomed])
        );
        app.ok(&member, DELETE_CONVERSATION, json!({ "id": doomed }))
            .await;
        assert_eq!(
            socket.data("cd").await["conversationDeleted"]["id"],
            doomed.to_string()
        );
        socket.quiet_for(SETTLE).await;

        // The list has the kept and the archived chat (no status filter), not the teammate's
        // nor the deleted one, each as its last update showed it.
        let listed = app.ok(&member, VIEWER_CONVERSATIONS, json!({})).await;
        let listed: BTreeMap<Uuid, Value> = listed["viewer"]["conversations"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| (uuid(&node["id"]), node.clone()))
            .collect();
        latest.remove(&doomed);
        assert_eq!(listed, latest);
        assert_eq!(listed[&archived]["status"], "ARCHIVED");
        assert_eq!(listed[&kept]["messageCount"], 1);
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

/// Terminates the LISTEN backend once there is one (it may still be reconnecting after the
/// last termination); panics if none comes within 10 s.
async fn terminate_listener_once_up(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !terminate_listener(app).await {
        assert!(
            std::time::Instant::now() < deadline,
            "no LISTEN connection to terminate"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_committed_while_the_listener_is_down_arrive_once_in_order() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    const SENT: usize = 60;
    let owner = harness::user("owner");
    let member = harness::user("member");
    let (team, _, chat) = team_with_chat(&app, &owner, &[&member]).await;
    let mut messages = Vec::new();
    for i in 0..SENT {
        messages.push(uuid(&app.send(&owner, chat, &format!("m{i}")).await["id"]));
    }
    let mut socket = ws::connect_as(&app.url, &member.token).await;
    socket
        .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
        .await;
    socket
        .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
        .await;
    socket
        .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
        .await;
    app.wait_for_subscriptions(3).await;

    // Ten terminations, each followed at once by deletions committed while the listener
    // is down or reconnecting.
    for (i, message) in messages.iter().enumerate() {
        if i % 6 == 0 {
            terminate_listener_once_up(&app).await;
        }
        app.ok(&owner, DELETE_MESSAGE, json!({ "id": message }))
            .await;
    }
    // Every deletion, once, in the order they were committed.
    for message in &messages {
        let event = socket.data("md").await["messageDeleted"].clone();
        assert_eq!(uuid(&event["id"]), *message);
    }
    // The conversation deleted while the listener is down (or reconnecting), too.
    let other = app.create_chat(&owner, "Other", None).await;
    terminate_listener_once_up(&app).await;
    app.ok(&owner, DELETE_CONVERSATION, json!({ "id": chat }))
        .await;
    terminate_listener_once_up(&app).await;
    app.ok(&owner, DELETE_CONVERSATION, json!({ "id": other }))
        .await;
    assert_eq!(
        socket.data("cd").await["conversationDeleted"]["id"],
        chat.to_string()
    );
    completes(&mut socket, "md").await;
    completes(&mut socket, "m").await;
    app.ok(&owner, DELETE_TEAM, json!({ "id": team })).await;
    // The owner's other chat was never the member's to read.
    socket.quiet_for(SETTLE).await;
}

on_both!(
    the_older_graphql_ws_protocol_gets_complete_too,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let member = harness::user("member");
        let (_, project, chat) = team_with_chat(&app, &owner, &[&member]).await;
        let mut socket = ws::open(&app.url, ws::LEGACY_WS, None).await;
        socket.init(json!({ "authToken": member.token })).await;
        assert_eq!(socket.next().await.unwrap()["type"], "connection_ack");
        socket
            .subscribe("1", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        app.wait_for_subscriptions(1).await;
        app.send(&owner, chat, "hello").await;
        assert_eq!(socket.data("1").await["messageAdded"]["content"], "hello");
        app.ok(&owner, REMOVE_CHAT, json!({ "p": project, "c": chat }))
            .await;
        completes(&mut socket, "1").await;
        app.wait_for_subscriptions(0).await;
    }
);

const MAKE_ADMIN: &str = r#"
    mutation($t: UUID!, $u: UUID!) {
        updateTeamMember(teamId: $t, userId: $u, role: ADMIN) { role }
    }
"#;
const FILE_CHAT: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        addChatToProject(projectId: $p, conversationId: $c) { id }
    }
"#;

on_both!(
    a_deleted_account_takes_its_team_projects_readers_with_it,
    |app: TestApp| async move {
        // The owner's team project holds an admin's chat, which a member reads through it.
        let owner = harness::user("owner");
        let admin = harness::user("admin");
        let member = harness::user("member");
        let (team, project, _) = team_with_chat(&app, &owner, &[&admin, &member]).await;
        app.ok(&owner, MAKE_ADMIN, json!({ "t": team, "u": admin.id }))
            .await;
        let chat = app.create_chat(&admin, "Admin's", None).await;
        app.ok(&admin, FILE_CHAT, json!({ "p": project, "c": chat }))
            .await;
        let mut members = ws::connect_as(&app.url, &member.token).await;
        members
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        members
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        let mut admins = ws::connect_as(&app.url, &admin.token).await;
        admins
            .subscribe("m", ON_MESSAGE_ADDED, json!({ "c": chat }))
            .await;
        app.wait_for_subscriptions(3).await;
        app.send(&admin, chat, "filed").await;
        assert_eq!(members.data("m").await["messageAdded"]["content"], "filed");
        assert_eq!(admins.data("m").await["messageAdded"]["content"], "filed");

        // The owner's account goes, and their project with it: the member no longer reads
        // the admin's chat (which was not deleted: no conversationDeleted for it).
        app.ok(&owner, DELETE_ACCOUNT, json!({})).await;
        let deleted = members.data("cd").await["conversationDeleted"]["id"].clone();
        assert_ne!(
            deleted,
            chat.to_string(),
            "only the owner's own chat was deleted"
        );
        completes(&mut members, "m").await;
        app.send(&admin, chat, "unfiled now").await;
        assert_eq!(
            admins.data("m").await["messageAdded"]["content"],
            "unfiled now"
        );
        members.quiet_for(SETTLE).await;
    }
);

on_both!(
    the_service_role_gets_deletions_and_the_anonymous_none,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Chat", None).await;
        let task =
            uuid(&app.ok(&alice, CREATE_TASK, json!({ "p": "p" })).await["createTask"]["id"]);
        let goal = uuid(&app.ok(&alice, CREATE_GOAL, json!({})).await["createGoal"]["id"]);
        let mut anonymous = ws::connect(&app.url, json!({})).await;
        for (id, query) in [
            ("cd", ON_CONVERSATION_DELETED),
            ("td", ON_TASK_DELETED),
            ("gd", ON_GOAL_DELETED),
        ] {
            anonymous.subscribe(id, query, json!({})).await;
            assert_eq!(anonymous.error_code(id).await, "UNAUTHENTICATED");
        }
        anonymous
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        assert_eq!(anonymous.error_code("md").await, "NOT_FOUND");

        let mut service = ws::connect_as(&app.url, &harness::service_token()).await;
        service
            .subscribe("md", ON_MESSAGE_DELETED, json!({ "c": chat }))
            .await;
        service
            .subscribe("cd", ON_CONVERSATION_DELETED, json!({}))
            .await;
        service.subscribe("td", ON_TASK_DELETED, json!({})).await;
        service.subscribe("gd", ON_GOAL_DELETED, json!({})).await;
        app.wait_for_subscriptions(4).await;
        let message = uuid(&app.send(&alice, chat, "gone").await["id"]);
        app.ok(&alice, DELETE_MESSAGE, json!({ "id": message }))
            .await;
        assert_eq!(
            service.data("md").await["messageDeleted"]["id"],
            message.to_string()
        );
        app.ok(&alice, DELETE_TASK, json!({ "id": task })).await;
        assert_eq!(
            service.data("td").await["taskDeleted"]["id"],
            task.to_string()
        );
        app.ok(&alice, DELETE_GOAL, json!({ "id": goal })).await;
        assert_eq!(
            service.data("gd").await["goalDeleted"]["id"],
            goal.to_string()
        );
        app.ok(&alice, DELETE_CONVERSATION, json!({ "id": chat }))
            .await;
        assert_eq!(
            service.data("cd").await["conversationDeleted"]["id"],
            chat.to_string()
        );
        completes(&mut service, "md").await;
        service.quiet_for(SETTLE).await;
        anonymous.quiet_for(Duration::from_millis(50)).await;
    }
);
