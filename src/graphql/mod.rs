//! The GraphQL API. Resolvers are adapters: they read the request context, parse
//! arguments into domain types, call one service function and map the result. No SQL here.
//!
//! `schema.graphql` at the repository root is [`sdl`]'s output; a test fails when they
//! differ (`msingi export-schema` rewrites it).

mod audit;
mod billing;
mod connection;
mod errors;
mod identity;
mod inputs;
mod introspection;
mod inventory;
pub mod limits;
mod live;
mod notify;
mod payments;
pub mod persisted;
mod pipeline;
mod platform;
mod rbac;
mod rights;
mod socket;
mod tenancy;
mod usage;
mod webhooks;

use async_graphql::{Context, MergedObject, Schema};

pub use crate::request::RequestMeta;
pub use errors::INTERNAL_MESSAGE;

use crate::auth::Caller;
use crate::config::{Environment, GraphqlLimits};
use crate::error::AppError;
use crate::services::Services;

/// The query root, merged from each feature's queries.
#[derive(MergedObject, Default)]
pub struct Query(
    identity::users::UsersQuery,
    identity::invitations::InvitationsQuery,
    identity::api_keys::ApiKeysQuery,
    tenancy::tenants::TenantsQuery,
    tenancy::stores::StoresQuery,
    tenancy::members::MembersQuery,
    rbac::roles::RolesQuery,
    audit::log::AuditLogQuery,
    platform::tenants::PlatformTenantsQuery,
    billing::plans::BillingQuery,
    billing::invoices::InvoicesQuery,
    payments::PaymentsQuery,
    usage::UsageQuery,
    notify::NotificationsQuery,
    webhooks::WebhooksQuery,
    inventory::InventoryQuery,
    platform::tenants::TiersQuery,
    rights::RightsQuery,
);

/// The mutation root, merged from each feature's mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    identity::users::UsersMutation,
    identity::sessions::SessionsMutation,
    identity::invitations::InvitationsMutation,
    identity::api_keys::ApiKeysMutation,
    tenancy::tenants::TenantsMutation,
    tenancy::stores::StoresMutation,
    tenancy::members::MembersMutation,
    rbac::roles::RolesMutation,
    platform::tenants::PlatformTenantsMutation,
    billing::plans::BillingMutation,
    payments::PaymentsMutation,
    usage::UsageMutation,
    notify::NotificationsMutation,
    webhooks::WebhooksMutation,
    inventory::InventoryMutation,
    platform::tenants::TiersMutation,
    rights::RightsMutation,
);

/// The executable schema.
pub type AppSchema = Schema<Query, Mutation, live::Live>;

/// The shared services, from the schema's data.
fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services, AppError> {
    ctx.data::<Services>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("services missing from the schema data")))
}

/// The request's caller, from the request's data.
fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, AppError> {
    ctx.data::<Caller>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("caller missing from the request data")))
}

/// Builds the schema with the configured limits; `services` is absent only when exporting
/// the SDL. Without `introspection` the schema refuses `__schema` and `__type` (production
/// default).
pub fn schema(
    limits: GraphqlLimits,
    environment: Environment,
    introspection: bool,
    persisted: Option<persisted::PersistedQueries>,
    services: Option<Services>,
) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), live::Live::default())
        .extension(pipeline::Pipeline::new(
            limits::DocumentLimits::new(limits),
            persisted,
            introspection,
        ))
        // Scalar descriptions say what a client sends, not which Rust type holds it.
        .override_output_type_description::<chrono::DateTime<chrono::Utc>>(
            "An instant as an RFC 3339 string in UTC, e.g. \"2026-12-01T09:30:00Z\" \
             (an offset such as +03:00 is accepted on input).",
        )
        .override_output_type_description::<async_graphql::Json<serde_json::Value>>(
            "Any JSON value, sent as JSON (not as a string holding JSON).",
        )
        // Depth is checked by `limits::DocumentLimits` (fragments expanded, introspection
        // with its own bound); async-graphql's own check stays as a backstop above both.
        .limit_depth(limits.max_depth.max(limits::INTROSPECTION_MAX_DEPTH) + 1)
        .limit_recursive_depth(limits.max_depth.max(32))
        .limit_complexity(limits.max_complexity)
        .limit_directives(16);
    if environment == Environment::Production {
        builder = builder.disable_suggestions();
    }
    if !introspection {
        builder = builder.disable_introspection();
    }
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    let schema = schema(
        GraphqlLimits::default(),
        Environment::Development,
        true,
        None,
        None,
    );
    schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .include_specified_by()
            .sorted_fields()
            .sorted_enum_items(),
    )
}
