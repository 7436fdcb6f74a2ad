//! sea-orm entities, private to the repository layer: nothing outside `crate::db` can name
//! a table. Written to match the migrations; never used to create the schema.

pub(super) mod memberships;
pub(super) mod outbox;
pub(super) mod stores;
pub(super) mod tenants;
pub(super) mod users;
