//! The platform scope.

mod tenants;
