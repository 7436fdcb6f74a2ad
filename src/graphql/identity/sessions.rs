//! Sessions: signing in and out, refreshing tokens, switching tenants.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::super::tenancy::tenants::Tenant;
use super::users::User;
use crate::graphql::{caller, services};
use crate::identity::sessions::{self, AuthTokens};
use crate::ids::TenantId;

/// Tokens after login, refresh, tenant switch or joining.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for `Authorization`.
    access_token: String,
    /// Single-use token for `refreshToken`; rotates on every use.
    refresh_token: String,
    /// Seconds until accessToken expires.
    expires_in: i32,
    /// Who is logged in.
    user: User,
    /// The tenant the tokens act in.
    active_tenant: Option<Tenant>,
}

impl From<AuthTokens> for AuthPayload {
    fn from(t: AuthTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: i32::try_from(t.expires_in).unwrap_or(i32::MAX),
            user: t.user.into(),
            active_tenant: t.active_tenant.map(Into::into),
        }
    }
}

/// Login arguments.
#[derive(InputObject)]
pub struct LoginInput {
    /// Login email.
    email: String,
    /// Password.
    password: String,
    /// The tenant to enter; the oldest membership otherwise.
    tenant_slug: Option<String>,
}

/// Sessions mutations.
#[derive(Default)]
pub struct SessionsMutation;

#[Object]
impl SessionsMutation {
    /// Logs in. Repeated failures answer RATE_LIMITED with `extensions.retryAfter`. [PUBLIC]
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let input = sessions::LoginInput {
            email: input.email,
            password: input.password,
            tenant_slug: input.tenant_slug,
        };
        Ok(sessions::login(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Swaps a refresh token for a new pair; presenting a used one revokes its whole
    /// session. [PUBLIC]
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(
            sessions::refresh(services(ctx)?, caller(ctx)?, &refresh_token)
                .await?
                .into(),
        )
    }

    /// Ends the session the refresh token belongs to.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(sessions::logout(services(ctx)?, &refresh_token).await?)
    }

    /// New tokens acting in another tenant the caller belongs to.
    async fn switch_tenant(&self, ctx: &Context<'_>, tenant_id: ID) -> Result<AuthPayload> {
        let tenant = TenantId::parse(&tenant_id, "tenantId")?;
        Ok(
            sessions::switch_tenant(services(ctx)?, caller(ctx)?, tenant)
                .await?
                .into(),
        )
    }
}
