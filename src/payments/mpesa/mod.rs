//! M-Pesa through Safaricom's Daraja: the client, and the simulator that stands in for it
//! offline and in tests.

pub mod client;
pub mod simulator;
