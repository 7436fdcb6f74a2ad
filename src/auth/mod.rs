//! Authentication: access tokens, opaque secrets, login throttling, and turning a request's
//! credentials into a caller.

pub mod caller;
pub mod keys;
pub mod throttle;
pub mod tokens;
pub use caller::{Caller, CallerUser, Credentials, Lost, PlatformAdmin, SocketCredentials};
