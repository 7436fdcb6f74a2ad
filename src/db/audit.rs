//! Appending to the hash-chained audit log.

use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::entities::{audit_heads, audit_log};
use super::scope::{PlatformTx, Table, TenantScope};
use crate::audit::{Actor, AuditEntry, ChainCheck, GENESIS, chain_hash};
use crate::error::AppResult;
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::page::{Page, PageRequest};

/// Appends `entry` to the chain `chain` (a tenant's id, or nil for the platform's). A
/// transaction-scoped advisory lock per chain serialises appends.
pub(super) async fn append<D>(
    table: Table<'_, audit_log::Entity, D>,
    chain: uuid::Uuid,
    actor: &Actor,
    entry: AuditEntry,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    table.advisory_lock(&chain.to_string()).await?;
    let tenant = chain;
    let last = table
        .find()
        .filter(audit_log::Column::TenantId.eq(tenant))
        .order_by_desc(audit_log::Column::Seq)
        .one()
        .await?;
    let (seq, prev_hash) = match last {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, GENESIS.to_owned()),
    };
    let content = Content {
        tenant_id: tenant,
        seq,
        id: uuid::Uuid::now_v7(),
        actor_user_id: actor.user.map(UserId::into_uuid),
        actor_api_key_id: actor.api_key.map(ApiKeyId::into_uuid),
        action: entry.action,
        target_type: entry.target_type,
        target_id: entry.target_id,
        changes: entry.changes,
        ip: actor.ip.clone(),
        user_agent: actor
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(400).collect()),
        request_id: actor
            .request_id
            .as_deref()
            .map(|r| r.chars().take(128).collect()),
        client_request_id: actor
            .client_request_id
            .as_deref()
            .map(|r| r.chars().take(128).collect()),
        created_at: now,
    };
    let hash = content.hash(&prev_hash);
    let row = audit_log::ActiveModel {
        tenant_id: Set(content.tenant_id),
        seq: Set(content.seq),
        id: Set(content.id),
        actor_user_id: Set(content.actor_user_id),
        actor_api_key_id: Set(content.actor_api_key_id),
        action: Set(content.action),
        target_type: Set(content.target_type),
        target_id: Set(content.target_id),
        changes: Set(content.changes),
        ip: Set(content.ip),
        user_agent: Set(content.user_agent),
        request_id: Set(content.request_id),
        client_request_id: Set(content.client_request_id),
        created_at: Set(content.created_at),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    };
    table.insert(row).await?;
    Ok(())
}

/// Every column of an entry but the hashes: what the chain hash covers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Content {
    tenant_id: uuid::Uuid,
    seq: i64,
    id: uuid::Uuid,
    actor_user_id: Option<uuid::Uuid>,
    actor_api_key_id: Option<uuid::Uuid>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    changes: Option<serde_json::Value>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    /// Absent from the hashed form when empty, so entries written before the column
    /// existed keep their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_request_id: Option<String>,
    #[serde(serialize_with = "micros")]
    created_at: chrono::DateTime<chrono::Utc>,
}

fn micros<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl Content {
    fn hash(&self, prev_hash: &str) -> String {
        chain_hash(prev_hash, &serde_json::to_value(self).unwrap_or_default())
    }
}

impl PlatformTx {
    /// Appends an audit entry to `tenant`'s chain (the platform's when `None`).
    pub async fn audit(
        &self,
        tenant: Option<TenantId>,
        actor: &Actor,
        entry: AuditEntry,
    ) -> AppResult<()> {
        let chain = tenant.map_or(uuid::Uuid::nil(), TenantId::into_uuid);
        append(
            self.across_tenants::<audit_log::Entity>(),
            chain,
            actor,
            entry,
            self.now(),
        )
        .await
    }
}

impl TenantScope {
    /// This tenant's audit entries, newest first, optionally of one action.
    pub async fn list_audit(
        &self,
        action: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<crate::audit::AuditRecord>> {
        let mut query = self.table::<audit_log::Entity>().find();
        if let Some(action) = action {
            query = query.filter(audit_log::Column::Action.eq(action));
        }
        Ok(query
            .page(audit_log::Column::Id, page, true)
            .await?
            .map(record))
    }
}

fn record(r: audit_log::Model) -> crate::audit::AuditRecord {
    crate::audit::AuditRecord {
        id: r.id,
        seq: r.seq,
        action: r.action,
        actor_user: r.actor_user_id.map(UserId::from_uuid),
        actor_api_key: r.actor_api_key_id.map(ApiKeyId::from_uuid),
        target_type: r.target_type,
        target_id: r.target_id,
        changes: r.changes,
        ip: r.ip,
        request_id: r.request_id,
        client_request_id: r.client_request_id,
        created_at: r.created_at,
    }
}

impl PlatformTx {
    /// Every entry of one chain (`None`: the platform's), oldest first.
    pub async fn audit_chain(
        &self,
        tenant: Option<TenantId>,
    ) -> AppResult<Vec<crate::audit::AuditRecord>> {
        let tenant = tenant.map_or(uuid::Uuid::nil(), TenantId::into_uuid);
        Ok(self
            .across_tenants::<audit_log::Entity>()
            .find()
            .filter(audit_log::Column::TenantId.eq(tenant))
            .order_by_asc(audit_log::Column::Seq)
            .all()
            .await?
            .into_iter()
            .map(record)
            .collect())
    }

    /// The tenants (and the nil id for the platform) that have an audit chain, including
    /// chains whose every entry was deleted (their head remains).
    pub async fn audit_chains(&self) -> AppResult<Vec<uuid::Uuid>> {
        let mut ids: Vec<uuid::Uuid> = self
            .across_tenants::<audit_log::Entity>()
            .find()
            .values(audit_log::Column::TenantId, true)
            .await?;
        let heads: Vec<uuid::Uuid> = self
            .across_tenants::<audit_heads::Entity>()
            .find()
            .values(audit_heads::Column::ChainId, false)
            .await?;
        for head in heads {
            if !ids.contains(&head) {
                ids.push(head);
            }
        }
        Ok(ids)
    }

    /// Re-computes one chain: every entry's hash over its content and its predecessor's
    /// hash, and sequence numbers without gaps. An edited entry fails its own hash; a
    /// deleted one breaks the link or the numbering of the next.
    pub async fn verify_audit_chain(&self, tenant: uuid::Uuid) -> AppResult<ChainCheck> {
        let rows = self
            .across_tenants::<audit_log::Entity>()
            .find()
            .filter(audit_log::Column::TenantId.eq(tenant))
            .order_by_asc(audit_log::Column::Seq)
            .all()
            .await?;
        let mut check = ChainCheck {
            tenant,
            entries: rows.len() as u64,
            broken: None,
        };
        let mut prev = GENESIS.to_owned();
        let mut last_seq = 0;
        for (expected_seq, row) in (1..).zip(rows) {
            let why = if row.seq != expected_seq {
                Some(format!("entry {expected_seq} is missing"))
            } else if row.prev_hash != prev {
                Some("does not follow its predecessor".to_owned())
            } else {
                let content = Content {
                    tenant_id: row.tenant_id,
                    seq: row.seq,
                    id: row.id,
                    actor_user_id: row.actor_user_id,
                    actor_api_key_id: row.actor_api_key_id,
                    action: row.action.clone(),
                    target_type: row.target_type.clone(),
                    target_id: row.target_id.clone(),
                    changes: row.changes.clone(),
                    ip: row.ip.clone(),
                    user_agent: row.user_agent.clone(),
                    request_id: row.request_id.clone(),
                    client_request_id: row.client_request_id.clone(),
                    created_at: row.created_at,
                };
                (content.hash(&row.prev_hash) != row.hash)
                    .then(|| "its content was changed".to_owned())
            };
            if let Some(why) = why {
                check.broken = Some((row.seq, why));
                break;
            }
            prev = row.hash;
            last_seq = row.seq;
        }
        // The head, kept by a trigger outside the table, says where the chain ends: entries
        // deleted from its end leave the head ahead of the last row.
        if check.broken.is_none()
            && let Some(head) = self
                .across_tenants::<audit_heads::Entity>()
                .by_id(tenant)
                .one()
                .await?
            && (head.seq != last_seq || head.hash != prev)
        {
            check.broken = Some((
                last_seq + 1,
                format!(
                    "the chain ends at entry {last_seq} but its head is entry {}: entries were deleted",
                    head.seq
                ),
            ));
        }
        Ok(check)
    }
}
