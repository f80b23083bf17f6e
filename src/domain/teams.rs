//! Teams and memberships. A team always keeps at least one OWNER; membership changes
//! take a lock on the team row first (Postgres; SQLite's IMMEDIATE transaction already
//! serializes writers), so two concurrent demotions cannot both pass the check.

use entity::enums::TeamRole;
use entity::{profile, project, team, team_member};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::access::{self, TeamPowers};
use crate::auth::Viewer;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::realtime::{self, Event};
use crate::validate;

impl Keyed for team::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

impl Keyed for team_member::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const NAME_MAX: usize = 200;

/// Teams by name (case-insensitive), then id.
pub fn team_sort() -> Sort {
    Sort::new("team:name", Expr::col((team::Entity, team::Column::Id))).then(
        Func::lower(Expr::col((team::Entity, team::Column::Name))).into(),
        false,
        KeyKind::Text,
    )
}

/// Members by when they joined, then id.
pub fn member_sort() -> Sort {
    Sort::new(
        "member:joined",
        Expr::col((team_member::Entity, team_member::Column::Id)),
    )
    .then(
        Expr::col((team_member::Entity, team_member::Column::JoinedAt)),
        false,
        KeyKind::Timestamp,
    )
}

/// The select behind `viewer.teams`.
pub fn viewer_teams_query(viewer: &Viewer) -> SelectStatement {
    team::Entity::find()
        .filter(access::readable_teams(viewer))
        .into_query()
}

/// Readable teams; the key expression is the team id.
pub fn readable_teams_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        team::Entity::find()
            .filter(access::readable_teams(viewer))
            .into_query(),
        Expr::col((team::Entity, team::Column::Id)),
    )
}

/// The viewer's own memberships; the key expression is the team id.
pub fn own_memberships_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        team_member::Entity::find()
            .filter(access::own_memberships(viewer))
            .into_query(),
        Expr::col((team_member::Entity, team_member::Column::TeamId)),
    )
}

/// Readable memberships; the parent expression is the team id.
pub fn readable_members_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        team_member::Entity::find()
            .filter(access::readable_team_members(viewer))
            .into_query(),
        Expr::col((team_member::Entity, team_member::Column::TeamId)),
    )
}

/// Readable, not deleted projects of teams; the parent expression is the team id.
pub fn team_projects_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        project::Entity::find()
            .filter(access::readable_projects(viewer))
            .filter(project::Column::TeamId.is_not_null())
            .filter(project::Column::Status.ne(entity::enums::ProjectStatus::Deleted))
            .into_query(),
        Expr::col((project::Entity, project::Column::TeamId)),
    )
}

pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<team::Model>> {
    Ok(team::Entity::find_by_id(id)
        .filter(access::readable_teams(viewer))
        .one(db)
        .await?)
}

/// The viewer's role in a team, if they are in it.
pub async fn viewer_role(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    team_id: Uuid,
) -> AppResult<Option<TeamRole>> {
    Ok(team_member::Entity::find()
        .filter(access::own_memberships(viewer))
        .filter(team_member::Column::TeamId.eq(team_id))
        .one(db)
        .await?
        .map(|m| m.role))
}

/// The team (`NOT_FOUND` unless readable), locked for the transaction, and the viewer's
/// powers in it. Membership changes go through here, so a write that needs the viewer to
/// stay a member until it commits (a new team project) calls it too.
pub(crate) async fn enter(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    team_id: Uuid,
) -> AppResult<(team::Model, TeamPowers)> {
    let mut select = team::Entity::find_by_id(team_id).filter(access::readable_teams(viewer));
    if db.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    let found = select
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("team"))?;
    let role = viewer_role(db, viewer, team_id).await?;
    let powers = TeamPowers::of(viewer, role).ok_or_else(|| AppError::not_found("team"))?;
    Ok((found, powers))
}

fn require_manager(powers: &TeamPowers) -> AppResult<()> {
    if !powers.manages_members() {
        return Err(AppError::Forbidden(
            "only the team's OWNERs and ADMINs may do this".to_owned(),
        ));
    }
    Ok(())
}

async fn membership(
    db: &impl ConnectionTrait,
    team_id: Uuid,
    user_id: Uuid,
) -> AppResult<Option<team_member::Model>> {
    Ok(team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(team_id))
        .filter(team_member::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

async fn owner_count(db: &impl ConnectionTrait, team_id: Uuid) -> AppResult<u64> {
    Ok(team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(team_id))
        .filter(team_member::Column::Role.eq(TeamRole::Owner))
        .count(db)
        .await?)
}

fn last_owner() -> AppError {
    AppError::Conflict("a team must keep at least one OWNER".to_owned())
}

pub async fn create_team(
    db: &DatabaseConnection,
    viewer: &Viewer,
    name: &str,
) -> AppResult<team::Model> {
    let user = access::require_user(viewer)?;
    let name = validate::required_text("name", name, NAME_MAX)?;
    let txn = db::begin_write(db).await?;
    let now = db::now();
    let created = team::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name),
        tier: Set("free".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let has_default = team_member::Entity::find()
        .filter(access::own_memberships(viewer))
        .filter(team_member::Column::IsDefault.eq(true))
        .count(&txn)
        .await?
        > 0;
    team_member::ActiveModel {
        id: Set(Uuid::new_v4()),
        team_id: Set(created.id),
        user_id: Set(user),
        role: Set(TeamRole::Owner),
        is_default: Set(!has_default),
        joined_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn update_team(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    name: &str,
) -> AppResult<team::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (found, powers) = enter(&txn, viewer, id).await?;
    require_manager(&powers)?;
    let name = validate::required_text("name", name, NAME_MAX)?;
    let mut row: team::ActiveModel = found.into();
    row.name = Set(name);
    row.updated_at = Set(db::now());
    let updated = row.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a team (OWNER only); its projects become their owners' personal projects.
pub async fn delete_team(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (_, powers) = enter(&txn, viewer, id).await?;
    if !powers.deletes_team() {
        return Err(AppError::Forbidden(
            "only the team's OWNERs may delete it".to_owned(),
        ));
    }
    let members = remove_team(&txn, id).await?;
    // Its members read its projects' chats through it.
    let events: Vec<Event> = members.into_iter().map(Event::user_access).collect();
    realtime::commit(txn, &events).await?;
    Ok(id)
}

/// Detaches the team's projects and deletes the team with its memberships; returns the
/// users who were its members.
async fn remove_team(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Vec<Uuid>> {
    let detach = Query::update()
        .table(project::Entity)
        .value(project::Column::TeamId, Option::<Uuid>::None)
        .and_where(Expr::col((project::Entity, project::Column::TeamId)).eq(id))
        .to_owned();
    db.execute(&detach).await?;
    let members = team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(id))
        .exec_with_returning(db)
        .await?;
    team::Entity::delete_by_id(id).exec(db).await?;
    Ok(members.into_iter().map(|m| m.user_id).collect())
}

/// Adds a user who has signed in before, found by email (case-insensitive, Unicode-aware).
/// An email belongs to one profile at a time: the one whose token showed it last
/// (`profiles::ensure_user`), so an address that moved to another account reaches that
/// account, never the one that held it before.
pub async fn add_member(
    db: &DatabaseConnection,
    viewer: &Viewer,
    team_id: Uuid,
    email: &str,
    role: TeamRole,
) -> AppResult<team_member::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (_, powers) = enter(&txn, viewer, team_id).await?;
    require_manager(&powers)?;
    if !powers.may_act_on(role) {
        return Err(AppError::Forbidden("only an OWNER grants OWNER".to_owned()));
    }
    let email = validate::valid_email(email)?;
    let email = email.as_str();
    // Looking a user up by email is a team-management power, not a profile read.
    let user = profile::Entity::find()
        .filter(db::equals_ignoring_case(
            txn.get_database_backend(),
            Expr::col((profile::Entity, profile::Column::Email)),
            email,
        ))
        .order_by_asc(profile::Column::CreatedAt)
        .one(&txn)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(
                "no user with that email has signed in yet; they must sign in once first"
                    .to_owned(),
            )
        })?;
    if membership(&txn, team_id, user.id).await?.is_some() {
        return Err(AppError::Conflict(
            "that user is already in the team".to_owned(),
        ));
    }
    let added = team_member::ActiveModel {
        id: Set(Uuid::new_v4()),
        team_id: Set(team_id),
        user_id: Set(user.id),
        role: Set(role),
        is_default: Set(false),
        joined_at: Set(db::now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(added)
}

pub async fn update_member(
    db: &DatabaseConnection,
    viewer: &Viewer,
    team_id: Uuid,
    user_id: Uuid,
    role: TeamRole,
) -> AppResult<team_member::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (_, powers) = enter(&txn, viewer, team_id).await?;
    let target = membership(&txn, team_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("team member"))?;
    require_manager(&powers)?;
    if !powers.may_act_on(target.role) || !powers.may_act_on(role) {
        return Err(AppError::Forbidden(
            "an ADMIN cannot act on OWNERs or grant OWNER".to_owned(),
        ));
    }
    if target.role == TeamRole::Owner
        && role != TeamRole::Owner
        && owner_count(&txn, team_id).await? <= 1
    {
        return Err(last_owner());
    }
    let mut row: team_member::ActiveModel = target.into();
    row.role = Set(role);
    let updated = row.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Removes a member; any member may remove themselves unless they are the last OWNER.
pub async fn remove_member(
    db: &DatabaseConnection,
    viewer: &Viewer,
    team_id: Uuid,
    user_id: Uuid,
) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (_, powers) = enter(&txn, viewer, team_id).await?;
    let target = membership(&txn, team_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("team member"))?;
    if !access::is_viewer(viewer, user_id) {
        require_manager(&powers)?;
        if !powers.may_act_on(target.role) {
            return Err(AppError::Forbidden(
                "an ADMIN cannot remove an OWNER".to_owned(),
            ));
        }
    }
    if target.role == TeamRole::Owner && owner_count(&txn, team_id).await? <= 1 {
        return Err(last_owner());
    }
    team_member::Entity::delete_by_id(target.id)
        .exec(&txn)
        .await?;
    realtime::commit(txn, &[Event::user_access(user_id)]).await?;
    Ok(user_id)
}

/// Makes a team the viewer's default (only one default per user).
pub async fn set_default(
    db: &DatabaseConnection,
    viewer: &Viewer,
    team_id: Uuid,
) -> AppResult<team::Model> {
    access::require_user(viewer)?;
    let txn = db::begin_write(db).await?;
    let (found, _) = enter(&txn, viewer, team_id).await?;
    let clear = Query::update()
        .table(team_member::Entity)
        .value(team_member::Column::IsDefault, false)
        .cond_where(access::own_memberships(viewer))
        .to_owned();
    txn.execute(&clear).await?;
    let set = Query::update()
        .table(team_member::Entity)
        .value(team_member::Column::IsDefault, true)
        .cond_where(access::own_memberships(viewer))
        .and_where(Expr::col((team_member::Entity, team_member::Column::TeamId)).eq(team_id))
        .to_owned();
    txn.execute(&set).await?;
    txn.commit().await?;
    Ok(found)
}

/// Before an account is deleted: in each team the user leaves, if they were the last
/// OWNER the longest-standing remaining member becomes OWNER; a team left empty is
/// deleted. The user's teams are locked first ([`lock_teams_of`]), so a concurrent
/// deletion, leave or demotion in the same team waits and then sees this one's result.
pub async fn leave_all_teams(db: &impl ConnectionTrait, user: Uuid) -> AppResult<()> {
    let memberships = lock_teams_of(db, user).await?;
    for m in memberships {
        let others = team_member::Entity::find()
            .filter(team_member::Column::TeamId.eq(m.team_id))
            .filter(team_member::Column::UserId.ne(user))
            .order_by_asc(team_member::Column::JoinedAt)
            .order_by_asc(team_member::Column::Id)
            .all(db)
            .await?;
        if others.is_empty() {
            remove_team(db, m.team_id).await?;
            continue;
        }
        if m.role == TeamRole::Owner && !others.iter().any(|o| o.role == TeamRole::Owner) {
            let mut heir: team_member::ActiveModel = others[0].clone().into();
            heir.role = Set(TeamRole::Owner);
            heir.update(db).await?;
        }
    }
    Ok(())
}

/// Locks the rows of every team `user` is in (Postgres: `FOR UPDATE`, in id order, so
/// two deletions sharing teams cannot deadlock; every membership change locks its team
/// through [`enter`] too) and returns the user's memberships as they are once the locks
/// are held. A membership committed while locking (the user added to another team) is
/// locked in a further round. On SQLite the IMMEDIATE write transaction already
/// serialises writers: one read.
async fn lock_teams_of(
    db: &impl ConnectionTrait,
    user: Uuid,
) -> AppResult<Vec<team_member::Model>> {
    let mut locked = std::collections::BTreeSet::new();
    loop {
        let memberships = team_member::Entity::find()
            .filter(team_member::Column::UserId.eq(user))
            .order_by_asc(team_member::Column::TeamId)
            .all(db)
            .await?;
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(memberships);
        }
        let unlocked: Vec<Uuid> = memberships
            .iter()
            .map(|m| m.team_id)
            .filter(|id| !locked.contains(id))
            .collect();
        if unlocked.is_empty() {
            return Ok(memberships);
        }
        // ORDER BY runs below the row locks: rows are locked in id order.
        team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .filter(team::Column::Id.is_in(unlocked.iter().copied()))
            .order_by_asc(team::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .all(db)
            .await?;
        locked.extend(unlocked);
    }
}
