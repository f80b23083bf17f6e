//! Teams, memberships and team projects.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{
    ADD_CHAT_TO_PROJECT, ADD_TEAM_MEMBER, CREATE_TEAM_PROJECT, DELETE_ACCOUNT, REMOVE_TEAM_MEMBER,
    VIEWER_ID,
};
use crate::harness::{self, uuid, TestApp, User};
use crate::on_both;

const ADD_TEAM_MEMBER_IN_FULL: &str = r#"
    mutation($t: UUID!, $e: String!, $r: TeamRole) {
        addTeamMember(teamId: $t, email: $e, role: $r) { userId role isDefault user { id } }
    }
"#;

const CREATE_CORE_TEAM: &str = r#"
    mutation {
        createTeam(name: "Core") {
            id name tier viewerRole
            members { totalCount nodes { userId role isDefault } }
        }
    }
"#;

const ADD_TEAM_MEMBER_WITH_ROLE: &str = r#"
    mutation($t: UUID!, $e: String!, $r: TeamRole) {
        addTeamMember(teamId: $t, email: $e, role: $r) { role }
    }
"#;

const UPDATE_TEAM_MEMBER: &str = r#"
    mutation($t: UUID!, $u: UUID!, $r: TeamRole!) {
        updateTeamMember(teamId: $t, userId: $u, role: $r) { userId role }
    }
"#;

const TEAM_MEMBERS: &str = r#"
    query($t: UUID!) {
        team(id: $t) { members { nodes { userId role } } }
    }
"#;

const TEAM_ID: &str = "query($t: UUID!) { team(id: $t) { id } }";

const CREATE_PROJECT_MAYBE_IN_TEAM: &str = r#"
    mutation($t: UUID) {
        createProject(input: {title: "x", teamId: $t}) { id }
    }
"#;

const TEAM_PROJECT_AS_MEMBER: &str = r#"
    query($p: UUID!) {
        project(id: $p) {
            title viewerAccess
            team { id viewerRole }
            chats { totalCount nodes { id lastMessage { content } } }
        }
    }
"#;

const PROJECT_ACCESS: &str = "query($p: UUID!) { project(id: $p) { viewerAccess } }";

const PROJECT_TITLES_IN_TEAM: &str = r#"
    query($t: UUID) {
        viewer { projects(filter: {teamId: $t}, orderBy: TITLE_ASC) { nodes { title } } }
    }
"#;

const UPDATE_PROJECT_TITLE: &str = r#"
    mutation($p: UUID!, $t: String!) {
        updateProject(id: $p, input: {title: $t}) { title }
    }
"#;

const DELETE_TEAM_PROJECT: &str = "mutation($p: UUID!) { deleteProject(id: $p) }";
const PROJECT_STATUS: &str = "query($p: UUID!) { project(id: $p) { status } }";
const RESTORE_PROJECT_STATUS: &str = "mutation($p: UUID!) { restoreProject(id: $p) { status } }";

const CHAT_TITLE_AND_MESSAGES: &str = r#"
    query($c: UUID!) {
        conversation(id: $c) { title messages { nodes { content } } }
    }
"#;

const SEND_HI: &str = r#"
    mutation($c: UUID!) {
        sendMessage(input: {conversationId: $c, role: USER, content: "hi"}) { id }
    }
"#;

const RENAME_CHAT: &str = r#"
    mutation($c: UUID!) {
        updateConversation(id: $c, input: {title: "mine"}) { id }
    }
"#;

const PROJECT_CHAT_TITLES: &str = r#"
    query($p: UUID!) {
        project(id: $p) { chats(orderBy: CREATED_AT_ASC) { nodes { title } } }
    }
"#;

const PROJECT_CHAT_AND_TEAM_COUNT: &str = r#"
    query($p: UUID!, $c: UUID!) {
        project(id: $p) { id }
        conversation(id: $c) { id }
        viewer { teams { totalCount } }
    }
"#;

const CHAT_TITLE: &str = "query($c: UUID!) { conversation(id: $c) { title } }";

const MAKE_PROJECT_PUBLIC: &str = r#"
    mutation($p: UUID!) {
        updateProject(id: $p, input: {isPublic: true}) { id }
    }
"#;

const TEAM_NODE_ID: &str = "query($t: UUID!) { team(id: $t) { nodeId } }";

const TEAM_NODE_PROJECT_AND_COUNT: &str = r#"
    query($t: UUID!, $p: UUID!, $n: ID!) {
        team(id: $t) { id }
        node(nodeId: $n) { nodeId }
        project(id: $p) { title team { id } viewerAccess }
        viewer { teams { totalCount } }
    }
"#;

const TEAM_NODE_NAME: &str = "query($n: ID!) { node(nodeId: $n) { ... on Team { name } } }";
const RENAME_TEAM_X: &str = r#"mutation($t: UUID!) { updateTeam(id: $t, name: "x") { id } }"#;
const DELETE_TEAM: &str = "mutation($t: UUID!) { deleteTeam(id: $t) }";
const SET_DEFAULT_TEAM: &str = "mutation($t: UUID!) { setDefaultTeam(teamId: $t) { id } }";

const DEMOTE_TO_MEMBER: &str = r#"
    mutation($t: UUID!, $u: UUID!) {
        updateTeamMember(teamId: $t, userId: $u, role: MEMBER) { role }
    }
"#;

const TEAM_NAME_AND_COUNTS: &str = r#"
    query($t: UUID!) {
        team(id: $t) { name members { totalCount } projects { totalCount } }
    }
"#;

const DEFAULT_TEAMS: &str = r#"
    {
        viewer { teams { nodes { name members { nodes { userId isDefault } } } } }
    }
"#;

const RENAME_TEAM: &str = r#"mutation($t: UUID!) { updateTeam(id: $t, name: "Renamed") { name } }"#;

const PROJECT_TEAM_AND_TEAM_COUNT: &str = r#"
    query($p: UUID!) {
        project(id: $p) { title team { id } viewerAccess }
        viewer { teams { totalCount } }
    }
"#;

const PROJECT_ID: &str = "query($p: UUID!) { project(id: $p) { id } }";
const TEAM_NAME: &str = "query($t: UUID!) { team(id: $t) { name } }";

const TEAM_AS_MEMBER: &str = r#"
    query($t: UUID!) {
        team(id: $t) { viewerRole members { nodes { userId role } } projects { nodes { title } } }
    }
"#;

const TEAM_AND_PROJECT_TITLE: &str = r#"
    query($t: UUID!, $p: UUID!) {
        team(id: $t) { id }
        project(id: $p) { title }
    }
"#;

const TEAM_MEMBER_ROLES: &str = "query($t: UUID!) { team(id: $t) { members { nodes { role } } } }";

/// Signs the user in once (so their profile exists) and adds them to the team.
async fn add(app: &TestApp, by: &User, team: Uuid, who: &User, role: &str) -> Value {
    app.ok(who, VIEWER_ID, json!({})).await;
    app.ok(
        by,
        ADD_TEAM_MEMBER_IN_FULL,
        json!({ "t": team, "e": who.email, "r": role }),
    )
    .await["addTeamMember"]
        .clone()
}

async fn team_project(app: &TestApp, user: &User, team: Uuid, title: &str) -> Uuid {
    let data = app
        .ok(
            user,
            CREATE_TEAM_PROJECT,
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
        let data = app.ok(&owner, CREATE_CORE_TEAM, json!({})).await;
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
        app.ok(&member, VIEWER_ID, json!({})).await;
        let data = app
            .ok(
                &admin,
                ADD_TEAM_MEMBER,
                json!({ "t": team_id, "e": member.email.to_uppercase() }),
            )
            .await;
        assert_eq!(data["addTeamMember"]["role"], json!("MEMBER"));

        let attempt = |by: &User, query: &'static str, vars: Value| {
            let app = &app;
            let by = by.clone();
            async move { app.as_user(&by, query, vars).await.code() }
        };
        let stranger = harness::user("stranger");
        app.ok(&stranger, VIEWER_ID, json!({})).await;
        assert_eq!(
            attempt(
                &owner,
                ADD_TEAM_MEMBER_WITH_ROLE,
                json!({"t": team_id, "e": "nobody@example.com"})
            )
            .await,
            "NOT_FOUND"
        );
        assert_eq!(
            attempt(
                &owner,
                ADD_TEAM_MEMBER_WITH_ROLE,
                json!({"t": team_id, "e": member.email})
            )
            .await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(
                &admin,
                ADD_TEAM_MEMBER_WITH_ROLE,
                json!({"t": team_id, "e": stranger.email, "r": "OWNER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &member,
                ADD_TEAM_MEMBER_WITH_ROLE,
                json!({"t": team_id, "e": stranger.email})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &stranger,
                ADD_TEAM_MEMBER_WITH_ROLE,
                json!({"t": team_id, "e": stranger.email})
            )
            .await,
            "NOT_FOUND"
        );

        // The last OWNER cannot be demoted; an ADMIN trying it is refused first.
        assert_eq!(
            attempt(
                &owner,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": owner.id, "r": "ADMIN"})
            )
            .await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(
                &admin,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": owner.id, "r": "MEMBER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &member,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": admin.id, "r": "MEMBER"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &admin,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": member.id, "r": "OWNER"})
            )
            .await,
            "FORBIDDEN"
        );
        let data = app
            .ok(
                &admin,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": member.id, "r": "ADMIN"}),
            )
            .await;
        assert_eq!(data["updateTeamMember"]["role"], json!("ADMIN"));
        let data = app
            .ok(
                &owner,
                UPDATE_TEAM_MEMBER,
                json!({"t": team_id, "u": member.id, "r": "MEMBER"}),
            )
            .await;
        assert_eq!(data["updateTeamMember"]["role"], json!("MEMBER"));

        assert_eq!(
            attempt(
                &member,
                REMOVE_TEAM_MEMBER,
                json!({"t": team_id, "u": admin.id})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &admin,
                REMOVE_TEAM_MEMBER,
                json!({"t": team_id, "u": owner.id})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            attempt(
                &owner,
                REMOVE_TEAM_MEMBER,
                json!({"t": team_id, "u": owner.id})
            )
            .await,
            "CONFLICT"
        );
        assert_eq!(
            attempt(
                &owner,
                REMOVE_TEAM_MEMBER,
                json!({"t": team_id, "u": stranger.id})
            )
            .await,
            "NOT_FOUND"
        );
        let data = app
            .ok(
                &member,
                REMOVE_TEAM_MEMBER,
                json!({"t": team_id, "u": member.id}),
            )
            .await;
        assert_eq!(
            uuid(&data["removeTeamMember"]),
            member.id,
            "any member may leave"
        );
        let data = app.ok(&owner, TEAM_MEMBERS, json!({"t": team_id})).await;
        assert_eq!(
            data["team"]["members"]["nodes"],
            json!([{"userId": owner.id.to_string(), "role": "OWNER"}, {"userId": admin.id.to_string(), "role": "ADMIN"}])
        );
        let data = app.ok(&member, TEAM_ID, json!({"t": team_id})).await;
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
        .as_user(&outsider, CREATE_PROJECT_MAYBE_IN_TEAM, json!({"t": team}))
        .await;
    assert_eq!(reply.code(), "NOT_FOUND");

    let access = |user: &User| {
        let app = &app;
        let user = user.clone();
        async move {
            app.ok(&user, TEAM_PROJECT_AS_MEMBER, json!({"p": project}))
                .await["project"]
                .clone()
        }
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
    let data = app.ok(&owner, PROJECT_ACCESS, json!({"p": owners})).await;
    assert_eq!(data["project"]["viewerAccess"], json!("OWNER"));
    let data = app.ok(&member, PROJECT_ACCESS, json!({"p": owners})).await;
    assert_eq!(data["project"]["viewerAccess"], json!("VIEWER"));

    // viewer.projects lists team projects; the teamId filter narrows.
    let data = app
        .ok(&admin, PROJECT_TITLES_IN_TEAM, json!({"t": team}))
        .await;
    assert_eq!(
        data["viewer"]["projects"]["nodes"],
        json!([{"title": "Member's"}, {"title": "Owner's"}])
    );
    let data = app
        .ok(&admin, PROJECT_TITLES_IN_TEAM, json!({"t": Uuid::new_v4()}))
        .await;
    assert_eq!(data["viewer"]["projects"]["nodes"], json!([]));

    // Editors change the project; members may not; only the owner or team OWNER deletes.
    assert_eq!(
        app.as_user(
            &member,
            UPDATE_PROJECT_TITLE,
            json!({"p": owners, "t": "x"})
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    let data = app
        .ok(
            &admin,
            UPDATE_PROJECT_TITLE,
            json!({"p": project, "t": "Renamed"}),
        )
        .await;
    assert_eq!(data["updateProject"]["title"], json!("Renamed"));
    assert_eq!(
        app.as_user(&admin, DELETE_TEAM_PROJECT, json!({"p": project}))
            .await
            .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.as_user(&outsider, DELETE_TEAM_PROJECT, json!({"p": project}))
            .await
            .code(),
        "NOT_FOUND"
    );
    let data = app
        .ok(&owner, DELETE_TEAM_PROJECT, json!({"p": project}))
        .await;
    assert_eq!(uuid(&data["deleteProject"]), project);
    let data = app.ok(&owner, PROJECT_STATUS, json!({"p": project})).await;
    assert_eq!(data["project"]["status"], json!("DELETED"));
    let data = app
        .ok(&owner, RESTORE_PROJECT_STATUS, json!({"p": project}))
        .await;
    assert_eq!(data["restoreProject"]["status"], json!("ACTIVE"));
    let data = app.ok(&owner, PROJECT_STATUS, json!({"p": project})).await;
    assert_eq!(data["project"]["status"], json!("ACTIVE"));

    // Team chats: readable by members, writable only by their owner.
    let data = app
        .ok(&admin, CHAT_TITLE_AND_MESSAGES, json!({"c": chat}))
        .await;
    assert_eq!(
        data["conversation"]["messages"]["nodes"],
        json!([{"content": "hello team"}])
    );
    assert_eq!(
        app.as_user(&admin, SEND_HI, json!({"c": chat}))
            .await
            .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.as_user(&outsider, SEND_HI, json!({"c": chat}))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.as_user(&owner, RENAME_CHAT, json!({"c": chat}))
            .await
            .code(),
        "FORBIDDEN"
    );
    // An admin may file their own chat in the team project (they can edit it).
    let admins_chat = app.create_chat(&admin, "admin chat", None).await;
    app.ok(
        &admin,
        ADD_CHAT_TO_PROJECT,
        json!({"p": project, "c": admins_chat}),
    )
    .await;
    let data = app
        .ok(&member, PROJECT_CHAT_TITLES, json!({"p": project}))
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
            ADD_CHAT_TO_PROJECT,
            json!({"p": owners, "c": members_chat}),
        )
        .await;
    assert_eq!(reply.code(), "FORBIDDEN");

    // A removed member loses access on their next request.
    app.ok(
        &owner,
        REMOVE_TEAM_MEMBER,
        json!({"t": team, "u": admin.id}),
    )
    .await;
    let data = app
        .ok(
            &admin,
            PROJECT_CHAT_AND_TEAM_COUNT,
            json!({"p": project, "c": chat}),
        )
        .await;
    assert_eq!(
        data,
        json!({"project": null, "conversation": null, "viewer": {"teams": {"totalCount": 0}}})
    );
    // The admin's own chat stays theirs.
    let data = app.ok(&admin, CHAT_TITLE, json!({"c": admins_chat})).await;
    assert_eq!(data["conversation"]["title"], json!("admin chat"));
});

on_both!(
    outsiders_see_no_team_and_public_team_projects_hide_the_team,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let outsider = harness::user("outsider");
        let team = app.create_team(&owner, "Private team").await;
        let project = team_project(&app, &owner, team, "Public in team").await;
        app.ok(&owner, MAKE_PROJECT_PUBLIC, json!({"p": project}))
            .await;
        let node_id =
            app.ok(&owner, TEAM_NODE_ID, json!({"t": team})).await["team"]["nodeId"].clone();
        let data = app
            .ok(
                &outsider,
                TEAM_NODE_PROJECT_AND_COUNT,
                json!({"t": team, "p": project, "n": node_id}),
            )
            .await;
        assert_eq!(
            data,
            json!({"team": null, "node": null, "project": {"title": "Public in team", "team": null, "viewerAccess": "VIEWER"}, "viewer": {"teams": {"totalCount": 0}}})
        );
        let data = app.ok(&owner, TEAM_NODE_NAME, json!({"n": node_id})).await;
        assert_eq!(data["node"]["name"], json!("Private team"));
        for (query, vars) in [
            (RENAME_TEAM_X, json!({"t": team})),
            (DELETE_TEAM, json!({"t": team})),
            (SET_DEFAULT_TEAM, json!({"t": team})),
            (REMOVE_TEAM_MEMBER, json!({"t": team, "u": owner.id})),
            (DEMOTE_TO_MEMBER, json!({"t": team, "u": owner.id})),
            (ADD_TEAM_MEMBER, json!({"t": team, "e": owner.email})),
        ] {
            assert_eq!(
                app.as_user(&outsider, query, vars.clone()).await.code(),
                "NOT_FOUND",
                "{query}"
            );
            assert_eq!(
                app.post(None, query, vars).await.code(),
                "UNAUTHENTICATED",
                "{query}"
            );
        }
        let data = app
            .ok(&owner, TEAM_NAME_AND_COUNTS, json!({"t": team}))
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
    let data = app.ok(&owner, DEFAULT_TEAMS, json!({})).await;
    assert_eq!(
        own_default(&data, owner.id),
        vec![("First".into(), true), ("Second".into(), false)]
    );
    app.ok(&owner, SET_DEFAULT_TEAM, json!({"t": second})).await;
    let data = app.ok(&owner, DEFAULT_TEAMS, json!({})).await;
    assert_eq!(
        own_default(&data, owner.id),
        vec![("First".into(), false), ("Second".into(), true)]
    );

    let data = app.ok(&admin, RENAME_TEAM, json!({"t": second})).await;
    assert_eq!(data["updateTeam"]["name"], json!("Renamed"));
    let project = team_project(&app, &admin, second, "Kept").await;
    assert_eq!(
        app.as_user(&admin, DELETE_TEAM, json!({"t": second}))
            .await
            .code(),
        "FORBIDDEN"
    );
    let data = app.ok(&owner, DELETE_TEAM, json!({"t": second})).await;
    assert_eq!(uuid(&data["deleteTeam"]), second);
    // The project stays its owner's personal project.
    let data = app
        .ok(&admin, PROJECT_TEAM_AND_TEAM_COUNT, json!({"p": project}))
        .await;
    assert_eq!(
        data,
        json!({"project": {"title": "Kept", "team": null, "viewerAccess": "OWNER"}, "viewer": {"teams": {"totalCount": 0}}})
    );
    let data = app.ok(&owner, PROJECT_ID, json!({"p": project})).await;
    assert_eq!(data["project"], json!(null));
    let data = app.ok(&owner, TEAM_NAME, json!({"t": first})).await;
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
        app.ok(&owner, DELETE_ACCOUNT, json!({})).await;
        let data = app.ok(&early, TEAM_AS_MEMBER, json!({"t": shared})).await;
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
                TEAM_AND_PROJECT_TITLE,
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
        let (ra, rb) = tokio::join!(
            app.as_user(&a, DEMOTE_TO_MEMBER, json!({"t": team, "u": b.id})),
            app.as_user(&b, DEMOTE_TO_MEMBER, json!({"t": team, "u": a.id})),
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
            .post(Some(&service), TEAM_MEMBER_ROLES, json!({"t": team}))
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
