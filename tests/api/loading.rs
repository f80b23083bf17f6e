//! Nested reads cost one statement per level for all parents together.

use serde_json::json;

use crate::documents::{ADD_TEAM_MEMBER, CREATE_TEAM, CREATE_TEAM_PROJECT, VIEWER_ID};
use crate::harness::{self, TestApp};
use crate::on_both;

const FIRST_MESSAGE_PAGE: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { messages(first: 2) { pageInfo { endCursor } } }
    }
"#;

const MESSAGE_PAGE_AFTER: &str = r#"
    query($c: UUID!, $a: String) {
        conversation(id: $c) {
            messages(first: 2, after: $a) {
                nodes { sequence }
                pageInfo { hasPreviousPage hasNextPage }
            }
        }
    }
"#;

const NESTED: &str = r#"
    query($n: Int!) {
        viewer {
            projects(first: $n) {
                nodes {
                    id title
                    chats(first: 10) {
                        totalCount
                        nodes {
                            id title
                            lastMessage { content sequence }
                            messages(last: 20) { nodes { sequence content } }
                        }
                    }
                }
            }
        }
    }
"#;

/// Statements one request sends, and its data.
async fn measure(app: &TestApp, user: &harness::User, n: i64) -> (u64, serde_json::Value) {
    let before = app.statement_count();
    let data = app.ok(user, NESTED, json!({ "n": n })).await;
    (app.statement_count() - before, data)
}

on_both!(
    nested_page_windows_cost_the_same_for_2_and_20_parents,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        for p in 0..20 {
            let project = app
                .create_project(&alice, &format!("project {p:02}"), false)
                .await;
            for c in 0..3 {
                let chat = app
                    .create_chat(&alice, &format!("chat {p}-{c}"), Some(project))
                    .await;
                for m in 0..(c + 1) {
                    app.send(&alice, chat, &format!("message {p}-{c}-{m}"))
                        .await;
                }
            }
        }
        let (small, small_data) = measure(&app, &alice, 2).await;
        let (large, large_data) = measure(&app, &alice, 20).await;
        let projects = large_data["viewer"]["projects"]["nodes"]
            .as_array()
            .unwrap();
        assert_eq!(projects.len(), 20);
        assert_eq!(
            small_data["viewer"]["projects"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        for project in projects {
            let chats = &project["chats"];
            assert_eq!(chats["totalCount"], json!(3));
            for chat in chats["nodes"].as_array().unwrap() {
                let messages = chat["messages"]["nodes"].as_array().unwrap();
                assert!(!messages.is_empty());
                assert_eq!(chat["lastMessage"], messages[messages.len() - 1]);
            }
        }
        // ensure-user lookup, projects page, chat windows, chat counts, last messages,
        // message windows.
        assert_eq!(small, 6, "statements for 2 projects");
        assert_eq!(large, 6, "statements for 20 projects");
    }
);

on_both!(
    a_nested_cursor_adds_one_grouped_probe,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "c", None).await;
        for i in 0..5 {
            app.send(&alice, chat, &format!("m{i}")).await;
        }
        let data = app
            .ok(&alice, FIRST_MESSAGE_PAGE, json!({ "c": chat }))
            .await;
        let cursor = data["conversation"]["messages"]["pageInfo"]["endCursor"].clone();
        let before = app.statement_count();
        let data = app
            .ok(
                &alice,
                MESSAGE_PAGE_AFTER,
                json!({ "c": chat, "a": cursor }),
            )
            .await;
        // ensure-user lookup, the conversation, the window, the has-previous probe.
        assert_eq!(app.statement_count() - before, 4);
        assert_eq!(
            data["conversation"]["messages"],
            json!({"nodes": [{"sequence": 3}, {"sequence": 4}], "pageInfo": {"hasPreviousPage": true, "hasNextPage": true}})
        );
    }
);

const TEAMS: &str = r#"
    query($n: Int!) {
        viewer {
            teams(first: $n) {
                nodes {
                    name viewerRole
                    members { totalCount nodes { role user { id displayName } } }
                    projects(first: 5) {
                        totalCount
                        nodes {
                            title viewerAccess
                            team { id }
                            owner { id }
                            chats(first: 10) { totalCount nodes { title lastMessage { content } } }
                        }
                    }
                }
            }
        }
    }
"#;

on_both!(
    team_levels_cost_the_same_for_2_and_20_teams,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        app.ok(&bob, VIEWER_ID, json!({})).await;
        for t in 0..20 {
            let team = app
                .ok(&alice, CREATE_TEAM, json!({ "n": format!("team {t:02}") }))
                .await["createTeam"]["id"]
                .clone();
            app.ok(
                &alice,
                ADD_TEAM_MEMBER,
                json!({ "t": team, "e": bob.email }),
            )
            .await;
            for p in 0..2 {
                let project = app
                    .ok(
                        &bob,
                        CREATE_TEAM_PROJECT,
                        json!({ "t": team, "title": format!("project {t}-{p}") }),
                    )
                    .await["createProject"]["id"]
                    .clone();
                let chat = app
                    .create_chat(&bob, "chat", Some(harness::uuid(&project)))
                    .await;
                app.send(&bob, chat, "hello").await;
            }
        }
        let mut counts = Vec::new();
        for n in [2, 20] {
            let before = app.statement_count();
            let data = app.ok(&alice, TEAMS, json!({ "n": n })).await;
            counts.push(app.statement_count() - before);
            let teams = data["viewer"]["teams"]["nodes"].as_array().unwrap();
            assert_eq!(teams.len(), n as usize);
            for team in teams {
                assert_eq!(team["viewerRole"], json!("OWNER"));
                assert_eq!(team["members"]["totalCount"], json!(2));
                assert_eq!(team["projects"]["totalCount"], json!(2));
                for project in team["projects"]["nodes"].as_array().unwrap() {
                    assert_eq!(project["viewerAccess"], json!("EDITOR"));
                    assert_eq!(project["owner"]["id"], json!(bob.id.to_string()));
                    assert_eq!(project["chats"]["totalCount"], json!(1));
                    assert_eq!(
                        project["chats"]["nodes"][0]["lastMessage"]["content"],
                        json!("hello")
                    );
                }
            }
        }
        // ensure-user; teams page; per level: team roles, member windows, member counts,
        // member profiles; project windows, project counts; then for the projects: roles
        // (viewerAccess), teams (Project.team), owner profiles; chat windows, chat counts;
        // last messages.
        assert_eq!(counts, vec![13, 13], "the same count for 2 and 20 teams");
    }
);
