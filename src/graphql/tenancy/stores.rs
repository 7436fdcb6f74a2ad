//! Stores: units inside the tenant.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::page::PageRequest;
use crate::tenancy::{self, NewStore, Store as StoreRecord, StoreId, StorePatch};

/// Whether a store is in use.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::tenancy::StoreStatus")]
pub enum StoreStatus {
    /// In use.
    Active,
    /// Kept for history.
    Archived,
}

/// A unit inside a tenant: a shop, a branch, a project.
#[derive(SimpleObject)]
pub struct Store {
    id: ID,
    name: String,
    /// Short code, unique in the tenant.
    code: Option<String>,
    /// In use or archived.
    status: StoreStatus,
    /// When it was created.
    created_at: DateTime<Utc>,
}

impl From<StoreRecord> for Store {
    fn from(s: StoreRecord) -> Self {
        Self {
            id: ID(s.id.to_string()),
            name: s.name,
            code: s.code,
            status: s.status.into(),
            created_at: s.created_at,
        }
    }
}

/// A new store.
#[derive(InputObject)]
pub struct CreateStoreInput {
    name: String,
    /// Short code, unique in the tenant.
    code: Option<String>,
}

/// Store changes.
#[derive(InputObject)]
pub struct UpdateStoreInput {
    /// New name.
    name: Option<String>,
    /// New code.
    code: Option<String>,
}

impl TryFrom<CreateStoreInput> for NewStore {
    type Error = crate::error::AppError;
    fn try_from(input: CreateStoreInput) -> Result<Self, Self::Error> {
        NewStore::parse(&input.name, input.code.as_deref())
    }
}

impl TryFrom<UpdateStoreInput> for StorePatch {
    type Error = crate::error::AppError;
    fn try_from(input: UpdateStoreInput) -> Result<Self, Self::Error> {
        StorePatch::parse(input.name.as_deref(), input.code.as_deref())
    }
}

crate::graphql::connection::node!(Store, "StoreConnection", "StoreEdge");

/// Stores queries.
#[derive(Default)]
pub struct StoresQuery;

#[Object]
impl StoresQuery {
    /// The active tenant's stores, oldest first (at most 100 per page). [P:store.read]
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Store>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = tenancy::stores::list(services(ctx)?, caller(ctx)?, page).await?;
        Ok(Connection::of(page, |s: &crate::tenancy::Store| {
            s.id.into_uuid()
        }))
    }

    /// One store of the active tenant; null when there is no such store in it. [P:store.read]
    async fn store(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Store>> {
        let id = StoreId::parse(&id, "id")?;
        Ok(tenancy::stores::get(services(ctx)?, caller(ctx)?, id)
            .await?
            .map(Into::into))
    }
}

/// Stores mutations.
#[derive(Default)]
pub struct StoresMutation;

#[Object]
impl StoresMutation {
    /// Creates a store. [P:store.manage]
    async fn create_store(&self, ctx: &Context<'_>, input: CreateStoreInput) -> Result<Store> {
        let new = NewStore::try_from(input)?;
        let store = tenancy::stores::manage::create(services(ctx)?, caller(ctx)?, new).await?;
        Ok(store.into())
    }

    /// Renames or re-codes a store. [P:store.manage]
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateStoreInput,
    ) -> Result<Store> {
        let id = StoreId::parse(&id, "id")?;
        let patch = StorePatch::try_from(input)?;
        let store =
            tenancy::stores::manage::update(services(ctx)?, caller(ctx)?, id, patch).await?;
        Ok(store.into())
    }

    /// Archives a store. [P:store.manage]
    async fn archive_store(&self, ctx: &Context<'_>, id: ID) -> Result<Store> {
        let id = StoreId::parse(&id, "id")?;
        let store = tenancy::stores::manage::archive(services(ctx)?, caller(ctx)?, id).await?;
        Ok(store.into())
    }
}
