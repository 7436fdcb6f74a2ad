//! Login throttling: failures are counted per account and per client address in a fixed
//! window; past the limit a login answers RATE_LIMITED with the seconds left in the window.
//! A success clears the account's count. Counters live in Redis when configured (shared by
//! every API node), in this process otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use crate::clock::SharedClock;
use crate::error::{AppError, AppResult};

/// In-process counters: key → (failures, window start).
type Counters = Arc<Mutex<HashMap<String, (u32, DateTime<Utc>)>>>;

/// Where the counters live.
#[derive(Clone)]
enum Store {
    Redis(ConnectionManager),
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
            Store::Memory(_) => "memory",
        };
        write!(f, "Throttle({kind}, {:?})", self.window)
    }
}

impl Throttle {
    /// Counters in Redis (`redis_url`) or in this process.
    pub async fn new(
        redis_url: Option<&str>,
        namespace: &str,
        clock: SharedClock,
        window: Duration,
    ) -> anyhow::Result<Self> {
        let store = match redis_url {
            Some(url) => Store::Redis(ConnectionManager::new(redis::Client::open(url)?).await?),
            None => Store::Memory(Arc::default()),
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

    /// Counts one failure against `key`.
    pub async fn record_failure(&self, key: &str) -> AppResult<()> {
        let window = self.window.as_secs().max(1);
        match &self.store {
            Store::Redis(conn) => {
                let mut conn = conn.clone();
                let key = self.key(key);
                let (): () = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(window)
                    .arg("NX")
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(AppError::internal)?;
            }
            Store::Memory(map) => {
                let now = self.clock.now();
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                let entry = map.entry(key.to_owned()).or_insert((0, now));
                if now - entry.1 >= chrono::Duration::seconds(window as i64) {
                    *entry = (0, now);
                }
                entry.0 += 1;
            }
        }
        Ok(())
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
        let throttle = Throttle::new(None, "t", clock.clone(), Duration::from_secs(60))
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
}
