//! Per-request dataloaders. Each carries the request's viewer, so every batch is scoped
//! by the `access` module; one statement per loader per level of the query, for all
//! parents together.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::enums::TeamRole;
use entity::{conversation, message, profile, project, team, team_member};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::domain::conversations::{self, ConversationOrder};
use crate::domain::projects::ProjectOrder;
use crate::domain::teams;
use crate::error::SharedError;
use crate::graphql::connection::CountKey;
use crate::graphql::local_tasks::LocalTasks;
use crate::paging::{self, Page, PageRequest};

/// What every loader needs: the database and the viewer the rows are scoped to.
#[derive(Clone)]
pub struct Scope {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

pub type LoadError = SharedError;

fn shared(err: crate::error::AppError) -> LoadError {
    err.into()
}

/// The loaders of one request.
pub struct Loaders {
    pub chat_pages: DataLoader<ChatPages>,
    pub message_pages: DataLoader<MessagePages>,
    pub last_messages: DataLoader<LastMessages>,
    pub counts: DataLoader<Counts>,
    pub public_profiles: DataLoader<PublicProfiles>,
    pub chat_projects: DataLoader<ChatProjects>,
    pub conversations: DataLoader<Conversations>,
    pub team_roles: DataLoader<TeamRoles>,
    pub teams: DataLoader<Teams>,
    pub member_pages: DataLoader<MemberPages>,
    pub team_project_pages: DataLoader<TeamProjectPages>,
    pub task_logs: DataLoader<TaskLogs>,
}

impl Loaders {
    /// Loaders whose batches run through `tasks` (see `local_tasks`).
    pub fn new(scope: Scope, tasks: &LocalTasks) -> Self {
        let s = || scope.clone();
        Loaders {
            chat_pages: DataLoader::new(ChatPages(s()), tasks.spawner()),
            message_pages: DataLoader::new(MessagePages(s()), tasks.spawner()),
            last_messages: DataLoader::new(LastMessages(s()), tasks.spawner()),
            counts: DataLoader::new(Counts(s()), tasks.spawner()),
            public_profiles: DataLoader::new(PublicProfiles(s()), tasks.spawner()),
            chat_projects: DataLoader::new(ChatProjects(s()), tasks.spawner()),
            conversations: DataLoader::new(Conversations(s()), tasks.spawner()),
            team_roles: DataLoader::new(TeamRoles(s()), tasks.spawner()),
            teams: DataLoader::new(Teams(s()), tasks.spawner()),
            member_pages: DataLoader::new(MemberPages(s()), tasks.spawner()),
            team_project_pages: DataLoader::new(TeamProjectPages(s()), tasks.spawner()),
            task_logs: DataLoader::new(TaskLogs(s()), tasks.spawner()),
        }
    }
}

/// Groups keys that share page arguments, so each group is one window statement.
fn group_by<K: Clone, G: std::hash::Hash + Eq>(
    keys: &[K],
    group: impl Fn(&K) -> G,
    parent: impl Fn(&K) -> Uuid,
) -> HashMap<G, Vec<Uuid>> {
    let mut groups: HashMap<G, Vec<Uuid>> = HashMap::new();
    for key in keys {
        groups.entry(group(key)).or_default().push(parent(key));
    }
    groups
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatPageKey {
    pub project: Uuid,
    pub order: ConversationOrder,
    pub page: PageRequest,
}

/// `Project.chats`: readable chats filed in each project, one window per project.
pub struct ChatPages(Scope);

impl Loader<ChatPageKey> for ChatPages {
    type Value = Page<conversation::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChatPageKey],
    ) -> Result<HashMap<ChatPageKey, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for ((order, page), parents) in group_by(keys, |k| (k.order, k.page.clone()), |k| k.project)
        {
            let (base, parent) = conversations::project_chats_query(&self.0.viewer);
            let mut pages =
                paging::fetch_windows(&self.0.db, base, parent, &parents, &order.sort(), &page)
                    .await
                    .map_err(shared)?;
            for project in parents {
                let value = pages.remove(&project).unwrap_or_default();
                out.insert(
                    ChatPageKey {
                        project,
                        order,
                        page: page.clone(),
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessagePageKey {
    pub conversation: Uuid,
    pub page: PageRequest,
}

/// `Conversation.messages`: one window per conversation.
pub struct MessagePages(Scope);

impl Loader<MessagePageKey> for MessagePages {
    type Value = Page<message::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[MessagePageKey],
    ) -> Result<HashMap<MessagePageKey, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for (page, parents) in group_by(keys, |k| k.page.clone(), |k| k.conversation) {
            let (base, parent) = conversations::messages_query(&self.0.viewer);
            let mut pages = paging::fetch_windows(
                &self.0.db,
                base,
                parent,
                &parents,
                &conversations::message_sort(),
                &page,
            )
            .await
            .map_err(shared)?;
            for conversation in parents {
                let value = pages.remove(&conversation).unwrap_or_default();
                out.insert(
                    MessagePageKey {
                        conversation,
                        page: page.clone(),
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

/// `Conversation.lastMessage`: the message with the highest sequence.
pub struct LastMessages(Scope);

impl Loader<Uuid> for LastMessages {
    type Value = message::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let sort = conversations::message_sort();
        let request = PageRequest {
            sort: sort.name,
            limit: 1,
            backward: true,
            after: None,
            before: None,
        };
        let (base, parent) = conversations::messages_query(&self.0.viewer);
        let pages = paging::fetch_windows::<message::Model>(
            &self.0.db, base, parent, keys, &sort, &request,
        )
        .await
        .map_err(shared)?;
        Ok(pages
            .into_iter()
            .filter_map(|(id, page)| page.rows.into_iter().last().map(|(m, _)| (id, m)))
            .collect())
    }
}

/// `totalCount` of nested connections: one grouped count per kind.
pub struct Counts(Scope);

impl Loader<CountKey> for Counts {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[CountKey]) -> Result<HashMap<CountKey, i64>, Self::Error> {
        let mut chats = Vec::new();
        let mut messages = Vec::new();
        let mut members = Vec::new();
        let mut team_projects = Vec::new();
        for key in keys {
            match key {
                CountKey::ProjectChats(id) => chats.push(*id),
                CountKey::ConversationMessages(id) => messages.push(*id),
                CountKey::TeamMembers(id) => members.push(*id),
                CountKey::TeamProjects(id) => team_projects.push(*id),
            }
        }
        let mut out = HashMap::new();
        for (ids, (base, parent), key) in [
            (
                members,
                teams::members_query(&self.0.viewer),
                CountKey::TeamMembers as fn(Uuid) -> CountKey,
            ),
            (
                team_projects,
                teams::team_projects_query(&self.0.viewer),
                CountKey::TeamProjects,
            ),
        ] {
            if ids.is_empty() {
                continue;
            }
            let counts = paging::count_by_parent(&self.0.db, base, parent, &ids)
                .await
                .map_err(shared)?;
            for id in ids {
                out.insert(key(id), counts.get(&id).copied().unwrap_or(0));
            }
        }
        if !chats.is_empty() {
            let (base, parent) = conversations::project_chats_query(&self.0.viewer);
            let counts = paging::count_by_parent(&self.0.db, base, parent, &chats)
                .await
                .map_err(shared)?;
            for id in chats {
                out.insert(
                    CountKey::ProjectChats(id),
                    counts.get(&id).copied().unwrap_or(0),
                );
            }
        }
        if !messages.is_empty() {
            let (base, parent) = conversations::messages_query(&self.0.viewer);
            let counts = paging::count_by_parent(&self.0.db, base, parent, &messages)
                .await
                .map_err(shared)?;
            for id in messages {
                out.insert(
                    CountKey::ConversationMessages(id),
                    counts.get(&id).copied().unwrap_or(0),
                );
            }
        }
        Ok(out)
    }
}

/// Public profiles (project owners, team members) the viewer may see.
pub struct PublicProfiles(Scope);

impl Loader<Uuid> for PublicProfiles {
    type Value = profile::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = profile::Entity::find()
            .filter(profile::Column::Id.is_in(keys.iter().copied()))
            .filter(access::readable_public_profiles(&self.0.viewer))
            .all(&self.0.db)
            .await
            .map_err(|e| shared(e.into()))?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// `Conversation.projects`: readable, not deleted projects holding each chat.
pub struct ChatProjects(Scope);

impl Loader<Uuid> for ChatProjects {
    type Value = Vec<project::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let (base, parent) = crate::domain::projects::chat_projects_query(&self.0.viewer);
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
        let rows = conversation::Entity::find()
            .filter(
                Expr::col((conversation::Entity, conversation::Column::Id))
                    .is_in(keys.iter().copied()),
            )
            .filter(access::readable_conversations(&self.0.viewer))
            .all(&self.0.db)
            .await
            .map_err(|e| shared(e.into()))?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The viewer's role in each team (absent where they are not a member).
pub struct TeamRoles(Scope);

impl Loader<Uuid> for TeamRoles {
    type Value = TeamRole;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = team_member::Entity::find()
            .filter(access::own_memberships(&self.0.viewer))
            .filter(team_member::Column::TeamId.is_in(keys.iter().copied()))
            .all(&self.0.db)
            .await
            .map_err(|e| shared(e.into()))?;
        Ok(rows.into_iter().map(|m| (m.team_id, m.role)).collect())
    }
}

/// Teams by id, scoped to the readable ones (`Project.team`).
pub struct Teams(Scope);

impl Loader<Uuid> for Teams {
    type Value = team::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = team::Entity::find()
            .filter(Expr::col((team::Entity, team::Column::Id)).is_in(keys.iter().copied()))
            .filter(access::readable_teams(&self.0.viewer))
            .all(&self.0.db)
            .await
            .map_err(|e| shared(e.into()))?;
        Ok(rows.into_iter().map(|t| (t.id, t)).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberPageKey {
    pub team: Uuid,
    pub page: PageRequest,
}

/// `Team.members`: one window per team.
pub struct MemberPages(Scope);

impl Loader<MemberPageKey> for MemberPages {
    type Value = Page<team_member::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[MemberPageKey],
    ) -> Result<HashMap<MemberPageKey, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for (page, parents) in group_by(keys, |k| k.page.clone(), |k| k.team) {
            let (base, parent) = teams::members_query(&self.0.viewer);
            let mut pages = paging::fetch_windows(
                &self.0.db,
                base,
                parent,
                &parents,
                &teams::member_sort(),
                &page,
            )
            .await
            .map_err(shared)?;
            for team in parents {
                let value = pages.remove(&team).unwrap_or_default();
                out.insert(
                    MemberPageKey {
                        team,
                        page: page.clone(),
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TeamProjectPageKey {
    pub team: Uuid,
    pub order: ProjectOrder,
    pub page: PageRequest,
}

/// `Team.projects`: readable, not deleted projects of each team, one window per team.
pub struct TeamProjectPages(Scope);

impl Loader<TeamProjectPageKey> for TeamProjectPages {
    type Value = Page<project::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[TeamProjectPageKey],
    ) -> Result<HashMap<TeamProjectPageKey, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for ((order, page), parents) in group_by(keys, |k| (k.order, k.page.clone()), |k| k.team) {
            let (base, parent) = teams::team_projects_query(&self.0.viewer);
            let mut pages =
                paging::fetch_windows(&self.0.db, base, parent, &parents, &order.sort(), &page)
                    .await
                    .map_err(shared)?;
            for team in parents {
                let value = pages.remove(&team).unwrap_or_default();
                out.insert(
                    TeamProjectPageKey {
                        team,
                        order,
                        page: page.clone(),
                    },
                    value,
                );
            }
        }
        Ok(out)
    }
}

/// `Task.logs`: the log lines of every task of a query level, in one statement.
pub struct TaskLogs(pub Scope);

impl Loader<Uuid> for TaskLogs {
    type Value = Vec<entity::task_log::Model>;
    type Error = SharedError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let (base, parent) = crate::domain::tasks::logs_query(&self.0.viewer);
        let mut grouped = paging::fetch_grouped(&self.0.db, base, parent, keys).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, grouped.remove(k).unwrap_or_default()))
            .collect())
    }
}
