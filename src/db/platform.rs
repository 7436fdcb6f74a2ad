//! The platform door: reaching across tenants.
//!
//! Promises: a [`PlatformTx`] is opened only with an [`Access`]: the proof of a platform
//! admin (made by authentication, nowhere else) or a named [`SystemTask`]; the opening is
//! logged, and a platform admin's reads and changes are written to the audit log by the
//! services that make them. It continues inside one tenant only from a tenant it has read
//! or created in the same transaction.

use super::Db;
use super::scope::{PlatformTx, TenantScope};
use crate::auth::PlatformAdmin;
use crate::error::AppResult;

/// Work that reaches across tenants without a platform admin behind it. Each variant is a
/// reason you can grep for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemTask {
    /// Creating a tenant with its owner (sign-up, the demo, the CLI).
    CreateTenant,
    /// Resolving a user's memberships (`me`).
    Memberships,
    /// Signing in, refreshing, switching tenants, signing out: sessions are global, and
    /// each is recorded in its tenant's audit chain.
    Sessions,
    /// E-mail verification and password recovery (recorded in the platform's chain).
    Recovery,
    /// Resolving a request's tenant context (membership, grants, modules).
    ResolveContext,
    /// Checking an API key, whose tenant is not known until it is found.
    ApiKeys,
    /// Accepting an invitation, whose tenant is not known until its token is found.
    AcceptInvitation,
    /// A worker rebuilding a job's tenant context.
    JobContext,
    /// Moving jobs from the outbox to the queue, and cleaning it.
    OutboxDrain,
    /// Verifying every audit chain (`msingi audit verify`).
    AuditVerify,
    /// The job runtime's records: effects done, dead letters and their resolution
    /// (`msingi jobs`).
    Jobs,
    /// The test clock's shared offset (`MSINGI_TEST_CLOCK=true` only).
    TestClock,
    /// Finding subscriptions due for renewal, across tenants, and queueing their jobs.
    BillingSweep,
    /// Showing the invoice a signed hosted link names, whose tenant is in the link.
    InvoiceLink,
    /// The shared Daraja access token.
    Daraja,
    /// Storing and processing M-Pesa callbacks (whose tenant is in the URL's token),
    /// asking STK Query about pending payments, the reconciliation report.
    Mpesa,
    /// Deleting raw usage events past their retention, across tenants.
    UsageRetention,
    /// Finding due webhook deliveries across tenants, claiming and recording their
    /// attempts.
    WebhookDispatch,
    /// Moving a tenant's data plane between isolation tiers, and listing the tiers
    /// (`msingi tenants`).
    TenantMoves,
    /// A tenant's export and import, a user's erasure, a closed tenant's retention
    /// (`msingi tenants export/import`, the export job, the retention sweep).
    DataRights,
}

/// The proof that opens the platform door.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// A verified platform admin, doing `what`.
    Admin(&'a PlatformAdmin, &'static str),
    /// A system task.
    Task(SystemTask),
}

impl std::fmt::Display for Access<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admin(admin, what) => write!(f, "platform admin {}: {what}", admin.user_id()),
            Self::Task(task) => write!(f, "system task {task:?}"),
        }
    }
}

impl Db {
    /// A read-only transaction across tenants.
    pub async fn platform_read(&self, access: Access<'_>) -> AppResult<PlatformTx> {
        self.pools.platform(&access, false).await
    }

    /// A read-only transaction across tenants on one snapshot (a tenant's export).
    pub async fn platform_snapshot(&self, access: Access<'_>) -> AppResult<PlatformTx> {
        self.pools.platform_snapshot(&access).await
    }

    /// A transaction across tenants that may write; nothing is kept unless it commits.
    pub async fn platform_write(&self, access: Access<'_>) -> AppResult<PlatformTx> {
        self.pools.platform(&access, true).await
    }
}

impl PlatformTx {
    /// Continues this transaction inside `tenant`, a record this transaction just created
    /// or read (so it is known to exist): a new tenant's first rows are written together
    /// with the tenant itself.
    pub async fn into_tenant(self, tenant: &crate::tenancy::Tenant) -> AppResult<TenantScope> {
        self.continue_in(tenant.id).await
    }
}
