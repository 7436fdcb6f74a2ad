//! Jobs: the outbox and the workers.

mod crash;
mod outbox;
