//! Usage metering, as a tenant's servers and its owner use it.

mod metering;
