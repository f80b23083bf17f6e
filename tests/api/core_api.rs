//! The [core] API end to end.

use serde_json::json;

use crate::documents::{
    ADD_CHAT_TO_PROJECT, CHAT_PROJECTS, DELETE_ACCOUNT, DELETE_MESSAGE, DELETE_PROJECT_PERMANENTLY,
    RESTORE_PROJECT, SOFT_DELETE_PROJECT,
};
use crate::harness::{self, uuid, TestApp};
use crate::on_both;

const VIEWER_PROFILE_AND_SETTINGS: &str = r#"
    {
        viewer {
            id email
            profile { id email displayName onboardingCompleted onboarding }
            settings { theme notifications features model }
        }
    }
"#;

const UPDATE_PROFILE_NAMES: &str = r#"
    mutation {
        updateProfile(input: {
            displayName: "Alice",
            fullName: "Alice A",
            onboarding: {goals: ["calm"]}
        }) { displayName fullName onboarding }
    }
"#;

const UPDATE_PROFILE_CLEAR_FULL_NAME: &str = r#"
    mutation {
        updateProfile(input: {fullName: null, onboardingCompleted: true}) {
            displayName fullName onboardingCompleted
        }
    }
"#;

const UPDATE_PROFILE_NULL_ONBOARDING_COMPLETED: &str = r#"
    mutation {
        updateProfile(input: {onboardingCompleted: null}) { displayName }
    }
"#;

const UPDATE_SETTINGS_FIELDS: &str = r#"
    mutation {
        updateSettings(input: {model: "gpt", theme: {mode: "dark"}, language: "de"}) {
            model theme language timezone
        }
    }
"#;

const UPDATE_SETTINGS_NULL_MODEL: &str = r#"
    mutation {
        updateSettings(input: {model: null}) { model theme language }
    }
"#;

const CREATE_PROJECT_ALL_FIELDS: &str = r#"
    mutation {
        createProject(input: {title: "  Plans  ", description: "d"}) {
            id ownerId title description status isPublic metadata deletedAt viewerAccess
            owner { id displayName }
            createdAt updatedAt
        }
    }
"#;

const CREATE_PROJECT_BLANK_TITLE: &str = r#"
    mutation {
        createProject(input: {title: "   "}) { id }
    }
"#;

const UPDATE_PROJECT_FIELDS: &str = r#"
    mutation($id: UUID!) {
        updateProject(id: $id, input: {description: null, isPublic: true, status: ARCHIVED}) {
            description isPublic status updatedAt
        }
    }
"#;

const UPDATE_PROJECT_NULL_TITLE: &str = r#"
    mutation($id: UUID!) {
        updateProject(id: $id, input: {title: null}) { id }
    }
"#;

const PROJECT_STATUS: &str = "query($id: UUID!) { project(id: $id) { status deletedAt } }";

const VIEWER_ALL_AND_DELETED_PROJECTS: &str = r#"
    {
        viewer {
            all: projects { totalCount }
            deleted: projects(filter: {status: DELETED}) { nodes { id } }
        }
    }
"#;

const UPDATE_PROJECT_TITLE: &str = r#"
    mutation($id: UUID!) {
        updateProject(id: $id, input: {title: "x"}) { id }
    }
"#;

const RESTORE_PROJECT_STATUS: &str = r#"
    mutation($id: UUID!) {
        restoreProject(id: $id) { status deletedAt }
    }
"#;

const PROJECT_AND_CHAT_LINKS: &str = r#"
    query($id: UUID!, $c: UUID!) {
        project(id: $id) { id }
        conversation(id: $c) { id projects { id } }
    }
"#;

const ADD_CHAT_LISTING_PROJECT_CHATS: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        addChatToProject(projectId: $p, conversationId: $c) { id chats { totalCount nodes { id } } }
    }
"#;

const CHAT_PROJECTS_AND_PROJECT_FILTER: &str = r#"
    query($c: UUID!, $p: UUID!) {
        conversation(id: $c) { projects { id } }
        viewer { conversations(filter: {projectId: $p}) { nodes { id } } }
    }
"#;

const REMOVE_CHAT_FROM_PROJECT: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        removeChatFromProject(projectId: $p, conversationId: $c) { chats { totalCount } }
    }
"#;

const CREATE_CHAT_WITH_FIRST_MESSAGE: &str = r#"
    mutation($p: UUID) {
        createConversation(input: {
            title: "Hi",
            model: "m1",
            projectId: $p,
            metadata: {scenario: "interview"},
            firstMessage: {role: USER, content: "hello", tokenCount: 5}
        }) {
            id title model status pinned encrypted metadata messageCount totalTokens lastMessageAt
            createdAt updatedAt
            lastMessage { sequence role content tokenCount metadata feedback audioUrl createdAt }
            messages { totalCount nodes { sequence content } }
            projects { id }
        }
    }
"#;

const CREATE_CHAT_NEGATIVE_TOKENS: &str = r#"
    mutation {
        createConversation(input: {
            title: "Broken",
            firstMessage: {role: USER, content: "x", tokenCount: -1}
        }) { id }
    }
"#;

const VIEWER_CHAT_TITLES: &str = "{ viewer { conversations { totalCount nodes { title } } } }";

const CREATE_CHAT_IN_PROJECT: &str = r#"
    mutation($p: UUID) {
        createConversation(input: {
            title: "Lost",
            projectId: $p,
            firstMessage: {role: USER, content: "x"}
        }) { id }
    }
"#;

const VIEWER_CHAT_COUNT: &str = "{ viewer { conversations { totalCount } } }";
const PROJECT_UPDATED_AT: &str = "query($p: UUID!) { project(id: $p) { updatedAt } }";

const SEND_ASSISTANT_MESSAGE: &str = r#"
    mutation($c: UUID!, $m: String!, $s: Int, $t: Int) {
        sendMessage(input: {
            conversationId: $c,
            role: ASSISTANT,
            content: $m,
            sequence: $s,
            tokenCount: $t,
            metadata: {model: "m"}
        }) { id sequence content tokenCount metadata feedback createdAt }
    }
"#;

const UPDATE_MESSAGE_FEEDBACK: &str = r#"
    mutation($id: UUID!) {
        updateMessage(id: $id, input: {feedback: {rating: 5}}) { id }
    }
"#;

const RESEND_MESSAGE_ONE: &str = r#"
    mutation($c: UUID!) {
        sendMessage(input: {conversationId: $c, role: USER, content: "one again", sequence: 1}) {
            id sequence role content tokenCount metadata feedback createdAt
        }
    }
"#;

const CONVERSATION_AND_PROJECT_AFTER_SEND: &str = r#"
    query($c: UUID!, $p: UUID!) {
        conversation(id: $c) {
            messageCount totalTokens lastMessageAt updatedAt
            lastMessage { sequence content }
            messages { nodes { sequence } }
        }
        project(id: $p) { updatedAt }
    }
"#;

const SEND_MESSAGE_SEQUENCE_ZERO: &str = r#"
    mutation($c: UUID!) {
        sendMessage(input: {conversationId: $c, role: USER, content: "x", sequence: 0}) { id }
    }
"#;

const CONVERSATION_LAST_MESSAGE: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { messageCount totalTokens lastMessage { sequence } lastMessageAt }
    }
"#;

const SEND_MESSAGE_ONE_TOKEN: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m, tokenCount: 1}) {
            sequence
        }
    }
"#;

const CONVERSATION_COUNTERS: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) {
            messageCount totalTokens
            lastMessage { sequence }
            messages(first: 100) { totalCount }
        }
    }
"#;

const SEND_MESSAGE_SEQUENCE_THREE: &str = r#"
    mutation($c: UUID!, $m: String!) {
        sendMessage(input: {conversationId: $c, role: USER, content: $m, sequence: 3}) {
            id sequence
        }
    }
"#;

const CONVERSATION_MESSAGE_SEQUENCES: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { messageCount messages { nodes { sequence } } }
    }
"#;

const UPDATE_CHAT_FIELDS: &str = r#"
    mutation($c: UUID!) {
        updateConversation(
            id: $c,
            input: {title: null, pinned: true, status: ARCHIVED, metadata: {score: 3}}
        ) { title pinned status metadata messageCount }
    }
"#;

const UPDATE_CHAT_NULL_PINNED: &str = r#"
    mutation($c: UUID!) {
        updateConversation(id: $c, input: {pinned: null}) { id }
    }
"#;

const DELETE_CHAT: &str = "mutation($c: UUID!) { deleteConversation(id: $c) }";

const CONVERSATION_AND_VIEWER_CHAT_COUNT: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { id }
        viewer { conversations { totalCount } }
    }
"#;

const NODE_IDS: &str = r#"
    query($p: UUID!, $c: UUID!, $m: UUID!) {
        project(id: $p) { nodeId }
        conversation(id: $c) { nodeId }
        message(id: $m) { nodeId conversation { id } }
    }
"#;

const NODE_BY_TYPE: &str = r#"
    query($n: ID!) {
        node(nodeId: $n) {
            nodeId __typename
            ... on Project { title }
            ... on Conversation { title }
            ... on Message { content }
        }
    }
"#;

const LOOKUPS_AND_BOB_PROJECT: &str = r#"
    query($p: UUID!, $c: UUID!, $m: UUID!, $b: UUID!) {
        project(id: $p) { id }
        conversation(id: $c) { id }
        message(id: $m) { id }
        bob: project(id: $b) { title }
    }
"#;

const VIEWER_COUNTS: &str = r#"
    {
        viewer { id projects { totalCount } conversations { totalCount } }
    }
"#;

on_both!(
    profile_and_settings_exist_from_the_first_request,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app.ok(&alice, VIEWER_PROFILE_AND_SETTINGS, json!({})).await;
        let viewer = &data["viewer"];
        assert_eq!(uuid(&viewer["id"]), alice.id);
        assert_eq!(viewer["email"], json!(alice.email));
        assert_eq!(viewer["profile"]["email"], json!(alice.email));
        assert_eq!(viewer["profile"]["displayName"], json!(null));
        assert_eq!(viewer["profile"]["onboardingCompleted"], json!(false));
        assert_eq!(viewer["profile"]["onboarding"], json!({}));
        assert_eq!(viewer["settings"]["theme"], json!({}));
        assert_eq!(viewer["settings"]["model"], json!(null));
        // The profile is keyed by the user's id; settings start from their defaults.
        assert_eq!(uuid(&viewer["profile"]["id"]), alice.id);
        assert_eq!(viewer["settings"]["notifications"], json!({}));
        assert_eq!(viewer["settings"]["features"], json!({}));
        assert_eq!(
            viewer["settings"],
            json!({ "theme": {}, "notifications": {}, "features": {}, "model": null })
        );
    }
);

on_both!(
    profile_and_settings_updates_keep_absent_fields_and_clear_nulls,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app.ok(&alice, UPDATE_PROFILE_NAMES, json!({})).await;
        assert_eq!(
            data["updateProfile"],
            json!({"displayName": "Alice", "fullName": "Alice A", "onboarding": {"goals": ["calm"]}})
        );
        let data = app
            .ok(&alice, UPDATE_PROFILE_CLEAR_FULL_NAME, json!({}))
            .await;
        assert_eq!(
            data["updateProfile"],
            json!({"displayName": "Alice", "fullName": null, "onboardingCompleted": true})
        );
        let reply = app
            .as_user(&alice, UPDATE_PROFILE_NULL_ONBOARDING_COMPLETED, json!({}))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let data = app.ok(&alice, UPDATE_SETTINGS_FIELDS, json!({})).await;
        assert_eq!(
            data["updateSettings"],
            json!({"model": "gpt", "theme": {"mode": "dark"}, "language": "de", "timezone": null})
        );
        let data = app.ok(&alice, UPDATE_SETTINGS_NULL_MODEL, json!({})).await;
        assert_eq!(
            data["updateSettings"],
            json!({"model": null, "theme": {"mode": "dark"}, "language": "de"})
        );
    }
);

on_both!(
    projects_have_defaults_and_a_soft_delete_lifecycle,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app.ok(&alice, CREATE_PROJECT_ALL_FIELDS, json!({})).await;
        let p = &data["createProject"];
        let id = uuid(&p["id"]);
        assert_eq!(uuid(&p["ownerId"]), alice.id);
        assert_eq!(p["title"], json!("Plans"));
        assert_eq!(p["status"], json!("ACTIVE"));
        assert_eq!(p["isPublic"], json!(false));
        assert_eq!(p["metadata"], json!({}));
        assert_eq!(p["deletedAt"], json!(null));
        assert_eq!(p["viewerAccess"], json!("OWNER"));
        assert_eq!(uuid(&p["owner"]["id"]), alice.id);
        assert_eq!(p["createdAt"], p["updatedAt"]);

        let reply = app
            .as_user(&alice, CREATE_PROJECT_BLANK_TITLE, json!({}))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");

        let data = app
            .ok(&alice, UPDATE_PROJECT_FIELDS, json!({ "id": id }))
            .await;
        assert_eq!(data["updateProject"]["description"], json!(null));
        assert_eq!(data["updateProject"]["isPublic"], json!(true));
        assert_eq!(data["updateProject"]["status"], json!("ARCHIVED"));
        assert_ne!(data["updateProject"]["updatedAt"], p["updatedAt"]);

        let reply = app
            .as_user(&alice, UPDATE_PROJECT_NULL_TITLE, json!({ "id": id }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");

        // Soft delete twice: both succeed, the second changes nothing.
        for _ in 0..2 {
            let data = app
                .ok(&alice, SOFT_DELETE_PROJECT, json!({ "id": id }))
                .await;
            assert_eq!(uuid(&data["deleteProject"]), id);
        }
        let data = app.ok(&alice, PROJECT_STATUS, json!({ "id": id })).await;
        assert_eq!(data["project"]["status"], json!("DELETED"));
        assert!(data["project"]["deletedAt"].is_string());

        // Deleted projects leave the default listing, appear under status DELETED.
        let data = app
            .ok(&alice, VIEWER_ALL_AND_DELETED_PROJECTS, json!({}))
            .await;
        assert_eq!(data["viewer"]["all"]["totalCount"], json!(0));
        assert_eq!(uuid(&data["viewer"]["deleted"]["nodes"][0]["id"]), id);

        // A deleted project is read-only until restored.
        let reply = app
            .as_user(&alice, UPDATE_PROJECT_TITLE, json!({ "id": id }))
            .await;
        assert_eq!(reply.code(), "CONFLICT");
        let chat = app.create_chat(&alice, "c", None).await;
        let reply = app
            .as_user(&alice, ADD_CHAT_TO_PROJECT, json!({ "p": id, "c": chat }))
            .await;
        assert_eq!(reply.code(), "CONFLICT");

        for _ in 0..2 {
            let data = app
                .ok(&alice, RESTORE_PROJECT_STATUS, json!({ "id": id }))
                .await;
            assert_eq!(
                data["restoreProject"],
                json!({"status": "ACTIVE", "deletedAt": null})
            );
        }

        // Permanent delete removes the project and its links, not the chat.
        app.ok(&alice, ADD_CHAT_TO_PROJECT, json!({ "p": id, "c": chat }))
            .await;
        let data = app
            .ok(&alice, DELETE_PROJECT_PERMANENTLY, json!({ "id": id }))
            .await;
        assert_eq!(uuid(&data["deleteProject"]), id);
        let data = app
            .ok(
                &alice,
                PROJECT_AND_CHAT_LINKS,
                json!({ "id": id, "c": chat }),
            )
            .await;
        assert_eq!(data["project"], json!(null));
        assert_eq!(data["conversation"]["projects"], json!([]));
        let reply = app
            .as_user(&alice, RESTORE_PROJECT, json!({ "id": id }))
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");
    }
);

on_both!(
    filing_chats_is_idempotent_and_listed_both_ways,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let project = app.create_project(&alice, "P", false).await;
        let other = app.create_project(&alice, "Q", false).await;
        let chat = app.create_chat(&alice, "filed", None).await;
        for _ in 0..2 {
            let data = app
                .ok(
                    &alice,
                    ADD_CHAT_LISTING_PROJECT_CHATS,
                    json!({ "p": project, "c": chat }),
                )
                .await;
            assert_eq!(data["addChatToProject"]["chats"]["totalCount"], json!(1));
            assert_eq!(
                uuid(&data["addChatToProject"]["chats"]["nodes"][0]["id"]),
                chat
            );
        }
        app.ok(
            &alice,
            ADD_CHAT_TO_PROJECT,
            json!({ "p": other, "c": chat }),
        )
        .await;
        let data = app
            .ok(
                &alice,
                CHAT_PROJECTS_AND_PROJECT_FILTER,
                json!({ "c": chat, "p": project }),
            )
            .await;
        let mut holders: Vec<_> = data["conversation"]["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| uuid(&p["id"]))
            .collect();
        holders.sort();
        let mut expected = vec![project, other];
        expected.sort();
        assert_eq!(holders, expected);
        assert_eq!(
            uuid(&data["viewer"]["conversations"]["nodes"][0]["id"]),
            chat
        );
        // A soft-deleted holder is left out of Conversation.projects.
        app.ok(&alice, SOFT_DELETE_PROJECT, json!({ "id": other }))
            .await;
        let data = app.ok(&alice, CHAT_PROJECTS, json!({ "c": chat })).await;
        assert_eq!(
            data["conversation"]["projects"],
            json!([{ "id": project.to_string() }])
        );
        for _ in 0..2 {
            let data = app
                .ok(
                    &alice,
                    REMOVE_CHAT_FROM_PROJECT,
                    json!({ "p": project, "c": chat }),
                )
                .await;
            assert_eq!(
                data["removeChatFromProject"]["chats"]["totalCount"],
                json!(0)
            );
        }
    }
);

on_both!(
    create_conversation_with_first_message_is_atomic,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let project = app.create_project(&alice, "P", false).await;
        let data = app
            .ok(
                &alice,
                CREATE_CHAT_WITH_FIRST_MESSAGE,
                json!({ "p": project }),
            )
            .await;
        let c = &data["createConversation"];
        assert_eq!(c["title"], json!("Hi"));
        assert_eq!(c["model"], json!("m1"));
        assert_eq!(c["status"], json!("ACTIVE"));
        assert_eq!(c["pinned"], json!(false));
        assert_eq!(c["encrypted"], json!(false));
        assert_eq!(c["metadata"], json!({"scenario": "interview"}));
        assert_eq!(c["messageCount"], json!(1));
        assert_eq!(c["totalTokens"], json!(5));
        assert_eq!(c["lastMessageAt"], c["lastMessage"]["createdAt"]);
        assert_eq!(
            c["lastMessage"],
            json!({"sequence": 1, "role": "USER", "content": "hello", "tokenCount": 5, "metadata": {}, "feedback": null, "audioUrl": null, "createdAt": c["lastMessage"]["createdAt"]})
        );
        assert_eq!(c["messages"]["totalCount"], json!(1));
        assert_eq!(c["projects"], json!([{ "id": project.to_string() }]));
        // The first message is stamped with the conversation's own creation time.
        let message_created = c["lastMessage"]["createdAt"]
            .as_str()
            .expect("lastMessage.createdAt is a string");
        chrono::DateTime::parse_from_rfc3339(message_created)
            .expect("lastMessage.createdAt is RFC 3339");
        assert_eq!(c["lastMessage"]["createdAt"], c["createdAt"]);
        assert_eq!(c["updatedAt"], c["createdAt"]);

        // A first message the rules refuse leaves no conversation behind.
        let reply = app
            .as_user(&alice, CREATE_CHAT_NEGATIVE_TOKENS, json!({}))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        let data = app.ok(&alice, VIEWER_CHAT_TITLES, json!({})).await;
        assert_eq!(data["viewer"]["conversations"]["totalCount"], json!(1));
        assert_eq!(
            data["viewer"]["conversations"]["nodes"][0]["title"],
            json!("Hi")
        );

        // Filing in a project that does not exist: nothing is created.
        let reply = app
            .as_user(
                &alice,
                CREATE_CHAT_IN_PROJECT,
                json!({ "p": uuid::Uuid::new_v4() }),
            )
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");
        let data = app.ok(&alice, VIEWER_CHAT_COUNT, json!({})).await;
        assert_eq!(data["viewer"]["conversations"]["totalCount"], json!(1));
    }
);

on_both!(
    send_message_appends_upserts_and_moves_counters,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let project = app.create_project(&alice, "P", false).await;
        let chat = app.create_chat(&alice, "c", Some(project)).await;
        let before = app
            .ok(&alice, PROJECT_UPDATED_AT, json!({ "p": project }))
            .await["project"]["updatedAt"]
            .clone();
        let send = |content: &'static str, seq: Option<i32>, tokens: Option<i32>| {
            let app = &app;
            let alice = alice.clone();
            async move {
                app.ok(
                    &alice,
                    SEND_ASSISTANT_MESSAGE,
                    json!({ "c": chat, "m": content, "s": seq, "t": tokens }),
                )
                .await["sendMessage"]
                    .clone()
            }
        };
        let first = send("one", None, Some(10)).await;
        assert_eq!(first["sequence"], json!(1));
        let second = send("two", None, None).await;
        assert_eq!(second["sequence"], json!(2));
        // A gap: saved out of order at 5; appending continues after the highest.
        let fifth = send("five", Some(5), Some(7)).await;
        assert_eq!(fifth["sequence"], json!(5));
        let sixth = send("six", None, Some(1)).await;
        assert_eq!(sixth["sequence"], json!(6));
        // Feedback survives an upsert; everything else is replaced.
        app.ok(
            &alice,
            UPDATE_MESSAGE_FEEDBACK,
            json!({ "id": first["id"] }),
        )
        .await;
        let replaced = app
            .ok(&alice, RESEND_MESSAGE_ONE, json!({ "c": chat }))
            .await["sendMessage"]
            .clone();
        assert_eq!(replaced["id"], first["id"]);
        assert_eq!(replaced["role"], json!("USER"));
        assert_eq!(replaced["content"], json!("one again"));
        assert_eq!(replaced["tokenCount"], json!(null));
        assert_eq!(replaced["metadata"], json!({}));
        assert_eq!(replaced["feedback"], json!({"rating": 5}));
        assert_eq!(replaced["createdAt"], first["createdAt"]);

        let data = app
            .ok(
                &alice,
                CONVERSATION_AND_PROJECT_AFTER_SEND,
                json!({ "c": chat, "p": project }),
            )
            .await;
        let c = &data["conversation"];
        assert_eq!(c["messageCount"], json!(4));
        assert_eq!(c["totalTokens"], json!(8)); // null + null + 7 + 1
        assert_eq!(c["lastMessage"], json!({"sequence": 6, "content": "six"}));
        assert_eq!(c["lastMessageAt"], sixth["createdAt"]);
        assert_eq!(
            c["messages"]["nodes"],
            json!([{"sequence": 1}, {"sequence": 2}, {"sequence": 5}, {"sequence": 6}])
        );
        assert_ne!(data["project"]["updatedAt"], before);
        assert_eq!(data["project"]["updatedAt"], c["updatedAt"]);

        let reply = app
            .as_user(&alice, SEND_MESSAGE_SEQUENCE_ZERO, json!({ "c": chat }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");

        // Deleting a message moves the counters.
        let data = app
            .ok(&alice, DELETE_MESSAGE, json!({ "id": sixth["id"] }))
            .await;
        assert_eq!(data["deleteMessage"], sixth["id"]);
        let data = app
            .ok(&alice, CONVERSATION_LAST_MESSAGE, json!({ "c": chat }))
            .await;
        assert_eq!(data["conversation"]["messageCount"], json!(3));
        assert_eq!(data["conversation"]["totalTokens"], json!(7));
        assert_eq!(data["conversation"]["lastMessage"]["sequence"], json!(5));
    }
);

on_both!(
    concurrent_sends_take_distinct_consecutive_sequences,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "busy", None).await;
        let sends = (0..24).map(|i| {
            let app = &app;
            let alice = &alice;
            async move {
                app.as_user(
                    alice,
                    SEND_MESSAGE_ONE_TOKEN,
                    json!({ "c": chat, "m": format!("m{i}") }),
                )
                .await
            }
        });
        let replies = futures::future::join_all(sends).await;
        let mut sequences: Vec<i64> = replies
            .iter()
            .map(|r| r.data()["sendMessage"]["sequence"].as_i64().unwrap())
            .collect();
        sequences.sort();
        assert_eq!(sequences, (1..=24).collect::<Vec<i64>>());
        let data = app
            .ok(&alice, CONVERSATION_COUNTERS, json!({ "c": chat }))
            .await;
        assert_eq!(data["conversation"]["messageCount"], json!(24));
        assert_eq!(data["conversation"]["totalTokens"], json!(24));
        assert_eq!(data["conversation"]["lastMessage"]["sequence"], json!(24));
        assert_eq!(data["conversation"]["messages"]["totalCount"], json!(24));
    }
);

on_both!(
    concurrent_upserts_at_one_sequence_leave_one_message,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "retry", None).await;
        let sends = (0..20).map(|i| {
            let app = &app;
            let alice = &alice;
            async move {
                app.as_user(
                    alice,
                    SEND_MESSAGE_SEQUENCE_THREE,
                    json!({ "c": chat, "m": format!("retry {i}") }),
                )
                .await
            }
        });
        let replies = futures::future::join_all(sends).await;
        let ids: std::collections::HashSet<String> = replies
            .iter()
            .map(|r| r.data()["sendMessage"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1, "every retry saved the same message");
        let data = app
            .ok(&alice, CONVERSATION_MESSAGE_SEQUENCES, json!({ "c": chat }))
            .await;
        assert_eq!(data["conversation"]["messageCount"], json!(1));
        assert_eq!(
            data["conversation"]["messages"]["nodes"],
            json!([{"sequence": 3}])
        );
    }
);

on_both!(update_and_delete_conversations, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "old", None).await;
    app.send(&alice, chat, "hi").await;
    let data = app
        .ok(&alice, UPDATE_CHAT_FIELDS, json!({ "c": chat }))
        .await;
    assert_eq!(
        data["updateConversation"],
        json!({"title": null, "pinned": true, "status": "ARCHIVED", "metadata": {"score": 3}, "messageCount": 1})
    );
    let reply = app
        .as_user(&alice, UPDATE_CHAT_NULL_PINNED, json!({ "c": chat }))
        .await;
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    let data = app.ok(&alice, DELETE_CHAT, json!({ "c": chat })).await;
    assert_eq!(uuid(&data["deleteConversation"]), chat);
    let data = app
        .ok(
            &alice,
            CONVERSATION_AND_VIEWER_CHAT_COUNT,
            json!({ "c": chat }),
        )
        .await;
    assert_eq!(data["conversation"], json!(null));
    assert_eq!(data["viewer"]["conversations"]["totalCount"], json!(0));
});

on_both!(
    node_fetches_each_core_type_and_refuses_malformed_ids,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let project = app.create_project(&alice, "P", false).await;
        let chat = app.create_chat(&alice, "C", Some(project)).await;
        let message = app.send(&alice, chat, "hello").await;
        let data = app
            .ok(
                &alice,
                NODE_IDS,
                json!({ "p": project, "c": chat, "m": message["id"] }),
            )
            .await;
        let ids = [
            data["project"]["nodeId"].clone(),
            data["conversation"]["nodeId"].clone(),
            data["message"]["nodeId"].clone(),
        ];
        assert_eq!(uuid(&data["message"]["conversation"]["id"]), chat);
        // Each nodeId is base64 of "Type:uuid" for its own row.
        let message_id = uuid(&message["id"]);
        for (node_id, (kind, id)) in ids.iter().zip([
            ("Project", project),
            ("Conversation", chat),
            ("Message", message_id),
        ]) {
            use base64::Engine;
            let text = node_id.as_str().expect("nodeId is a string");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("nodeId is base64");
            assert_eq!(
                String::from_utf8(decoded).expect("nodeId decodes to UTF-8"),
                format!("{kind}:{id}")
            );
            assert_eq!(text, base64_node(kind, id));
        }
        let expected = [
            ("Project", "title", "P"),
            ("Conversation", "title", "C"),
            ("Message", "content", "hello"),
        ];
        for (node_id, (typename, field, value)) in ids.iter().zip(expected) {
            let data = app.ok(&alice, NODE_BY_TYPE, json!({ "n": node_id })).await;
            assert_eq!(data["node"]["__typename"], json!(typename));
            assert_eq!(data["node"][field], json!(value));
            assert_eq!(&data["node"]["nodeId"], node_id);
        }
        let reply = app
            .as_user(&alice, NODE_BY_TYPE, json!({ "n": "not-a-node-id" }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
        // A well-formed id of a row that does not exist: null.
        let missing = base64_node("Project", uuid::Uuid::new_v4());
        let data = app.ok(&alice, NODE_BY_TYPE, json!({ "n": missing })).await;
        assert_eq!(data["node"], json!(null));
    }
);

fn base64_node(kind: &str, id: uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{id}"))
}

on_both!(
    delete_account_removes_everything_the_user_owns,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let project = app.create_project(&alice, "P", true).await;
        let chat = app.create_chat(&alice, "C", Some(project)).await;
        let message = app.send(&alice, chat, "hi").await;
        let bobs = app.create_project(&bob, "B", false).await;
        let data = app.ok(&alice, DELETE_ACCOUNT, json!({})).await;
        assert_eq!(uuid(&data["deleteAccount"]), alice.id);
        let service = harness::service_token();
        let reply = app
            .post(
                Some(&service),
                LOOKUPS_AND_BOB_PROJECT,
                json!({ "p": project, "c": chat, "m": message["id"], "b": bobs }),
            )
            .await;
        assert_eq!(
            reply.data(),
            &json!({"project": null, "conversation": null, "message": null, "bob": {"title": "B"}})
        );
        // The same token on a later request starts a fresh, empty account.
        let data = app.ok(&alice, VIEWER_COUNTS, json!({})).await;
        assert_eq!(uuid(&data["viewer"]["id"]), alice.id);
        assert_eq!(data["viewer"]["projects"]["totalCount"], json!(0));
        assert_eq!(data["viewer"]["conversations"]["totalCount"], json!(0));
    }
);
