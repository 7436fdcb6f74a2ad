//! Data rights' records: tenant exports.

use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::entities::tenant_exports;
use super::scope::{PlatformTx, TenantScope};
use crate::error::AppResult;
use crate::ids::{TenantId, UserId};
use crate::rights::exports::{ExportStatus, Finished, TenantExport};

fn to_export(row: tenant_exports::Model) -> TenantExport {
    TenantExport {
        id: row.id,
        tenant: TenantId::from_uuid(row.tenant_id),
        status: ExportStatus::from_stored(&row.status),
        requested_by: row.requested_by.map(UserId::from_uuid),
        file: row.file,
        size_bytes: row.size_bytes.map(|n| n.max(0) as u64),
        rows: row.rows.map(|n| n.max(0) as u64),
        sha256: row.sha256,
        error: row.error,
        created_at: row.created_at,
        finished_at: row.finished_at,
        expires_at: row.expires_at,
    }
}

impl TenantScope {
    /// Records a new export of this tenant, PENDING.
    pub async fn insert_export(&self, by: Option<UserId>) -> AppResult<TenantExport> {
        let row = self
            .table::<tenant_exports::Entity>()
            .insert(tenant_exports::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                status: Set(ExportStatus::Pending.as_str().to_owned()),
                requested_by: Set(by.map(UserId::into_uuid)),
                created_at: Set(self.now()),
                ..Default::default()
            })
            .await?;
        Ok(to_export(row))
    }

    /// One export of this tenant.
    pub async fn find_export(&self, id: uuid::Uuid) -> AppResult<Option<TenantExport>> {
        Ok(self
            .table::<tenant_exports::Entity>()
            .by_id(id)
            .one()
            .await?
            .map(to_export))
    }
}

impl PlatformTx {
    /// One export of `tenant` (the job, the download link).
    pub async fn export_of(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> AppResult<Option<TenantExport>> {
        Ok(self
            .across_tenants::<tenant_exports::Entity>()
            .find()
            .filter(tenant_exports::Column::TenantId.eq(tenant.into_uuid()))
            .filter(tenant_exports::Column::Id.eq(id))
            .one()
            .await?
            .map(to_export))
    }

    /// Records how an export ended, if it is still PENDING; returns whether it was.
    pub async fn finish_export(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        finished: Finished,
    ) -> AppResult<bool> {
        let now = self.now();
        let (status, file, size, rows, sha256, error, expires) = match finished {
            Finished::Ready {
                file,
                size_bytes,
                rows,
                sha256,
                expires_at,
            } => (
                ExportStatus::Ready,
                Some(file),
                Some(size_bytes as i64),
                Some(rows as i64),
                Some(sha256),
                None,
                Some(expires_at),
            ),
            Finished::Failed(why) => (
                ExportStatus::Failed,
                None,
                None,
                None,
                None,
                Some(why),
                None,
            ),
        };
        let changed = self
            .across_tenants::<tenant_exports::Entity>()
            .update()
            .filter(tenant_exports::Column::TenantId.eq(tenant.into_uuid()))
            .filter(tenant_exports::Column::Id.eq(id))
            .filter(tenant_exports::Column::Status.eq(ExportStatus::Pending.as_str()))
            .set(tenant_exports::Column::Status, status.as_str())
            .set(tenant_exports::Column::File, file)
            .set(tenant_exports::Column::SizeBytes, size)
            .set(tenant_exports::Column::Rows, rows)
            .set(tenant_exports::Column::Sha256, sha256)
            .set(tenant_exports::Column::Error, error)
            .set(tenant_exports::Column::ExpiresAt, expires)
            .set(tenant_exports::Column::FinishedAt, Some(now))
            .exec()
            .await?;
        Ok(changed == 1)
    }

    /// READY exports whose link expired at `now`, every tenant's.
    pub async fn expired_exports(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<Vec<TenantExport>> {
        Ok(self
            .across_tenants::<tenant_exports::Entity>()
            .find()
            .filter(tenant_exports::Column::Status.eq(ExportStatus::Ready.as_str()))
            .filter(tenant_exports::Column::ExpiresAt.lte(now))
            .all()
            .await?
            .into_iter()
            .map(to_export)
            .collect())
    }

    /// Marks an export EXPIRED, its archive gone.
    pub async fn expire_export(&self, tenant: TenantId, id: uuid::Uuid) -> AppResult<()> {
        self.across_tenants::<tenant_exports::Entity>()
            .update()
            .filter(tenant_exports::Column::TenantId.eq(tenant.into_uuid()))
            .filter(tenant_exports::Column::Id.eq(id))
            .set(
                tenant_exports::Column::Status,
                ExportStatus::Expired.as_str(),
            )
            .set(tenant_exports::Column::File, Option::<String>::None)
            .exec()
            .await?;
        Ok(())
    }
}

/// What an erasure changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The tenants the user was a member of (each one's chain records the erasure).
    pub tenants: Vec<TenantId>,
    /// Audit entries whose personal fields were pseudonymised.
    pub audit_entries: u64,
    /// Sessions revoked.
    pub sessions: u64,
    /// API keys the user created, revoked.
    pub api_keys: u64,
    /// Queued or sent jobs whose payload named the user, pseudonymised.
    pub outbox: u64,
}

/// The address an erased user's email becomes: unique, undeliverable (`.invalid`).
pub fn erased_email(user: UserId) -> String {
    format!("erased-{}@erased.invalid", user.into_uuid().simple())
}

/// Replaces, in every string of `value`, the personal values `personal` (compared without
/// case; a value shorter than three characters is left alone) by `with`; returns whether
/// anything changed.
fn scrub(value: &mut serde_json::Value, personal: &[&str], with: &str) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let lower = s.to_lowercase();
            let mut changed = false;
            for p in personal.iter().filter(|p| p.chars().count() >= 3) {
                let p = p.to_lowercase();
                if lower == p || (p.contains('@') && lower.contains(&p)) {
                    changed = true;
                }
            }
            if changed {
                let mut out = s.clone();
                for p in personal.iter().filter(|p| p.chars().count() >= 3) {
                    if out.eq_ignore_ascii_case(p) {
                        out = with.to_owned();
                    } else if p.contains('@') {
                        let at = out.to_lowercase().find(&p.to_lowercase());
                        if let Some(at) = at {
                            out.replace_range(at..at + p.len(), with);
                        }
                    }
                }
                *s = out;
            }
            changed
        }
        // Every value is visited (no short circuit): each one is scrubbed.
        Value::Array(items) => {
            items
                .iter_mut()
                .map(|v| scrub(v, personal, with))
                .filter(|changed| *changed)
                .count()
                > 0
        }
        Value::Object(map) => {
            map.values_mut()
                .map(|v| scrub(v, personal, with))
                .filter(|changed| *changed)
                .count()
                > 0
        }
        _ => false,
    }
}

fn text_like<C: sea_orm::ColumnTrait>(column: C, needle: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait as _};
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Expr::col(column).cast_as(Alias::new("text")))
        .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

impl PlatformTx {
    /// The tenants where `user` holds the OWNER role.
    pub async fn tenants_owned_by(&self, user: UserId) -> AppResult<Vec<TenantId>> {
        use super::entities::{role_assignments, roles};
        let assigned: Vec<(uuid::Uuid, uuid::Uuid)> = self
            .across_tenants::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .all()
            .await?
            .into_iter()
            .map(|a| (a.tenant_id, a.role_id))
            .collect();
        if assigned.is_empty() {
            return Ok(Vec::new());
        }
        let owners = self
            .across_tenants::<roles::Entity>()
            .find()
            .filter(roles::Column::Name.eq(crate::rbac::roles::OWNER))
            .filter(roles::Column::IsSystem.eq(true))
            .filter(roles::Column::Id.is_in(assigned.iter().map(|(_, r)| *r)))
            .all()
            .await?;
        let mut tenants: Vec<TenantId> = owners
            .into_iter()
            .filter(|r| assigned.contains(&(r.tenant_id, r.id)))
            .map(|r| TenantId::from_uuid(r.tenant_id))
            .collect();
        tenants.sort();
        tenants.dedup();
        Ok(tenants)
    }

    /// Pseudonymises `user` everywhere their personal data is kept: their account (email,
    /// name, phone, password), their sessions (revoked, addresses cleared), tokens, the
    /// API keys they created (revoked), invitations to their email, their notifications,
    /// the audit entries they made or that name them (address, `User-Agent` and the
    /// personal values in the changes; the chain still verifies, see `db/audit.rs`), and
    /// queued jobs naming them. Memberships end (DISABLED). Invoices and payments are not
    /// touched.
    pub async fn erase_user(&self, user: UserId) -> AppResult<Option<Erased>> {
        use super::entities::{
            api_keys, audit_log, invitations, memberships, notification_preferences, notifications,
            outbox, refresh_tokens, sessions, user_tokens, users,
        };
        let id = user.into_uuid();
        let Some(account) = self
            .across_tenants::<users::Entity>()
            .by_id(id)
            .one()
            .await?
        else {
            return Ok(None);
        };
        let now = self.now();
        let pseudonym = erased_email(user);
        let mut personal: Vec<String> = vec![account.email.clone(), account.name.clone()];
        personal.extend(account.phone.clone());
        let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
        let mut erased = Erased::default();

        self.across_tenants::<users::Entity>()
            .update()
            .filter(users::Column::Id.eq(id))
            .set(users::Column::Email, pseudonym.clone())
            .set(users::Column::Name, "Erased user")
            .set(users::Column::Phone, Option::<String>::None)
            .set(users::Column::PasswordHash, Option::<String>::None)
            .set(
                users::Column::EmailVerifiedAt,
                Option::<chrono::DateTime<chrono::Utc>>::None,
            )
            .set(users::Column::IsPlatformAdmin, false)
            .set(users::Column::ErasedAt, Some(now))
            .set(users::Column::UpdatedAt, now)
            .exec()
            .await?;

        let session_ids: Vec<uuid::Uuid> = self
            .across_tenants::<sessions::Entity>()
            .find()
            .filter(sessions::Column::UserId.eq(id))
            .values(sessions::Column::Id, false)
            .await?;
        if !session_ids.is_empty() {
            self.across_tenants::<refresh_tokens::Entity>()
                .delete()
                .filter(refresh_tokens::Column::SessionId.is_in(session_ids.clone()))
                .exec()
                .await?;
        }
        erased.sessions = self
            .across_tenants::<sessions::Entity>()
            .update()
            .filter(sessions::Column::UserId.eq(id))
            .filter(sessions::Column::RevokedAt.is_null())
            .set(sessions::Column::RevokedAt, Some(now))
            .set(sessions::Column::RevokedReason, Some("erased"))
            .exec()
            .await?;
        self.across_tenants::<sessions::Entity>()
            .update()
            .filter(sessions::Column::UserId.eq(id))
            .set(sessions::Column::Ip, Option::<String>::None)
            .set(sessions::Column::UserAgent, Option::<String>::None)
            .exec()
            .await?;
        self.ends_sessions_of(user);
        self.across_tenants::<user_tokens::Entity>()
            .delete()
            .filter(user_tokens::Column::UserId.eq(id))
            .exec()
            .await?;
        erased.api_keys = self
            .across_tenants::<api_keys::Entity>()
            .update()
            .filter(api_keys::Column::CreatedBy.eq(id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .set(api_keys::Column::RevokedAt, Some(now))
            .exec()
            .await?;
        self.across_tenants::<invitations::Entity>()
            .update()
            .filter(invitations::Column::Email.eq(account.email.clone()))
            .set(invitations::Column::Email, pseudonym.clone())
            .exec()
            .await?;
        self.across_tenants::<notifications::Entity>()
            .delete()
            .filter(notifications::Column::UserId.eq(id))
            .exec()
            .await?;
        self.across_tenants::<notification_preferences::Entity>()
            .delete()
            .filter(notification_preferences::Column::UserId.eq(id))
            .exec()
            .await?;
        let mut tenants: Vec<TenantId> = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::UserId.eq(id))
            .values::<uuid::Uuid>(memberships::Column::TenantId, true)
            .await?
            .into_iter()
            .map(TenantId::from_uuid)
            .collect();
        tenants.sort();
        self.across_tenants::<memberships::Entity>()
            .update()
            .filter(memberships::Column::UserId.eq(id))
            .set(memberships::Column::Status, "DISABLED")
            .set(memberships::Column::UpdatedAt, now)
            .exec()
            .await?;
        for tenant in &tenants {
            self.invalidates_access_of(*tenant);
        }
        erased.tenants = tenants;

        // The audit entries they made, that are about them, or that name their email.
        let entries = self
            .across_tenants::<audit_log::Entity>()
            .find()
            .filter(
                sea_orm::Condition::any()
                    .add(audit_log::Column::ActorUserId.eq(id))
                    .add(audit_log::Column::TargetId.eq(id.to_string()))
                    .add(text_like(audit_log::Column::Changes, &account.email)),
            )
            .all()
            .await?;
        for entry in entries {
            let mine = entry.actor_user_id == Some(id);
            let mut changes = entry.changes.clone();
            let scrubbed = changes
                .as_mut()
                .is_some_and(|c| scrub(c, &personal, &pseudonym));
            if !mine && !scrubbed {
                continue;
            }
            let mut update = self
                .across_tenants::<audit_log::Entity>()
                .update()
                .filter(audit_log::Column::TenantId.eq(entry.tenant_id))
                .filter(audit_log::Column::Seq.eq(entry.seq))
                .set(audit_log::Column::Changes, changes)
                .set(audit_log::Column::PersonalSalt, Option::<String>::None)
                .set(audit_log::Column::ErasedAt, Some(now));
            if mine {
                update = update
                    .set(audit_log::Column::Ip, Option::<String>::None)
                    .set(audit_log::Column::UserAgent, Option::<String>::None);
            }
            erased.audit_entries += update.exec().await?;
        }

        // Jobs that name them (an email to them, queued or sent).
        let jobs = self
            .across_tenants::<outbox::Entity>()
            .find()
            .filter(text_like(outbox::Column::Payload, &account.email))
            .all()
            .await?;
        for job in jobs {
            let mut payload = job.payload.clone();
            if scrub(&mut payload, &personal, &pseudonym) {
                erased.outbox += self
                    .across_tenants::<outbox::Entity>()
                    .update()
                    .filter(outbox::Column::Id.eq(job.id))
                    .set(outbox::Column::Payload, payload)
                    .exec()
                    .await?;
            }
        }
        Ok(Some(erased))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_replaces_the_email_inside_strings_and_the_name_only_whole() {
        let mut value = serde_json::json!({
            "to": "Asha@Duka.example",
            "body": "Hello, write to asha@duka.example",
            "name": "Asha",
            "note": "Ashanti",
            "n": 3
        });
        assert!(scrub(
            &mut value,
            &["asha@duka.example", "Asha"],
            "[erased]"
        ));
        assert_eq!(value["to"], "[erased]");
        assert_eq!(value["body"], "Hello, write to [erased]");
        assert_eq!(value["name"], "[erased]");
        assert_eq!(value["note"], "Ashanti");
        assert!(!scrub(&mut value, &["asha@duka.example"], "[erased]"));
    }
}

/// A closed tenant the retention sweep has work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedTenant {
    /// The tenant.
    pub id: TenantId,
    /// When it was closed.
    pub closed_at: chrono::DateTime<chrono::Utc>,
    /// When its data was erased, if it was.
    pub purged_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PlatformTx {
    /// Closes `tenant` (CLOSED from now, its subscription canceled so nothing renews);
    /// false when it is closed already.
    pub async fn close_tenant(&self, tenant: TenantId) -> AppResult<bool> {
        use super::entities::{subscriptions, tenants};
        let now = self.now();
        let closed = self
            .across_tenants::<tenants::Entity>()
            .update()
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .filter(tenants::Column::Status.ne("CLOSED"))
            .set(tenants::Column::Status, "CLOSED")
            .set(tenants::Column::ClosedAt, Some(now))
            .set(tenants::Column::UpdatedAt, now)
            .exec()
            .await?;
        self.across_tenants::<subscriptions::Entity>()
            .update()
            .filter(subscriptions::Column::TenantId.eq(tenant.into_uuid()))
            .filter(subscriptions::Column::Status.ne("CANCELED"))
            .set(subscriptions::Column::Status, "CANCELED")
            .set(subscriptions::Column::CanceledAt, Some(now))
            .set(subscriptions::Column::CancelAtPeriodEnd, false)
            .set(subscriptions::Column::UpdatedAt, now)
            .exec()
            .await?;
        self.invalidates_access_of(tenant);
        Ok(closed == 1)
    }

    /// Closed tenants closed at or before `before` whose data is not erased yet, or (with
    /// `purged`) whose data is erased and whose fiscal records are still kept.
    pub async fn closed_tenants(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        purged: bool,
    ) -> AppResult<Vec<ClosedTenant>> {
        use super::entities::tenants;
        let purged_filter = if purged {
            tenants::Column::PurgedAt.is_not_null()
        } else {
            tenants::Column::PurgedAt.is_null()
        };
        Ok(self
            .across_tenants::<tenants::Entity>()
            .find()
            .filter(tenants::Column::Status.eq("CLOSED"))
            .filter(tenants::Column::ClosedAt.lte(before))
            .filter(purged_filter)
            .all()
            .await?
            .into_iter()
            .filter_map(|t| {
                Some(ClosedTenant {
                    id: TenantId::from_uuid(t.id),
                    closed_at: t.closed_at?,
                    purged_at: t.purged_at,
                })
            })
            .collect())
    }

    /// The members of `tenant` who belong to no other tenant (platform admins aside).
    pub async fn members_only_of(&self, tenant: TenantId) -> AppResult<Vec<UserId>> {
        use super::entities::memberships;
        let members: Vec<uuid::Uuid> = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .values(memberships::Column::UserId, true)
            .await?;
        let elsewhere: Vec<uuid::Uuid> = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::UserId.is_in(members.clone()))
            .filter(memberships::Column::TenantId.ne(tenant.into_uuid()))
            .filter(memberships::Column::Status.ne("DISABLED"))
            .values(memberships::Column::UserId, true)
            .await?;
        let admins: Vec<uuid::Uuid> = self
            .across_tenants::<super::entities::users::Entity>()
            .find()
            .filter(super::entities::users::Column::Id.is_in(members.clone()))
            .filter(super::entities::users::Column::IsPlatformAdmin.eq(true))
            .values(super::entities::users::Column::Id, false)
            .await?;
        Ok(members
            .into_iter()
            .filter(|m| !elsewhere.contains(m) && !admins.contains(m))
            .map(UserId::from_uuid)
            .collect())
    }

    /// Erases a closed tenant's identity and its audit chain's personal fields (the chain
    /// itself stays whole and verifiable), and records when.
    pub async fn pseudonymise_tenant(&self, tenant: TenantId) -> AppResult<u64> {
        use super::entities::{audit_log, tenants};
        let now = self.now();
        self.across_tenants::<tenants::Entity>()
            .update()
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .set(tenants::Column::Name, "Closed tenant")
            .set(
                tenants::Column::Slug,
                format!("closed-{}", tenant.into_uuid().simple()),
            )
            .set(tenants::Column::Settings, serde_json::json!({}))
            .set(tenants::Column::BillingPhone, Option::<String>::None)
            .set(tenants::Column::PurgedAt, Some(now))
            .set(tenants::Column::UpdatedAt, now)
            .exec()
            .await?;
        Ok(self
            .across_tenants::<audit_log::Entity>()
            .update()
            .filter(audit_log::Column::TenantId.eq(tenant.into_uuid()))
            .filter(audit_log::Column::ErasedAt.is_null())
            .set(audit_log::Column::Ip, Option::<String>::None)
            .set(audit_log::Column::UserAgent, Option::<String>::None)
            .set(
                audit_log::Column::Changes,
                Option::<serde_json::Value>::None,
            )
            .set(audit_log::Column::PersonalSalt, Option::<String>::None)
            .set(audit_log::Column::ErasedAt, Some(now))
            .exec()
            .await?)
    }

    /// Ends the fiscal retention of a purged tenant: its invoices and payments go (safe to
    /// repeat: a second time finds none).
    pub async fn purge_fiscal(&self, tenant: TenantId) -> AppResult<u64> {
        self.purge_tenant_rows(tenant, true).await
    }
}
