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
    let ip = actor.ip.clone();
    let user_agent = actor
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(400).collect::<String>());
    let salt = hex::encode(uuid::Uuid::new_v4().as_bytes());
    let digest = personal_digest(
        &salt,
        entry.changes.as_ref(),
        ip.as_deref(),
        user_agent.as_deref(),
    );
    let content = Content {
        tenant_id: tenant,
        seq,
        id: uuid::Uuid::now_v7(),
        actor_user_id: actor.user.map(UserId::into_uuid),
        actor_api_key_id: actor.api_key.map(ApiKeyId::into_uuid),
        action: entry.action,
        target_type: entry.target_type,
        target_id: entry.target_id,
        personal: Personal::Digest {
            personal_digest: digest.clone(),
        },
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
        changes: Set(entry.changes),
        ip: Set(ip),
        user_agent: Set(user_agent),
        request_id: Set(content.request_id),
        client_request_id: Set(content.client_request_id),
        created_at: Set(content.created_at),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
        personal_salt: Set(Some(salt)),
        personal_digest: Set(Some(digest)),
        erased_at: Set(None),
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
    /// The personal fields: in clear in entries written before they were hashed apart,
    /// as their salted digest since.
    #[serde(flatten)]
    personal: Personal,
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

/// An entry's personal fields as its chain hash covers them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
enum Personal {
    /// In clear (entries written before migration 30): erasing them breaks the entry's
    /// own hash, so an erased one is checked by its links only.
    Clear {
        changes: Option<serde_json::Value>,
        ip: Option<String>,
        user_agent: Option<String>,
    },
    /// Their salted digest ([`personal_digest`]): erased (salt and fields pseudonymised),
    /// the entry's hash still holds.
    Digest { personal_digest: String },
}

/// SHA-256 over an entry's salt and personal fields: what its chain hash covers of them.
pub(super) fn personal_digest(
    salt: &str,
    changes: Option<&serde_json::Value>,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let fields = serde_json::json!({"changes": changes, "ip": ip, "user_agent": user_agent});
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b"\n");
    hasher.update(fields.to_string().as_bytes());
    hex::encode(hasher.finalize())
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
                verify_entry(&row)
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

/// Why one entry's content does not match its hash, if it does not. An entry whose
/// personal fields were hashed apart is checked whole, its digest against the fields while
/// they are there (erased, the digest stands for them); an erased entry from before that
/// is checked by its links alone.
fn verify_entry(row: &audit_log::Model) -> Option<String> {
    let personal = match (&row.personal_digest, row.erased_at) {
        (Some(digest), erased) => {
            if erased.is_none() {
                let salt = row.personal_salt.as_deref().unwrap_or_default();
                let fields = personal_digest(
                    salt,
                    row.changes.as_ref(),
                    row.ip.as_deref(),
                    row.user_agent.as_deref(),
                );
                if &fields != digest {
                    return Some("its personal fields were changed".to_owned());
                }
            }
            Personal::Digest {
                personal_digest: digest.clone(),
            }
        }
        (None, Some(_)) => return None,
        (None, None) => Personal::Clear {
            changes: row.changes.clone(),
            ip: row.ip.clone(),
            user_agent: row.user_agent.clone(),
        },
    };
    let content = Content {
        tenant_id: row.tenant_id,
        seq: row.seq,
        id: row.id,
        actor_user_id: row.actor_user_id,
        actor_api_key_id: row.actor_api_key_id,
        action: row.action.clone(),
        target_type: row.target_type.clone(),
        target_id: row.target_id.clone(),
        personal,
        request_id: row.request_id.clone(),
        client_request_id: row.client_request_id.clone(),
        created_at: row.created_at,
    };
    (content.hash(&row.prev_hash) != row.hash).then(|| "its content was changed".to_owned())
}
