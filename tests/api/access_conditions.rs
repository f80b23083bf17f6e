//! The access conditions, written as `id IN (own UNION ALL team …)` so that an index can
//! serve each branch, select exactly the rows of the `owner = $u OR <team subquery> OR
//! <public>` form they replaced, on random data, for every viewer, on both backends.

use std::collections::BTreeSet;

use chrono::Utc;
use confab::access;
use confab::auth::{UserClaims, Viewer};
use entity::enums::{ConversationStatus, MessageRole, ProjectStatus, TeamRole};
use entity::{conversation, message, profile, project, project_conversation, team, team_member};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::harness::TestApp;
use crate::on_both;

const ANY_ROLE: &[TeamRole] = &[TeamRole::Owner, TeamRole::Admin, TeamRole::Member];
const MANAGERS: &[TeamRole] = &[TeamRole::Owner, TeamRole::Admin];
const OWNERS: &[TeamRole] = &[TeamRole::Owner];

fn col<E: EntityTrait, C: sea_orm::ColumnTrait>(entity: E, column: C) -> Expr {
    Expr::col((entity, column))
}

// The conditions as they were before (`src/access.rs` at 2a5e5a7), for users.

fn teams_of(user: Uuid, roles: &[TeamRole]) -> SelectStatement {
    Query::select()
        .column((team_member::Entity, team_member::Column::TeamId))
        .from(team_member::Entity)
        .and_where(col(team_member::Entity, team_member::Column::UserId).eq(user))
        .and_where(col(team_member::Entity, team_member::Column::Role).is_in(roles.iter().copied()))
        .to_owned()
}

fn old_projects(user: Uuid, roles: &[TeamRole], public: bool) -> Condition {
    let mut any = Condition::any()
        .add(col(project::Entity, project::Column::OwnerId).eq(user))
        .add(col(project::Entity, project::Column::TeamId).in_subquery(teams_of(user, roles)));
    if public {
        any = any.add(
            Condition::all()
                .add(col(project::Entity, project::Column::IsPublic).eq(true))
                .add(col(project::Entity, project::Column::Status).ne(ProjectStatus::Deleted)),
        );
    }
    any
}

fn old_conversations(user: Uuid) -> Condition {
    let team_chats = Query::select()
        .column((
            project_conversation::Entity,
            project_conversation::Column::ConversationId,
        ))
        .from(project_conversation::Entity)
        .inner_join(
            project::Entity,
            col(project::Entity, project::Column::Id).equals((
                project_conversation::Entity,
                project_conversation::Column::ProjectId,
            )),
        )
        .and_where(
            col(project::Entity, project::Column::TeamId).in_subquery(teams_of(user, ANY_ROLE)),
        )
        .to_owned();
    Condition::any()
        .add(col(conversation::Entity, conversation::Column::OwnerId).eq(user))
        .add(col(conversation::Entity, conversation::Column::Id).in_subquery(team_chats))
}

fn old_messages(user: Uuid) -> Condition {
    Condition::all().add(
        col(message::Entity, message::Column::ConversationId).in_subquery(
            Query::select()
                .column((conversation::Entity, conversation::Column::Id))
                .from(conversation::Entity)
                .cond_where(old_conversations(user))
                .to_owned(),
        ),
    )
}

fn old_public_profiles(user: Uuid) -> Condition {
    Condition::any()
        .add(col(profile::Entity, profile::Column::Id).eq(user))
        .add(
            col(profile::Entity, profile::Column::Id).in_subquery(
                Query::select()
                    .column((project::Entity, project::Column::OwnerId))
                    .from(project::Entity)
                    .cond_where(old_projects(user, ANY_ROLE, true))
                    .to_owned(),
            ),
        )
        .add(
            col(profile::Entity, profile::Column::Id).in_subquery(
                Query::select()
                    .column((team_member::Entity, team_member::Column::UserId))
                    .from(team_member::Entity)
                    .and_where(
                        col(team_member::Entity, team_member::Column::TeamId)
                            .in_subquery(teams_of(user, ANY_ROLE)),
                    )
                    .to_owned(),
            ),
        )
}

/// The keys of `entity`'s rows that `condition` selects.
async fn keys<E: EntityTrait, C: sea_orm::ColumnTrait>(
    app: &TestApp,
    entity: E,
    key: C,
    condition: Condition,
) -> BTreeSet<Uuid> {
    let select = Query::select()
        .column((entity, key))
        .from(entity)
        .cond_where(condition)
        .to_owned();
    app.db
        .query_all(&select)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).unwrap())
        .collect()
}

/// Random users, teams with members of every role, projects (own, team, public, of every
/// status), chats filed in zero to two projects, and messages.
async fn random_data(app: &TestApp, seed: u64) -> Vec<Uuid> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let now = Utc::now();
    let users: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    profile::Entity::insert_many(users.iter().map(|id| profile::ActiveModel {
        id: Set(*id),
        email: Set(Some(format!("{id}@example.com"))),
        display_name: Set(None),
        full_name: Set(None),
        avatar_url: Set(None),
        onboarding_completed: Set(false),
        onboarding: Set(serde_json::json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    let teams: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    team::Entity::insert_many(teams.iter().map(|id| team::ActiveModel {
        id: Set(*id),
        name: Set("team".to_owned()),
        tier: Set("free".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    let mut members = Vec::new();
    for team in &teams {
        for user in &users {
            if rng.random_bool(0.4) {
                members.push(team_member::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    team_id: Set(*team),
                    user_id: Set(*user),
                    role: Set(*ANY_ROLE.choose(&mut rng).unwrap()),
                    is_default: Set(false),
                    joined_at: Set(now),
                });
            }
        }
    }
    team_member::Entity::insert_many(members)
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    let statuses = [
        ProjectStatus::Active,
        ProjectStatus::Archived,
        ProjectStatus::Deleted,
    ];
    let projects: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    project::Entity::insert_many(projects.iter().map(|id| {
        project::ActiveModel {
            id: Set(*id),
            owner_id: Set(*users.choose(&mut rng).unwrap()),
            team_id: Set(rng
                .random_bool(0.5)
                .then(|| *teams.choose(&mut rng).unwrap())),
            title: Set("project".to_owned()),
            description: Set(None),
            status: Set(*statuses.choose(&mut rng).unwrap()),
            is_public: Set(rng.random_bool(0.25)),
            metadata: Set(serde_json::json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    let chats: Vec<Uuid> = (0..80).map(|_| Uuid::new_v4()).collect();
    conversation::Entity::insert_many(chats.iter().map(|id| conversation::ActiveModel {
        id: Set(*id),
        owner_id: Set(*users.choose(&mut rng).unwrap()),
        title: Set(None),
        model: Set(None),
        status: Set(ConversationStatus::Active),
        pinned: Set(false),
        encrypted: Set(false),
        metadata: Set(serde_json::json!({})),
        message_count: Set(2),
        total_tokens: Set(0),
        last_message_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    let mut links = BTreeSet::new();
    for chat in &chats {
        for _ in 0..rng.random_range(0..=2) {
            links.insert((*projects.choose(&mut rng).unwrap(), *chat));
        }
    }
    project_conversation::Entity::insert_many(links.into_iter().map(|(p, c)| {
        project_conversation::ActiveModel {
            project_id: Set(p),
            conversation_id: Set(c),
            created_at: Set(now),
        }
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    message::Entity::insert_many(chats.iter().flat_map(|chat| {
        (1..=2).map(move |n| message::ActiveModel {
            id: Set(Uuid::new_v4()),
            conversation_id: Set(*chat),
            sequence: Set(n),
            role: Set(MessageRole::User),
            content: Set(format!("message {n}")),
            metadata: Set(serde_json::json!({})),
            token_count: Set(None),
            feedback: Set(None),
            audio_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
    }))
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    users
}

on_both!(
    index_friendly_conditions_select_the_rows_of_the_or_form,
    |app: TestApp| async move {
        let users = random_data(&app, 15).await;
        let mut nonempty = 0;
        for user in users {
            let viewer = Viewer::User(UserClaims {
                id: user,
                email: None,
                is_anonymous: false,
            });
            let pairs = [
                (
                    "readable_projects",
                    access::readable_projects(&viewer),
                    old_projects(user, ANY_ROLE, true),
                ),
                (
                    "own_projects",
                    access::own_projects(&viewer),
                    old_projects(user, ANY_ROLE, false),
                ),
                (
                    "editable_projects",
                    access::editable_projects(&viewer),
                    old_projects(user, MANAGERS, false),
                ),
                (
                    "deletable_projects",
                    access::deletable_projects(&viewer),
                    old_projects(user, OWNERS, false),
                ),
            ];
            for (name, new, old) in pairs {
                let new = keys(&app, project::Entity, project::Column::Id, new).await;
                let old = keys(&app, project::Entity, project::Column::Id, old).await;
                assert_eq!(new, old, "{name} for {user}");
                nonempty += usize::from(!new.is_empty());
            }
            let (new, old) = (
                keys(
                    &app,
                    conversation::Entity,
                    conversation::Column::Id,
                    access::readable_conversations(&viewer),
                )
                .await,
                keys(
                    &app,
                    conversation::Entity,
                    conversation::Column::Id,
                    old_conversations(user),
                )
                .await,
            );
            assert_eq!(new, old, "readable_conversations for {user}");
            let (new, old) = (
                keys(
                    &app,
                    message::Entity,
                    message::Column::Id,
                    access::readable_messages(&viewer),
                )
                .await,
                keys(
                    &app,
                    message::Entity,
                    message::Column::Id,
                    old_messages(user),
                )
                .await,
            );
            assert_eq!(new, old, "readable_messages for {user}");
            let (new, old) = (
                keys(
                    &app,
                    profile::Entity,
                    profile::Column::Id,
                    access::readable_public_profiles(&viewer),
                )
                .await,
                keys(
                    &app,
                    profile::Entity,
                    profile::Column::Id,
                    old_public_profiles(user),
                )
                .await,
            );
            assert_eq!(new, old, "readable_public_profiles for {user}");
        }
        assert!(nonempty > 20, "the random data gives the users rows to see");
        // The anonymous: the owners of public, not deleted projects.
        let owners_of_public = Condition::all().add(
            col(profile::Entity, profile::Column::Id).in_subquery(
                Query::select()
                    .column((project::Entity, project::Column::OwnerId))
                    .from(project::Entity)
                    .and_where(col(project::Entity, project::Column::IsPublic).eq(true))
                    .and_where(
                        col(project::Entity, project::Column::Status).ne(ProjectStatus::Deleted),
                    )
                    .to_owned(),
            ),
        );
        assert_eq!(
            keys(
                &app,
                profile::Entity,
                profile::Column::Id,
                access::readable_public_profiles(&Viewer::Anonymous),
            )
            .await,
            keys(&app, profile::Entity, profile::Column::Id, owners_of_public).await,
        );
    }
);
