//! Identity follows the token: a profile's email is the email of its user's latest
//! token, and an address that moves to another account leaves the old one.

use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use crate::documents::{ADD_TEAM_MEMBER, VIEWER_ID};
use crate::harness::{self, TestApp, User};
use crate::on_both;

const PROFILE_EMAIL: &str = "{ viewer { profile { email } } }";
const TEAM_MEMBER_IDS: &str = "query($t: UUID!) { team(id: $t) { members { nodes { userId } } } }";
const TEAM_ID: &str = "query($t: UUID!) { team(id: $t) { id } }";

/// `user` with a fresh token that shows `email`.
fn with_email(user: &User, email: &str) -> User {
    User {
        id: user.id,
        email: email.to_owned(),
        token: harness::mint(Some(user.id), "authenticated", Some(email)),
    }
}

async fn profile_email(app: &TestApp, user: &User) -> serde_json::Value {
    app.ok(user, PROFILE_EMAIL, json!({})).await["viewer"]["profile"]["email"].clone()
}

on_both!(
    an_email_that_moved_reaches_its_new_holder_only,
    |app: TestApp| async move {
        let owner = harness::user("owner");
        let team = app.create_team(&owner, "Acme").await;
        // A signs in while the address is theirs; then it moves to B (A's account changes
        // email at the identity provider, B's token shows the old address, in other case).
        let a = with_email(&harness::user("a"), "new-hire@acme.com");
        assert_eq!(profile_email(&app, &a).await, json!("new-hire@acme.com"));
        let b = with_email(&harness::user("b"), "New-Hire@Acme.com");
        assert_eq!(profile_email(&app, &b).await, json!("New-Hire@Acme.com"));

        let data = app
            .ok(
                &owner,
                ADD_TEAM_MEMBER,
                json!({ "t": team, "e": "new-hire@acme.com" }),
            )
            .await;
        assert_eq!(data["addTeamMember"]["role"], json!("MEMBER"));
        let members = app.ok(&owner, TEAM_MEMBER_IDS, json!({ "t": team })).await;
        let ids: Vec<Uuid> = members["team"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| harness::uuid(&m["userId"]))
            .collect();
        assert_eq!(ids, vec![owner.id, b.id]);
        // A is not in the team and cannot read it; B can.
        let seen = app.ok(&a, TEAM_ID, json!({ "t": team })).await;
        assert_eq!(seen["team"], json!(null));
        let seen = app.ok(&b, TEAM_ID, json!({ "t": team })).await;
        assert_eq!(seen["team"]["id"], json!(team.to_string()));

        // A's next token shows A's new address: A's profile follows it.
        let a_now = with_email(&a, "a-elsewhere@acme.com");
        assert_eq!(
            profile_email(&app, &a_now).await,
            json!("a-elsewhere@acme.com")
        );
        // The address moves back to A: B loses it, and an invitation reaches A.
        let a_back = with_email(&a, "new-hire@acme.com");
        assert_eq!(
            profile_email(&app, &a_back).await,
            json!("new-hire@acme.com")
        );
        assert_eq!(
            profile_email(&app, &with_email(&b, "b2@acme.com")).await,
            json!("b2@acme.com")
        );
        let other_team = app.create_team(&owner, "Other").await;
        app.ok(
            &owner,
            ADD_TEAM_MEMBER,
            json!({ "t": other_team, "e": "NEW-HIRE@acme.com" }),
        )
        .await;
        let seen = app.ok(&a_back, TEAM_ID, json!({ "t": other_team })).await;
        assert_eq!(seen["team"]["id"], json!(other_team.to_string()));
    }
);

on_both!(
    a_profile_that_lost_its_email_to_a_first_sign_in_has_none,
    |app: TestApp| async move {
        let a = with_email(&harness::user("a"), "shared@acme.com");
        assert_eq!(profile_email(&app, &a).await, json!("shared@acme.com"));
        // B's very first request already shows the address.
        let b = with_email(&harness::user("b"), "shared@acme.com");
        app.ok(&b, VIEWER_ID, json!({})).await;
        let a_holds = entity::profile::Entity::find_by_id(a.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .email;
        assert_eq!(a_holds, None);
        assert_eq!(profile_email(&app, &b).await, json!("shared@acme.com"));
    }
);

on_both!(only_a_changed_email_writes, |app: TestApp| async move {
    let user = harness::user("u");
    app.ok(&user, VIEWER_ID, json!({})).await;
    let count = |user: User| {
        let app = &app;
        async move {
            let before = app.statement_count();
            app.ok(&user, VIEWER_ID, json!({})).await;
            app.statement_count() - before
        }
    };
    // Same email as stored: the one lookup (`viewer { id }` needs no other statement).
    assert_eq!(count(user.clone()).await, 1);
    // A new email: the lookup, the release of other holders, the profile's update
    // (and on Postgres the advisory lock on the address).
    let changed = count(with_email(&user, "moved@example.com")).await;
    let lock = u64::from(app.db.get_database_backend() == sea_orm::DbBackend::Postgres);
    assert_eq!(changed, 3 + lock);
    assert_eq!(count(with_email(&user, "moved@example.com")).await, 1);
});
