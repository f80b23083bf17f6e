//! confab: a GraphQL API gateway for AI chat products on Postgres (or embedded SQLite).
//!
//! A request flows one way: router (`http`) → `auth` (a `Viewer`) → GraphQL request data
//! (viewer, database, per-request loaders) → resolver (`graphql`) → an access-scoped
//! query or operation (`access` + a capability module) → sea-orm.

pub mod access;
pub mod app;
pub mod auth;
pub mod config;
pub mod conversations;
pub mod credits;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod paging;
pub mod profiles;
pub mod projects;
pub mod public_forms;
pub mod realtime;
pub mod seed;
pub mod tasks;
pub mod teams;
pub mod validate;
pub mod wellness;
pub mod workspace;
