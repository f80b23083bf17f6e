//! confab: a GraphQL API gateway for AI chat products on Postgres (or embedded SQLite).
//!
//! A request flows one way: router (`http`) → `auth` (a `Viewer`) → GraphQL request data
//! (viewer, database, per-request loaders) → resolver (`graphql`) → an access-scoped
//! query or operation (`access` + a capability module) → sea-orm.

pub mod access;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod paging;
pub mod rate_limit;
pub mod realtime;
pub mod schema_diff;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod validate;
