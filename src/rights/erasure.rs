//! User erasure (`eraseUser`): a user's personal data pseudonymised wherever it is kept,
//! in one transaction (`crate::db`'s `erase_user` lists where), while invoices, payments
//! and the audit chain stay intact: an audit entry's personal fields enter its hash as a
//! salted digest, so clearing them leaves `msingi audit verify` passing. Recorded as a
//! chained entry of its own (no personal field in it) in the platform's chain and in each
//! tenant's the user was a member of.

use crate::audit::{Actor, AuditEntry};
use crate::auth::Caller;
use crate::db::{Access, Erased, SystemTask};
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::services::Services;

/// Erases `user`. A platform admin may erase anyone; a user may erase their own account.
/// Either way, not while they own a tenant that is not closed (ownership goes first, or
/// the tenant is closed): BAD_USER_INPUT naming `userId`. [PA, or the user themselves]
pub async fn erase(services: &Services, caller: &Caller, user: UserId) -> AppResult<Erased> {
    let admin = caller.platform_admin().ok();
    let by_self = caller.user_id() == Some(user);
    if admin.is_none() && !by_self {
        return Err(AppError::Forbidden {
            message: "only a platform admin, or the user themselves, may erase an account".into(),
            reason: None,
        });
    }
    let tx = match &admin {
        Some(admin) => {
            services
                .db
                .platform_write(Access::Admin(admin, "erase a user"))
                .await?
        }
        None => {
            services
                .db
                .platform_write(Access::Task(SystemTask::DataRights))
                .await?
        }
    };
    let mut owned = Vec::new();
    for tenant in tx.tenants_owned_by(user).await? {
        if let Some(t) = tx.find_tenant(tenant).await?
            && t.status != crate::tenancy::TenantStatus::Closed
        {
            owned.push(t.slug.as_str().to_owned());
        }
    }
    if !owned.is_empty() {
        return Err(AppError::bad_input(
            "userId",
            format!(
                "the user owns {}: give ownership to another member, or close the tenant, first",
                owned.join(", ")
            ),
        ));
    }
    let erased = tx
        .erase_user(user)
        .await?
        .ok_or(AppError::NotFound { entity: "user" })?;
    // The entry of the erasure names no one but by id, and carries no address: after an
    // erasure by the user themselves, not even theirs.
    let actor = match admin {
        Some(_) => caller.actor(),
        None => Actor {
            user: Some(user),
            ..Actor::default()
        },
    };
    let changes = serde_json::json!({
        "auditEntries": erased.audit_entries,
        "sessions": erased.sessions,
        "apiKeys": erased.api_keys,
        "jobs": erased.outbox,
        "tenants": erased.tenants.len(),
    });
    tx.audit(
        None,
        &actor,
        AuditEntry::new("user.erase", "user", user).with_changes(changes.clone()),
    )
    .await?;
    for tenant in &erased.tenants {
        tx.audit(
            Some(*tenant),
            &actor,
            AuditEntry::new("member.erase", "user", user),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(erased)
}
