//! Login throttling: attempts are counted in a fixed window; past the limit an attempt
//! answers RATE_LIMITED with the seconds left in the window. An attempt is counted
//! atomically *before* the password is verified ([`Throttle::attempt`]: Redis `INCR`, or an
//! increment under the map's lock), so a batch or a burst of parallel requests cannot get
//! more guesses than the limit. A success clears the count. Counters live in Redis when
//! configured (shared by every API node), in this process otherwise (pruned as they expire).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use crate::clock::SharedClock;
use crate::error::{AppError, AppResult};

/// The in-process map drops expired counters once it holds this many.
const PRUNE_AT: usize = 10_000;

/// In-process counters: key → (failures, window start).
type Counters = Arc<Mutex<HashMap<String, (u32, DateTime<Utc>)>>>;

/// Where the counters live.
#[derive(Clone)]
enum Store {
    Redis(ConnectionManager),
    /// The `login_throttle` table, when there is no Redis but several nodes may share
    /// one PostgreSQL database (the platform connection).
    Postgres(sqlx::PgPool),
    Memory(Counters),
}

/// Failure counters with a limit and a window.
#[derive(Clone)]
pub struct Throttle {
    store: Store,
    clock: SharedClock,
    window: Duration,
    namespace: String,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.store {
            Store::Redis(_) => "redis",
            Store::Postgres(_) => "postgres",
            Store::Memory(_) => "memory",
        };
        write!(f, "Throttle({kind}, {:?})", self.window)
    }
}

impl Throttle {
    /// Counters in Redis (`redis_url`), else in PostgreSQL (`postgres`), else in this
    /// process.
    pub async fn new(
        redis_url: Option<&str>,
        postgres: Option<sqlx::PgPool>,
        namespace: &str,
        clock: SharedClock,
        window: Duration,
    ) -> anyhow::Result<Self> {
        let store = match (redis_url, postgres) {
            (Some(url), _) => {
                Store::Redis(ConnectionManager::new(redis::Client::open(url)?).await?)
            }
            (None, Some(pool)) => Store::Postgres(pool),
            (None, None) => Store::Memory(Arc::default()),
        };
        Ok(Self {
            store,
            clock,
            window,
            namespace: namespace.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:throttle:{key}", self.namespace)
    }

    /// Refuses with RATE_LIMITED when `key` has `limit` failures in the current window.
    pub async fn check(&self, key: &str, limit: u32) -> AppResult<()> {
        let (count, retry_after) = self.current(key).await?;
        if count >= limit {
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after.max(1),
            });
        }
        Ok(())
    }

    /// Counts one attempt against `key` and refuses it with RATE_LIMITED when it is past
    /// `limit` in the current window. The count and the check are one atomic step.
    pub async fn attempt(&self, key: &str, limit: u32) -> AppResult<()> {
        let (count, retry_after) = self.increment(key).await?;
        if count > limit {
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after.max(1),
            });
        }
        Ok(())
    }

    /// Counts one failure against `key`.
    pub async fn record_failure(&self, key: &str) -> AppResult<()> {
        self.increment(key).await.map(|_| ())
    }

    /// Adds one to `key`'s count; returns the new count and the seconds left in its window.
    async fn increment(&self, key: &str) -> AppResult<(u32, u64)> {
        let window = self.window.as_secs().max(1);
        match &self.store {
            Store::Redis(conn) => {
                let mut conn = conn.clone();
                let key = self.key(key);
                let (count, ttl): (u32, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(window)
                    .arg("NX")
                    .ignore()
                    .ttl(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(AppError::internal)?;
                Ok((count, ttl.max(0) as u64))
            }
            Store::Postgres(pool) => {
                let now = self.clock.now();
                let expired = now - chrono::Duration::seconds(window as i64);
                let key = self.key(key);
                let (count, start): (i32, DateTime<Utc>) = sqlx::query_as(
                    "INSERT INTO login_throttle (key, count, window_start) VALUES ($1, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       count = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                                    ELSE login_throttle.count + 1 END, \
                       window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                                           ELSE login_throttle.window_start END \
                     RETURNING count, window_start",
                )
                .bind(&key)
                .bind(now)
                .bind(expired)
                .fetch_one(pool)
                .await
                .map_err(AppError::internal)?;
                if rand::random_range(0..256) == 0 {
                    let _ = sqlx::query("DELETE FROM login_throttle WHERE window_start <= $1")
                        .bind(expired)
                        .execute(pool)
                        .await;
                }
                let elapsed = (now - start).num_seconds().max(0) as u64;
                Ok((count.max(0) as u32, window.saturating_sub(elapsed)))
            }
            Store::Memory(map) => {
                let now = self.clock.now();
                let span = chrono::Duration::seconds(window as i64);
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if map.len() >= PRUNE_AT {
                    map.retain(|_, (_, start)| now - *start < span);
                }
                let entry = map.entry(key.to_owned()).or_insert((0, now));
                if now - entry.1 >= span {
                    *entry = (0, now);
                }
                entry.0 += 1;
                let elapsed = (now - entry.1).num_seconds().max(0) as u64;
                Ok((entry.0, window.saturating_sub(elapsed)))
            }
        }
    }

    /// Forgets `key`'s failures.
    pub async fn reset(&self, key: &str) -> AppResult<()> {
        match &self.store {
            Store::Redis(conn) => {
                let mut conn = conn.clone();
                let (): () = redis::cmd("DEL")
                    .arg(self.key(key))
                    .query_async(&mut conn)
                    .await
                    .map_err(AppError::internal)?;
            }
            Store::Postgres(pool) => {
                sqlx::query("DELETE FROM login_throttle WHERE key = $1")
                    .bind(self.key(key))
                    .execute(pool)
                    .await
                    .map_err(AppError::internal)?;
            }
            Store::Memory(map) => {
                map.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(key);
            }
        }
        Ok(())
    }

    /// Failures in the current window and seconds until it ends.
    async fn current(&self, key: &str) -> AppResult<(u32, u64)> {
        let window = self.window.as_secs().max(1);
        match &self.store {
            Store::Redis(conn) => {
                let mut conn = conn.clone();
                let key = self.key(key);
                let (count, ttl): (Option<u32>, i64) = redis::pipe()
                    .get(&key)
                    .ttl(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(AppError::internal)?;
                Ok((count.unwrap_or(0), ttl.max(0) as u64))
            }
            Store::Postgres(pool) => {
                let now = self.clock.now();
                let row: Option<(i32, DateTime<Utc>)> =
                    sqlx::query_as("SELECT count, window_start FROM login_throttle WHERE key = $1")
                        .bind(self.key(key))
                        .fetch_optional(pool)
                        .await
                        .map_err(AppError::internal)?;
                Ok(match row {
                    Some((count, start)) => {
                        let elapsed = (now - start).num_seconds().max(0) as u64;
                        if elapsed >= window {
                            (0, 0)
                        } else {
                            (count.max(0) as u32, window - elapsed)
                        }
                    }
                    None => (0, 0),
                })
            }
            Store::Memory(map) => {
                let now = self.clock.now();
                let map = map.lock().unwrap_or_else(PoisonError::into_inner);
                Ok(match map.get(key) {
                    Some((count, start)) => {
                        let elapsed = (now - *start).num_seconds().max(0) as u64;
                        if elapsed >= window {
                            (0, 0)
                        } else {
                            (*count, window - elapsed)
                        }
                    }
                    None => (0, 0),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn failures_lock_out_until_the_window_ends_and_a_reset_clears_them() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let throttle = Throttle::new(None, None, "t", clock.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        for _ in 0..3 {
            throttle.check("acct:a", 3).await.unwrap();
            throttle.record_failure("acct:a").await.unwrap();
        }
        let err = throttle.check("acct:a", 3).await.unwrap_err();
        assert!(
            matches!(
                err,
                AppError::RateLimited {
                    retry_after_secs: 60
                }
            ),
            "{err:?}"
        );
        clock.advance(chrono::Duration::seconds(45));
        assert!(matches!(
            throttle.check("acct:a", 3).await.unwrap_err(),
            AppError::RateLimited {
                retry_after_secs: 15
            }
        ));
        clock.advance(chrono::Duration::seconds(15));
        throttle.check("acct:a", 3).await.unwrap();
        throttle.record_failure("acct:b").await.unwrap();
        throttle.reset("acct:b").await.unwrap();
        throttle.check("acct:b", 1).await.unwrap();
    }

    #[tokio::test]
    async fn parallel_attempts_get_no_more_than_the_limit() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let throttle = Throttle::new(None, None, "t", clock.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        let attempts = (0..12).map(|_| {
            let throttle = throttle.clone();
            tokio::spawn(async move { throttle.attempt("acct:a", 5).await.is_ok() })
        });
        let allowed = futures::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(allowed, 5);
    }

    #[tokio::test]
    async fn expired_counters_are_pruned() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let throttle = Throttle::new(None, None, "t", clock.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        for i in 0..PRUNE_AT {
            throttle.record_failure(&format!("k{i}")).await.unwrap();
        }
        clock.advance(chrono::Duration::seconds(61));
        throttle.record_failure("fresh").await.unwrap();
        let Store::Memory(map) = &throttle.store else {
            unreachable!()
        };
        assert_eq!(map.lock().unwrap().len(), 1);
    }
}
