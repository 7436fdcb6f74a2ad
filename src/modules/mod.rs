//! The bundled domain modules: their tables are the data plane, which lives where each
//! tenant's isolation tier says (`crate::tiers`), reached through `Db::data`.

pub mod inventory;
