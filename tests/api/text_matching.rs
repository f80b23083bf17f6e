//! Case-insensitive matching beyond ASCII, the same on SQLite and Postgres:
//! `titleContains` on projects and chats, and the email lookup of `addTeamMember`.

use serde_json::{json, Value};

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp, User};
use crate::on_both;

const PROJECT_TITLES: &str = r#"
    query($f: ProjectFilter) {
        viewer { projects(filter: $f, orderBy: CREATED_AT_ASC) { nodes { title } } }
    }
"#;

const CHAT_TITLES: &str = r#"
    query($f: ConversationFilter) {
        viewer { conversations(filter: $f, orderBy: CREATED_AT_ASC) { nodes { title } } }
    }
"#;

const ADD_MEMBER: &str = r#"
    mutation($t: UUID!, $e: String!) { addTeamMember(teamId: $t, email: $e) { userId } }
"#;

const TITLES: [&str; 5] = ["Äpfel", "ΣΟΦΙΑ", "Éclair", "éCLAIR au café", "a.c 100%"];

/// The titles the filter finds, in creation order.
fn titles(data: &Value, list: &str) -> Vec<String> {
    data["viewer"][list]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn found(app: &TestApp, user: &User, needle: &str) -> (Vec<String>, Vec<String>) {
    let f = json!({ "f": { "titleContains": needle } });
    let projects = app.ok(user, PROJECT_TITLES, f.clone()).await;
    let chats = app.ok(user, CHAT_TITLES, f).await;
    (
        titles(&projects, "projects"),
        titles(&chats, "conversations"),
    )
}

on_both!(
    title_contains_ignores_case_beyond_ascii,
    |app: TestApp| async move {
        let user = harness::user("u");
        for title in TITLES {
            app.create_project(&user, title, false).await;
            app.create_chat(&user, title, None).await;
        }
        let cases: [(&str, &[&str]); 10] = [
            ("äpfel", &["Äpfel"]),
            ("ÄPF", &["Äpfel"]),
            ("σοφ", &["ΣΟΦΙΑ"]),
            ("Σοφία", &[]), // accents are not folded: ί is not Ι
            ("ΣΟΦΙΑ", &["ΣΟΦΙΑ"]),
            ("éclair", &["Éclair", "éCLAIR au café"]),
            ("ÉCLAIR", &["Éclair", "éCLAIR au café"]),
            ("CAFÉ", &["éCLAIR au café"]),
            // Characters match literally, never as patterns.
            ("a.c", &["a.c 100%"]),
            ("0%", &["a.c 100%"]),
        ];
        for (needle, expected) in cases {
            let (projects, chats) = found(&app, &user, needle).await;
            assert_eq!(projects, expected, "projects with {needle:?}");
            assert_eq!(chats, expected, "chats with {needle:?}");
        }
        // "e" is not "é": no accent folding, on either backend.
        let (projects, _) = found(&app, &user, "eclair").await;
        assert!(projects.is_empty(), "{projects:?}");
    }
);

on_both!(
    email_lookup_ignores_case_beyond_ascii,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let team = app.create_team(&owner, "Ünits").await;
        let id = uuid::Uuid::new_v4();
        let invitee = User {
            id,
            email: "émile.äσ@exämple.com".to_owned(),
            token: harness::mint(Some(id), "authenticated", Some("émile.äσ@exämple.com")),
        };
        app.ok(&invitee, VIEWER_ID, json!({})).await;
        let data = app
            .ok(
                &owner,
                ADD_MEMBER,
                json!({ "t": team, "e": "ÉMILE.ÄΣ@EXÄMPLE.COM" }),
            )
            .await;
        assert_eq!(harness::uuid(&data["addTeamMember"]["userId"]), id);
        // An address that differs beyond case finds no one.
        let reply = app
            .as_user(
                &owner,
                ADD_MEMBER,
                json!({ "t": team, "e": "emile.äσ@exämple.com" }),
            )
            .await;
        assert_eq!(reply.code(), "NOT_FOUND");
    }
);
