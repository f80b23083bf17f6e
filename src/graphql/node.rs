//! The `Node` interface: every object fetchable again by its `nodeId` alone, and the
//! lookup behind `node(nodeId)`. Sits above the per-capability parts it names.

use async_graphql::{Interface, Result, ID};

use crate::domain::{conversations, files, projects, tasks, teams, wellness, workspace};
use crate::graphql::node_id::NodeId;
use crate::graphql::types::{Conversation, Message, Project};
use crate::graphql::RequestCtx;

/// Anything fetchable again by its `nodeId` alone.
#[derive(Interface)]
#[graphql(field(name = "node_id", ty = "ID"))]
pub enum Node {
    Project(Project),
    Conversation(Conversation),
    Message(Message),
    Team(crate::graphql::teams::Team),
    Task(crate::graphql::tasks::Task),
    WorkspaceFile(crate::graphql::workspace::WorkspaceFile),
    Goal(crate::graphql::wellness::Goal),
    JournalEntry(crate::graphql::wellness::JournalEntry),
    ProjectFile(crate::graphql::stored_files::ProjectFile),
}

/// The object with this nodeId if the viewer may read it, else `None`.
pub async fn find(rc: &RequestCtx, node_id: &ID) -> Result<Option<Node>> {
    let node = match NodeId::decode(node_id)? {
        NodeId::Project(id) => projects::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::Project(Project(m))),
        NodeId::Conversation(id) => conversations::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::Conversation(Conversation(m))),
        NodeId::Message(id) => conversations::find_message(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::Message(Message(m))),
        NodeId::Team(id) => teams::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(|t| Node::Team(crate::graphql::teams::Team(t))),
        NodeId::Task(id) => tasks::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::Task(crate::graphql::tasks::Task(m))),
        NodeId::WorkspaceFile(id) => workspace::find_readable(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::WorkspaceFile(crate::graphql::workspace::WorkspaceFile(m))),
        NodeId::Goal(id) => wellness::goals::find_goal(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::Goal(crate::graphql::wellness::Goal(m))),
        NodeId::JournalEntry(id) => wellness::journal::find_entry(&rc.db, &rc.viewer, id)
            .await?
            .map(|m| Node::JournalEntry(crate::graphql::wellness::JournalEntry(m))),
        NodeId::ProjectFile(id) => files::find_readable(
            &rc.db,
            &rc.viewer,
            id,
            &[crate::storage::Bucket::ProjectFiles],
        )
        .await?
        .map(|m| Node::ProjectFile(crate::graphql::stored_files::ProjectFile(m))),
    };
    Ok(node)
}
