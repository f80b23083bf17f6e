//! [wellness]: goals, journal entries, progress metrics and the viewer's statistics.
//! Each operation takes the viewer, scopes every statement with the `access` module and
//! writes in one transaction. No GraphQL types here.

pub mod goals;
pub mod journal;
pub mod progress;
pub mod statistics;
