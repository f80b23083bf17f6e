//! A team keeps an OWNER under any race: concurrent account deletions of its owners,
//! deletion against leaving, deletion against demotion. Each race runs 20 times per
//! backend; after each, every team with members has an OWNER.

use std::collections::HashMap;

use entity::enums::TeamRole;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{DELETE_ACCOUNT, REMOVE_TEAM_MEMBER, VIEWER_ID};
use crate::harness::{self, Reply, TestApp, User};
use crate::on_both;

const ROUNDS: usize = 20;

const ADD_WITH_ROLE: &str = r#"
    mutation($t: UUID!, $e: String!, $r: TeamRole) {
        addTeamMember(teamId: $t, email: $e, role: $r) { role }
    }
"#;

const SET_ROLE: &str = r#"
    mutation($t: UUID!, $u: UUID!, $r: TeamRole!) {
        updateTeamMember(teamId: $t, userId: $u, role: $r) { role }
    }
"#;

/// Two OWNERs (`a`, `b`) and a MEMBER (`m`) in two teams.
struct Scene {
    a: User,
    b: User,
    teams: Vec<Uuid>,
}

async fn scene(app: &TestApp) -> Scene {
    let a = harness::user("a");
    let b = harness::user("b");
    let m = harness::user("m");
    for user in [&b, &m] {
        app.ok(user, VIEWER_ID, json!({})).await;
    }
    let mut teams = Vec::new();
    for name in ["one", "two"] {
        let team = app.create_team(&a, name).await;
        for (user, role) in [(&b, "OWNER"), (&m, "MEMBER")] {
            app.ok(
                &a,
                ADD_WITH_ROLE,
                json!({ "t": team, "e": user.email, "r": role }),
            )
            .await;
        }
        teams.push(team);
    }
    Scene { a, b, teams }
}

/// Every team that has members has an OWNER; returns how many teams have members.
async fn assert_every_team_has_an_owner(app: &TestApp, round: usize) -> usize {
    let mut owners: HashMap<Uuid, usize> = HashMap::new();
    for member in entity::team_member::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
    {
        *owners.entry(member.team_id).or_default() += usize::from(member.role == TeamRole::Owner);
    }
    let orphans: Vec<_> = owners.iter().filter(|(_, n)| **n == 0).collect();
    assert!(
        orphans.is_empty(),
        "round {round}: teams without an OWNER: {orphans:?}"
    );
    owners.len()
}

/// A reply that succeeded, or was refused because it would leave no OWNER.
fn done_or_conflict(reply: &Reply) -> bool {
    match reply.body.get("errors") {
        None => true,
        Some(_) => reply.code() == "CONFLICT",
    }
}

async fn race(app: &TestApp, second: impl Fn(&Scene) -> (User, &'static str, Value)) {
    for round in 0..ROUNDS {
        let scene = scene(app).await;
        let (user, query, vars) = second(&scene);
        let (deleted, other) = tokio::join!(
            app.as_user(&scene.a, DELETE_ACCOUNT, json!({})),
            app.as_user(&user, query, vars),
        );
        assert_eq!(
            deleted.data()["deleteAccount"],
            json!(scene.a.id.to_string())
        );
        assert!(done_or_conflict(&other), "round {round}: {:?}", other.body);
        assert!(assert_every_team_has_an_owner(app, round).await >= scene.teams.len());
    }
}

on_both!(
    two_owners_deleting_their_accounts,
    |app: TestApp| async move {
        race(&app, |s| (s.b.clone(), DELETE_ACCOUNT, json!({}))).await;
    }
);

on_both!(
    an_owner_deleting_while_the_other_leaves,
    |app: TestApp| async move {
        race(&app, |s| {
            (
                s.b.clone(),
                REMOVE_TEAM_MEMBER,
                json!({ "t": s.teams[0], "u": s.b.id }),
            )
        })
        .await;
    }
);

on_both!(
    an_owner_deleting_while_the_other_steps_down,
    |app: TestApp| async move {
        race(&app, |s| {
            (
                s.b.clone(),
                SET_ROLE,
                json!({ "t": s.teams[1], "u": s.b.id, "r": "MEMBER" }),
            )
        })
        .await;
    }
);
