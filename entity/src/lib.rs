//! sea-orm entities: one module per table, plus the enums the tables share.
//!
//! Plain data only. Behaviour (who may read a row, how rows change together) lives in
//! the gateway's `access` module and its capability modules.

pub mod conversation;
pub mod enums;
pub mod message;
pub mod profile;
pub mod project;
pub mod project_conversation;
pub mod settings;
pub mod task;
pub mod task_log;
pub mod team;
pub mod team_member;
pub mod workspace_file;
