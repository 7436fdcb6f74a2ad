//! Identity operations: adapters from GraphQL to `crate::identity`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::types::{ApiKey, AuthPayload, CreatedApiKey, Invitation, Me};
use super::{caller, services};
use crate::identity::{api_keys, invitations, me, recovery, registration, sessions};

/// Sign-up arguments.
#[derive(InputObject)]
pub struct RegisterInput {
    /// Login email.
    email: String,
    /// 8 to 128 characters.
    password: String,
    name: String,
    /// Phone number.
    phone: Option<String>,
    /// The first tenant, created with the user as its owner.
    tenant_name: String,
    /// Subdomain-safe; derived from tenantName when absent.
    tenant_slug: Option<String>,
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

/// Invitation arguments.
#[derive(InputObject)]
pub struct InviteMemberInput {
    /// Who to invite.
    email: String,
    /// Roles the invitee will hold.
    role_ids: Vec<ID>,
    /// Stores the roles are limited to; absent: the whole tenant.
    store_ids: Option<Vec<ID>>,
}

/// API key arguments.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    name: String,
    /// Permission codes: a subset of the creator's.
    permissions: Vec<String>,
    /// When it stops working.
    expires_at: Option<DateTime<Utc>>,
}

/// Identity queries.
#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The caller: user, memberships, active tenant, permissions.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        Ok(me::me(services(ctx)?, caller(ctx)?).await?.into())
    }

    /// The tenant's API keys. [P:apikey.manage]
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let keys = api_keys::list(services(ctx)?, caller(ctx)?).await?;
        Ok(keys.into_iter().map(Into::into).collect())
    }

    /// The tenant's invitations, newest first. [P:member.read]
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Vec<Invitation>> {
        let list = invitations::list(services(ctx)?, caller(ctx)?).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

/// Identity mutations.
#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Creates an account and its first tenant (the user owns it), sends a verification
    /// email, and logs in. [PUBLIC]
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let input = registration::RegisterInput {
            email: input.email,
            password: input.password,
            name: input.name,
            phone: input.phone,
            tenant_name: input.tenant_name,
            tenant_slug: input.tenant_slug,
        };
        Ok(registration::register(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

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
        Ok(
            sessions::switch_tenant(services(ctx)?, caller(ctx)?, &tenant_id)
                .await?
                .into(),
        )
    }

    /// Mails a reset link; true whether or not the email exists. [PUBLIC]
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(recovery::request_password_reset(services(ctx)?, caller(ctx)?, &email).await?)
    }

    /// Sets a new password with a reset token and signs out every session. [PUBLIC]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        Ok(recovery::reset_password(services(ctx)?, &token, &new_password).await?)
    }

    /// Confirms an email address. [PUBLIC]
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        Ok(recovery::verify_email(services(ctx)?, &token).await?)
    }

    /// Invites someone with roles (and optionally stores). [P:member.invite]
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<Invitation> {
        let input = invitations::InviteInput {
            email: input.email,
            role_ids: input.role_ids.into_iter().map(|id| id.0).collect(),
            store_ids: input
                .store_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
        };
        Ok(invitations::invite(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Withdraws a pending invitation. [P:member.invite]
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        Ok(invitations::revoke(services(ctx)?, caller(ctx)?, &id)
            .await?
            .into())
    }

    /// Joins a tenant by invitation: name and password are needed when the email has no
    /// account yet. [PUBLIC]
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        name: Option<String>,
        password: Option<String>,
    ) -> Result<AuthPayload> {
        let tokens = invitations::accept(
            services(ctx)?,
            caller(ctx)?,
            &token,
            name.as_deref(),
            password.as_deref(),
        )
        .await?;
        Ok(tokens.into())
    }

    /// Creates an API key; the secret is shown once. [P:apikey.manage]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreatedApiKey> {
        let input = api_keys::CreateApiKeyInput {
            name: input.name,
            permissions: input.permissions,
            expires_at: input.expires_at,
        };
        Ok(api_keys::create(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Revokes an API key at once. [P:apikey.manage]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        Ok(api_keys::revoke(services(ctx)?, caller(ctx)?, &id)
            .await?
            .into())
    }
}
