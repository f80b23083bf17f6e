//! Update mutations: what one update costs in SQL statements on each backend, that it
//! keeps absent fields, clears nulled ones and changes the rest, and that a viewer who may
//! not read the row (or may read but not change it) is refused without a write.

use sea_orm::DbBackend;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp, User};
use crate::on_both;

/// Statements one request sends, and its reply.
async fn measure(app: &TestApp, user: &User, query: &str, variables: Value) -> (u64, Value) {
    let before = app.statement_count();
    let data = app.ok(user, query, variables).await;
    (app.statement_count() - before, data)
}

fn on_postgres(app: &TestApp) -> bool {
    app.db.get_database_backend() == DbBackend::Postgres
}

/// The statements an update sends: the viewer's user-rows lookup, the guarded read, the
/// write, and on Postgres the `pg_notify` of a mutation that publishes an event.
fn update_cost(app: &TestApp, publishes: bool) -> u64 {
    3 + u64::from(publishes && on_postgres(app))
}

const CREATE_DRAFT_PROJECT: &str = r#"mutation { createProject(input: {title: "Plan", description: "draft", isPublic: true}) { id } }"#;
const CREATE_CHAT: &str =
    r#"mutation { createConversation(input: {title: "Chat", model: "m1"}) { id } }"#;
const CLEAR_CONVERSATION_TITLE_AND_PIN: &str = r#"mutation($id: UUID!) { updateConversation(id: $id, input: {title: null, pinned: true}) { title model pinned status } }"#;
const CREATE_TASK_ON_BRANCH: &str = r#"mutation { createTask(input: {prompt: "Fix it", branchName: "fix/it", selectedModel: "m1"}) { id } }"#;
const SET_TASK_PROGRESS_CLEAR_BRANCH: &str = r#"mutation($id: UUID!) { updateTask(id: $id, input: {progress: 40, branchName: null}) { progress branchName selectedModel status prompt } }"#;
const CREATE_GOAL: &str = r#"mutation { createGoal(input: {title: "Run", description: "5k", category: "health"}) { id } }"#;
const SET_GOAL_PROGRESS_CLEAR_DESCRIPTION: &str = r#"mutation($id: UUID!) { updateGoal(id: $id, input: {progress: 30, description: null}) { title description category progress status completedAt } }"#;
const CREATE_JOURNAL_ENTRY: &str = r#"mutation { createJournalEntry(input: {title: "Monday", content: "Tired.", mood: "low", tags: ["work"]}) { id } }"#;
const REWRITE_ENTRY_CLEAR_TITLE: &str = r#"mutation($id: UUID!) { updateJournalEntry(id: $id, input: {content: "Rested.", title: null}) { title content mood tags isPrivate } }"#;
const ADD_MEMBER: &str = r#"mutation($t: UUID!, $e: String!) { addTeamMember(teamId: $t, email: $e, role: MEMBER) { role } }"#;
const CREATE_TEAM_PROJECT_SHARED: &str =
    r#"mutation($t: UUID!) { createProject(input: {title: "Shared", teamId: $t}) { id } }"#;
const CREATE_TASK: &str = r#"mutation { createTask(input: {prompt: "Fix it"}) { id } }"#;
const RENAME_CONVERSATION: &str =
    r#"mutation($id: UUID!) { updateConversation(id: $id, input: {title: "pwned"}) { id } }"#;
const REWRITE_MESSAGE: &str =
    r#"mutation($id: UUID!) { updateMessage(id: $id, input: {content: "pwned"}) { id } }"#;
const SET_TASK_PROGRESS: &str =
    r#"mutation($id: UUID!) { updateTask(id: $id, input: {progress: 99}) { id } }"#;
const READ_CHAT_MESSAGE_TASK: &str = r#"query($c: UUID!, $m: UUID!, $t: UUID!) { conversation(id: $c) { title } message(id: $m) { content } task(id: $t) { progress } }"#;
const NAME_PROFILE_AND_SETTINGS: &str = r#"mutation { updateProfile(input: {displayName: "Al", fullName: "Alice A"}) { id } updateSettings(input: {model: "m1", language: "en"}) { model } }"#;
const CLEAR_FULL_NAME_FINISH_ONBOARDING: &str = r#"mutation { updateProfile(input: {fullName: null, onboardingCompleted: true}) { displayName fullName onboardingCompleted } }"#;
const CLEAR_MODEL_SET_TIMEZONE: &str = r#"mutation { updateSettings(input: {model: null, timezone: "UTC"}) { model language timezone } }"#;
const UPDATE_PROJECT: &str = "mutation($id: UUID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { title description isPublic status } }";
const UPDATE_MESSAGE: &str = "mutation($id: UUID!, $i: UpdateMessageInput!) { updateMessage(id: $id, input: $i) { content feedback metadata role } }";
const PROJECT: &str =
    "query($id: UUID!) { project(id: $id) { title description isPublic status updatedAt } }";

on_both!(
    update_project_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let id =
            app.ok(&alice, CREATE_DRAFT_PROJECT, json!({})).await["createProject"]["id"].clone();
        let (count, data) = measure(
            &app,
            &alice,
            UPDATE_PROJECT,
            json!({ "id": id, "i": { "title": "Plan B", "description": null } }),
        )
        .await;
        assert_eq!(
            data["updateProject"],
            json!({ "title": "Plan B", "description": null, "isPublic": true, "status": "ACTIVE" })
        );
        assert_eq!(
            count,
            update_cost(&app, false),
            "statements for updateProject"
        );
    }
);

on_both!(
    update_conversation_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.ok(&alice, CREATE_CHAT, json!({})).await["createConversation"]["id"].clone();
        let (count, data) = measure(
            &app,
            &alice,
            CLEAR_CONVERSATION_TITLE_AND_PIN,
            json!({ "id": chat }),
        )
        .await;
        assert_eq!(
            data["updateConversation"],
            json!({ "title": null, "model": "m1", "pinned": true, "status": "ACTIVE" })
        );
        assert_eq!(
            count,
            update_cost(&app, true),
            "statements for updateConversation"
        );
    }
);

on_both!(
    update_message_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "Chat", None).await;
        let message = app.send(&alice, chat, "first words").await["id"].clone();
        app.ok(
            &alice,
            UPDATE_MESSAGE,
            json!({ "id": message, "i": { "feedback": { "rating": 1 } } }),
        )
        .await;
        let (count, data) = measure(
            &app,
            &alice,
            UPDATE_MESSAGE,
            json!({ "id": message, "i": { "content": "better words", "feedback": null } }),
        )
        .await;
        assert_eq!(
            data["updateMessage"],
            json!({ "content": "better words", "feedback": null, "metadata": {}, "role": "USER" })
        );
        assert_eq!(
            count,
            update_cost(&app, true),
            "statements for updateMessage"
        );
    }
);

on_both!(
    update_task_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let task =
            app.ok(&alice, CREATE_TASK_ON_BRANCH, json!({})).await["createTask"]["id"].clone();
        let (count, data) = measure(
            &app,
            &alice,
            SET_TASK_PROGRESS_CLEAR_BRANCH,
            json!({ "id": task }),
        )
        .await;
        assert_eq!(
            data["updateTask"],
            json!({ "progress": 40, "branchName": null, "selectedModel": "m1", "status": "PENDING", "prompt": "Fix it" })
        );
        assert_eq!(count, update_cost(&app, true), "statements for updateTask");
    }
);

on_both!(
    update_goal_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let goal = app.ok(&alice, CREATE_GOAL, json!({})).await["createGoal"]["id"].clone();
        let (count, data) = measure(
            &app,
            &alice,
            SET_GOAL_PROGRESS_CLEAR_DESCRIPTION,
            json!({ "id": goal }),
        )
        .await;
        assert_eq!(
            data["updateGoal"],
            json!({ "title": "Run", "description": null, "category": "health", "progress": 30, "status": "ACTIVE", "completedAt": null })
        );
        assert_eq!(count, update_cost(&app, true), "statements for updateGoal");
    }
);

on_both!(
    update_journal_entry_reads_once_and_writes_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let entry = app.ok(&alice, CREATE_JOURNAL_ENTRY, json!({})).await["createJournalEntry"]
            ["id"]
            .clone();
        let (count, data) = measure(
            &app,
            &alice,
            REWRITE_ENTRY_CLEAR_TITLE,
            json!({ "id": entry }),
        )
        .await;
        assert_eq!(
            data["updateJournalEntry"],
            json!({ "title": null, "content": "Rested.", "mood": "low", "tags": ["work"], "isPrivate": true })
        );
        assert_eq!(
            count,
            update_cost(&app, false),
            "statements for updateJournalEntry"
        );
    }
);

on_both!(
    updates_of_rows_the_viewer_may_not_read_or_change_write_nothing,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let member = harness::user("member");
        app.ok(&bob, VIEWER_ID, json!({})).await;
        app.ok(&member, VIEWER_ID, json!({})).await;
        let team = app.create_team(&alice, "Team").await;
        app.ok(&alice, ADD_MEMBER, json!({ "t": team, "e": member.email }))
            .await;
        let private = app.create_project(&alice, "Private", false).await;
        let shared = app
            .ok(&alice, CREATE_TEAM_PROJECT_SHARED, json!({ "t": team }))
            .await["createProject"]["id"]
            .clone();
        let shared = harness::uuid(&shared);
        let chat = app.create_chat(&alice, "Chat", Some(shared)).await;
        let message = harness::uuid(&app.send(&alice, chat, "hello").await["id"]);
        let task = harness::uuid(&app.ok(&alice, CREATE_TASK, json!({})).await["createTask"]["id"]);

        let snapshot = |id: Uuid| {
            let app = &app;
            let alice = &alice;
            async move { app.ok(alice, PROJECT, json!({ "id": id })).await["project"].clone() }
        };
        let before_private = snapshot(private).await;
        let before_shared = snapshot(shared).await;

        // Bob cannot read Alice's private project: it does not exist for him, whatever
        // the input.
        for input in [
            json!({ "title": "pwned" }),
            json!({ "title": null }),
            json!({ "title": "" }),
        ] {
            let reply = app
                .as_user(
                    &bob,
                    UPDATE_PROJECT,
                    json!({ "id": private, "i": input.clone() }),
                )
                .await;
            assert_eq!(reply.code(), "NOT_FOUND", "bob, {input}");
            assert_eq!(reply.body["data"], json!(null));
        }
        // The team member reads the team's project but may not change it.
        let read = app.ok(&member, PROJECT, json!({ "id": shared })).await;
        assert_eq!(read["project"]["title"], json!("Shared"));
        for input in [
            json!({ "title": "pwned" }),
            json!({ "title": null }),
            json!({ "status": "DELETED" }),
        ] {
            let reply = app
                .as_user(
                    &member,
                    UPDATE_PROJECT,
                    json!({ "id": shared, "i": input.clone() }),
                )
                .await;
            assert_eq!(reply.code(), "FORBIDDEN", "member, {input}");
        }
        // The member reads the chat filed in the team's project, but it is Alice's.
        for (query, variables, code) in [
            (RENAME_CONVERSATION, json!({ "id": chat }), "FORBIDDEN"),
            (REWRITE_MESSAGE, json!({ "id": message }), "FORBIDDEN"),
        ] {
            let reply = app.as_user(&member, query, variables.clone()).await;
            assert_eq!(reply.code(), code, "member: {query}");
            let reply = app.as_user(&bob, query, variables).await;
            assert_eq!(reply.code(), "NOT_FOUND", "bob: {query}");
        }
        let reply = app
            .as_user(&bob, SET_TASK_PROGRESS, json!({ "id": task }))
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");

        assert_eq!(snapshot(private).await, before_private);
        assert_eq!(snapshot(shared).await, before_shared);
        let data = app
            .ok(
                &alice,
                READ_CHAT_MESSAGE_TASK,
                json!({ "c": chat, "m": message, "t": task }),
            )
            .await;
        assert_eq!(
            data,
            json!({ "conversation": { "title": "Chat" }, "message": { "content": "hello" }, "task": { "progress": 0 } })
        );
    }
);

on_both!(
    profile_and_settings_updates_write_once_without_a_read,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        app.ok(&alice, NAME_PROFILE_AND_SETTINGS, json!({})).await;
        let (count, data) =
            measure(&app, &alice, CLEAR_FULL_NAME_FINISH_ONBOARDING, json!({})).await;
        assert_eq!(
            data["updateProfile"],
            json!({ "displayName": "Al", "fullName": null, "onboardingCompleted": true })
        );
        // The user-rows lookup and the write; on Postgres the profile event too.
        assert_eq!(count, 2 + u64::from(on_postgres(&app)), "updateProfile");
        let (count, data) = measure(&app, &alice, CLEAR_MODEL_SET_TIMEZONE, json!({})).await;
        assert_eq!(
            data["updateSettings"],
            json!({ "model": null, "language": "en", "timezone": "UTC" })
        );
        assert_eq!(count, 2, "updateSettings");
    }
);
