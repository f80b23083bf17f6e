//! Global object identification: opaque node ids that differ across types.

use async_graphql::ID;
use base64::Engine;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeId {
    Project(Uuid),
    Conversation(Uuid),
    Message(Uuid),
    Team(Uuid),
    Task(Uuid),
    WorkspaceFile(Uuid),
    Goal(Uuid),
    JournalEntry(Uuid),
    ProjectFile(Uuid),
}

impl NodeId {
    fn parts(&self) -> (&'static str, Uuid) {
        match self {
            NodeId::Project(id) => ("Project", *id),
            NodeId::Conversation(id) => ("Conversation", *id),
            NodeId::Message(id) => ("Message", *id),
            NodeId::Team(id) => ("Team", *id),
            NodeId::Task(id) => ("Task", *id),
            NodeId::WorkspaceFile(id) => ("WorkspaceFile", *id),
            NodeId::Goal(id) => ("Goal", *id),
            NodeId::JournalEntry(id) => ("JournalEntry", *id),
            NodeId::ProjectFile(id) => ("ProjectFile", *id),
        }
    }

    pub fn encode(&self) -> ID {
        let (kind, id) = self.parts();
        ID(base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{id}")))
    }

    pub fn decode(text: &str) -> AppResult<Self> {
        let bad = || AppError::bad_input("malformed nodeId");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (kind, id) = text.split_once(':').ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        match kind {
            "Project" => Ok(NodeId::Project(id)),
            "Conversation" => Ok(NodeId::Conversation(id)),
            "Message" => Ok(NodeId::Message(id)),
            "Team" => Ok(NodeId::Team(id)),
            "Task" => Ok(NodeId::Task(id)),
            "WorkspaceFile" => Ok(NodeId::WorkspaceFile(id)),
            "Goal" => Ok(NodeId::Goal(id)),
            "JournalEntry" => Ok(NodeId::JournalEntry(id)),
            "ProjectFile" => Ok(NodeId::ProjectFile(id)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip_and_differ_by_type() {
        let id = Uuid::new_v4();
        let project = NodeId::Project(id).encode();
        let chat = NodeId::Conversation(id).encode();
        assert_ne!(project, chat);
        assert_eq!(
            NodeId::decode(&project).expect("decodes"),
            NodeId::Project(id)
        );
        assert_eq!(
            NodeId::decode(&chat).expect("decodes"),
            NodeId::Conversation(id)
        );
    }

    #[test]
    fn malformed_node_ids_are_bad_input() {
        for text in [
            "",
            "!!!",
            "UHJvamVjdDpub3QtYS11dWlk",
            "VGVhbTo=",
            "VGFzazo=",
        ] {
            let err = NodeId::decode(text).expect_err("malformed");
            assert_eq!(err.code(), crate::error::ErrorCode::BadUserInput, "{text}");
        }
    }
}
