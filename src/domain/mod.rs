//! The capabilities: one module per resource, each holding its operations. An operation
//! takes the viewer and a connection, runs in one transaction, reads and writes only
//! through conditions from `access`, and returns entity models or an `AppError`. No
//! GraphQL types here; `graphql/` wraps these for the schema.

pub mod conversations;
pub mod credits;
pub mod files;
pub mod filing;
pub mod patch;
pub mod profiles;
pub mod projects;
pub mod public_forms;
pub mod search;
pub mod tasks;
pub mod teams;
pub mod wellness;
pub mod workspace;
