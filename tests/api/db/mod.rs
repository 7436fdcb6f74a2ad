//! Repository-level tests: the tenant scope and row-level security, below the API.

mod rls;
mod scope;
