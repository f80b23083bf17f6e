//! GraphQL documents that several test files send.

pub const ADD_CHAT_TO_PROJECT: &str = r#"
    mutation($p: UUID!, $c: UUID!) {
        addChatToProject(projectId: $p, conversationId: $c) { id }
    }
"#;

pub const ADD_TEAM_MEMBER: &str = r#"
    mutation($t: UUID!, $e: String!) {
        addTeamMember(teamId: $t, email: $e) { role }
    }
"#;

pub const CHAT_PROJECTS: &str = "query($c: UUID!) { conversation(id: $c) { projects { id } } }";
pub const CREATE_TEAM: &str = "mutation($n: String!) { createTeam(name: $n) { id } }";

pub const CREATE_TEAM_PROJECT: &str = r#"
    mutation($t: UUID!, $title: String!) {
        createProject(input: {title: $title, teamId: $t}) { id }
    }
"#;

pub const DELETE_ACCOUNT: &str = "mutation { deleteAccount }";
pub const DELETE_MESSAGE: &str = "mutation($id: UUID!) { deleteMessage(id: $id) }";

pub const DELETE_PROJECT_PERMANENTLY: &str = r#"
    mutation($id: UUID!) {
        deleteProject(id: $id, permanent: true)
    }
"#;

pub const REMOVE_TEAM_MEMBER: &str = r#"
    mutation($t: UUID!, $u: UUID!) {
        removeTeamMember(teamId: $t, userId: $u)
    }
"#;

pub const RESTORE_PROJECT: &str = "mutation($id: UUID!) { restoreProject(id: $id) { id } }";
pub const SOFT_DELETE_PROJECT: &str = "mutation($id: UUID!) { deleteProject(id: $id) }";
pub const VIEWER_ID: &str = "{ viewer { id } }";
pub const VIEWER_PROJECT_IDS: &str = "{ viewer { projects { nodes { id } } } }";
