//! Logging in and staying logged in: login, refresh (rotating, with reuse detection),
//! logout, switching tenant.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::auth::tokens;
use crate::db::PlatformTx;
use crate::db::{Access, SystemTask};
use crate::error::{AppError, AppResult};
use crate::identity::{Email, User, password};
use crate::ids::{SessionId, TenantId, UserId};
use crate::services::Services;
use crate::tenancy::Tenant;

/// What a successful login, refresh or switch returns.
#[derive(Debug, Clone)]
pub struct AuthTokens {
    /// Short-lived JWT.
    pub access_token: String,
    /// Opaque, single-use, rotating.
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// Who is logged in.
    pub user: User,
    /// The tenant the tokens act in, with its modules.
    pub active_tenant: Option<(Tenant, Vec<String>)>,
}

/// Login arguments, as sent.
#[derive(Debug, Clone)]
pub struct LoginInput {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// The tenant to enter; the oldest membership otherwise.
    pub tenant_slug: Option<String>,
}

/// Refresh tokens look like `mrt_…`.
const REFRESH_PREFIX: &str = "mrt_";

/// Starts a session in `tx` and returns its refresh token.
pub(crate) async fn start_session(
    services: &Services,
    tx: &PlatformTx,
    user: &User,
    tenant: Option<&Tenant>,
    client: &ClientInfo,
) -> AppResult<(Session, String)> {
    let refresh = tokens::generate(REFRESH_PREFIX);
    let ttl =
        Duration::from_std(services.config.auth.refresh_token_ttl).map_err(AppError::internal)?;
    let session = tx
        .insert_session(
            user.id,
            tenant.map(|t| t.id),
            services.now() + ttl,
            &tokens::hash(&refresh),
            client,
        )
        .await?;
    Ok((session, refresh))
}

/// `tenant` with its modules, read in `tx`.
async fn with_modules(
    tx: &PlatformTx,
    tenant: Option<Tenant>,
) -> AppResult<Option<(Tenant, Vec<String>)>> {
    Ok(match tenant {
        Some(tenant) => {
            let modules = tx.tenant_modules(tenant.id).await?.into_iter().collect();
            Some((tenant, modules))
        }
        None => None,
    })
}

/// Signs the access token of `session` and assembles the payload.
pub(crate) fn tokens_for(
    services: &Services,
    session: &Session,
    refresh_token: String,
    user: User,
    active_tenant: Option<(Tenant, Vec<String>)>,
) -> AppResult<AuthTokens> {
    let ttl =
        Duration::from_std(services.config.auth.access_token_ttl).map_err(AppError::internal)?;
    let access_token = services
        .keys
        .issue(
            user.id.into_uuid(),
            active_tenant.as_ref().map(|(t, _)| t.id.into_uuid()),
            session.id.into_uuid(),
            services.now(),
            ttl,
        )
        .map_err(AppError::Internal)?;
    Ok(AuthTokens {
        access_token,
        refresh_token,
        expires_in: ttl.num_seconds(),
        user,
        active_tenant,
    })
}

/// A hash to verify against when the email is unknown, so both failures take as long.
async fn dummy_hash() -> AppResult<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = password::hash("msingi-timing-equaliser").await?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Checks email and password and starts a session.
pub async fn login(
    services: &Services,
    caller: &Caller,
    input: LoginInput,
) -> AppResult<AuthTokens> {
    let email = Email::parse(&input.email, "input.email")?;
    // Attempts are counted before the password is verified, atomically, per (client
    // address, account) and, more loosely, per account from anywhere. An address guessing
    // at unknown emails only ever counts against those emails, so it locks out nobody else.
    let limit = services.config.auth.login_max_failures;
    let pair_key = format!(
        "login:pair:{}:{email}",
        caller.client().ip.unwrap_or_default()
    );
    let account_key = format!("login:account:{email}");
    services.throttle.attempt(&pair_key, limit).await?;
    services
        .throttle
        .attempt(&account_key, limit.saturating_mul(10))
        .await?;

    let credentials = services
        .db
        .global_read("login: credentials")
        .await?
        .credentials(&email)
        .await?;
    let stored = match credentials
        .as_ref()
        .and_then(|c| c.password_hash.as_deref())
    {
        Some(hash) => hash.to_owned(),
        None => dummy_hash().await?.to_owned(),
    };
    let matches = password::verify(&input.password, &stored).await?;
    let Some(credentials) = credentials.filter(|c| matches && c.password_hash.is_some()) else {
        return Err(AppError::InvalidCredentials);
    };
    services.throttle.reset(&pair_key).await?;
    services.throttle.reset(&account_key).await?;
    let rehashed = if password::needs_rehash(&stored) {
        Some(password::hash(&input.password).await?)
    } else {
        None
    };

    let user = credentials.user;
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Sessions))
        .await?;
    if let Some(rehashed) = rehashed {
        tx.set_password_hash(user.id, &rehashed).await?;
    }
    let memberships = tx.memberships_of(user.id).await?;
    let active = memberships
        .iter()
        .filter(|m| m.status == crate::tenancy::MembershipStatus::Active)
        .map(|m| &m.tenant);
    let tenant = match input
        .tenant_slug
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(slug) => Some(
            active
                .clone()
                .find(|t| t.slug.as_str() == slug)
                .cloned()
                .ok_or(AppError::NotFound { entity: "tenant" })?,
        ),
        None => active.clone().next().cloned(),
    };
    let (session, refresh) =
        start_session(services, &tx, &user, tenant.as_ref(), &caller.client()).await?;
    let mut actor = caller.actor();
    actor.user = Some(user.id);
    tx.audit(
        tenant.as_ref().map(|t| t.id),
        &actor,
        AuditEntry::new("session.login", "session", session.id),
    )
    .await?;
    let tenant = with_modules(&tx, tenant).await?;
    tx.commit().await?;
    tokens_for(services, &session, refresh, user, tenant)
}

/// Swaps a refresh token for a new pair. A token that was already swapped revokes its
/// whole session (someone holds a copy) and is recorded in the audit log.
pub async fn refresh(
    services: &Services,
    caller: &Caller,
    refresh_token: &str,
) -> AppResult<AuthTokens> {
    let hash = tokens::hash(refresh_token.trim());
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Sessions))
        .await?;
    let Some(record) = tx.find_refresh_token(&hash).await? else {
        return Err(AppError::Unauthenticated);
    };
    let session = record.session;
    if !session.is_live(services.now()) {
        return Err(AppError::Unauthenticated);
    }
    if record.rotated_at.is_some() || !tx.rotate_refresh_token(&hash).await? {
        tx.revoke_session(session.id, "refresh_token_reuse").await?;
        let mut actor = caller.actor();
        actor.user = Some(session.user);
        let entry = AuditEntry::new("session.refresh_token_reuse", "session", session.id)
            .with_changes(serde_json::json!({ "revoked": true }));
        tx.audit(session.tenant, &actor, entry).await?;
        tx.ends_sessions_of(session.user);
        tx.commit().await?;
        tracing::warn!(session = %session.id, user = %session.user, "refresh token reuse: session revoked");
        return Err(AppError::Unauthenticated);
    }
    let refresh = tokens::generate(REFRESH_PREFIX);
    tx.insert_refresh_token(session.id, &tokens::hash(&refresh))
        .await?;
    let mut actor = caller.actor();
    actor.user = Some(session.user);
    tx.audit(
        session.tenant,
        &actor,
        AuditEntry::new("session.refresh", "session", session.id),
    )
    .await?;
    let user = tx
        .find_user(session.user)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let tenant = match session.tenant {
        Some(tenant) if tx.is_active_member(tenant, user.id).await? => {
            tx.find_tenant(tenant).await?
        }
        _ => None,
    };
    let tenant = with_modules(&tx, tenant).await?;
    tx.commit().await?;
    tokens_for(services, &session, refresh, user, tenant)
}

/// Ends the session a refresh token belongs to. Answers true whether or not the token was
/// known, so it reveals nothing.
pub async fn logout(services: &Services, refresh_token: &str) -> AppResult<bool> {
    let hash = tokens::hash(refresh_token.trim());
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Sessions))
        .await?;
    if let Some(record) = tx.find_refresh_token(&hash).await? {
        tx.revoke_session(record.session.id, "logout").await?;
        let actor = crate::audit::Actor {
            user: Some(record.session.user),
            ..Default::default()
        };
        tx.audit(
            record.session.tenant,
            &actor,
            AuditEntry::new("session.logout", "session", record.session.id),
        )
        .await?;
        tx.ends_sessions_of(record.session.user);
        tx.commit().await?;
    }
    Ok(true)
}

/// Starts a session in another tenant the caller belongs to.
pub async fn switch_tenant(
    services: &Services,
    caller: &Caller,
    tenant: TenantId,
) -> AppResult<AuthTokens> {
    let me = caller.user()?;
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Sessions))
        .await?;
    if !tx.is_active_member(tenant, me.id).await? {
        return Err(AppError::NotFound { entity: "tenant" });
    }
    let tenant = tx
        .find_tenant(tenant)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let user = tx
        .find_user(me.id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let (session, refresh) =
        start_session(services, &tx, &user, Some(&tenant), &caller.client()).await?;
    tx.audit(
        Some(tenant.id),
        &caller.actor(),
        AuditEntry::new("session.switch_tenant", "session", session.id),
    )
    .await?;
    let tenant = with_modules(&tx, Some(tenant)).await?;
    tx.commit().await?;
    tokens_for(services, &session, refresh, user, tenant)
}

/// A session as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id (`sid` in access tokens).
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// The tenant its tokens act in.
    pub tenant: Option<TenantId>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether tokens of this session are accepted at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Where a login came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Address.
    pub ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
}

/// A presented refresh token and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The session the token belongs to.
    pub session: Session,
    /// When the token was replaced by a newer one; a replaced token presented again is
    /// reuse.
    pub rotated_at: Option<DateTime<Utc>>,
}
