//! The probes of issue 11, each run as PostgREST would run it (role `authenticated` or
//! `anon` with a user's claims) on data the gateway made (Postgres only): the email
//! hijack of `addTeamMember`, an ADMIN over OWNERs, an ADMIN taking or deleting a team
//! project, an outsider's project in a team, the last OWNER leaving, private profile
//! columns read by others. Each probe is checked and the test fails at its end with every
//! probe that went through, so a run on the earlier policies lists them all.

use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::documents::ADD_TEAM_MEMBER;
use crate::harness::{self, TestApp, User};
use crate::rls_parity::{begin_as, supabase_like};
use confab::auth::{UserClaims, Viewer};

const ADD_ADMIN: &str = r#"
    mutation($t: UUID!, $e: String!) {
        addTeamMember(teamId: $t, email: $e, role: ADMIN) { role }
    }
"#;
const TEAM_CHAT_TITLES: &str =
    "query($t: UUID!) { team(id: $t) { projects { nodes { chats { nodes { title } } } } } }";
const CREATE_TEAM_PROJECT: &str = r#"
    mutation($t: UUID!) { createProject(input: {title: "roadmap", teamId: $t}) { id } }
"#;

fn viewer(user: &User) -> Viewer {
    Viewer::User(UserClaims {
        id: user.id,
        email: Some(user.email.clone()),
        is_anonymous: false,
    })
}

/// The probes that went through (or answers that differ from the expected ones).
#[derive(Default)]
struct Probes(Vec<String>);

impl Probes {
    fn check(&mut self, held: bool, what: impl std::fmt::Display) {
        if !held {
            self.0.push(what.to_string());
        }
    }

    /// The statement was refused with an error that says `why`.
    fn refused(&mut self, outcome: &Result<u64, String>, why: &str, sql: &str) {
        self.check(
            outcome.as_ref().is_err_and(|e| e.contains(why)),
            format!("{sql}: {outcome:?}, expected an error with {why:?}"),
        );
    }

    fn done(self) {
        assert!(
            self.0.is_empty(),
            "probes that went through:\n{}",
            self.0.join("\n")
        );
    }
}

/// Runs `sql` as PostgREST would for `who` (role and claims) and commits when it
/// succeeds: the outcome is the number of rows changed, or the error.
async fn as_user(app: &TestApp, who: &Viewer, sql: &str) -> Result<u64, String> {
    let txn: DatabaseTransaction = begin_as(&app.db, who).await;
    match txn.execute_unprepared(sql).await {
        Ok(done) => {
            let rows = done.rows_affected();
            txn.commit().await.map_err(|e| e.to_string())?;
            Ok(rows)
        }
        Err(error) => {
            txn.rollback().await.ok();
            Err(error.to_string())
        }
    }
}

/// Reads one text column as `who`, or the error.
async fn read_as(app: &TestApp, who: &Viewer, sql: &str) -> Result<Vec<String>, String> {
    let txn = begin_as(&app.db, who).await;
    let rows = txn
        .query_all_raw(Statement::from_string(
            txn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .map_err(|e| e.to_string())
        .map(|rows| {
            rows.iter()
                .map(|row| row.try_get_by_index::<String>(0).unwrap())
                .collect()
        });
    txn.rollback().await.unwrap();
    rows
}

/// Reads one text column as the tables' owner.
async fn column(app: &TestApp, sql: &str) -> Vec<String> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// A team of `owner` (OWNER) and `admin` (ADMIN), with a team project holding a chat.
async fn team_with_admin(app: &TestApp, owner: &User, admin: &User) -> (Uuid, Uuid) {
    let team = app.create_team(owner, "Acme").await;
    app.ok(admin, "{ viewer { id } }", json!({})).await;
    app.ok(owner, ADD_ADMIN, json!({ "t": team, "e": admin.email }))
        .await;
    let project = harness::uuid(
        &app.ok(owner, CREATE_TEAM_PROJECT, json!({ "t": team }))
            .await["createProject"]["id"],
    );
    app.create_chat(owner, "team plans", Some(project)).await;
    (team, project)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_user_cannot_take_an_invited_email_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let mut probes = Probes::default();
    let owner = harness::user("owner");
    let attacker = harness::user("attacker");
    let team = app.create_team(&owner, "Acme").await;
    let project = harness::uuid(
        &app.ok(&owner, CREATE_TEAM_PROJECT, json!({ "t": team }))
            .await["createProject"]["id"],
    );
    app.create_chat(&owner, "salaries", Some(project)).await;
    app.ok(&attacker, "{ viewer { id } }", json!({})).await;

    // The attacker rewrites their own email, as PostgREST lets a user do with their JWT;
    // nor may they change their balance or an owner column.
    for sql in [
        format!(
            "UPDATE profiles SET email = 'new-hire@acme.com' WHERE id = '{}'",
            attacker.id
        ),
        format!(
            "UPDATE own_profile SET email = 'new-hire@acme.com' WHERE id = '{}'",
            attacker.id
        ),
        format!(
            "UPDATE credit_accounts SET balance = 1000000 WHERE user_id = '{}'",
            attacker.id
        ),
        format!(
            "UPDATE projects SET owner_id = '{}' WHERE id = '{project}'",
            attacker.id
        ),
        format!(
            "UPDATE team_members SET user_id = '{}' WHERE team_id = '{team}'",
            attacker.id
        ),
    ] {
        let outcome = as_user(&app, &viewer(&attacker), &sql).await;
        probes.refused(&outcome, "permission denied", &sql);
    }
    let email = column(
        &app,
        &format!(
            "SELECT coalesce(email, '') FROM profiles WHERE id = '{}'",
            attacker.id
        ),
    )
    .await;
    probes.check(
        email == vec![attacker.email.clone()],
        format!("the attacker's email is now {email:?}"),
    );

    // The owner invites the new hire, who has not signed in: nobody joins, and the
    // attacker reads nothing of the team.
    let reply = app
        .as_user(
            &owner,
            ADD_TEAM_MEMBER,
            json!({ "t": team, "e": "new-hire@acme.com" }),
        )
        .await;
    probes.check(
        reply.codes() == vec!["NOT_FOUND".to_owned()],
        format!("addTeamMember(new-hire@acme.com) answered {}", reply.body),
    );
    let seen = app
        .ok(&attacker, TEAM_CHAT_TITLES, json!({ "t": team }))
        .await;
    probes.check(
        seen["team"] == json!(null),
        format!("the attacker reads the team: {seen}"),
    );
    let seen = app.ok(&owner, TEAM_CHAT_TITLES, json!({ "t": team })).await;
    assert_eq!(
        seen["team"]["projects"]["nodes"][0]["chats"]["nodes"][0]["title"],
        json!("salaries")
    );
    probes.done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_admin_cannot_act_on_owners_or_team_projects_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let mut probes = Probes::default();
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let (team, project) = team_with_admin(&app, &owner, &admin).await;
    let as_admin = viewer(&admin);

    for sql in [
        format!(
            "UPDATE team_members SET role = 'owner' WHERE team_id = '{team}' AND user_id = '{}'",
            admin.id
        ),
        format!(
            "UPDATE team_members SET role = 'member' WHERE team_id = '{team}' AND user_id = '{}'",
            owner.id
        ),
        format!(
            "DELETE FROM team_members WHERE team_id = '{team}' AND user_id = '{}'",
            owner.id
        ),
        format!(
            "UPDATE projects SET owner_id = '{}' WHERE id = '{project}'",
            admin.id
        ),
        format!(
            "UPDATE projects SET status = 'deleted', deleted_at = now() WHERE id = '{project}'"
        ),
    ] {
        let outcome = as_user(&app, &as_admin, &sql).await;
        probes.check(
            !matches!(outcome, Ok(rows) if rows > 0),
            format!("{sql} went through: {outcome:?}"),
        );
    }
    // What an ADMIN may do still works: rename the project.
    assert_eq!(
        as_user(
            &app,
            &as_admin,
            &format!("UPDATE projects SET title = 'renamed' WHERE id = '{project}'")
        )
        .await,
        Ok(1)
    );
    let members = column(
        &app,
        &format!(
            "SELECT role || ':' || user_id::text FROM team_members WHERE team_id = '{team}' ORDER BY role DESC"
        ),
    )
    .await;
    probes.check(
        members == vec![format!("owner:{}", owner.id), format!("admin:{}", admin.id)],
        format!("the team's members are now {members:?}"),
    );
    let row = column(
        &app,
        &format!(
            "SELECT status || ':' || owner_id::text || ':' || title FROM projects WHERE id = '{project}'"
        ),
    )
    .await;
    probes.check(
        row == vec![format!("active:{}:renamed", owner.id)],
        format!("the team project is now {row:?}"),
    );
    probes.done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outsiders_and_last_owners_are_refused_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let mut probes = Probes::default();
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let outsider = harness::user("outsider");
    app.ok(&outsider, "{ viewer { id } }", json!({})).await;
    let (team, _) = team_with_admin(&app, &owner, &admin).await;

    let sql = format!(
        "INSERT INTO projects (id, owner_id, team_id, title, status, is_public, metadata, created_at, updated_at) \
         VALUES ('{}', '{}', '{team}', 'planted', 'active', false, '{{}}', now(), now())",
        Uuid::new_v4(),
        outsider.id
    );
    let forged = as_user(&app, &viewer(&outsider), &sql).await;
    probes.refused(&forged, "row-level security", &sql);

    // The last OWNER cannot leave (checked at commit)...
    let sql = format!(
        "DELETE FROM team_members WHERE team_id = '{team}' AND user_id = '{}'",
        owner.id
    );
    let left = as_user(&app, &viewer(&owner), &sql).await;
    probes.refused(&left, "a team keeps at least one OWNER", &sql);
    // ...but an ADMIN may leave.
    let left = as_user(
        &app,
        &viewer(&admin),
        &format!(
            "DELETE FROM team_members WHERE team_id = '{team}' AND user_id = '{}'",
            admin.id
        ),
    )
    .await;
    assert_eq!(left, Ok(1));
    let members = column(
        &app,
        &format!("SELECT user_id::text FROM team_members WHERE team_id = '{team}'"),
    )
    .await;
    probes.check(
        members == vec![owner.id.to_string()],
        format!("the team's members are now {members:?}"),
    );
    probes.done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_private_profile_columns_stay_private_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let mut probes = Probes::default();
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    team_with_admin(&app, &owner, &admin).await;
    app.create_project(&owner, "open source", true).await;

    // The anon key reads public profiles, not their private columns.
    let private = read_as(
        &app,
        &Viewer::Anonymous,
        "SELECT concat_ws(',', email, full_name, onboarding::text) FROM profiles",
    )
    .await;
    probes.check(
        private
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        format!("the anon key reads private columns: {private:?}"),
    );
    let public = read_as(&app, &Viewer::Anonymous, "SELECT id::text FROM profiles").await;
    assert_eq!(public, Ok(vec![owner.id.to_string()]));

    // A teammate sees the other's public profile, not their email...
    let email = read_as(
        &app,
        &viewer(&admin),
        &format!(
            "SELECT coalesce(email, '') FROM profiles WHERE id = '{}'",
            owner.id
        ),
    )
    .await;
    probes.check(
        email
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        format!("a teammate reads the owner's email: {email:?}"),
    );
    let names = read_as(
        &app,
        &viewer(&admin),
        "SELECT coalesce(display_name, id::text) FROM profiles",
    )
    .await;
    probes.check(
        names.as_ref().is_ok_and(|names| names.len() == 2),
        format!("a teammate's public profiles: {names:?}"),
    );
    // ...and reads their own through `own_profile`.
    let own = read_as(
        &app,
        &viewer(&admin),
        "SELECT coalesce(email, '') FROM own_profile",
    )
    .await;
    probes.check(
        own == Ok(vec![admin.email.clone()]),
        format!("own_profile: {own:?}"),
    );
    probes.done();
}
