//! Profiles, settings and accounts: the user's own rows.

use entity::{goal, profile, settings, task};
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveValue::{Set, Unchanged},
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    Statement,
};
use uuid::Uuid;

use crate::access;
use crate::auth::{UserClaims, Viewer};
use crate::db;
use crate::domain::patch::{self, UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};
use crate::realtime::Event;
use crate::validate::empty_object;

/// Creates the user's profile, settings and credit account (with `signup_credits`) on
/// their first request, and keeps the profile's email equal to the email of the user's
/// latest token.
///
/// Identity follows the token: when a token shows an email another profile still holds
/// (the address moved to another account), that profile loses it in the same
/// transaction, so a lookup by email (`addTeamMember`) reaches the current holder only.
/// A request whose token shows the email the profile already has costs one statement
/// (the lookup); only a changed email writes.
pub async fn ensure_user(
    db: &sea_orm::DatabaseConnection,
    user: &UserClaims,
    signup_credits: u32,
) -> AppResult<()> {
    let stored = profile::Entity::find_by_id(user.id)
        .select_only()
        .column(profile::Column::Email)
        .into_tuple::<Option<String>>()
        .one(db)
        .await?;
    match stored {
        Some(email) if email == user.email => Ok(()),
        Some(_) => {
            let txn = db::begin_write(db).await?;
            claim_email(&txn, user).await?;
            let update = Query::update()
                .table(profile::Entity)
                .value(profile::Column::Email, user.email.clone())
                .value(profile::Column::UpdatedAt, db::now())
                .cond_where(access::editable_profiles(&Viewer::User(user.clone())))
                .to_owned();
            txn.execute(&update).await?;
            txn.commit().await?;
            Ok(())
        }
        None => create_user(db, user, signup_credits).await,
    }
}

/// Takes the token's email away from every other profile that holds it. On Postgres a
/// transaction-scoped advisory lock on the address serialises two users claiming it at
/// once (SQLite's IMMEDIATE write transaction already does).
async fn claim_email(txn: &DatabaseTransaction, user: &UserClaims) -> AppResult<()> {
    let Some(email) = &user.email else {
        return Ok(());
    };
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock(hashtextextended(lower($1), 0))",
            [email.clone().into()],
        ))
        .await?;
    }
    let release = Query::update()
        .table(profile::Entity)
        .value(profile::Column::Email, Option::<String>::None)
        .value(profile::Column::UpdatedAt, db::now())
        .cond_where(access::stale_email_holders(backend, user.id, email))
        .to_owned();
    txn.execute(&release).await?;
    Ok(())
}

/// The user's first request: profile, settings and credit account in one transaction.
async fn create_user(
    db: &sea_orm::DatabaseConnection,
    user: &UserClaims,
    signup_credits: u32,
) -> AppResult<()> {
    let now = db::now();
    let txn = db::begin_write(db).await?;
    claim_email(&txn, user).await?;
    let created = profile::Entity::insert(profile::ActiveModel {
        id: Set(user.id),
        email: Set(user.email.clone()),
        display_name: Set(None),
        full_name: Set(None),
        avatar_url: Set(None),
        onboarding_completed: Set(false),
        onboarding: Set(empty_object()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(profile::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if created == 0 {
        // A concurrent first request of the same user made the rows.
        txn.commit().await?;
        return Ok(());
    }
    settings::Entity::insert(settings::ActiveModel {
        user_id: Set(user.id),
        model: Set(None),
        system_prompt: Set(None),
        theme: Set(empty_object()),
        language: Set(None),
        timezone: Set(None),
        notifications: Set(empty_object()),
        features: Set(empty_object()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    crate::domain::credits::open_account(&txn, user.id, signup_credits, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Public profiles the viewer may see (project owners, team members), as a select of
/// profile columns; the key expression is the profile id.
pub fn public_profiles_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    use sea_orm::QueryTrait;
    (
        profile::Entity::find()
            .filter(access::readable_public_profiles(viewer))
            .into_query(),
        Expr::col((profile::Entity, profile::Column::Id)),
    )
}

/// The viewer's own profile.
pub async fn own_profile(db: &impl ConnectionTrait, viewer: &Viewer) -> AppResult<profile::Model> {
    let id = access::require_user(viewer)?;
    profile::Entity::find_by_id(id)
        .filter(access::readable_profiles(viewer))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("profile"))
}

/// The viewer's own settings.
pub async fn own_settings(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
) -> AppResult<settings::Model> {
    let id = access::require_user(viewer)?;
    settings::Entity::find_by_id(id)
        .filter(access::readable_settings(viewer))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("settings"))
}

/// Changes to a profile: absent fields stay, a null name or avatar clears it.
#[derive(Debug, Default)]
pub struct ProfilePatch {
    pub display_name: UnrequiredNullableField<String>,
    pub full_name: UnrequiredNullableField<String>,
    pub avatar_url: UnrequiredNullableField<String>,
    pub onboarding_completed: UnrequiredField<bool>,
    pub onboarding: UnrequiredField<serde_json::Value>,
}

/// Applies `patch` to the viewer's profile in one write scoped by `editable_profiles`
/// (the viewer's own row needs no read first).
pub async fn update_profile(
    db: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    patch: AppResult<ProfilePatch>,
) -> AppResult<profile::Model> {
    let id = access::require_user(viewer)?;
    let patch = patch?;
    for value in [&patch.display_name, &patch.full_name, &patch.avatar_url]
        .into_iter()
        .filter_map(UnrequiredNullableField::value)
    {
        crate::validate::text_len("profile field", value, 2048)?;
    }
    let mut row = profile::ActiveModel {
        id: Unchanged(id),
        ..Default::default()
    };
    patch.display_name.apply(&mut row.display_name);
    patch.full_name.apply(&mut row.full_name);
    patch.avatar_url.apply(&mut row.avatar_url);
    patch
        .onboarding_completed
        .apply(&mut row.onboarding_completed);
    patch.onboarding.apply(&mut row.onboarding);
    row.updated_at = Set(db::now());
    let txn = db::begin_write(db).await?;
    let updated = patch::write(&txn, row, access::editable_profiles(viewer), || {
        AppError::not_found("profile")
    })
    .await?;
    crate::realtime::commit(txn, &[crate::realtime::Event::profile(updated.id)]).await?;
    Ok(updated)
}

/// Changes to settings: absent fields stay, a null model, prompt, language or timezone
/// clears it.
#[derive(Debug, Default)]
pub struct SettingsPatch {
    pub model: UnrequiredNullableField<String>,
    pub system_prompt: UnrequiredNullableField<String>,
    pub theme: UnrequiredField<serde_json::Value>,
    pub language: UnrequiredNullableField<String>,
    pub timezone: UnrequiredNullableField<String>,
    pub notifications: UnrequiredField<serde_json::Value>,
    pub features: UnrequiredField<serde_json::Value>,
}

/// Applies `patch` to the viewer's settings in one write scoped by `editable_settings`.
pub async fn update_settings(
    db: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    patch: AppResult<SettingsPatch>,
) -> AppResult<settings::Model> {
    let id = access::require_user(viewer)?;
    let patch = patch?;
    let mut row = settings::ActiveModel {
        user_id: Unchanged(id),
        ..Default::default()
    };
    patch.model.apply(&mut row.model);
    patch.system_prompt.apply(&mut row.system_prompt);
    patch.theme.apply(&mut row.theme);
    patch.language.apply(&mut row.language);
    patch.timezone.apply(&mut row.timezone);
    patch.notifications.apply(&mut row.notifications);
    patch.features.apply(&mut row.features);
    row.updated_at = Set(db::now());
    let txn = db::begin_write(db).await?;
    let updated = patch::write(&txn, row, access::editable_settings(viewer), || {
        AppError::not_found("settings")
    })
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Removes the viewer and everything the viewer owns (rows cascade from the profile).
pub async fn delete_account(db: &sea_orm::DatabaseConnection, viewer: &Viewer) -> AppResult<Uuid> {
    let id = access::require_user(viewer)?;
    let txn = db::begin_write(db).await?;
    let events = account_deletion_events(&txn, viewer, id).await?;
    crate::domain::teams::leave_all_teams(&txn, id).await?;
    let deleted = profile::Entity::delete_many()
        .filter(access::editable_profiles(viewer))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::not_found("account"));
    }
    crate::realtime::commit(txn, &events).await?;
    Ok(id)
}

/// What subscribers learn of an account deletion, captured before the rows cascade from
/// the profile: its conversations are deleted (for everyone who could read them), the
/// chats filed in its team projects lose those teams' readers, its tasks and goals are
/// deleted, and the user loses their teams' chats.
async fn account_deletion_events(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    user: Uuid,
) -> AppResult<Vec<Event>> {
    let mut events = Vec::new();
    let conversations =
        access::readers_of_conversations(db, access::own_conversations(viewer)).await?;
    let mut conversations: Vec<_> = conversations.into_iter().collect();
    conversations.sort_by_key(|(id, _)| *id);
    for (conversation, readers) in conversations {
        events.push(Event::conversation_deleted(conversation, &readers));
    }
    let filed =
        crate::domain::projects::team_filed_chats(db, access::projects_owned_by(user)).await?;
    events.extend(filed.into_iter().map(Event::conversation_access));
    let tasks: Vec<Uuid> = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(access::own_tasks(viewer))
        .into_tuple()
        .all(db)
        .await?;
    events.extend(tasks.into_iter().map(|t| Event::task_deleted(t, user)));
    let goals: Vec<Uuid> = goal::Entity::find()
        .select_only()
        .column(goal::Column::Id)
        .filter(access::editable_goals(viewer))
        .into_tuple()
        .all(db)
        .await?;
    events.extend(goals.into_iter().map(|g| Event::goal_deleted(g, user)));
    events.push(Event::user_access(user));
    Ok(events)
}
