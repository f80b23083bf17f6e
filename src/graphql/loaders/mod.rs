//! Per-request dataloaders. Each carries the request's viewer and takes its rows from a
//! scoped select of a domain module (which takes its condition from `access`); a loader
//! writes no access condition of its own. One statement per loader per level of the
//! query, for all parents together; batches run through `graphql::local_tasks`, each in
//! a `loader` span (`traced`).
//!
//! Nested connections page through the one generic loader in `pages`; the lists it
//! serves are declared here, each as a few lines of [`PageList`].

mod pages;
mod traced;

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::enums::TeamRole;
use entity::{conversation, message, profile, project, team, team_member};
use sea_orm::sea_query::{Expr, ExprTrait, SelectStatement};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::domain::conversations::{self, ConversationOrder, MessageColumns};
use crate::domain::projects::{self, ProjectOrder};
use crate::domain::{files, profiles, tasks, teams};
use crate::graphql::connection::CountKey;
use crate::graphql::local_tasks::LocalTasks;
use crate::paging::{self, Sort};

use pages::shared;
pub use pages::{LoadError, PageList, Pages, Scope};
use traced::Traced;

/// The loaders of one request.
pub struct Loaders {
    pub chat_pages: Pages<ProjectChats>,
    pub message_pages: Pages<ConversationMessages>,
    pub member_pages: Pages<TeamMembers>,
    pub team_project_pages: Pages<TeamProjects>,
    pub last_messages: DataLoader<Traced<LastMessages>>,
    pub counts: DataLoader<Traced<Counts>>,
    pub public_profiles: DataLoader<Traced<PublicProfiles>>,
    pub chat_projects: DataLoader<Traced<ChatProjects>>,
    pub conversations: DataLoader<Traced<Conversations>>,
    pub team_roles: DataLoader<Traced<TeamRoles>>,
    pub teams: DataLoader<Traced<Teams>>,
    pub task_logs: DataLoader<Traced<TaskLogs>>,
    pub file_pages: Pages<ProjectFiles>,
    pub attachment_pages: Pages<ConversationAttachments>,
}

impl Loaders {
    /// Loaders whose batches run through `tasks` (see `local_tasks`).
    pub fn new(scope: Scope, tasks: &LocalTasks) -> Self {
        let s = || scope.clone();
        Loaders {
            chat_pages: Pages::new(s(), tasks),
            message_pages: Pages::new(s(), tasks),
            member_pages: Pages::new(s(), tasks),
            team_project_pages: Pages::new(s(), tasks),
            last_messages: DataLoader::new(Traced(LastMessages(s())), tasks.spawner()),
            counts: DataLoader::new(Traced(Counts(s())), tasks.spawner()),
            public_profiles: DataLoader::new(Traced(PublicProfiles(s())), tasks.spawner()),
            chat_projects: DataLoader::new(Traced(ChatProjects(s())), tasks.spawner()),
            conversations: DataLoader::new(Traced(Conversations(s())), tasks.spawner()),
            team_roles: DataLoader::new(Traced(TeamRoles(s())), tasks.spawner()),
            teams: DataLoader::new(Traced(Teams(s())), tasks.spawner()),
            task_logs: DataLoader::new(Traced(TaskLogs(s())), tasks.spawner()),
            file_pages: Pages::new(s(), tasks),
            attachment_pages: Pages::new(s(), tasks),
        }
    }
}

/// `Project.chats`: readable chats filed in each project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProjectChats {}

impl PageList for ProjectChats {
    type Model = conversation::Model;
    type Order = ConversationOrder;
    type Columns = ();
    fn rows(viewer: &Viewer, (): ()) -> (SelectStatement, Expr) {
        conversations::project_chats_query(viewer)
    }
    fn both((): (), (): ()) {}
    fn sort(order: ConversationOrder) -> Sort {
        order.sort()
    }
}

/// `Conversation.messages`: readable messages of each chat, by sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConversationMessages {}

impl PageList for ConversationMessages {
    type Model = message::Model;
    type Order = ();
    type Columns = MessageColumns;
    fn rows(viewer: &Viewer, columns: MessageColumns) -> (SelectStatement, Expr) {
        conversations::readable_messages_query(viewer, columns)
    }
    fn both(a: MessageColumns, b: MessageColumns) -> MessageColumns {
        a.and(b)
    }
    fn sort((): ()) -> Sort {
        conversations::message_sort()
    }
}

/// `Team.members`: readable memberships of each team, by join date.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TeamMembers {}

impl PageList for TeamMembers {
    type Model = team_member::Model;
    type Order = ();
    type Columns = ();
    fn rows(viewer: &Viewer, (): ()) -> (SelectStatement, Expr) {
        teams::readable_members_query(viewer)
    }
    fn both((): (), (): ()) {}
    fn sort((): ()) -> Sort {
        teams::member_sort()
    }
}

/// `Team.projects`: readable, not deleted projects of each team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TeamProjects {}

impl PageList for TeamProjects {
    type Model = project::Model;
    type Order = ProjectOrder;
    type Columns = ();
    fn rows(viewer: &Viewer, (): ()) -> (SelectStatement, Expr) {
        teams::team_projects_query(viewer)
    }
    fn both((): (), (): ()) {}
    fn sort(order: ProjectOrder) -> Sort {
        order.sort()
    }
}

/// `Project.files`: readable files of each project, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProjectFiles {}

impl PageList for ProjectFiles {
    type Model = entity::stored_file::Model;
    type Order = ();
    type Columns = ();
    fn rows(viewer: &Viewer, (): ()) -> (SelectStatement, Expr) {
        files::project_files_query(viewer)
    }
    fn both((): (), (): ()) {}
    fn sort((): ()) -> Sort {
        files::file_sort()
    }
}

/// `Conversation.attachments`: readable attachments of each chat, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConversationAttachments {}

impl PageList for ConversationAttachments {
    type Model = entity::stored_file::Model;
    type Order = ();
    type Columns = ();
    fn rows(viewer: &Viewer, (): ()) -> (SelectStatement, Expr) {
        files::conversation_attachments_query(viewer)
    }
    fn both((): (), (): ()) {}
    fn sort((): ()) -> Sort {
        files::file_sort()
    }
}

/// The rows of a scoped select whose key expression is one of `keys`, in one statement.
async fn rows_by_key<M: FromQueryResult>(
    scope: &Scope,
    (mut select, key): (SelectStatement, Expr),
    keys: &[Uuid],
) -> Result<Vec<M>, LoadError> {
    select.and_where(key.is_in(keys.iter().copied()));
    let rows = scope
        .db
        .query_all(&select)
        .await
        .map_err(|e| shared(e.into()))?;
    rows.iter()
        .map(|row| M::from_query_result(row, "").map_err(|e| shared(e.into())))
        .collect()
}

/// `Conversation.lastMessage`: the message with the highest sequence, with at least the
/// key's columns: the first row of each chat's messages in reverse order, one per chat by
/// its own `LIMIT 1` on Postgres.
pub struct LastMessages(Scope);

impl Loader<(Uuid, MessageColumns)> for LastMessages {
    type Value = message::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Uuid, MessageColumns)],
    ) -> Result<HashMap<(Uuid, MessageColumns), Self::Value>, Self::Error> {
        let mut columns = MessageColumns::default();
        let mut parents = Vec::with_capacity(keys.len());
        for (parent, wanted) in keys {
            columns = columns.and(*wanted);
            parents.push(*parent);
        }
        parents.sort_unstable();
        parents.dedup();
        let (base, parent) = ConversationMessages::rows(&self.0.viewer, columns);
        let sort = ConversationMessages::sort(());
        let mut last = paging::fetch_window_heads::<message::Model>(
            &self.0.db, base, parent, &parents, &sort, true,
        )
        .await
        .map_err(shared)?;
        let mut out = HashMap::with_capacity(keys.len());
        // A chat asked for with different columns: copied for all but its last key.
        for (i, key) in keys.iter().enumerate() {
            let again = keys[i + 1..].iter().any(|later| later.0 == key.0);
            let found = if again {
                last.get(&key.0).cloned()
            } else {
                last.remove(&key.0)
            };
            if let Some(message) = found {
                out.insert(*key, message);
            }
        }
        Ok(out)
    }
}

/// `totalCount` of nested connections: one grouped count per list.
pub struct Counts(Scope);

impl Counts {
    /// Counts `parents`' rows of list `L` into `out` under `key`.
    async fn count<L: PageList>(
        &self,
        parents: &[Uuid],
        key: fn(Uuid) -> CountKey,
        out: &mut HashMap<CountKey, i64>,
    ) -> Result<(), LoadError> {
        let counts = pages::counts::<L>(&self.0, parents).await?;
        for id in parents {
            out.insert(key(*id), counts.get(id).copied().unwrap_or(0));
        }
        Ok(())
    }
}

impl Loader<CountKey> for Counts {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[CountKey]) -> Result<HashMap<CountKey, i64>, Self::Error> {
        let mut chats = Vec::new();
        let mut messages = Vec::new();
        let mut members = Vec::new();
        let mut team_projects = Vec::new();
        let mut project_files = Vec::new();
        let mut attachments = Vec::new();
        for key in keys {
            match key {
                CountKey::ProjectChats(id) => chats.push(*id),
                CountKey::ConversationMessages(id) => messages.push(*id),
                CountKey::TeamMembers(id) => members.push(*id),
                CountKey::TeamProjects(id) => team_projects.push(*id),
                CountKey::ProjectFiles(id) => project_files.push(*id),
                CountKey::ConversationAttachments(id) => attachments.push(*id),
            }
        }
        let mut out = HashMap::new();
        self.count::<TeamMembers>(&members, CountKey::TeamMembers, &mut out)
            .await?;
        self.count::<TeamProjects>(&team_projects, CountKey::TeamProjects, &mut out)
            .await?;
        self.count::<ProjectChats>(&chats, CountKey::ProjectChats, &mut out)
            .await?;
        self.count::<ConversationMessages>(&messages, CountKey::ConversationMessages, &mut out)
            .await?;
        self.count::<ProjectFiles>(&project_files, CountKey::ProjectFiles, &mut out)
            .await?;
        self.count::<ConversationAttachments>(
            &attachments,
            CountKey::ConversationAttachments,
            &mut out,
        )
        .await?;
        Ok(out)
    }
}

/// Public profiles (project owners, team members) the viewer may see.
pub struct PublicProfiles(Scope);

impl Loader<Uuid> for PublicProfiles {
    type Value = profile::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let select = profiles::public_profiles_query(&self.0.viewer);
        let rows: Vec<profile::Model> = rows_by_key(&self.0, select, keys).await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// `Conversation.projects`: readable, not deleted projects holding each chat.
pub struct ChatProjects(Scope);

impl Loader<Uuid> for ChatProjects {
    type Value = Vec<project::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let (base, parent) = projects::chat_projects_query(&self.0.viewer);
        let mut grouped = paging::fetch_grouped(&self.0.db, base, parent, keys)
            .await
            .map_err(shared)?;
        Ok(keys
            .iter()
            .map(|k| (*k, grouped.remove(k).unwrap_or_default()))
            .collect())
    }
}

/// Conversations by id, scoped to the readable ones (`Message.conversation`).
pub struct Conversations(Scope);

impl Loader<Uuid> for Conversations {
    type Value = conversation::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let select = conversations::readable_conversations_query(&self.0.viewer);
        let rows: Vec<conversation::Model> = rows_by_key(&self.0, select, keys).await?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The viewer's role in each team (absent where they are not a member).
pub struct TeamRoles(Scope);

impl Loader<Uuid> for TeamRoles {
    type Value = TeamRole;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let select = teams::own_memberships_query(&self.0.viewer);
        let rows: Vec<team_member::Model> = rows_by_key(&self.0, select, keys).await?;
        Ok(rows.into_iter().map(|m| (m.team_id, m.role)).collect())
    }
}

/// Teams by id, scoped to the readable ones (`Project.team`).
pub struct Teams(Scope);

impl Loader<Uuid> for Teams {
    type Value = team::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let select = teams::readable_teams_query(&self.0.viewer);
        let rows: Vec<team::Model> = rows_by_key(&self.0, select, keys).await?;
        Ok(rows.into_iter().map(|t| (t.id, t)).collect())
    }
}

/// `Task.logs`: the log lines of every task of a query level, in one statement.
pub struct TaskLogs(Scope);

impl Loader<Uuid> for TaskLogs {
    type Value = Vec<entity::task_log::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let (base, parent) = tasks::readable_logs_query(&self.0.viewer);
        let mut grouped = paging::fetch_grouped(&self.0.db, base, parent, keys)
            .await
            .map_err(shared)?;
        Ok(keys
            .iter()
            .map(|k| (*k, grouped.remove(k).unwrap_or_default()))
            .collect())
    }
}
