//! sea-orm entities: one module per table, plus the enums the tables share.
//!
//! Plain data only. Behaviour (who may read a row, how rows change together) lives in
//! the gateway's `access` module and its capability modules.

pub mod conversation;
pub mod credit_account;
pub mod credit_transaction;
pub mod enums;
pub mod goal;
pub mod journal_entry;
pub mod message;
pub mod profile;
pub mod progress_metric;
pub mod project;
pub mod project_conversation;
pub mod settings;
pub mod site_visit;
pub mod stored_file;
pub mod task;
pub mod task_log;
pub mod team;
pub mod team_member;
pub mod waitlist_entry;
pub mod workspace_file;
