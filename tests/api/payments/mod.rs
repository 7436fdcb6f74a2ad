//! Payments: M-Pesa STK push against the Daraja simulator, callbacks, the sweeper.

pub mod mpesa;
