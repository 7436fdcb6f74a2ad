//! The audit log: who did what, to what, from where. Entries are hash-chained per tenant
//! (platform entries chain under the nil tenant id), so an edited or deleted row is
//! detectable.

use crate::rbac::perm;
use sha2::{Digest, Sha256};

use crate::ids::{ApiKeyId, UserId};

/// Who acted, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The user, if a user acted.
    pub user: Option<UserId>,
    /// The API key, if a key acted.
    pub api_key: Option<ApiKeyId>,
    /// Client address.
    pub ip: Option<String>,
    /// Client `User-Agent`.
    pub user_agent: Option<String>,
    /// The server's own id of the request.
    pub request_id: Option<String>,
    /// The `X-Request-ID` the client chose, if any: recorded as the client's.
    pub client_request_id: Option<String>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Dotted action name, e.g. `session.refresh_reuse`.
    pub action: String,
    /// Kind of object acted on.
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// Before/after values, secrets already redacted.
    pub changes: Option<serde_json::Value>,
}

impl AuditEntry {
    /// An entry about one object.
    pub fn new(action: &str, target_type: &str, target_id: impl ToString) -> Self {
        Self {
            action: action.to_owned(),
            target_type: Some(target_type.to_owned()),
            target_id: Some(target_id.to_string()),
            changes: None,
        }
    }

    /// Attaches changes, with values under secret-looking keys replaced.
    pub fn with_changes(mut self, changes: serde_json::Value) -> Self {
        self.changes = Some(redact(changes));
        self
    }
}

/// An entry with who made it: what a writing scope commits with.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub entry: AuditEntry,
}

impl Audit {
    /// `entry`, made by `actor`.
    pub fn by(actor: Actor, entry: AuditEntry) -> Self {
        Self { actor, entry }
    }
}

const SECRET_KEYS: &[&str] = &["password", "secret", "token", "hash", "key"];

/// Replaces the value of every key that names a secret with `"[redacted]"`.
pub fn redact(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_lowercase();
                    if SECRET_KEYS.iter().any(|s| lower.contains(s)) {
                        (k, Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// The hash stored with an entry: SHA-256 over the previous hash and the entry's content.
pub fn chain_hash(prev_hash: &str, content: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The outcome of checking one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// The chain's tenant (nil: the platform).
    pub tenant: uuid::Uuid,
    /// Entries read.
    pub entries: u64,
    /// The first break: the sequence number where the chain stops holding, and why.
    pub broken: Option<(i64, String)>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let redacted =
            redact(json!({"name": "Duka", "password": "x", "nested": {"apiKeySecret": "y"}}));
        assert_eq!(
            redacted,
            json!({"name": "Duka", "password": "[redacted]", "nested": {"apiKeySecret": "[redacted]"}})
        );
    }

    #[test]
    fn the_chain_hash_depends_on_the_previous_hash_and_the_content() {
        let a = chain_hash(GENESIS, &json!({"action": "x"}));
        assert_ne!(a, chain_hash(GENESIS, &json!({"action": "y"})));
        assert_ne!(a, chain_hash(&a, &json!({"action": "x"})));
        assert_eq!(a, chain_hash(GENESIS, &json!({"action": "x"})));
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Id.
    pub id: uuid::Uuid,
    /// Position in the tenant's chain.
    pub seq: i64,
    /// Action.
    pub action: String,
    /// Acting user.
    pub actor_user: Option<UserId>,
    /// Acting API key.
    pub actor_api_key: Option<ApiKeyId>,
    /// Kind of object acted on.
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// Changes, redacted.
    pub changes: Option<serde_json::Value>,
    /// Client address.
    pub ip: Option<String>,
    /// The server's id of the request.
    pub request_id: Option<String>,
    /// The `X-Request-ID` the client chose, if any.
    pub client_request_id: Option<String>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Who an entry's acting user is, as the tenant may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActingUser {
    /// A user, shown as they are.
    User(crate::identity::User),
    /// A platform admin who is not a member: shown as the platform's support, never by
    /// name or address.
    PlatformSupport,
}

/// An entry with its acting user resolved.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The entry.
    pub record: AuditRecord,
    /// The acting user (none for API keys and the system).
    pub actor: Option<ActingUser>,
}

/// The active tenant's audit log, newest first, optionally of one action, with each
/// entry's acting user (read once per page). [P:audit.read]
pub async fn list(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    action: Option<&str>,
    page: crate::page::PageRequest,
) -> crate::error::AppResult<crate::page::Page<AuditView>> {
    let ctx = caller.require(perm::AUDIT_READ)?;
    let scope = services.db.read(ctx).await?;
    let page = scope.list_audit(action, page).await?;
    let mut ids: Vec<UserId> = page.items.iter().filter_map(|r| r.actor_user).collect();
    ids.sort();
    ids.dedup();
    let (members, users) = if ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let members = scope.active_member_ids(&ids).await?;
        drop(scope);
        let users = services
            .db
            .global_read("audit log: acting users")
            .await?
            .find_users(&ids)
            .await?;
        (members, users)
    };
    Ok(page.map(|record| {
        let actor = record
            .actor_user
            .and_then(|id| users.iter().find(|u| u.id == id))
            .map(|user| {
                if user.is_platform_admin && !members.contains(&user.id) {
                    ActingUser::PlatformSupport
                } else {
                    ActingUser::User(user.clone())
                }
            });
        AuditView { record, actor }
    }))
}
