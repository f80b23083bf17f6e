//! Who may read and change which rows: the single source of ownership conditions.
//!
//! For each resource this module gives row conditions as sea-query `Condition`s over
//! table-qualified columns, so selects, updates and deletes reuse the same predicate.
//! Every query of user data in the gateway is scoped by one of these functions; nothing
//! else writes an ownership predicate. A row outside the readable condition does not exist
//! for the viewer: callers answer `null`, leave it out of lists, or fail with `NOT_FOUND`.
//! A row that is readable but outside the editable condition is `FORBIDDEN`.
//!
//! The names follow one scheme:
//!
//! | name | rows | service role | anonymous |
//! |---|---|---|---|
//! | `readable_*` | the viewer may read (fetch by id, nest, subscribe to) | all | public rows only, usually none |
//! | `editable_*` | the viewer may change | all | none |
//! | `deletable_*` | the viewer may delete, where narrower than editable | all | none |
//! | `own_*` | the viewer's own as a user: what a `viewer { … }` list shows, counts or bulk-changes | none | none |
//!
//! The service role acts for backends (agents reporting task progress, admin jobs), so it
//! may address any row by id, but it has no rows of its own to list.

use entity::enums::{ProjectStatus, TeamRole};
use entity::{
    conversation, credit_account, credit_transaction, goal, journal_entry, message, profile,
    progress_metric, project, project_conversation, settings, stored_file, task, task_log, team,
    team_member, workspace_file,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// A condition no row satisfies.
fn nothing() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// A condition every row satisfies.
fn everything() -> Condition {
    Condition::all()
}

fn col<E: EntityTrait, C: ColumnTrait>(entity: E, column: C) -> Expr {
    Expr::col((entity, column))
}

/// `key IN (first UNION ALL rest…)`: a row whose key one of the selects gives.
///
/// How every condition with more than one reason to see a row is written (own rows, a
/// team's rows, public rows): each select is a lookup one index serves (`owner_id = $u`,
/// `team_id IN (the user's teams)`), and the planner reads the few keys they give and
/// fetches those rows by key. The same condition as `reason OR reason`, which Postgres
/// cannot serve from an index when a reason is a subquery, so it scanned every user's
/// rows and filtered. A key given twice (an own project of one's team) is still one row.
fn key_in_any(key: Expr, first: SelectStatement, rest: Vec<SelectStatement>) -> Condition {
    let mut keys = first;
    for select in rest {
        keys.union(UnionType::All, select);
    }
    Condition::all().add(key.in_subquery(keys))
}

/// `SELECT table.key FROM table WHERE condition`: one branch of a `key_in_any`.
fn keys_where<E: EntityTrait, C: ColumnTrait>(
    entity: E,
    key: C,
    condition: Condition,
) -> SelectStatement {
    Query::select()
        .column((entity, key))
        .from(entity)
        .cond_where(condition)
        .to_owned()
}

/// The user behind the viewer, or `UNAUTHENTICATED` for the anonymous and `FORBIDDEN`
/// for the service role, which creates no user-owned rows.
pub fn require_user(viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::User(user) => Ok(user.id),
        Viewer::Anonymous => Err(AppError::user_required()),
        Viewer::Service => Err(AppError::Forbidden(
            "the service role creates no user-owned rows; act as a user".to_owned(),
        )),
    }
}

/// The user behind the viewer, for operations on "the viewer's own" rows that name no row
/// id (a path in their workspace, their tasks of some status): `UNAUTHENTICATED` for the
/// anonymous, `FORBIDDEN` for the service role, which has no rows of its own to address.
pub fn require_own_scope(viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::Service => Err(AppError::Forbidden(
            "the service role has no workspace or task list of its own; act as a user".to_owned(),
        )),
        _ => require_user(viewer),
    }
}

/// The viewer must be signed in (a user or the service role).
pub fn require_signed_in(viewer: &Viewer) -> AppResult<()> {
    match viewer {
        Viewer::Anonymous => Err(AppError::user_required()),
        _ => Ok(()),
    }
}

/// Only the service role may go on: `FORBIDDEN` for users and the anonymous alike.
pub fn require_service(viewer: &Viewer) -> AppResult<()> {
    match viewer {
        Viewer::Service => Ok(()),
        _ => Err(AppError::Forbidden(
            "only the service role may do this".to_owned(),
        )),
    }
}

/// Rows of a table keyed by a user id that belong to the viewer (profile, settings and
/// every other per-user table).
fn own_rows(viewer: &Viewer, owner: Expr) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::User(user) => Condition::all().add(owner.eq(user.id)),
        Viewer::Anonymous => nothing(),
    }
}

/// Full profiles the viewer may read: their own.
pub fn readable_profiles(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(profile::Entity, profile::Column::Id))
}

/// Profiles the viewer may change: their own.
pub fn editable_profiles(viewer: &Viewer) -> Condition {
    readable_profiles(viewer)
}

/// The profiles that must give up an email a user's token now shows: every profile but
/// that user's own that holds it (case-insensitively). Not a read permission: identity
/// follows the token, so the newest token to show an email decides who holds it, and
/// lookups by email (`addTeamMember`) reach only that user.
pub fn stale_email_holders(backend: DbBackend, user: Uuid, email: &str) -> Condition {
    Condition::all()
        .add(col(profile::Entity, profile::Column::Id).ne(user))
        .add(crate::db::equals_ignoring_case(
            backend,
            col(profile::Entity, profile::Column::Email),
            email,
        ))
}

/// Settings the viewer may read and change: their own.
pub fn readable_settings(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(settings::Entity, settings::Column::UserId))
}

/// Settings the viewer may change: their own.
pub fn editable_settings(viewer: &Viewer) -> Condition {
    readable_settings(viewer)
}

/// Public profiles the viewer may see: their own, the owners of projects they can read,
/// and the members of their teams.
pub fn readable_public_profiles(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => key_in_any(
            col(profile::Entity, profile::Column::Id),
            keys_where(
                profile::Entity,
                profile::Column::Id,
                readable_profiles(viewer),
            ),
            vec![
                keys_where(
                    project::Entity,
                    project::Column::OwnerId,
                    readable_projects(viewer),
                ),
                keys_where(
                    team_member::Entity,
                    team_member::Column::UserId,
                    readable_team_members(viewer),
                ),
            ],
        ),
    }
}

/// The ids of the teams where the user holds one of `roles`.
fn teams_of(user: Uuid, roles: &[TeamRole]) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((team_member::Entity, team_member::Column::TeamId))
        .from(team_member::Entity)
        .and_where(col(team_member::Entity, team_member::Column::UserId).eq(user))
        .and_where(col(team_member::Entity, team_member::Column::Role).is_in(roles.iter().copied()))
        .to_owned()
}

const ANY_ROLE: &[TeamRole] = &[TeamRole::Owner, TeamRole::Admin, TeamRole::Member];
const MANAGERS: &[TeamRole] = &[TeamRole::Owner, TeamRole::Admin];
const OWNERS: &[TeamRole] = &[TeamRole::Owner];

/// Projects of the teams where the user holds one of `roles`.
fn team_projects(user: Uuid, roles: &[TeamRole]) -> Condition {
    Condition::all()
        .add(col(project::Entity, project::Column::TeamId).in_subquery(teams_of(user, roles)))
}

/// Public projects that anyone may read: public and not deleted.
fn public_projects() -> Condition {
    Condition::all()
        .add(col(project::Entity, project::Column::IsPublic).eq(true))
        .add(col(project::Entity, project::Column::Status).ne(ProjectStatus::Deleted))
}

/// Projects the user owns, and those of the teams where they hold one of `roles`, and,
/// with `public`, public ones: as `key_in_any`, each branch an index lookup
/// (`projects_owner_idx`, `projects_team_idx`, `projects_public_idx`).
fn user_projects(user: Uuid, roles: &[TeamRole], public: bool) -> Condition {
    let ids = |condition: Condition| keys_where(project::Entity, project::Column::Id, condition);
    let mut rest = vec![ids(team_projects(user, roles))];
    if public {
        rest.push(ids(public_projects()));
    }
    key_in_any(
        col(project::Entity, project::Column::Id),
        ids(Condition::all().add(col(project::Entity, project::Column::OwnerId).eq(user))),
        rest,
    )
}

/// Projects the viewer may read: their own, their teams', and public ones.
pub fn readable_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => public_projects(),
        Viewer::User(user) => user_projects(user.id, ANY_ROLE, true),
    }
}

/// Projects that are the viewer's own or their teams': what `viewer.projects` lists.
pub fn own_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service | Viewer::Anonymous => nothing(),
        Viewer::User(user) => user_projects(user.id, ANY_ROLE, false),
    }
}

/// Projects whose fields, chats and files the viewer may change: their own, and their
/// teams' where they are OWNER or ADMIN.
pub fn editable_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => user_projects(user.id, MANAGERS, false),
    }
}

/// Projects the viewer may delete, restore or delete permanently: their own, and their
/// teams' where they are OWNER.
pub fn deletable_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => user_projects(user.id, OWNERS, false),
    }
}

/// How the viewer may use a project they can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ProjectAccess {
    Owner,
    Editor,
    Viewer,
}

/// The team whose role decides the viewer's access to `project` (see `project_access`):
/// a team project, read by a user who does not own it. Otherwise no role is needed.
pub fn deciding_team(viewer: &Viewer, project: &project::Model) -> Option<Uuid> {
    match viewer {
        Viewer::User(user) if user.id != project.owner_id => project.team_id,
        _ => None,
    }
}

/// The viewer's access to a project already known to be readable, given the viewer's
/// role in the project's team (if it has one and the viewer is in it).
pub fn project_access(
    viewer: &Viewer,
    project: &project::Model,
    team_role: Option<TeamRole>,
) -> ProjectAccess {
    match viewer {
        Viewer::Service => ProjectAccess::Owner,
        Viewer::User(user) if user.id == project.owner_id => ProjectAccess::Owner,
        Viewer::User(_) if matches!(team_role, Some(TeamRole::Owner | TeamRole::Admin)) => {
            ProjectAccess::Editor
        }
        _ => ProjectAccess::Viewer,
    }
}

/// Teams the viewer may read: those they are a member of.
pub fn readable_teams(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => Condition::all()
            .add(col(team::Entity, team::Column::Id).in_subquery(teams_of(user.id, ANY_ROLE))),
    }
}

/// Memberships the viewer may read: those of their teams.
pub fn readable_team_members(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => Condition::all().add(
            col(team_member::Entity, team_member::Column::TeamId)
                .in_subquery(teams_of(user.id, ANY_ROLE)),
        ),
    }
}

/// The viewer's own memberships (their role in each of their teams).
pub fn own_memberships(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => {
            Condition::all().add(col(team_member::Entity, team_member::Column::UserId).eq(user.id))
        }
        _ => nothing(),
    }
}

/// Whether the viewer is the user `user` (a member leaving a team acts on themselves).
pub fn is_viewer(viewer: &Viewer, user: Uuid) -> bool {
    matches!(viewer, Viewer::User(claims) if claims.id == user)
}

/// What the viewer may do in a team, from their role (the service role acts as OWNER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamPowers {
    pub role: TeamRole,
}

impl TeamPowers {
    pub fn of(viewer: &Viewer, role: Option<TeamRole>) -> Option<Self> {
        match viewer {
            Viewer::Service => Some(TeamPowers {
                role: TeamRole::Owner,
            }),
            _ => role.map(|role| TeamPowers { role }),
        }
    }

    /// Rename the team, add, change and remove members (ADMIN not over OWNERs).
    pub fn manages_members(&self) -> bool {
        matches!(self.role, TeamRole::Owner | TeamRole::Admin)
    }

    /// Act on a member holding `target` or give the role `target`.
    pub fn may_act_on(&self, target: TeamRole) -> bool {
        match self.role {
            TeamRole::Owner => true,
            TeamRole::Admin => target != TeamRole::Owner,
            TeamRole::Member => false,
        }
    }

    /// Delete the team.
    pub fn deletes_team(&self) -> bool {
        self.role == TeamRole::Owner
    }
}

/// The ids of the chats filed in projects of the user's teams.
fn team_chats(user: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
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
        .cond_where(team_projects(user, ANY_ROLE))
        .to_owned()
}

/// The ids of the conversations the user may read: their own (`conversations_owner_idx`)
/// and the chats filed in their teams' projects, as one `UNION ALL`.
fn readable_conversation_keys(user: Uuid) -> SelectStatement {
    let mut keys = keys_where(
        conversation::Entity,
        conversation::Column::Id,
        Condition::all().add(col(conversation::Entity, conversation::Column::OwnerId).eq(user)),
    );
    keys.union(UnionType::All, team_chats(user));
    keys
}

/// Conversations the viewer may read: their own, and the chats filed in projects of
/// their teams.
pub fn readable_conversations(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => Condition::all().add(
            col(conversation::Entity, conversation::Column::Id)
                .in_subquery(readable_conversation_keys(user.id)),
        ),
        _ => own_rows(
            viewer,
            col(conversation::Entity, conversation::Column::OwnerId),
        ),
    }
}

/// The ids of the conversations the viewer may read (`readable_conversations`) that also
/// satisfy `also` (a condition on `conversations` that is not about ownership), as one
/// select: for a user, their own chats `UNION` their teams' chats, `also` in each part.
/// For queries that start from the readable chats and go to their rows (search): the
/// planner sees the few ids they are, where the `OR` of `readable_conversations` reads as
/// half the table.
pub fn readable_conversation_ids(
    viewer: &Viewer,
    also: Condition,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::UnionType;
    let ids = |condition: Condition| {
        Query::select()
            .column((conversation::Entity, conversation::Column::Id))
            .from(conversation::Entity)
            .cond_where(condition)
            .cond_where(also.clone())
            .to_owned()
    };
    match viewer {
        Viewer::User(user) => {
            let mut own = ids(own_conversations(viewer));
            own.union(
                UnionType::Distinct,
                ids(Condition::all().add(
                    col(conversation::Entity, conversation::Column::Id)
                        .in_subquery(team_chats(user.id)),
                )),
            );
            own
        }
        _ => ids(readable_conversations(viewer)),
    }
}

/// Conversations the viewer may change: their own.
pub fn editable_conversations(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(conversation::Entity, conversation::Column::OwnerId),
    )
}

/// The viewer's own conversations: what `viewer.conversations` lists.
pub fn own_conversations(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => Condition::all()
            .add(col(conversation::Entity, conversation::Column::OwnerId).eq(user.id)),
        _ => nothing(),
    }
}

/// Messages of the conversations `conversations` selects.
fn messages_of(viewer: &Viewer, conversations: Condition) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => Condition::all().add(
            col(message::Entity, message::Column::ConversationId).in_subquery(
                Query::select()
                    .column((conversation::Entity, conversation::Column::Id))
                    .from(conversation::Entity)
                    .cond_where(conversations)
                    .to_owned(),
            ),
        ),
    }
}

/// Messages the viewer may read: those of readable conversations. For a user, their
/// conversation ids straight from `readable_conversation_keys` (every id it gives is a
/// conversation's: its team branch reads chat links, whose conversation is a foreign key).
pub fn readable_messages(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => Condition::all().add(
            col(message::Entity, message::Column::ConversationId)
                .in_subquery(readable_conversation_keys(user.id)),
        ),
        _ => messages_of(viewer, readable_conversations(viewer)),
    }
}

/// Messages the viewer may change: those of conversations they may change.
pub fn editable_messages(viewer: &Viewer) -> Condition {
    messages_of(viewer, editable_conversations(viewer))
}

/// Tasks the viewer may read: their own (the service role: any, so an agent backend can
/// report progress).
pub fn readable_tasks(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(task::Entity, task::Column::UserId))
}

/// Tasks the viewer may change: the same as those they may read.
pub fn editable_tasks(viewer: &Viewer) -> Condition {
    readable_tasks(viewer)
}

/// The viewer's own tasks: what `viewer.tasks` lists, counts and bulk-deletes.
pub fn own_tasks(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => {
            Condition::all().add(col(task::Entity, task::Column::UserId).eq(user.id))
        }
        _ => nothing(),
    }
}

/// The viewer's messages: those of their own conversations (what statistics count).
pub fn own_messages(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(_) => messages_of(viewer, own_conversations(viewer)),
        _ => nothing(),
    }
}

/// Log lines of the tasks the viewer may read.
pub fn readable_task_logs(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => Condition::all().add(
            col(task_log::Entity, task_log::Column::TaskId).in_subquery(
                Query::select()
                    .column((task::Entity, task::Column::Id))
                    .from(task::Entity)
                    .cond_where(readable_tasks(viewer))
                    .to_owned(),
            ),
        ),
    }
}

/// Workspace entries the viewer may read by id (the service role: any).
pub fn readable_workspace_files(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(workspace_file::Entity, workspace_file::Column::UserId),
    )
}

/// The viewer's own workspace tree: what paths address, lists show and writes change.
pub fn own_workspace_files(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => Condition::all()
            .add(col(workspace_file::Entity, workspace_file::Column::UserId).eq(user.id)),
        _ => nothing(),
    }
}

/// Goals the viewer may read: their own.
pub fn readable_goals(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(goal::Entity, goal::Column::UserId))
}

/// Goals the viewer may change: their own.
pub fn editable_goals(viewer: &Viewer) -> Condition {
    readable_goals(viewer)
}

/// Journal entries the viewer may read: their own.
pub fn readable_journal_entries(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(journal_entry::Entity, journal_entry::Column::UserId),
    )
}

/// Journal entries the viewer may change: their own.
pub fn editable_journal_entries(viewer: &Viewer) -> Condition {
    readable_journal_entries(viewer)
}

/// Progress metrics the viewer may read: their own.
pub fn readable_progress_metrics(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(progress_metric::Entity, progress_metric::Column::UserId),
    )
}

/// Progress metrics the viewer may change: their own.
pub fn editable_progress_metrics(viewer: &Viewer) -> Condition {
    readable_progress_metrics(viewer)
}

/// Credit accounts the viewer may read: their own. Balances change only through the
/// credits operations (spend own; grants by the service role).
pub fn readable_credit_accounts(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(credit_account::Entity, credit_account::Column::UserId),
    )
}

/// Ledger rows the viewer may read: their own.
pub fn readable_credit_transactions(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(
            credit_transaction::Entity,
            credit_transaction::Column::UserId,
        ),
    )
}

/// Waitlist entries the viewer may read: all for the service role, none for others.
pub fn readable_waitlist_entries(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => nothing(),
    }
}

/// [files] Stored files (project files, avatars, chat attachments) the viewer may read:
/// avatars (public), the files of projects they may read, and the attachments of
/// conversations they may read.
pub fn readable_stored_files(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => Condition::any()
            .add(col(stored_file::Entity, stored_file::Column::Bucket).eq(AVATARS_BUCKET))
            .add(
                col(stored_file::Entity, stored_file::Column::ProjectId).in_subquery(
                    Query::select()
                        .column((project::Entity, project::Column::Id))
                        .from(project::Entity)
                        .cond_where(readable_projects(viewer))
                        .to_owned(),
                ),
            )
            .add(
                col(stored_file::Entity, stored_file::Column::ConversationId).in_subquery(
                    Query::select()
                        .column((conversation::Entity, conversation::Column::Id))
                        .from(conversation::Entity)
                        .cond_where(readable_conversations(viewer))
                        .to_owned(),
                ),
            ),
    }
}

/// The bucket whose files anyone may read (`storage::Bucket::Avatars`).
pub const AVATARS_BUCKET: &str = "avatars";

/// The files the viewer uploaded: what counts against their quota, and their avatars.
pub fn own_stored_files(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => {
            Condition::all().add(col(stored_file::Entity, stored_file::Column::OwnerId).eq(user.id))
        }
        _ => nothing(),
    }
}

/// The one file a verified download signature names: for a private bucket the signature
/// is the permission (DESIGN.md, Files), so it reads that row and no other; a public
/// bucket's files are read by anyone.
pub fn signed_stored_file(id: Uuid, bucket: &str) -> Condition {
    Condition::all()
        .add(col(stored_file::Entity, stored_file::Column::Id).eq(id))
        .add(col(stored_file::Entity, stored_file::Column::Bucket).eq(bucket))
}

/// Who may read one row: the `readable_*` rules turned around (row → viewers instead of
/// viewer → rows), so the realtime dispatcher can decide for many subscribers with one
/// statement per event. Each constructor below names the condition it mirrors; tests check
/// that the two agree.
#[derive(Debug, Clone, Default)]
pub struct Readers {
    users: std::collections::HashSet<Uuid>,
    /// Whether the service role is among them (it reads every row, but lists none as
    /// its own).
    service: bool,
}

impl Readers {
    pub fn may_read(&self, viewer: &Viewer) -> bool {
        match viewer {
            Viewer::Service => self.service,
            Viewer::Anonymous => false,
            Viewer::User(user) => self.users.contains(&user.id),
        }
    }

    /// The users among them, sorted: what a deletion's event carries, captured in the
    /// deleting transaction.
    pub fn user_ids(&self) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self.users.iter().copied().collect();
        users.sort();
        users
    }

    /// The readers a deletion captured (`user_ids`) before its row was gone, with the
    /// service role, which reads every row.
    pub fn captured(users: &[Uuid]) -> Readers {
        Readers {
            users: users.iter().copied().collect(),
            service: true,
        }
    }
}

/// Readers of a row keyed by its user (`own_rows`: profile, tasks, goals, progress, ...):
/// that user, and the service role.
pub fn user_row_readers(owner: Uuid) -> Readers {
    Readers {
        users: std::collections::HashSet::from([owner]),
        service: true,
    }
}

/// Who lists a conversation among their own (`own_conversations`, what
/// `viewer.conversations` shows): its owner only; not teammates who may read it, not the
/// service role.
pub fn own_conversation_listers(row: &conversation::Model) -> Readers {
    Readers {
        users: std::collections::HashSet::from([row.owner_id]),
        service: false,
    }
}

/// Readers of a conversation and of its messages (`readable_conversations`): its owner and
/// every member of a team whose project holds it, in one statement.
pub async fn conversation_readers(
    db: &impl sea_orm::ConnectionTrait,
    conversation_id: Uuid,
) -> AppResult<Readers> {
    let mut readers = readers_of_conversations(
        db,
        Condition::all()
            .add(col(conversation::Entity, conversation::Column::Id).eq(conversation_id)),
    )
    .await?;
    Ok(readers.remove(&conversation_id).unwrap_or_else(|| Readers {
        users: Default::default(),
        service: true,
    }))
}

/// Readers (`readable_conversations`) of each conversation `which` selects (a condition on
/// `conversations`), in one statement: its owner and every member of a team whose project
/// holds it. A deletion captures them in its transaction, before the rows are gone.
pub async fn readers_of_conversations(
    db: &impl sea_orm::ConnectionTrait,
    which: Condition,
) -> AppResult<std::collections::HashMap<Uuid, Readers>> {
    use sea_orm::sea_query::{Alias, UnionType};
    let mut statement = Query::select()
        .expr_as(
            col(conversation::Entity, conversation::Column::Id),
            Alias::new("chat"),
        )
        .expr_as(
            col(conversation::Entity, conversation::Column::OwnerId),
            Alias::new("reader"),
        )
        .from(conversation::Entity)
        .cond_where(which.clone())
        .to_owned();
    let team_members = Query::select()
        .expr_as(
            col(conversation::Entity, conversation::Column::Id),
            Alias::new("chat"),
        )
        .expr_as(
            col(team_member::Entity, team_member::Column::UserId),
            Alias::new("reader"),
        )
        .from(team_member::Entity)
        .inner_join(
            project::Entity,
            col(project::Entity, project::Column::TeamId)
                .equals((team_member::Entity, team_member::Column::TeamId)),
        )
        .inner_join(
            project_conversation::Entity,
            col(
                project_conversation::Entity,
                project_conversation::Column::ProjectId,
            )
            .equals((project::Entity, project::Column::Id)),
        )
        .inner_join(
            conversation::Entity,
            col(conversation::Entity, conversation::Column::Id).equals((
                project_conversation::Entity,
                project_conversation::Column::ConversationId,
            )),
        )
        .cond_where(which)
        .and_where(
            col(team_member::Entity, team_member::Column::Role).is_in(ANY_ROLE.iter().copied()),
        )
        .to_owned();
    statement.union(UnionType::Distinct, team_members);
    let rows = db.query_all(&statement).await?;
    let mut readers: std::collections::HashMap<Uuid, Readers> = Default::default();
    for row in rows {
        let chat = row.try_get::<Uuid>("", "chat")?;
        readers
            .entry(chat)
            .or_insert_with(|| Readers {
                users: Default::default(),
                service: true,
            })
            .users
            .insert(row.try_get::<Uuid>("", "reader")?);
    }
    Ok(readers)
}

/// The projects an account takes with it when it is deleted (its profile's cascade): a
/// consequence of deleting, not a read permission.
pub fn projects_owned_by(user: Uuid) -> Condition {
    Condition::all().add(col(project::Entity, project::Column::OwnerId).eq(user))
}
