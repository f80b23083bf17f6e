//! The probes of issue 11, each run as PostgREST would run it (role `authenticated` or
//! `anon` with a user's claims) on data the gateway made (Postgres only). Each failed
//! before the policy-parity migration: the email hijack, an ADMIN over OWNERs, an ADMIN
//! taking or deleting a team project, an outsider's project in a team, the last OWNER
//! leaving, private profile columns read by others.

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

/// Runs `sql` as `user` through PostgREST's role and claims, and commits when it
/// succeeds: the outcome is the statement's (rows changed) or its error.
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
    let owner = harness::user("owner");
    let attacker = harness::user("attacker");
    let team = app.create_team(&owner, "Acme").await;
    let project = harness::uuid(
        &app.ok(&owner, CREATE_TEAM_PROJECT, json!({ "t": team }))
            .await["createProject"]["id"],
    );
    app.create_chat(&owner, "salaries", Some(project)).await;
    app.ok(&attacker, "{ viewer { id } }", json!({})).await;

    // The attacker rewrites their own email, as PostgREST lets a user do with their JWT.
    let forged = as_user(
        &app,
        &viewer(&attacker),
        &format!(
            "UPDATE profiles SET email = 'new-hire@acme.com' WHERE id = '{}'",
            attacker.id
        ),
    )
    .await;
    assert!(
        forged
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        "{forged:?}"
    );
    // Nor through their balance or an owner column.
    for sql in [
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
        assert!(
            outcome
                .as_ref()
                .is_err_and(|e| e.contains("permission denied")),
            "{sql}: {outcome:?}"
        );
    }
    assert_eq!(
        column(
            &app,
            &format!(
                "SELECT coalesce(email, '') FROM profiles WHERE id = '{}'",
                attacker.id
            )
        )
        .await,
        vec![attacker.email.clone()]
    );

    // The owner invites the new hire, who has not signed in: nobody joins.
    let reply = app
        .as_user(
            &owner,
            ADD_TEAM_MEMBER,
            json!({ "t": team, "e": "new-hire@acme.com" }),
        )
        .await;
    assert_eq!(reply.code(), "NOT_FOUND");
    let seen = app
        .ok(&attacker, TEAM_CHAT_TITLES, json!({ "t": team }))
        .await;
    assert_eq!(seen["team"], json!(null));
    let seen = app.ok(&owner, TEAM_CHAT_TITLES, json!({ "t": team })).await;
    assert_eq!(
        seen["team"]["projects"]["nodes"][0]["chats"]["nodes"][0]["title"],
        json!("salaries")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_admin_cannot_act_on_owners_or_team_projects_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let (team, project) = team_with_admin(&app, &owner, &admin).await;
    let as_admin = viewer(&admin);

    let refused = [
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
    ];
    for sql in &refused {
        let outcome = as_user(&app, &as_admin, sql).await;
        assert!(
            !matches!(outcome, Ok(rows) if rows > 0),
            "{sql} went through: {outcome:?}"
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
    assert_eq!(
        column(
            &app,
            &format!(
                "SELECT role || ':' || user_id::text FROM team_members WHERE team_id = '{team}' ORDER BY role DESC"
            )
        )
        .await,
        vec![
            format!("owner:{}", owner.id),
            format!("admin:{}", admin.id)
        ]
    );
    assert_eq!(
        column(
            &app,
            &format!(
                "SELECT status || ':' || owner_id::text || ':' || title FROM projects WHERE id = '{project}'"
            )
        )
        .await,
        vec![format!("active:{}:renamed", owner.id)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outsiders_and_last_owners_are_refused_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    let outsider = harness::user("outsider");
    app.ok(&outsider, "{ viewer { id } }", json!({})).await;
    let (team, _) = team_with_admin(&app, &owner, &admin).await;

    let forged = as_user(
        &app,
        &viewer(&outsider),
        &format!(
            "INSERT INTO projects (id, owner_id, team_id, title, status, is_public, metadata, created_at, updated_at) \
             VALUES ('{}', '{}', '{team}', 'planted', 'active', false, '{{}}', now(), now())",
            Uuid::new_v4(),
            outsider.id
        ),
    )
    .await;
    assert!(
        forged
            .as_ref()
            .is_err_and(|e| e.contains("row-level security")),
        "{forged:?}"
    );

    // The last OWNER cannot leave (checked at commit)...
    let left = as_user(
        &app,
        &viewer(&owner),
        &format!(
            "DELETE FROM team_members WHERE team_id = '{team}' AND user_id = '{}'",
            owner.id
        ),
    )
    .await;
    assert!(
        left.as_ref()
            .is_err_and(|e| e.contains("a team keeps at least one OWNER")),
        "{left:?}"
    );
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
    assert_eq!(
        column(
            &app,
            &format!("SELECT user_id::text FROM team_members WHERE team_id = '{team}'")
        )
        .await,
        vec![owner.id.to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_private_profile_columns_stay_private_with_rls() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let owner = harness::user("owner");
    let admin = harness::user("admin");
    team_with_admin(&app, &owner, &admin).await;
    app.create_project(&owner, "open source", true).await;

    let anon = begin_as(&app.db, &Viewer::Anonymous).await;
    let private = anon
        .query_all_raw(Statement::from_string(
            anon.get_database_backend(),
            "SELECT email, full_name, onboarding FROM profiles".to_owned(),
        ))
        .await;
    assert!(
        private
            .as_ref()
            .is_err_and(|e| e.to_string().contains("permission denied")),
        "{private:?}"
    );
    anon.rollback().await.unwrap();
    let anon = begin_as(&app.db, &Viewer::Anonymous).await;
    let public: Vec<String> = anon
        .query_all_raw(Statement::from_string(
            anon.get_database_backend(),
            "SELECT id::text FROM profiles".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert_eq!(public, vec![owner.id.to_string()]);
    anon.rollback().await.unwrap();

    // A teammate sees the other's public profile, not their email...
    let teammate = begin_as(&app.db, &viewer(&admin)).await;
    let email = teammate
        .query_all_raw(Statement::from_string(
            teammate.get_database_backend(),
            format!("SELECT email FROM profiles WHERE id = '{}'", owner.id),
        ))
        .await;
    assert!(
        email
            .as_ref()
            .is_err_and(|e| e.to_string().contains("permission denied")),
        "{email:?}"
    );
    teammate.rollback().await.unwrap();
    // ...and reads their own through `own_profile`.
    let me = begin_as(&app.db, &viewer(&admin)).await;
    let own: Vec<String> = me
        .query_all_raw(Statement::from_string(
            me.get_database_backend(),
            "SELECT coalesce(email, '') FROM own_profile".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert_eq!(own, vec![admin.email.clone()]);
    me.rollback().await.unwrap();
}
