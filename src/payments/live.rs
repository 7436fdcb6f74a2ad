//! `paymentUpdated`: the payment's state at once (so a client that subscribes after a fast
//! callback still learns the outcome), then each change until it is final. Changes are
//! read from the database every quarter second, so a callback settled on any API node or
//! worker reaches every subscriber, with or without Redis.

use std::time::Duration;

use futures::Stream;

use super::Payment;
use crate::error::{AppError, AppResult};
use crate::services::Services;
use crate::tenancy::TenantContext;

/// How often a subscriber's payment is re-read.
const POLL: Duration = Duration::from_millis(250);
/// A subscription ends after this long even if the payment never settles (the sweeper
/// times payments out long before).
const LIMIT: Duration = Duration::from_secs(3600);

/// The payment's states from now on, in `ctx`'s tenant: NOT_FOUND (and the end) for a
/// payment that is not the tenant's.
pub fn updates(
    services: Services,
    ctx: TenantContext,
    id: uuid::Uuid,
) -> impl Stream<Item = AppResult<Payment>> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    futures::stream::unfold(
        (services, ctx, None::<Payment>, false),
        move |(services, ctx, last, done)| async move {
            if done {
                return None;
            }
            loop {
                if last.is_some() {
                    tokio::time::sleep(POLL).await;
                }
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                let read = match services.db.read(&ctx).await {
                    Ok(scope) => scope.payment(id).await,
                    Err(e) => Err(e),
                };
                let payment = match read {
                    Ok(Some(payment)) => payment,
                    Ok(None) => {
                        let missing = Err(AppError::NotFound { entity: "payment" });
                        return Some((missing, (services, ctx, None, true)));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "paymentUpdated: could not read the payment");
                        continue;
                    }
                };
                if last.as_ref() != Some(&payment) {
                    let finished = payment.status.is_final();
                    return Some((
                        Ok(payment.clone()),
                        (services, ctx, Some(payment), finished),
                    ));
                }
            }
        },
    )
}
