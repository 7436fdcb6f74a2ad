//! Id newtypes. A `TenantId` cannot be passed where a `StoreId` is wanted, and ids parsed
//! from client input say which argument was bad.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::AppError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a stored id.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The raw UUID.
            pub fn into_uuid(self) -> Uuid {
                self.0
            }

            /// Parses a client-supplied id; `field` names the argument in the error.
            pub fn parse(value: &str, field: &str) -> Result<Self, AppError> {
                Uuid::from_str(value.trim())
                    .map(Self)
                    .map_err(|_| AppError::bad_input(field, "not a valid id"))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A tenant.
    TenantId
);
id_type!(
    /// A store inside a tenant.
    StoreId
);
id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A role inside a tenant.
    RoleId
);
id_type!(
    /// A login session (one device, one family of refresh tokens).
    SessionId
);
id_type!(
    /// An invitation to join a tenant.
    InvitationId
);
id_type!(
    /// A tenant API key.
    ApiKeyId
);
id_type!(
    /// An in-app notification.
    NotificationId
);
id_type!(
    /// A tenant's webhook endpoint.
    WebhookEndpointId
);
id_type!(
    /// One event's delivery to one webhook endpoint.
    WebhookDeliveryId
);
id_type!(
    /// A product of a tenant's inventory.
    ProductId
);
id_type!(
    /// One signed change of a product's stock in one store.
    StockMovementId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ids_name_their_argument() {
        let err = StoreId::parse("12", "id").unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "id"));
        let id = TenantId::new();
        assert_eq!(TenantId::parse(&id.to_string(), "x").unwrap(), id);
    }
}
