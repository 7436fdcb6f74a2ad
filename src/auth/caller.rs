//! The caller of one request: who they are (from `Authorization`), in which tenant (the
//! token's, or `X-Tenant-ID`) and store (`X-Store-ID`), checked against the database on
//! every request so a revoked session, membership or key stops working at once.
//!
//! Bad credentials do not fail the request: public operations (login, refresh) still work,
//! and anything that needs a caller answers UNAUTHENTICATED.

use crate::audit::Actor;
use crate::db::{Access, SystemTask};
use crate::error::{AppError, AppResult};
use crate::identity::api_keys::ApiKey;
use crate::identity::sessions::ClientInfo;
use crate::ids::{SessionId, StoreId, TenantId, UserId};
use crate::request::RequestMeta;
use crate::services::Services;
use crate::tenancy::TenantContext;

use super::tokens;

/// Why the requested tenant could not be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TenantRefusal {
    /// Not a member (or no such tenant or store): NOT_FOUND.
    NotFound(&'static str),
    /// A header that is not an id: BAD_USER_INPUT.
    BadHeader(&'static str),
}

#[derive(Debug, Clone)]
enum Identity {
    Anonymous,
    Invalid,
    User {
        user: UserId,
        platform_admin: bool,
        session: SessionId,
        tenant: Option<Result<TenantContext, TenantRefusal>>,
    },
    ApiKey {
        key: ApiKey,
        ctx: TenantContext,
    },
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Request id, client address, user agent.
    pub meta: RequestMeta,
    identity: Identity,
}

/// Proof that the request comes from a platform admin: made only by
/// [`Caller::platform_admin`], required to open the platform door on their behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformAdmin {
    user: UserId,
}

impl PlatformAdmin {
    /// The admin.
    pub fn user_id(&self) -> UserId {
        self.user
    }
}

/// A logged-in user, as resolvers need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerUser {
    /// The user.
    pub id: UserId,
    /// Platform admin?
    pub platform_admin: bool,
    /// The session the token belongs to.
    pub session: SessionId,
}

/// The credentials a request presented.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `Authorization: Bearer …`, without the scheme.
    pub bearer: Option<String>,
    /// `X-Tenant-ID`.
    pub tenant: Option<String>,
    /// `X-Store-ID`.
    pub store: Option<String>,
    /// `Host`, for `<slug>.<MSINGI_BASE_DOMAIN>`.
    pub host: Option<String>,
}

/// The tenant slug in `host` when it is `<slug>.<MSINGI_BASE_DOMAIN>`.
fn subdomain<'h>(services: &Services, host: Option<&'h str>) -> Option<&'h str> {
    let base = services.config.http.base_domain.as_deref()?;
    let host = host?.split(':').next()?;
    let slug = host.strip_suffix(base)?.strip_suffix('.')?;
    (!slug.is_empty() && !slug.contains('.')).then_some(slug)
}

/// What a WebSocket presented at `connection_init`, kept for the life of the socket so
/// every operation on it re-resolves its caller as an HTTP request would.
#[derive(Debug, Clone)]
pub struct SocketCredentials {
    /// The upgrade request's id, address and user agent.
    pub meta: RequestMeta,
    /// The credentials from the `connection_init` payload.
    pub credentials: Credentials,
}

/// Whether a socket's caller, re-resolved, lost what it had at `connection_init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The session or key no longer authenticates (logout, revocation, expiry).
    Credentials,
    /// The caller is no longer a member of the tenant it acted in.
    Tenant,
}

impl Caller {
    /// Compares this (fresh) caller with the one the socket started with.
    pub fn lost_since(&self, initial: &Caller) -> Option<Lost> {
        if initial.is_authenticated() && !self.is_authenticated() {
            return Some(Lost::Credentials);
        }
        if initial.tenant().is_ok() && self.tenant().is_err() {
            return Some(Lost::Tenant);
        }
        None
    }

    /// Whether the caller presented credentials that authenticated.
    pub fn is_authenticated(&self) -> bool {
        matches!(
            self.identity,
            Identity::User { .. } | Identity::ApiKey { .. }
        )
    }

    /// Whether the caller is an API key.
    pub fn is_api_key(&self) -> bool {
        matches!(self.identity, Identity::ApiKey { .. })
    }

    /// The user behind the request, if any (also for API keys: none).
    pub fn user_id(&self) -> Option<UserId> {
        match &self.identity {
            Identity::User { user, .. } => Some(*user),
            _ => None,
        }
    }

    /// A caller without credentials (e.g. before authentication ran).
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            meta,
            identity: Identity::Anonymous,
        }
    }

    /// Resolves the request's credentials against the database.
    pub async fn authenticate(
        services: &Services,
        meta: RequestMeta,
        credentials: Credentials,
    ) -> AppResult<Self> {
        let identity = match credentials.bearer.as_deref().map(str::trim) {
            None | Some("") => Identity::Anonymous,
            Some(key) if key.starts_with(API_KEY_PREFIX) => api_key(services, key).await?,
            Some(token) => user(services, token, &credentials).await?,
        };
        if matches!(identity, Identity::Invalid) {
            tracing::debug!(request_id = %meta.request_id, "credentials refused");
        }
        Ok(Self { meta, identity })
    }

    /// The logged-in user, or UNAUTHENTICATED.
    pub fn user(&self) -> AppResult<CallerUser> {
        match &self.identity {
            Identity::User {
                user,
                platform_admin,
                session,
                ..
            } => Ok(CallerUser {
                id: *user,
                platform_admin: *platform_admin,
                session: *session,
            }),
            _ => Err(AppError::Unauthenticated),
        }
    }

    /// The proof that the caller is a platform admin (what opens the platform door for
    /// them), or FORBIDDEN.
    pub fn platform_admin(&self) -> AppResult<PlatformAdmin> {
        let user = self.user()?;
        if user.platform_admin {
            Ok(PlatformAdmin { user: user.id })
        } else {
            Err(AppError::forbidden("platform administrators only"))
        }
    }

    /// The audit record of `entry`, made by this caller.
    pub fn audit(&self, entry: crate::audit::AuditEntry) -> crate::audit::Audit {
        crate::audit::Audit::by(self.actor(), entry)
    }

    /// The tenant the request acts in.
    pub fn tenant(&self) -> AppResult<&TenantContext> {
        match &self.identity {
            Identity::ApiKey { ctx, .. } => Ok(ctx),
            Identity::User {
                tenant: Some(Ok(ctx)),
                ..
            } => Ok(ctx),
            Identity::User {
                tenant: Some(Err(refusal)),
                ..
            } => Err(match refusal {
                TenantRefusal::NotFound(entity) => AppError::NotFound { entity },
                TenantRefusal::BadHeader(header) => AppError::bad_input(*header, "not a valid id"),
            }),
            Identity::User { tenant: None, .. } => Err(AppError::forbidden(
                "no active tenant: switch to a tenant or send X-Tenant-ID",
            )),
            Identity::Anonymous | Identity::Invalid => Err(AppError::Unauthenticated),
        }
    }

    /// The tenant, when the caller holds `permission` in it.
    pub fn require(&self, permission: crate::rbac::Permission) -> AppResult<&TenantContext> {
        let ctx = self.tenant()?;
        ctx.require(permission)?;
        Ok(ctx)
    }

    /// The tenant context when there is a usable one (for `me`).
    pub fn active_tenant(&self) -> Option<&TenantContext> {
        self.tenant().ok()
    }

    /// Who to record in the audit log.
    pub fn actor(&self) -> Actor {
        let (user, api_key) = match &self.identity {
            Identity::User { user, .. } => (Some(*user), None),
            Identity::ApiKey { key, .. } => (None, Some(key.id)),
            _ => (None, None),
        };
        Actor {
            user,
            api_key,
            ip: self.meta.client_ip.map(|ip| ip.to_string()),
            user_agent: self.meta.user_agent.clone(),
            request_id: Some(self.meta.server_request_id.clone()),
            client_request_id: self.meta.client_request_id.clone(),
        }
    }

    /// Where the request came from, for new sessions.
    pub fn client(&self) -> ClientInfo {
        ClientInfo {
            ip: self.meta.client_ip.map(|ip| ip.to_string()),
            user_agent: self.meta.user_agent.clone(),
        }
    }
}

/// API keys look like `msk_<prefix>_<secret>`.
pub const API_KEY_PREFIX: &str = "msk_";

/// Splits `msk_<prefix>_<secret>` into its prefix.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    (!prefix.is_empty() && !secret.is_empty()).then_some(prefix)
}

async fn api_key(services: &Services, presented: &str) -> AppResult<Identity> {
    let Some(prefix) = api_key_prefix(presented) else {
        return Ok(Identity::Invalid);
    };
    let system = services
        .db
        .platform_read(Access::Task(SystemTask::ApiKeys))
        .await?;
    let hash = tokens::hash(presented);
    let now = services.now();
    for (key, stored) in system.api_keys_by_prefix(prefix).await? {
        if !tokens::hashes_match(&hash, &stored) {
            continue;
        }
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > now);
        if !live {
            return Ok(Identity::Invalid);
        }
        // A key acts with at most what its creator still holds: a creator who left the
        // tenant (or lost a permission) takes the key (or that permission) with them.
        let creator = match key.created_by {
            Some(creator) => {
                let principal = crate::tenancy::Principal::User {
                    user_id: creator,
                    platform_admin: false,
                };
                match TenantContext::for_member_in(&system, principal, key.tenant, None).await {
                    Ok(ctx) => Some(ctx),
                    Err(AppError::NotFound { .. }) => return Ok(Identity::Invalid),
                    Err(other) => return Err(other),
                }
            }
            None => None,
        };
        let ctx = match TenantContext::for_api_key(&system, &key, creator.as_ref()).await {
            Ok(ctx) => ctx,
            Err(AppError::NotFound { .. }) => return Ok(Identity::Invalid),
            Err(other) => return Err(other),
        };
        drop(system);
        let touch = services
            .db
            .platform_write(Access::Task(SystemTask::ApiKeys))
            .await?;
        if touch.touch_api_key(&key).await? {
            touch.commit().await?;
        }
        return Ok(Identity::ApiKey { key, ctx });
    }
    Ok(Identity::Invalid)
}

async fn user(services: &Services, token: &str, credentials: &Credentials) -> AppResult<Identity> {
    let claims = match services.keys.verify(token, services.now()) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::debug!(error = %e, "access token refused");
            return Ok(Identity::Invalid);
        }
    };
    let user_id = UserId::from_uuid(claims.sub);
    let Some((session, platform_admin)) = services
        .access
        .session(&services.db, user_id, SessionId::from_uuid(claims.sid))
        .await?
        .filter(|(s, _)| s.is_live(services.now()))
    else {
        return Ok(Identity::Invalid);
    };
    // The tenant: X-Tenant-ID, else the host's subdomain, else the token's.
    let requested = match parse_header(
        credentials.tenant.as_deref(),
        "X-Tenant-ID",
        TenantId::parse,
    ) {
        Err(refusal) => Err(refusal),
        Ok(Some(tenant)) => Ok(Some(tenant)),
        Ok(None) => match subdomain(services, credentials.host.as_deref()) {
            Some(slug) => match services.db.tenant_id_by_slug(slug).await? {
                Some(tenant) => Ok(Some(tenant)),
                None => Err(TenantRefusal::NotFound("tenant")),
            },
            None => Ok(claims.tid.map(TenantId::from_uuid)),
        },
    };
    let store = parse_header(credentials.store.as_deref(), "X-Store-ID", StoreId::parse);
    let tenant = match (requested, store) {
        (Err(refusal), _) | (Ok(Some(_)), Err(refusal)) => Some(Err(refusal)),
        (Ok(None), _) => None,
        (Ok(Some(tenant)), Ok(store)) => Some(
            match services
                .access
                .member_context(&services.db, user_id, platform_admin, tenant, store)
                .await
            {
                Ok(ctx) => Ok(ctx),
                Err(AppError::NotFound { entity }) => Err(TenantRefusal::NotFound(entity)),
                Err(other) => return Err(other),
            },
        ),
    };
    Ok(Identity::User {
        user: user_id,
        platform_admin,
        session: session.id,
        tenant,
    })
}

fn parse_header<T>(
    value: Option<&str>,
    header: &'static str,
    parse: fn(&str, &str) -> AppResult<T>,
) -> Result<Option<T>, TenantRefusal> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v, header)
            .map(Some)
            .map_err(|_| TenantRefusal::BadHeader(header)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_prefixes_are_split_out() {
        assert_eq!(
            api_key_prefix("msk_ab12cd34_s3cr3t_with_underscores"),
            Some("ab12cd34")
        );
        assert_eq!(api_key_prefix("msk__secret"), None);
        assert_eq!(api_key_prefix("msk_prefixonly"), None);
        assert_eq!(api_key_prefix("Bearer x"), None);
    }
}
