//! Data rights: a tenant's export (an archive of everything it owns, built by a job and
//! downloaded through a signed expiring link) and import (`msingi tenants import`), a
//! user's erasure (personal data pseudonymised, invoices, payments and the audit chain
//! intact), and a tenant's closure with its retention.

pub mod erasure;
pub mod exports;
pub mod retention;
