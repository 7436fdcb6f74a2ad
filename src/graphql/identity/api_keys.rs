//! API keys: a tenant's machine credentials.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::{caller, services};
use crate::identity::api_keys::{self, ApiKey as ApiKeyRecord};
use crate::ids::ApiKeyId;

/// A tenant API key (never its secret).
#[derive(SimpleObject)]
pub struct ApiKey {
    id: ID,
    name: String,
    /// The public part: `msk_<prefix>_…`.
    prefix: String,
    /// What it may do.
    permissions: Vec<String>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// The last request made with it (updated at most once a minute).
    last_used_at: Option<DateTime<Utc>>,
    /// When it stops working.
    expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKey {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: ID(k.id.to_string()),
            name: k.name,
            prefix: k.prefix,
            permissions: k.permissions,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key and its secret.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The key.
    api_key: ApiKey,
    /// Shown once: `msk_<prefix>_<secret>`, for `Authorization: Bearer`.
    secret: String,
}

impl From<(ApiKeyRecord, String)> for CreatedApiKey {
    fn from((key, secret): (ApiKeyRecord, String)) -> Self {
        Self {
            api_key: key.into(),
            secret,
        }
    }
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

/// ApiKeys queries.
#[derive(Default)]
pub struct ApiKeysQuery;

#[Object]
impl ApiKeysQuery {
    /// The tenant's API keys. [P:apikey.manage]
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let keys = api_keys::list(services(ctx)?, caller(ctx)?).await?;
        Ok(keys.into_iter().map(Into::into).collect())
    }
}

/// ApiKeys mutations.
#[derive(Default)]
pub struct ApiKeysMutation;

#[Object]
impl ApiKeysMutation {
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
        Ok(
            api_keys::revoke(services(ctx)?, caller(ctx)?, ApiKeyId::parse(&id, "id")?)
                .await?
                .into(),
        )
    }
}
