//! RBAC's tables: roles, their permissions and assignments.

mod roles;
