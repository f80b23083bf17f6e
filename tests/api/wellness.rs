//! The [wellness] API end to end: goals, journal, progress metrics, statistics, node
//! lookups, and what other users, the anonymous and the service role get.

use serde_json::{json, Value};

use crate::documents::{DELETE_ACCOUNT, VIEWER_ID};
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;

const CREATE_GOAL_EMPTY_TITLE: &str = r#"mutation { createGoal(input: {title: ""}) { id } }"#;
const READ_GOAL: &str = "query($id: UUID!) { goal(id: $id) { title status progress completedAt } }";
const DELETE_GOAL: &str = "mutation($id: UUID!) { deleteGoal(id: $id) }";

const GOAL_AND_GOAL_COUNT: &str = r#"
    query($id: UUID!) {
        goal(id: $id) { id }
        viewer { goals { totalCount } }
    }
"#;

const GOAL_PAGE: &str = r#"
    query($f: GoalFilter, $n: Int, $a: String) {
        viewer {
            goals(first: $n, after: $a, filter: $f) {
                totalCount
                nodes { title }
                pageInfo { hasNextPage hasPreviousPage endCursor }
            }
        }
    }
"#;

const ENTRIES_FILTERED: &str = r#"
    query($f: JournalEntryFilter) {
        viewer { journalEntries(filter: $f) { totalCount nodes { id title } } }
    }
"#;

const CREATE_ENTRY_EMPTY: &str = r#"mutation { createJournalEntry(input: {content: ""}) { id } }"#;

const CREATE_ENTRY_WITH_TAGS: &str = r#"
    mutation($t: [String!]) {
        createJournalEntry(input: {content: "x", tags: $t}) { id }
    }
"#;

const DELETE_ENTRY: &str = "mutation($id: UUID!) { deleteJournalEntry(id: $id) }";

const ENTRY_AND_ENTRY_COUNT: &str = r#"
    query($id: UUID!) {
        journalEntry(id: $id) { id }
        viewer { journalEntries { totalCount } }
    }
"#;

const ENTRY_PAGE: &str = r#"
    query($f: Int, $a: String, $l: Int, $b: String) {
        viewer {
            journalEntries(first: $f, after: $a, last: $l, before: $b) {
                totalCount
                nodes { title }
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            }
        }
    }
"#;

const GOALS_END_CURSOR: &str = "{ viewer { goals { pageInfo { endCursor } } } }";

const RECORD_PROGRESS: &str = r#"
    mutation($t: String!, $v: Float!, $m: JSON) {
        recordProgress(metricType: $t, value: $v, metadata: $m) {
            id metricType value metadata createdAt updatedAt
        }
    }
"#;

const INCREMENT_PROGRESS: &str = r#"
    mutation($t: String!, $by: Float) {
        incrementProgress(metricType: $t, by: $by) { id metricType value metadata }
    }
"#;

const INCREMENT_SESSIONS: &str = r#"
    mutation {
        incrementProgress(metricType: "sessions_completed") { value metadata }
    }
"#;

const METRICS_FILTERED: &str = r#"
    {
        viewer {
            all: progressMetrics { metricType value }
            one: progressMetrics(metricType: "sessions_completed") { value }
            none: progressMetrics(metricType: "nope") { value }
        }
    }
"#;

const INCREMENT_STREAK: &str = r#"mutation { incrementProgress(metricType: "streak") { value } }"#;
const METRICS: &str = "{ viewer { progressMetrics { metricType value } } }";

const STATISTICS: &str = r#"
    {
        viewer {
            statistics {
                totalConversations totalMessages activeGoals completedGoals journalEntries
                lastConversationAt
            }
        }
    }
"#;

const CREATE_CHAT_WITH_MESSAGE: &str = r#"
    mutation {
        createConversation(input: {title: "two", firstMessage: {role: USER, content: "hi"}}) {
            createdAt
        }
    }
"#;

const GOAL_OR_ENTRY_NODE: &str = r#"
    query($n: ID!) {
        node(nodeId: $n) {
            nodeId __typename
            ... on Goal { id title }
            ... on JournalEntry { id content }
        }
    }
"#;

const RECORD_CALM_FIVE: &str = r#"
    mutation {
        recordProgress(metricType: "calm", value: 5) { id }
    }
"#;

const GOAL_ENTRY_AND_VIEWER_TOTALS: &str = r#"
    query($g: UUID!, $j: UUID!) {
        goal(id: $g) { id }
        journalEntry(id: $j) { id }
        viewer {
            goals { totalCount }
            journalEntries(filter: {tag: "t"}) { totalCount }
            progressMetrics { value }
            statistics { activeGoals journalEntries }
        }
    }
"#;

const RENAME_GOAL: &str = r#"
    mutation($id: UUID!) {
        updateGoal(id: $id, input: {title: "mine"}) { id }
    }
"#;

const SET_GOAL_PROGRESS_500: &str = r#"
    mutation($id: UUID!) {
        updateGoal(id: $id, input: {progress: 500}) { id }
    }
"#;

const REWRITE_ENTRY: &str = r#"
    mutation($id: UUID!) {
        updateJournalEntry(id: $id, input: {content: "mine"}) { id }
    }
"#;

const CLEAR_ENTRY_CONTENT: &str = r#"
    mutation($id: UUID!) {
        updateJournalEntry(id: $id, input: {content: null}) { id }
    }
"#;

const INCREMENT_CALM_BY_TWO: &str = r#"
    mutation {
        incrementProgress(metricType: "calm", by: 2) { value }
    }
"#;

const GOAL_ENTRY_AND_VIEWER: &str = r#"
    query($g: UUID!, $j: UUID!) {
        goal(id: $g) { id }
        journalEntry(id: $j) { id }
        viewer { id }
    }
"#;

const CREATE_GOAL_X: &str = r#"mutation { createGoal(input: {title: "x"}) { id } }"#;
const CREATE_ENTRY_X: &str = r#"mutation { createJournalEntry(input: {content: "x"}) { id } }"#;
const RECORD_CALM_ONE: &str = r#"mutation { recordProgress(metricType: "calm", value: 1) { id } }"#;
const INCREMENT_CALM: &str = r#"mutation { incrementProgress(metricType: "calm") { id } }"#;

const GOAL_ENTRY_AND_NODE: &str = r#"
    query($g: UUID!, $j: UUID!, $n: ID!) {
        goal(id: $g) { title }
        journalEntry(id: $j) { content }
        node(nodeId: $n) { nodeId }
    }
"#;

const GOAL_ENTRY_AND_METRICS: &str = r#"
    query($g: UUID!, $j: UUID!) {
        goal(id: $g) { title progress }
        journalEntry(id: $j) { content }
        viewer { progressMetrics { metricType value } }
    }
"#;

const INCREMENT_M: &str = r#"mutation { incrementProgress(metricType: "m") { id } }"#;
const RECORD_HOME_VISIT: &str = r#"mutation { recordSiteVisit(input: {path: "/home"}) }"#;

const GRANT_WELCOME_CREDITS: &str = r#"
    mutation($u: UUID!) {
        grantCredits(input: {userId: $u, amount: 10, idempotencyKey: "welcome"}) { id }
    }
"#;

const SPEND_THREE_CREDITS: &str = r#"
    mutation {
        spendCredits(input: {amount: 3, idempotencyKey: "s1"}) { id }
    }
"#;

const VIEWER_WELLNESS_COUNTS: &str = r#"
    {
        viewer {
            goals { totalCount }
            journalEntries { totalCount }
            progressMetrics { id }
            credits { balance transactions { totalCount } }
        }
    }
"#;

const GOAL_FIELDS: &str =
    "id nodeId title description category targetDate status progress metadata createdAt updatedAt completedAt";

async fn create_goal(app: &TestApp, user: &User, input: Value) -> Value {
    app.ok(
        user,
        &format!("mutation($i: CreateGoalInput!) {{ createGoal(input: $i) {{ {GOAL_FIELDS} }} }}"),
        json!({ "i": input }),
    )
    .await["createGoal"]
        .clone()
}

async fn update_goal(
    app: &TestApp,
    user: &User,
    id: &Value,
    input: Value,
) -> crate::harness::Reply {
    app.as_user(
        user,
        &format!(
            "mutation($id: UUID!, $i: UpdateGoalInput!) {{ updateGoal(id: $id, input: $i) {{ {GOAL_FIELDS} }} }}"
        ),
        json!({ "id": id, "i": input }),
    )
    .await
}

const ENTRY_FIELDS: &str = "id nodeId title content mood tags isPrivate createdAt updatedAt";

async fn create_entry(app: &TestApp, user: &User, input: Value) -> Value {
    app.ok(
        user,
        &format!(
            "mutation($i: JournalEntryInput!) {{ createJournalEntry(input: $i) {{ {ENTRY_FIELDS} }} }}"
        ),
        json!({ "i": input }),
    )
    .await["createJournalEntry"]
        .clone()
}

fn titles(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

on_both!(
    goals_have_defaults_and_completion_moves_completed_at_and_progress,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let goal = create_goal(&app, &alice, json!({ "title": "  Run 5k  " })).await;
        let id = goal["id"].clone();
        assert_eq!(goal["title"], json!("Run 5k"));
        assert_eq!(goal["status"], json!("ACTIVE"));
        assert_eq!(goal["progress"], json!(0));
        assert_eq!(goal["metadata"], json!({}));
        assert_eq!(goal["description"], json!(null));
        assert_eq!(goal["category"], json!(null));
        assert_eq!(goal["targetDate"], json!(null));
        assert_eq!(goal["completedAt"], json!(null));
        assert_eq!(goal["createdAt"], goal["updatedAt"]);

        let full = create_goal(
            &app,
            &alice,
            json!({ "title": "Sleep", "description": "8h", "category": "health", "targetDate": "2026-03-15", "metadata": {"streak": 2} }),
        )
        .await;
        assert_eq!(full["description"], json!("8h"));
        assert_eq!(full["category"], json!("health"));
        assert_eq!(full["targetDate"], json!("2026-03-15"));
        assert_eq!(full["metadata"], json!({"streak": 2}));

        let g = update_goal(
            &app,
            &alice,
            &id,
            json!({ "progress": 40, "category": "fitness" }),
        )
        .await
        .data()["updateGoal"]
            .clone();
        assert_eq!(
            (g["progress"].clone(), g["status"].clone()),
            (json!(40), json!("ACTIVE"))
        );
        assert_eq!(g["category"], json!("fitness"));
        assert_ne!(g["updatedAt"], goal["updatedAt"]);

        // Completing sets progress 100 and completedAt in the same write.
        let done = update_goal(&app, &alice, &id, json!({ "status": "COMPLETED" }))
            .await
            .data()["updateGoal"]
            .clone();
        assert_eq!(done["status"], json!("COMPLETED"));
        assert_eq!(done["progress"], json!(100));
        assert!(done["completedAt"].is_string());
        assert_eq!(done["completedAt"], done["updatedAt"]);
        // Other changes keep completedAt; a completed goal stays at 100.
        let renamed = update_goal(
            &app,
            &alice,
            &id,
            json!({ "title": "Run 10k", "progress": 30 }),
        )
        .await
        .data()["updateGoal"]
            .clone();
        assert_eq!(renamed["title"], json!("Run 10k"));
        assert_eq!(renamed["completedAt"], done["completedAt"]);
        assert_eq!(renamed["progress"], json!(100));
        // Leaving COMPLETED clears completedAt.
        let reopened = update_goal(
            &app,
            &alice,
            &id,
            json!({ "status": "PAUSED", "progress": 70 }),
        )
        .await
        .data()["updateGoal"]
            .clone();
        assert_eq!(reopened["status"], json!("PAUSED"));
        assert_eq!(reopened["completedAt"], json!(null));
        assert_eq!(reopened["progress"], json!(70));

        // Nulls clear nullable fields; absent fields stay.
        let cleared = update_goal(
            &app,
            &alice,
            &full["id"],
            json!({ "description": null, "targetDate": null }),
        )
        .await
        .data()["updateGoal"]
            .clone();
        assert_eq!(cleared["description"], json!(null));
        assert_eq!(cleared["targetDate"], json!(null));
        assert_eq!(cleared["category"], json!("health"));
        assert_eq!(cleared["metadata"], json!({"streak": 2}));

        for bad in [
            json!({ "progress": 101 }),
            json!({ "progress": -1 }),
            json!({ "title": null }),
            json!({ "title": "   " }),
            json!({ "status": null }),
            json!({ "progress": null }),
            json!({ "metadata": null }),
            json!({ "targetDate": "2026-02-30" }),
            json!({ "targetDate": "2026-03-15T10:00:00Z" }),
        ] {
            let reply = update_goal(&app, &alice, &id, bad.clone()).await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{bad}");
        }
        let reply = app
            .as_user(&alice, CREATE_GOAL_EMPTY_TITLE, json!({}))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        // Refused updates changed nothing.
        let data = app.ok(&alice, READ_GOAL, json!({ "id": id })).await;
        assert_eq!(
            data["goal"],
            json!({"title": "Run 10k", "status": "PAUSED", "progress": 70, "completedAt": null})
        );

        let data = app.ok(&alice, DELETE_GOAL, json!({ "id": id })).await;
        assert_eq!(data["deleteGoal"], id);
        let data = app
            .ok(&alice, GOAL_AND_GOAL_COUNT, json!({ "id": id }))
            .await;
        assert_eq!(data["goal"], json!(null));
        assert_eq!(data["viewer"]["goals"]["totalCount"], json!(1));
        let reply = app.as_user(&alice, DELETE_GOAL, json!({ "id": id })).await;
        assert_eq!(reply.code(), "NOT_FOUND");
    }
);

on_both!(
    goals_filter_by_status_and_category_newest_first,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let mut ids = Vec::new();
        for (title, category) in [
            ("g1", "health"),
            ("g2", "career"),
            ("g3", "health"),
            ("g4", "health"),
            ("g5", "career"),
        ] {
            let g = create_goal(
                &app,
                &alice,
                json!({ "title": title, "category": category }),
            )
            .await;
            ids.push(g["id"].clone());
        }
        update_goal(&app, &alice, &ids[2], json!({ "status": "COMPLETED" }))
            .await
            .data();
        update_goal(&app, &alice, &ids[4], json!({ "status": "COMPLETED" }))
            .await
            .data();
        update_goal(&app, &alice, &ids[0], json!({ "status": "ABANDONED" }))
            .await
            .data();

        let all = app.ok(&alice, GOAL_PAGE, json!({})).await["viewer"]["goals"].clone();
        assert_eq!(titles(&all["nodes"]), ["g5", "g4", "g3", "g2", "g1"]);
        assert_eq!(all["totalCount"], json!(5));
        let health = app
            .ok(&alice, GOAL_PAGE, json!({ "f": {"category": "health"} }))
            .await;
        assert_eq!(
            titles(&health["viewer"]["goals"]["nodes"]),
            ["g4", "g3", "g1"]
        );
        let completed = app
            .ok(&alice, GOAL_PAGE, json!({ "f": {"status": "COMPLETED"} }))
            .await;
        assert_eq!(titles(&completed["viewer"]["goals"]["nodes"]), ["g5", "g3"]);
        let both = app
            .ok(
                &alice,
                GOAL_PAGE,
                json!({ "f": {"status": "COMPLETED", "category": "career"} }),
            )
            .await;
        assert_eq!(titles(&both["viewer"]["goals"]["nodes"]), ["g5"]);
        assert_eq!(both["viewer"]["goals"]["totalCount"], json!(1));
        let active = app
            .ok(&alice, GOAL_PAGE, json!({ "f": {"status": "ACTIVE"} }))
            .await;
        assert_eq!(titles(&active["viewer"]["goals"]["nodes"]), ["g4", "g2"]);

        let page1 = app.ok(&alice, GOAL_PAGE, json!({ "n": 2 })).await["viewer"]["goals"].clone();
        assert_eq!(titles(&page1["nodes"]), ["g5", "g4"]);
        assert_eq!(page1["pageInfo"]["hasNextPage"], json!(true));
        let page2 = app
            .ok(
                &alice,
                GOAL_PAGE,
                json!({ "n": 2, "a": page1["pageInfo"]["endCursor"] }),
            )
            .await["viewer"]["goals"]
            .clone();
        assert_eq!(titles(&page2["nodes"]), ["g3", "g2"]);
        assert_eq!(page2["pageInfo"]["hasPreviousPage"], json!(true));
        assert_eq!(page2["pageInfo"]["hasNextPage"], json!(true));
        let reply = app.as_user(&alice, GOAL_PAGE, json!({ "n": 101 })).await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
);

on_both!(
    journal_entries_keep_tags_and_mood_and_filter_by_each,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let first = create_entry(
            &app,
            &alice,
            json!({ "title": "Monday", "content": "Felt calm.", "mood": "calm", "tags": [" work ", "sleep", "work"] }),
        )
        .await;
        assert_eq!(first["tags"], json!(["work", "sleep"]));
        assert_eq!(first["isPrivate"], json!(true));
        assert_eq!(first["mood"], json!("calm"));
        let second = create_entry(
            &app,
            &alice,
            json!({ "content": "Busy day", "mood": "stressed", "tags": ["work"], "isPrivate": false }),
        )
        .await;
        assert_eq!(second["title"], json!(null));
        assert_eq!(second["isPrivate"], json!(false));
        let third = create_entry(
            &app,
            &alice,
            json!({ "title": "Weekend", "content": "Hiking", "mood": "calm" }),
        )
        .await;
        assert_eq!(third["tags"], json!([]));
        // A tag that is only a prefix or another case does not match.
        create_entry(
            &app,
            &alice,
            json!({ "title": "Other", "content": "x", "tags": ["Work", "workout"] }),
        )
        .await;

        let ids = |data: &Value| -> Vec<Value> {
            data["viewer"]["journalEntries"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].clone())
                .collect()
        };
        let data = app.ok(&alice, ENTRIES_FILTERED, json!({})).await;
        assert_eq!(data["viewer"]["journalEntries"]["totalCount"], json!(4));
        let data = app
            .ok(&alice, ENTRIES_FILTERED, json!({ "f": {"tag": "work"} }))
            .await;
        assert_eq!(ids(&data), [second["id"].clone(), first["id"].clone()]);
        assert_eq!(data["viewer"]["journalEntries"]["totalCount"], json!(2));
        let data = app
            .ok(&alice, ENTRIES_FILTERED, json!({ "f": {"tag": "sleep"} }))
            .await;
        assert_eq!(ids(&data), [first["id"].clone()]);
        let data = app
            .ok(&alice, ENTRIES_FILTERED, json!({ "f": {"tag": "nothing"} }))
            .await;
        assert!(ids(&data).is_empty());
        let data = app
            .ok(&alice, ENTRIES_FILTERED, json!({ "f": {"mood": "calm"} }))
            .await;
        assert_eq!(ids(&data), [third["id"].clone(), first["id"].clone()]);
        let data = app
            .ok(
                &alice,
                ENTRIES_FILTERED,
                json!({ "f": {"mood": "calm", "tag": "work"} }),
            )
            .await;
        assert_eq!(ids(&data), [first["id"].clone()]);
        // createdAfter/createdBefore are strict.
        let data = app
            .ok(
                &alice,
                ENTRIES_FILTERED,
                json!({ "f": {"createdAfter": second["createdAt"]} }),
            )
            .await;
        assert_eq!(data["viewer"]["journalEntries"]["totalCount"], json!(2));
        assert!(!ids(&data).contains(&second["id"]));
        assert!(ids(&data).contains(&third["id"]));
        let data = app
            .ok(
                &alice,
                ENTRIES_FILTERED,
                json!({ "f": {"createdBefore": second["createdAt"]} }),
            )
            .await;
        assert_eq!(ids(&data), [first["id"].clone()]);
        let data = app
            .ok(
                &alice,
                ENTRIES_FILTERED,
                json!({ "f": {"createdAfter": first["createdAt"], "createdBefore": third["createdAt"]} }),
            )
            .await;
        assert_eq!(ids(&data), [second["id"].clone()]);

        // Updates: absent stays, null clears a nullable field, tags are replaced.
        let data = app
            .ok(
                &alice,
                &format!("mutation($id: UUID!) {{ updateJournalEntry(id: $id, input: {{title: null, tags: [\"rest\"], isPrivate: false}}) {{ {ENTRY_FIELDS} }} }}"),
                json!({ "id": first["id"] }),
            )
            .await;
        let updated = &data["updateJournalEntry"];
        assert_eq!(updated["title"], json!(null));
        assert_eq!(updated["tags"], json!(["rest"]));
        assert_eq!(updated["isPrivate"], json!(false));
        assert_eq!(updated["content"], json!("Felt calm."));
        assert_eq!(updated["mood"], json!("calm"));
        assert_eq!(updated["createdAt"], first["createdAt"]);
        assert_ne!(updated["updatedAt"], first["updatedAt"]);
        let data = app
            .ok(&alice, ENTRIES_FILTERED, json!({ "f": {"tag": "work"} }))
            .await;
        assert_eq!(ids(&data), [second["id"].clone()]);

        for (input, what) in [
            ("{content: null}", "null content"),
            ("{content: \"  \"}", "empty content"),
            ("{tags: null}", "null tags"),
            ("{tags: [\"ok\", \" \"]}", "an empty tag"),
            ("{isPrivate: null}", "null isPrivate"),
        ] {
            let reply = app
                .as_user(
                    &alice,
                    &format!("mutation($id: UUID!) {{ updateJournalEntry(id: $id, input: {input}) {{ id }} }}"),
                    json!({ "id": second["id"] }),
                )
                .await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{what}");
        }
        let reply = app.as_user(&alice, CREATE_ENTRY_EMPTY, json!({})).await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        let reply = app
            .as_user(&alice, CREATE_ENTRY_WITH_TAGS, json!({ "t": too_many }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");

        let data = app
            .ok(&alice, DELETE_ENTRY, json!({ "id": second["id"] }))
            .await;
        assert_eq!(data["deleteJournalEntry"], second["id"]);
        let data = app
            .ok(&alice, ENTRY_AND_ENTRY_COUNT, json!({ "id": second["id"] }))
            .await;
        assert_eq!(data["journalEntry"], json!(null));
        assert_eq!(data["viewer"]["journalEntries"]["totalCount"], json!(3));
    }
);

on_both!(
    journal_pages_forward_and_backward_newest_first,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        for i in 0..7 {
            create_entry(
                &app,
                &alice,
                json!({ "title": format!("e{i}"), "content": "c" }),
            )
            .await;
        }
        let page = |v: Value| {
            let app = &app;
            let alice = &alice;
            async move { app.ok(alice, ENTRY_PAGE, v).await["viewer"]["journalEntries"].clone() }
        };
        let p1 = page(json!({ "f": 3 })).await;
        assert_eq!(titles(&p1["nodes"]), ["e6", "e5", "e4"]);
        assert_eq!(p1["totalCount"], json!(7));
        assert_eq!(p1["pageInfo"]["hasNextPage"].clone(), json!(true));
        assert_eq!(p1["pageInfo"]["hasPreviousPage"], json!(false));
        let p2 = page(json!({ "f": 3, "a": p1["pageInfo"]["endCursor"] })).await;
        assert_eq!(titles(&p2["nodes"]), ["e3", "e2", "e1"]);
        assert_eq!(p2["pageInfo"]["hasNextPage"], json!(true));
        assert_eq!(p2["pageInfo"]["hasPreviousPage"], json!(true));
        let p3 = page(json!({ "f": 3, "a": p2["pageInfo"]["endCursor"] })).await;
        assert_eq!(titles(&p3["nodes"]), ["e0"]);
        assert_eq!(p3["pageInfo"]["hasNextPage"], json!(false));

        // Backward: the oldest three, still newest first inside the page.
        let b1 = page(json!({ "l": 3 })).await;
        assert_eq!(titles(&b1["nodes"]), ["e2", "e1", "e0"]);
        assert_eq!(b1["pageInfo"]["hasPreviousPage"], json!(true));
        assert_eq!(b1["pageInfo"]["hasNextPage"], json!(false));
        let b2 = page(json!({ "l": 3, "b": b1["pageInfo"]["startCursor"] })).await;
        assert_eq!(titles(&b2["nodes"]), ["e5", "e4", "e3"]);
        assert_eq!(b2["pageInfo"]["hasPreviousPage"], json!(true));
        assert_eq!(b2["pageInfo"]["hasNextPage"], json!(true));
        let b3 = page(json!({ "l": 3, "b": b2["pageInfo"]["startCursor"] })).await;
        assert_eq!(titles(&b3["nodes"]), ["e6"]);
        assert_eq!(b3["pageInfo"]["hasPreviousPage"], json!(false));
        // A window between two cursors.
        let mid =
            page(json!({ "a": p1["pageInfo"]["startCursor"], "b": p3["pageInfo"]["startCursor"] }))
                .await;
        assert_eq!(titles(&mid["nodes"]), ["e5", "e4", "e3", "e2", "e1"]);
        // A cursor of another list is refused.
        let goal_cursor = {
            create_goal(&app, &alice, json!({ "title": "g" })).await;
            app.ok(&alice, GOALS_END_CURSOR, json!({})).await["viewer"]["goals"]["pageInfo"]
                ["endCursor"]
                .clone()
        };
        let reply = app
            .as_user(&alice, ENTRY_PAGE, json!({ "a": goal_cursor }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
);

on_both!(
    progress_is_recorded_and_incremented_per_metric_type,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let first = app
            .ok(
                &alice,
                RECORD_PROGRESS,
                json!({ "t": "confidence_score", "v": 6.5, "m": {"source": "quiz"} }),
            )
            .await["recordProgress"]
            .clone();
        assert_eq!(first["metricType"], json!("confidence_score"));
        assert_eq!(first["value"], json!(6.5));
        assert_eq!(first["metadata"], json!({"source": "quiz"}));
        assert_eq!(first["createdAt"], first["updatedAt"]);
        // Recording again replaces the value, keeps the row and (absent) metadata.
        let again = app
            .ok(
                &alice,
                RECORD_PROGRESS,
                json!({ "t": "confidence_score", "v": 7 }),
            )
            .await["recordProgress"]
            .clone();
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["value"], json!(7.0));
        assert_eq!(again["metadata"], json!({"source": "quiz"}));
        assert_eq!(again["createdAt"], first["createdAt"]);
        assert_ne!(again["updatedAt"], first["updatedAt"]);
        let replaced = app
            .ok(
                &alice,
                RECORD_PROGRESS,
                json!({ "t": "confidence_score", "v": 7, "m": {"source": "coach"} }),
            )
            .await["recordProgress"]
            .clone();
        assert_eq!(replaced["metadata"], json!({"source": "coach"}));

        let inc = app.ok(&alice, INCREMENT_SESSIONS, json!({})).await["incrementProgress"].clone();
        assert_eq!(inc, json!({"value": 1.0, "metadata": {}}));
        let inc = app
            .ok(
                &alice,
                INCREMENT_PROGRESS,
                json!({ "t": "sessions_completed", "by": 2.5 }),
            )
            .await["incrementProgress"]
            .clone();
        assert_eq!(inc["value"], json!(3.5));
        let inc = app
            .ok(
                &alice,
                INCREMENT_PROGRESS,
                json!({ "t": "sessions_completed", "by": -0.5 }),
            )
            .await["incrementProgress"]
            .clone();
        assert_eq!(inc["value"], json!(3.0));
        let inc = app
            .ok(
                &alice,
                INCREMENT_PROGRESS,
                json!({ "t": "confidence_score" }),
            )
            .await["incrementProgress"]
            .clone();
        assert_eq!(
            (inc["id"].clone(), inc["value"].clone()),
            (first["id"].clone(), json!(8.0))
        );

        let data = app.ok(&alice, METRICS_FILTERED, json!({})).await;
        assert_eq!(
            data["viewer"]["all"],
            json!([{"metricType": "confidence_score", "value": 8.0}, {"metricType": "sessions_completed", "value": 3.0}])
        );
        assert_eq!(data["viewer"]["one"], json!([{"value": 3.0}]));
        assert_eq!(data["viewer"]["none"], json!([]));

        for t in ["", "   "] {
            let reply = app
                .as_user(&alice, INCREMENT_PROGRESS, json!({ "t": t }))
                .await;
            assert_eq!(reply.code(), "BAD_USER_INPUT");
            let reply = app
                .as_user(&alice, RECORD_PROGRESS, json!({ "t": t, "v": 1 }))
                .await;
            assert_eq!(reply.code(), "BAD_USER_INPUT");
        }
    }
);

on_both!(
    concurrent_increments_are_never_lost,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        // The first request makes the profile; the increments race on the metric itself.
        app.ok(&alice, VIEWER_ID, json!({})).await;
        let increments = (0..60).map(|_| {
            let app = &app;
            let alice = &alice;
            async move { app.as_user(alice, INCREMENT_STREAK, json!({})).await }
        });
        let replies = futures::future::join_all(increments).await;
        let mut seen: Vec<i64> = replies
            .iter()
            .map(|r| r.data()["incrementProgress"]["value"].as_f64().unwrap() as i64)
            .collect();
        seen.sort();
        // Each increment saw its own result: 1, 2, ..., 60.
        assert_eq!(seen, (1..=60).collect::<Vec<i64>>());
        let data = app.ok(&alice, METRICS, json!({})).await;
        assert_eq!(
            data["viewer"]["progressMetrics"],
            json!([{"metricType": "streak", "value": 60.0}])
        );
    }
);

on_both!(
    statistics_are_exact_and_one_statement,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let data = app.ok(&alice, STATISTICS, json!({})).await;
        assert_eq!(
            data["viewer"]["statistics"],
            json!({"totalConversations": 0, "totalMessages": 0, "activeGoals": 0, "completedGoals": 0, "journalEntries": 0, "lastConversationAt": null})
        );

        let c1 = app.create_chat(&alice, "one", None).await;
        app.send(&alice, c1, "a").await;
        app.send(&alice, c1, "b").await;
        let c2 =
            app.ok(&alice, CREATE_CHAT_WITH_MESSAGE, json!({})).await["createConversation"].clone();
        // A message to the older chat does not make it the last conversation.
        app.send(&alice, c1, "c").await;
        let mut goals = Vec::new();
        for title in ["a", "b", "c", "d", "e"] {
            goals.push(create_goal(&app, &alice, json!({ "title": title })).await["id"].clone());
        }
        update_goal(&app, &alice, &goals[0], json!({ "status": "COMPLETED" }))
            .await
            .data();
        update_goal(&app, &alice, &goals[1], json!({ "status": "PAUSED" }))
            .await
            .data();
        update_goal(&app, &alice, &goals[2], json!({ "status": "ABANDONED" }))
            .await
            .data();
        for i in 0..3 {
            create_entry(&app, &alice, json!({ "content": format!("day {i}") })).await;
        }
        // Bob's rows count for Bob only.
        let bc = app.create_chat(&bob, "bob", None).await;
        app.send(&bob, bc, "x").await;
        create_goal(&app, &bob, json!({ "title": "bob" })).await;
        create_entry(&app, &bob, json!({ "content": "bob" })).await;

        let before = app.statement_count();
        let data = app.ok(&alice, STATISTICS, json!({})).await;
        // ensure-user lookup, the statistics.
        assert_eq!(app.statement_count() - before, 2);
        assert_eq!(
            data["viewer"]["statistics"],
            json!({"totalConversations": 2, "totalMessages": 4, "activeGoals": 2, "completedGoals": 1, "journalEntries": 3, "lastConversationAt": c2["createdAt"]})
        );
        let data = app.ok(&bob, STATISTICS, json!({})).await;
        assert_eq!(data["viewer"]["statistics"]["totalConversations"], json!(1));
        assert_eq!(data["viewer"]["statistics"]["totalMessages"], json!(1));
        assert_eq!(data["viewer"]["statistics"]["activeGoals"], json!(1));
        assert_eq!(data["viewer"]["statistics"]["completedGoals"], json!(0));
        assert_eq!(data["viewer"]["statistics"]["journalEntries"], json!(1));
    }
);

on_both!(
    node_returns_goals_and_journal_entries_to_their_owner_only,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let goal = create_goal(&app, &alice, json!({ "title": "Meditate" })).await;
        let entry = create_entry(&app, &alice, json!({ "content": "Dear diary" })).await;
        // Each nodeId is base64 of "Type:uuid" for its own row.
        for (row, kind) in [(&goal, "Goal"), (&entry, "JournalEntry")] {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(row["nodeId"].as_str().expect("nodeId is a string"))
                .expect("nodeId is base64");
            assert_eq!(
                String::from_utf8(decoded).expect("nodeId decodes to UTF-8"),
                format!("{kind}:{}", uuid(&row["id"]))
            );
        }
        let data = app
            .ok(&alice, GOAL_OR_ENTRY_NODE, json!({ "n": goal["nodeId"] }))
            .await;
        assert_eq!(
            data["node"],
            json!({"nodeId": goal["nodeId"], "__typename": "Goal", "id": goal["id"], "title": "Meditate"})
        );
        let data = app
            .ok(&alice, GOAL_OR_ENTRY_NODE, json!({ "n": entry["nodeId"] }))
            .await;
        assert_eq!(
            data["node"],
            json!({"nodeId": entry["nodeId"], "__typename": "JournalEntry", "id": entry["id"], "content": "Dear diary"})
        );
        for node_id in [&goal["nodeId"], &entry["nodeId"]] {
            let data = app
                .ok(&bob, GOAL_OR_ENTRY_NODE, json!({ "n": node_id }))
                .await;
            assert_eq!(data["node"], json!(null));
            let data = app
                .post(None, GOAL_OR_ENTRY_NODE, json!({ "n": node_id }))
                .await;
            assert_eq!(data.data()["node"], json!(null));
        }
        // Node ids differ across types: a goal's id under the journal's kind finds nothing.
        use base64::Engine;
        let as_entry = base64::engine::general_purpose::STANDARD
            .encode(format!("JournalEntry:{}", goal["id"].as_str().unwrap()));
        let data = app
            .ok(&alice, GOAL_OR_ENTRY_NODE, json!({ "n": as_entry }))
            .await;
        assert_eq!(data["node"], json!(null));
    }
);

on_both!(
    other_users_the_anonymous_and_the_service_role_on_wellness,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let service = harness::service_token();
        let anon = harness::anon_key();
        let goal = create_goal(&app, &alice, json!({ "title": "Alice's goal" })).await;
        let entry = create_entry(
            &app,
            &alice,
            json!({ "content": "Alice's secret", "tags": ["t"] }),
        )
        .await;
        app.ok(&alice, RECORD_CALM_FIVE, json!({})).await;

        // Bob: lookups are null, lists hold only his own rows, changes are NOT_FOUND.
        let data = app
            .ok(
                &bob,
                GOAL_ENTRY_AND_VIEWER_TOTALS,
                json!({ "g": goal["id"], "j": entry["id"] }),
            )
            .await;
        assert_eq!(
            data,
            json!({"goal": null, "journalEntry": null, "viewer": {"goals": {"totalCount": 0}, "journalEntries": {"totalCount": 0}, "progressMetrics": [], "statistics": {"activeGoals": 0, "journalEntries": 0}}})
        );
        let attacks = [
            (RENAME_GOAL, &goal["id"]),
            (SET_GOAL_PROGRESS_500, &goal["id"]),
            (DELETE_GOAL, &goal["id"]),
            (REWRITE_ENTRY, &entry["id"]),
            (CLEAR_ENTRY_CONTENT, &entry["id"]),
            (DELETE_ENTRY, &entry["id"]),
        ];
        for (mutation, id) in attacks {
            let reply = app.as_user(&bob, mutation, json!({ "id": id })).await;
            assert_eq!(reply.code(), "NOT_FOUND", "{mutation}");
        }
        // Bob's metric of the same type is his own row.
        let data = app.ok(&bob, INCREMENT_CALM_BY_TWO, json!({})).await;
        assert_eq!(data["incrementProgress"]["value"], json!(2.0));

        // The anonymous: lookups null, no viewer, writes need a user.
        for token in [None, Some(anon.as_str())] {
            let reply = app
                .post(
                    token,
                    GOAL_ENTRY_AND_VIEWER,
                    json!({ "g": goal["id"], "j": entry["id"] }),
                )
                .await;
            assert_eq!(
                reply.data(),
                &json!({"goal": null, "journalEntry": null, "viewer": null})
            );
            for mutation in [
                CREATE_GOAL_X,
                CREATE_ENTRY_X,
                RECORD_CALM_ONE,
                INCREMENT_CALM,
            ] {
                let reply = app.post(token, mutation, json!({})).await;
                assert_eq!(reply.code(), "UNAUTHENTICATED", "{mutation}");
            }
            for (mutation, id) in attacks {
                let reply = app.post(token, mutation, json!({ "id": id })).await;
                assert_eq!(reply.code(), "UNAUTHENTICATED", "{mutation}");
            }
        }

        // The service role reads any row but creates no user-owned rows.
        let reply = app
            .post(
                Some(&service),
                GOAL_ENTRY_AND_NODE,
                json!({ "g": goal["id"], "j": entry["id"], "n": goal["nodeId"] }),
            )
            .await;
        assert_eq!(
            reply.data(),
            &json!({"goal": {"title": "Alice's goal"}, "journalEntry": {"content": "Alice's secret"}, "node": {"nodeId": goal["nodeId"]}})
        );
        for mutation in [CREATE_GOAL_X, CREATE_ENTRY_X, INCREMENT_CALM] {
            let reply = app.post(Some(&service), mutation, json!({})).await;
            assert_eq!(reply.code(), "FORBIDDEN", "{mutation}");
        }

        // Nothing above changed Alice's rows.
        let data = app
            .ok(
                &alice,
                GOAL_ENTRY_AND_METRICS,
                json!({ "g": goal["id"], "j": entry["id"] }),
            )
            .await;
        assert_eq!(
            data,
            json!({"goal": {"title": "Alice's goal", "progress": 0}, "journalEntry": {"content": "Alice's secret"}, "viewer": {"progressMetrics": [{"metricType": "calm", "value": 5.0}]}})
        );
    }
);

on_both!(
    delete_account_removes_wellness_credit_and_visit_rows,
    |app: TestApp| async move {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let service = harness::service_token();
        for user in [&alice, &bob] {
            create_goal(&app, user, json!({ "title": "g" })).await;
            create_entry(&app, user, json!({ "content": "j" })).await;
            app.ok(user, INCREMENT_M, json!({})).await;
            app.ok(user, RECORD_HOME_VISIT, json!({})).await;
            let reply = app
                .post(
                    Some(&service),
                    GRANT_WELCOME_CREDITS,
                    json!({ "u": user.id }),
                )
                .await;
            reply.data();
            app.ok(user, SPEND_THREE_CREDITS, json!({})).await;
        }
        let counts = |id: uuid::Uuid| {
            let db = app.db.clone();
            async move {
                vec![
                    entity::goal::Entity::find()
                        .filter(entity::goal::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                    entity::journal_entry::Entity::find()
                        .filter(entity::journal_entry::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                    entity::progress_metric::Entity::find()
                        .filter(entity::progress_metric::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                    entity::credit_account::Entity::find()
                        .filter(entity::credit_account::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                    entity::credit_transaction::Entity::find()
                        .filter(entity::credit_transaction::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                    entity::site_visit::Entity::find()
                        .filter(entity::site_visit::Column::UserId.eq(id))
                        .count(&db)
                        .await
                        .unwrap(),
                ]
            }
        };
        assert_eq!(counts(alice.id).await, vec![1, 1, 1, 1, 2, 1]);
        let data = app.ok(&alice, DELETE_ACCOUNT, json!({})).await;
        assert_eq!(uuid(&data["deleteAccount"]), alice.id);
        assert_eq!(counts(alice.id).await, vec![0, 0, 0, 0, 0, 0]);
        assert_eq!(counts(bob.id).await, vec![1, 1, 1, 1, 2, 1]);
        // The same token later starts a fresh account with an empty ledger.
        let data = app.ok(&alice, VIEWER_WELLNESS_COUNTS, json!({})).await;
        assert_eq!(
            data["viewer"],
            json!({"goals": {"totalCount": 0}, "journalEntries": {"totalCount": 0}, "progressMetrics": [], "credits": {"balance": 0, "transactions": {"totalCount": 0}}})
        );
    }
);
