//! Teams, memberships and team projects.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;

/// Signs the user in once (so their profile exists) and adds them to the team.
async fn add(app: &TestApp, by: &User, team: Uuid, who: &User, role: &str) -> Value {
    app.ok(who, "{ viewer { id } }", json!({})).await;
    app.ok(
        by,
        "mutation($t: UUID!, $e: String!, $r: TeamRole) { addTeamMember(teamId: $t, email: $e, role: $r) { userId role isDefault user { id } } }",
        json!({ "t": team, "e": who.email, "r": role }),
    )
    .await["addTeamMember"]
        .clone()
}

async fn team_project(app: &TestApp, user: &User, team: Uuid, title: &str) -> Uuid {
    let data = app
        .ok(
            user,
            "mutation($t: UUID!, $title: String!) { createProject(input: {title: $title, teamId: $t}) { id } }",
            json!({ "t": team, "title": title }),
        )
        .await;
    uuid(&data["createProject"]["id"])
}

on_both!(
    creating_a_team_and_managing_members,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let admin = harness::user("admin");
        let member = harness::user("member");
        let data = app
        .ok(
            &owner,
            r#"mutation { createTeam(name: "Core") { id name tier viewerRole members { totalCount nodes { userId role isDefault } } } }"#,
            json!({}),
        )
        .await;
        let team = &data["createTeam"];
        let team_id = uuid(&team["id"]);
        assert_eq!(team["name"], json!("Core"));
        assert_eq!(team["tier"], json!("free"));
        assert_eq!(team["viewerRole"], json!("OWNER"));
        assert_eq!(
            team["members"],
            json!({"totalCount": 1, "nodes": [{"userId": owner.id.to_string(), "role": "OWNER", "isDefault": true}]})
        );
        let added = add(&app, &owner, team_id, &admin, "ADMIN").await;
        assert_eq!(added["role"], json!("ADMIN"));
        assert_eq!(added["isDefault"], json!(false));
        assert_eq!(uuid(&added["user"]["id"]), admin.id);
        // Email lookup ignores case.
        app.ok(&member, "{ viewer { id } }", json!({})).await;
        let data = app
        .ok(
            &admin,
            "mutation($t: UUID!, $e: String!) { addTeamMember(teamId: $t, email: $e) { role } }",
            json!({ "t": team_id, "e": member.email.to_uppercase() }),
        )
        .await;
        assert_eq!(data["addTeamMember"]["role"], json!("MEMBER"));

        let attempt = |by: &User, query: &'static str, vars: Value| {
            let app = &app;
            let by = by.clone();
            async move { app.as_user(&by, query, vars).await.code() }
        };
        let add_q = "mutation($t: UUID!, $e: String!, $r: TeamRole) { addTeamMember(teamId: $t, email: $e, role: $r) { role } }";
        let stranger = harness::user("stranger");
        app.ok(&stranger, "{ viewer { id } }", json!({})).await;
        assert_eq!(
            attempt(
                &owner,
                add_q,
                json!({"t": team_id, "e": "nobody@example.com"})
            )
            .await,
            "NOT_FOUND"
        );
        assert_eq!(
            attempt(&owner, add_q, json!({"t": team_id, "e": member.email})).await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(
                &admin,
                add_q,
                json!({"t": team_id, "e": stranger.email, "r": "OWNER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(&member, add_q, json!({"t": team_id, "e": stranger.email})).await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(&stranger, add_q, json!({"t": team_id, "e": stranger.email})).await,
            "NOT_FOUND"
        );

        let update_q = "mutation($t: UUID!, $u: UUID!, $r: TeamRole!) { updateTeamMember(teamId: $t, userId: $u, role: $r) { userId role } }";
        // The last OWNER cannot be demoted; an ADMIN trying it is refused first.
        assert_eq!(
            attempt(
                &owner,
                update_q,
                json!({"t": team_id, "u": owner.id, "r": "ADMIN"})
            )
            .await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(
                &admin,
                update_q,
                json!({"t": team_id, "u": owner.id, "r": "MEMBER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &member,
                update_q,
                json!({"t": team_id, "u": admin.id, "r": "MEMBER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &admin,
                update_q,
                json!({"t": team_id, "u": member.id, "r": "OWNER"})
            )
            .await,
            "FORBIDDEN"
        );
        let data = app
            .ok(
                &admin,
                update_q,
                json!({"t": team_id, "u": member.id, "r": "ADMIN"}),
            )
            .await;
        assert_eq!(data["updateTeamMember"]["role"], json!("ADMIN"));
        let data = app
            .ok(
                &owner,
                update_q,
                json!({"t": team_id, "u": member.id, "r": "MEMBER"}),
            )
            .await;
        assert_eq!(data["updateTeamMember"]["role"], json!("MEMBER"));

        let remove_q =
            "mutation($t: UUID!, $u: UUID!) { removeTeamMember(teamId: $t, userId: $u) }";
        assert_eq!(
            attempt(&member, remove_q, json!({"t": team_id, "u": admin.id})).await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(&admin, remove_q, json!({"t": team_id, "u": owner.id})).await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(&owner, remove_q, json!({"t": team_id, "u": owner.id})).await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(&owner, remove_q, json!({"t": team_id, "u": stranger.id})).await,
            "NOT_FOUND"
        );
        let data = app
            .ok(&member, remove_q, json!({"t": team_id, "u": member.id}))
            .await;
        assert_eq!(
            uuid(&data["removeTeamMember"]),
            member.id,
            "any member may leave"
        );
        let data = app
            .ok(
                &owner,
                "query($t: UUID!) { team(id: $t) { members { nodes { userId role } } } }",
                json!({"t": team_id}),
            )
            .await;
        assert_eq!(
            data["team"]["members"]["nodes"],
            json!([{"userId": owner.id.to_string(), "role": "OWNER"}, {"userId": admin.id.to_string(), "role": "ADMIN"}])
        );
        let data = app
            .ok(
                &member,
                "query($t: UUID!) { team(id: $t) { id } }",
                json!({"t": team_id}),
            )
            .await;
        assert_eq!(
            data["team"],
            json!(null),
            "a removed member no longer sees the team"
        );
    }
);

on_both!(team_projects_follow_roles, |app: TestApp| async move {
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let member = harness::user("member");
    let outsider = harness::user("outsider");
    let team = app.create_team(&owner, "Studio").await;
    add(&app, &owner, team, &admin, "ADMIN").await;
    add(&app, &owner, team, &member, "MEMBER").await;
    // Any member may create a project in their team; they own it.
    let project = team_project(&app, &member, team, "Member's").await;
    let owners = team_project(&app, &owner, team, "Owner's").await;
    let chat = app.create_chat(&member, "member chat", Some(project)).await;
    app.send(&member, chat, "hello team").await;
    let reply = app
        .as_user(
            &outsider,
            r#"mutation($t: UUID) { createProject(input: {title: "x", teamId: $t}) { id } }"#,
            json!({"t": team}),
        )
        .await;
    assert_eq!(reply.code(), "NOT_FOUND");

    let read = "query($p: UUID!) { project(id: $p) { title viewerAccess team { id viewerRole } chats { totalCount nodes { id lastMessage { content } } } } }";
    let access = |user: &User| {
        let app = &app;
        let user = user.clone();
        async move { app.ok(&user, read, json!({"p": project})).await["project"].clone() }
    };
    assert_eq!(access(&member).await["viewerAccess"], json!("OWNER"));
    assert_eq!(access(&admin).await["viewerAccess"], json!("EDITOR"));
    let seen = access(&owner).await;
    assert_eq!(seen["viewerAccess"], json!("EDITOR"));
    assert_eq!(
        seen["team"],
        json!({"id": team.to_string(), "viewerRole": "OWNER"})
    );
    assert_eq!(seen["chats"]["totalCount"], json!(1));
    assert_eq!(
        seen["chats"]["nodes"][0]["lastMessage"]["content"],
        json!("hello team")
    );
    assert_eq!(access(&outsider).await, json!(null));
    let data = app
        .ok(
            &owner,
            "query($p: UUID!) { project(id: $p) { viewerAccess } }",
            json!({"p": owners}),
        )
        .await;
    assert_eq!(data["project"]["viewerAccess"], json!("OWNER"));
    let data = app
        .ok(
            &member,
            "query($p: UUID!) { project(id: $p) { viewerAccess } }",
            json!({"p": owners}),
        )
        .await;
    assert_eq!(data["project"]["viewerAccess"], json!("VIEWER"));

    // viewer.projects lists team projects; the teamId filter narrows.
    let list = "query($t: UUID) { viewer { projects(filter: {teamId: $t}, orderBy: TITLE_ASC) { nodes { title } } } }";
    let data = app.ok(&admin, list, json!({"t": team})).await;
    assert_eq!(
        data["viewer"]["projects"]["nodes"],
        json!([{"title": "Member's"}, {"title": "Owner's"}])
    );
    let data = app.ok(&admin, list, json!({"t": Uuid::new_v4()})).await;
    assert_eq!(data["viewer"]["projects"]["nodes"], json!([]));

    // Editors change the project; members may not; only the owner or team OWNER deletes.
    let update = r#"mutation($p: UUID!, $t: String!) { updateProject(id: $p, input: {title: $t}) { title } }"#;
    assert_eq!(
        app.as_user(&member, update, json!({"p": owners, "t": "x"}))
            .await
            .code(),
        "FORBIDDEN"
    );
    let data = app
        .ok(&admin, update, json!({"p": project, "t": "Renamed"}))
        .await;
    assert_eq!(data["updateProject"]["title"], json!("Renamed"));
    let delete = "mutation($p: UUID!) { deleteProject(id: $p) }";
    assert_eq!(
        app.as_user(&admin, delete, json!({"p": project}))
            .await
            .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.as_user(&outsider, delete, json!({"p": project}))
            .await
            .code(),
        "NOT_FOUND"
    );
    let data = app.ok(&owner, delete, json!({"p": project})).await;
    assert_eq!(uuid(&data["deleteProject"]), project);
    let status = "query($p: UUID!) { project(id: $p) { status } }";
    let data = app.ok(&owner, status, json!({"p": project})).await;
    assert_eq!(data["project"]["status"], json!("DELETED"));
    let data = app
        .ok(
            &owner,
            "mutation($p: UUID!) { restoreProject(id: $p) { status } }",
            json!({"p": project}),
        )
        .await;
    assert_eq!(data["restoreProject"]["status"], json!("ACTIVE"));
    let data = app.ok(&owner, status, json!({"p": project})).await;
    assert_eq!(data["project"]["status"], json!("ACTIVE"));

    // Team chats: readable by members, writable only by their owner.
    let data = app
        .ok(
            &admin,
            "query($c: UUID!) { conversation(id: $c) { title messages { nodes { content } } } }",
            json!({"c": chat}),
        )
        .await;
    assert_eq!(
        data["conversation"]["messages"]["nodes"],
        json!([{"content": "hello team"}])
    );
    let send = "mutation($c: UUID!) { sendMessage(input: {conversationId: $c, role: USER, content: \"hi\"}) { id } }";
    assert_eq!(
        app.as_user(&admin, send, json!({"c": chat})).await.code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.as_user(&outsider, send, json!({"c": chat}))
            .await
            .code(),
        "NOT_FOUND"
    );
    let rename =
        "mutation($c: UUID!) { updateConversation(id: $c, input: {title: \"mine\"}) { id } }";
    assert_eq!(
        app.as_user(&owner, rename, json!({"c": chat})).await.code(),
        "FORBIDDEN"
    );
    // An admin may file their own chat in the team project (they can edit it).
    let admins_chat = app.create_chat(&admin, "admin chat", None).await;
    app.ok(
        &admin,
        "mutation($p: UUID!, $c: UUID!) { addChatToProject(projectId: $p, conversationId: $c) { id } }",
        json!({"p": project, "c": admins_chat}),
    )
    .await;
    let data = app
        .ok(&member, "query($p: UUID!) { project(id: $p) { chats(orderBy: CREATED_AT_ASC) { nodes { title } } } }", json!({"p": project}))
        .await;
    assert_eq!(
        data["project"]["chats"]["nodes"],
        json!([{"title": "member chat"}, {"title": "admin chat"}])
    );
    // A MEMBER may not file chats in someone else's team project.
    let members_chat = app.create_chat(&member, "second", None).await;
    let reply = app
        .as_user(
            &member,
            "mutation($p: UUID!, $c: UUID!) { addChatToProject(projectId: $p, conversationId: $c) { id } }",
            json!({"p": owners, "c": members_chat}),
        )
        .await;
    assert_eq!(reply.code(), "FORBIDDEN");

    // A removed member loses access on their next request.
    app.ok(
        &owner,
        "mutation($t: UUID!, $u: UUID!) { removeTeamMember(teamId: $t, userId: $u) }",
        json!({"t": team, "u": admin.id}),
    )
    .await;
    let data = app
        .ok(&admin, "query($p: UUID!, $c: UUID!) { project(id: $p) { id } conversation(id: $c) { id } viewer { teams { totalCount } } }", json!({"p": project, "c": chat}))
        .await;
    assert_eq!(
        data,
        json!({"project": null, "conversation": null, "viewer": {"teams": {"totalCount": 0}}})
    );
    // The admin's own chat stays theirs.
    let data = app
        .ok(
            &admin,
            "query($c: UUID!) { conversation(id: $c) { title } }",
            json!({"c": admins_chat}),
        )
        .await;
    assert_eq!(data["conversation"]["title"], json!("admin chat"));
});

on_both!(
    outsiders_see_no_team_and_public_team_projects_hide_the_team,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let outsider = harness::user("outsider");
        let team = app.create_team(&owner, "Private team").await;
        let project = team_project(&app, &owner, team, "Public in team").await;
        app.ok(
            &owner,
            "mutation($p: UUID!) { updateProject(id: $p, input: {isPublic: true}) { id } }",
            json!({"p": project}),
        )
        .await;
        let node_id = app
            .ok(
                &owner,
                "query($t: UUID!) { team(id: $t) { nodeId } }",
                json!({"t": team}),
            )
            .await["team"]["nodeId"]
            .clone();
        let data = app
        .ok(
            &outsider,
            "query($t: UUID!, $p: UUID!, $n: ID!) { team(id: $t) { id } node(nodeId: $n) { nodeId } project(id: $p) { title team { id } viewerAccess } viewer { teams { totalCount } } }",
            json!({"t": team, "p": project, "n": node_id}),
        )
        .await;
        assert_eq!(
            data,
            json!({"team": null, "node": null, "project": {"title": "Public in team", "team": null, "viewerAccess": "VIEWER"}, "viewer": {"teams": {"totalCount": 0}}})
        );
        let data = app
            .ok(
                &owner,
                "query($n: ID!) { node(nodeId: $n) { ... on Team { name } } }",
                json!({"n": node_id}),
            )
            .await;
        assert_eq!(data["node"]["name"], json!("Private team"));
        for (query, vars) in [
        ("mutation($t: UUID!) { updateTeam(id: $t, name: \"x\") { id } }", json!({"t": team})),
        ("mutation($t: UUID!) { deleteTeam(id: $t) }", json!({"t": team})),
        ("mutation($t: UUID!) { setDefaultTeam(teamId: $t) { id } }", json!({"t": team})),
        ("mutation($t: UUID!, $u: UUID!) { removeTeamMember(teamId: $t, userId: $u) }", json!({"t": team, "u": owner.id})),
        ("mutation($t: UUID!, $u: UUID!) { updateTeamMember(teamId: $t, userId: $u, role: MEMBER) { role } }", json!({"t": team, "u": owner.id})),
        ("mutation($t: UUID!, $e: String!) { addTeamMember(teamId: $t, email: $e) { role } }", json!({"t": team, "e": owner.email})),
    ] {
        assert_eq!(app.as_user(&outsider, query, vars.clone()).await.code(), "NOT_FOUND", "{query}");
        assert_eq!(app.post(None, query, vars).await.code(), "UNAUTHENTICATED", "{query}");
    }
        let data = app
        .ok(&owner, "query($t: UUID!) { team(id: $t) { name members { totalCount } projects { totalCount } } }", json!({"t": team}))
        .await;
        assert_eq!(
            data["team"],
            json!({"name": "Private team", "members": {"totalCount": 1}, "projects": {"totalCount": 1}})
        );
    }
);

on_both!(default_team_rename_and_delete, |app: TestApp| async move {
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let first = app.create_team(&owner, "First").await;
    let second = app.create_team(&owner, "Second").await;
    add(&app, &owner, second, &admin, "ADMIN").await;
    let defaults = "{ viewer { teams { nodes { name members { nodes { userId isDefault } } } } } }";
    let own_default = |data: &Value, owner: Uuid| -> Vec<(String, bool)> {
        data["viewer"]["teams"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let mine = t["members"]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["userId"] == json!(owner.to_string()))
                    .unwrap();
                (
                    t["name"].as_str().unwrap().to_owned(),
                    mine["isDefault"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let data = app.ok(&owner, defaults, json!({})).await;
    assert_eq!(
        own_default(&data, owner.id),
        vec![("First".into(), true), ("Second".into(), false)]
    );
    app.ok(
        &owner,
        "mutation($t: UUID!) { setDefaultTeam(teamId: $t) { id } }",
        json!({"t": second}),
    )
    .await;
    let data = app.ok(&owner, defaults, json!({})).await;
    assert_eq!(
        own_default(&data, owner.id),
        vec![("First".into(), false), ("Second".into(), true)]
    );

    let data = app
        .ok(
            &admin,
            "mutation($t: UUID!) { updateTeam(id: $t, name: \"Renamed\") { name } }",
            json!({"t": second}),
        )
        .await;
    assert_eq!(data["updateTeam"]["name"], json!("Renamed"));
    let project = team_project(&app, &admin, second, "Kept").await;
    assert_eq!(
        app.as_user(
            &admin,
            "mutation($t: UUID!) { deleteTeam(id: $t) }",
            json!({"t": second})
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    let data = app
        .ok(
            &owner,
            "mutation($t: UUID!) { deleteTeam(id: $t) }",
            json!({"t": second}),
        )
        .await;
    assert_eq!(uuid(&data["deleteTeam"]), second);
    // The project stays its owner's personal project.
    let data = app
        .ok(&admin, "query($p: UUID!) { project(id: $p) { title team { id } viewerAccess } viewer { teams { totalCount } } }", json!({"p": project}))
        .await;
    assert_eq!(
        data,
        json!({"project": {"title": "Kept", "team": null, "viewerAccess": "OWNER"}, "viewer": {"teams": {"totalCount": 0}}})
    );
    let data = app
        .ok(
            &owner,
            "query($p: UUID!) { project(id: $p) { id } }",
            json!({"p": project}),
        )
        .await;
    assert_eq!(data["project"], json!(null));
    let data = app
        .ok(
            &owner,
            "query($t: UUID!) { team(id: $t) { name } }",
            json!({"t": first}),
        )
        .await;
    assert_eq!(data["team"]["name"], json!("First"));
});

on_both!(
    deleting_an_account_hands_teams_on,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let early = harness::user("early");
        let late = harness::user("late");
        let shared = app.create_team(&owner, "Shared").await;
        let solo = app.create_team(&owner, "Solo").await;
        add(&app, &owner, shared, &early, "MEMBER").await;
        add(&app, &owner, shared, &late, "ADMIN").await;
        let kept = team_project(&app, &early, shared, "Early's").await;
        app.ok(&owner, "mutation { deleteAccount }", json!({}))
            .await;
        let data = app
        .ok(&early, "query($t: UUID!) { team(id: $t) { viewerRole members { nodes { userId role } } projects { nodes { title } } } }", json!({"t": shared}))
        .await;
        assert_eq!(
            data["team"]["viewerRole"],
            json!("OWNER"),
            "the longest-standing member becomes OWNER"
        );
        assert_eq!(
            data["team"]["members"]["nodes"],
            json!([{"userId": early.id.to_string(), "role": "OWNER"}, {"userId": late.id.to_string(), "role": "ADMIN"}])
        );
        assert_eq!(
            data["team"]["projects"]["nodes"],
            json!([{"title": "Early's"}])
        );
        let service = harness::service_token();
        let reply = app
            .post(
                Some(&service),
                "query($t: UUID!, $p: UUID!) { team(id: $t) { id } project(id: $p) { title } }",
                json!({"t": solo, "p": kept}),
            )
            .await;
        assert_eq!(
            reply.data(),
            &json!({"team": null, "project": {"title": "Early's"}}),
            "a team left empty is deleted"
        );
    }
);

on_both!(
    concurrent_demotions_keep_one_owner,
    |app: TestApp| async move {
        let a = harness::user("a");
        let b = harness::user("b");
        let team = app.create_team(&a, "Two owners").await;
        add(&app, &a, team, &b, "OWNER").await;
        let demote = "mutation($t: UUID!, $u: UUID!) { updateTeamMember(teamId: $t, userId: $u, role: MEMBER) { role } }";
        let (ra, rb) = tokio::join!(
            app.as_user(&a, demote, json!({"t": team, "u": b.id})),
            app.as_user(&b, demote, json!({"t": team, "u": a.id})),
        );
        let outcomes = [
            ra.body.get("errors").is_none(),
            rb.body.get("errors").is_none(),
        ];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "{:?} {:?}",
            ra.body,
            rb.body
        );
        let failed = if outcomes[0] { &rb } else { &ra };
        assert!(
            matches!(failed.code().as_str(), "CONFLICT" | "FORBIDDEN"),
            "{}",
            failed.body
        );
        let service = harness::service_token();
        let reply = app
            .post(
                Some(&service),
                "query($t: UUID!) { team(id: $t) { members { nodes { role } } } }",
                json!({"t": team}),
            )
            .await;
        let owners = reply.data()["team"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == json!("OWNER"))
            .count();
        assert_eq!(owners, 1);
    }
);
