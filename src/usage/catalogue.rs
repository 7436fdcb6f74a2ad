//! The billable metric catalogue: `metrics` (public) and `createMetric` (platform admins).

use super::{Aggregation, Metric};
use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::Access;
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// The catalogue, by code. [PUBLIC]
pub async fn list(services: &Services) -> AppResult<Vec<Metric>> {
    services.db.metrics().await
}

/// Adds a metric; its code is what plans limit and price and what events name, so it
/// is a limit name: a lower-case letter, then lower-case letters, digits and `_`. Audited
/// in the platform's chain. [PA]
pub async fn create(
    services: &Services,
    caller: &Caller,
    code: &str,
    name: &str,
    unit: &str,
    aggregation: Aggregation,
) -> AppResult<Metric> {
    let admin = caller.platform_admin()?;
    let code = code.trim();
    if !(2..=40).contains(&code.len())
        || !code.as_bytes()[0].is_ascii_lowercase()
        || !code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(AppError::bad_input(
            "input.code",
            "2 to 40 characters: a lower-case letter, then lower-case letters, digits and _",
        ));
    }
    let text = |value: &str, field: &'static str, max: usize| {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max {
            Err(AppError::bad_input(field, format!("1 to {max} characters")))
        } else {
            Ok(value.to_owned())
        }
    };
    let metric = Metric {
        code: code.to_owned(),
        name: text(name, "input.name", 100)?,
        unit: text(unit, "input.unit", 40)?,
        aggregation,
    };
    let tx = services
        .db
        .platform_write(Access::Admin(&admin, "create metric"))
        .await?;
    let metric = tx.insert_metric(metric).await?;
    let entry = AuditEntry::new("platform.metric.create", "metric", &metric.code).with_changes(
        serde_json::json!({
            "code": metric.code, "name": metric.name, "unit": metric.unit,
            "aggregation": metric.aggregation.as_str(),
        }),
    );
    tx.audit(None, &caller.actor(), entry).await?;
    tx.commit().await?;
    Ok(metric)
}
