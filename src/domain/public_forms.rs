//! [public]: the waitlist and site visits, open to anyone (anonymous included) for
//! writing; only the service role reads the waitlist. Joining is idempotent per email,
//! ignoring case: a repeat succeeds and changes nothing.

use entity::{site_visit, waitlist_entry};
use sea_orm::sea_query::{Expr, OnConflict, SelectStatement};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, QueryFilter, QueryTrait};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::error::AppResult;
use crate::paging::{KeyKind, Keyed, Sort};
use crate::validate;

impl Keyed for waitlist_entry::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const PATH_MAX: usize = 2_048;
const USER_AGENT_MAX: usize = 1_024;

/// Adds the email to the waitlist unless it is there already (in any case).
pub async fn join_waitlist(db: &DatabaseConnection, email: &str) -> AppResult<bool> {
    let email = validate::valid_email(email)?;
    let txn = db::begin_write(db).await?;
    waitlist_entry::Entity::insert(waitlist_entry::ActiveModel {
        id: Set(Uuid::new_v4()),
        email_key: Set(email.to_lowercase()),
        email: Set(email),
        created_at: Set(db::now()),
    })
    .on_conflict(
        OnConflict::column(waitlist_entry::Column::EmailKey)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

#[derive(Debug, Clone)]
pub struct SiteVisit {
    pub path: String,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
}

/// Records a page view, attributed to the signed-in user if there is one.
pub async fn record_site_visit(
    db: &DatabaseConnection,
    viewer: &Viewer,
    visit: SiteVisit,
) -> AppResult<bool> {
    let path = validate::required_text("path", &visit.path, PATH_MAX)?;
    if let Some(r) = &visit.referrer {
        validate::text_len("referrer", r, PATH_MAX)?;
    }
    let user_agent = visit
        .user_agent
        .map(|ua| ua.chars().take(USER_AGENT_MAX).collect::<String>());
    let user_id = match viewer {
        Viewer::User(user) => Some(user.id),
        _ => None,
    };
    let txn = db::begin_write(db).await?;
    site_visit::Entity::insert(site_visit::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        path: Set(path),
        referrer: Set(visit.referrer),
        user_agent: Set(user_agent),
        created_at: Set(db::now()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The waitlist: oldest first (the order people joined).
pub fn waitlist_sort() -> Sort {
    Sort::new(
        "waitlist:created_asc",
        Expr::col((waitlist_entry::Entity, waitlist_entry::Column::Id)),
    )
    .then(
        Expr::col((waitlist_entry::Entity, waitlist_entry::Column::CreatedAt)),
        false,
        KeyKind::Timestamp,
    )
}

/// The select behind `waitlistEntries`: the service role only (`FORBIDDEN` otherwise).
pub fn waitlist_query(viewer: &Viewer) -> AppResult<SelectStatement> {
    access::require_service(viewer)?;
    Ok(waitlist_entry::Entity::find()
        .filter(access::readable_waitlist_entries(viewer))
        .into_query())
}
