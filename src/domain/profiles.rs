//! Profiles, settings and accounts: the user's own rows.

use entity::{profile, settings};
use sea_orm::sea_query::{Expr, OnConflict, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::access;
use crate::auth::{UserClaims, Viewer};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::validate::empty_object;

/// Creates the user's profile, settings and credit account (with `signup_credits`) on
/// their first request (email from the token). Afterwards it is one lookup.
pub async fn ensure_user(
    db: &sea_orm::DatabaseConnection,
    user: &UserClaims,
    signup_credits: u32,
) -> AppResult<()> {
    let exists = profile::Entity::find_by_id(user.id)
        .select_only()
        .column(profile::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let now = db::now();
    let txn = db::begin_write(db).await?;
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

/// Changes to a profile: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct ProfilePatch {
    pub display_name: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub onboarding_completed: Option<bool>,
    pub onboarding: Option<serde_json::Value>,
}

pub async fn update_profile(
    db: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    patch: ProfilePatch,
) -> AppResult<profile::Model> {
    access::require_user(viewer)?;
    for value in [&patch.display_name, &patch.full_name, &patch.avatar_url]
        .into_iter()
        .flatten()
        .flatten()
    {
        crate::validate::text_len("profile field", value, 2048)?;
    }
    let txn = db::begin_write(db).await?;
    let current = own_profile(&txn, viewer).await?;
    let mut row: profile::ActiveModel = current.into();
    if let Some(v) = patch.display_name {
        row.display_name = Set(v);
    }
    if let Some(v) = patch.full_name {
        row.full_name = Set(v);
    }
    if let Some(v) = patch.avatar_url {
        row.avatar_url = Set(v);
    }
    if let Some(v) = patch.onboarding_completed {
        row.onboarding_completed = Set(v);
    }
    if let Some(v) = patch.onboarding {
        row.onboarding = Set(v);
    }
    row.updated_at = Set(db::now());
    let updated = row.update(&txn).await?;
    crate::realtime::commit(txn, &[crate::realtime::Event::profile(updated.id)]).await?;
    Ok(updated)
}

/// Changes to settings: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct SettingsPatch {
    pub model: Option<Option<String>>,
    pub system_prompt: Option<Option<String>>,
    pub theme: Option<serde_json::Value>,
    pub language: Option<Option<String>>,
    pub timezone: Option<Option<String>>,
    pub notifications: Option<serde_json::Value>,
    pub features: Option<serde_json::Value>,
}

pub async fn update_settings(
    db: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    patch: SettingsPatch,
) -> AppResult<settings::Model> {
    access::require_user(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = own_settings(&txn, viewer).await?;
    let mut row: settings::ActiveModel = current.into();
    if let Some(v) = patch.model {
        row.model = Set(v);
    }
    if let Some(v) = patch.system_prompt {
        row.system_prompt = Set(v);
    }
    if let Some(v) = patch.theme {
        row.theme = Set(v);
    }
    if let Some(v) = patch.language {
        row.language = Set(v);
    }
    if let Some(v) = patch.timezone {
        row.timezone = Set(v);
    }
    if let Some(v) = patch.notifications {
        row.notifications = Set(v);
    }
    if let Some(v) = patch.features {
        row.features = Set(v);
    }
    row.updated_at = Set(db::now());
    let updated = row.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Removes the viewer and everything the viewer owns (rows cascade from the profile).
pub async fn delete_account(db: &sea_orm::DatabaseConnection, viewer: &Viewer) -> AppResult<Uuid> {
    let id = access::require_user(viewer)?;
    let txn = db::begin_write(db).await?;
    crate::domain::teams::leave_all_teams(&txn, id).await?;
    let deleted = profile::Entity::delete_many()
        .filter(access::editable_profiles(viewer))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::not_found("account"));
    }
    txn.commit().await?;
    Ok(id)
}
