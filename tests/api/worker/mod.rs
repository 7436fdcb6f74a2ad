//! Jobs: the outbox and the workers.

mod outbox;
