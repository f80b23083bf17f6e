//! `Viewer`: the signed-in user, merged from one part per capability. Sits above the
//! parts it merges; none of them imports it.

use uuid::Uuid;

use crate::graphql::types::ViewerCore;

// The signed-in user; each capability adds its fields as one part of this merged object.
#[derive(async_graphql::MergedObject)]
#[graphql(name = "Viewer")]
pub struct Viewer(
    pub ViewerCore,
    pub crate::graphql::teams::ViewerTeams,
    pub crate::graphql::tasks::ViewerTasks,
    pub crate::graphql::workspace::ViewerWorkspace,
    pub crate::graphql::wellness::ViewerWellness,
    pub crate::graphql::credits::ViewerCredits,
    pub crate::graphql::search::ViewerSearch,
    pub crate::graphql::files::ViewerFiles,
);

impl Viewer {
    pub fn new(id: Uuid, email: Option<String>) -> Self {
        Viewer(
            ViewerCore { id, email },
            crate::graphql::teams::ViewerTeams,
            crate::graphql::tasks::ViewerTasks,
            crate::graphql::workspace::ViewerWorkspace,
            crate::graphql::wellness::ViewerWellness,
            crate::graphql::credits::ViewerCredits,
            crate::graphql::search::ViewerSearch,
            crate::graphql::files::ViewerFiles,
        )
    }
}
