//! What the services share: the database, the token keys, the throttle, the configuration.
//! Built once at start; resolvers and handlers get it from the schema's data.

use std::sync::Arc;

use crate::auth::keys::JwtKeys;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::db::Db;

/// The shared service handles. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The application database.
    pub db: Db,
    /// Access-token keys.
    pub keys: Arc<JwtKeys>,
    /// Login throttle.
    pub throttle: Throttle,
    /// Configuration.
    pub config: Arc<Config>,
    /// Cached tenant contexts and their invalidation.
    pub access: Arc<crate::tenancy::access::AccessCache>,
    /// The job store (`advanceClock` waits for its queues).
    pub jobs: msingi_jobs::JobBackend,
    /// The test clock, when `MSINGI_TEST_CLOCK=true`.
    pub test_clock: Option<Arc<crate::clock::TestClock>>,
    /// M-Pesa: the Daraja client and the callback key.
    pub mpesa: Option<crate::payments::pay::Mpesa>,
    /// This node's `api_calls` count, recorded in batches.
    pub api_calls: Arc<crate::usage::meter::ApiCallMeter>,
    /// The keys that seal secrets at rest (webhook signing secrets).
    pub data_keys: crate::secrets::DataKeys,
    /// The Daraja simulator this server mounts at `/_daraja` (`MPESA_ENV=simulator`).
    pub daraja_simulator: Option<crate::payments::mpesa::simulator::Simulator>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Now, by the injected clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.db.clock().now()
    }
}
