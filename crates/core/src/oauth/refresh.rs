//! One refresh per refresh token at a time on this instance.
//!
//! Requests carrying the same saved login (a form and an execute, several scheduled executes at
//! once) would each refresh it. With a provider that rotates refresh tokens, the first refresh
//! invalidates the token the others present, and they fail `invalid_grant`. So the first request
//! refreshes and the others wait for its result; the result is also kept for a few minutes (while
//! its access token is usable), for requests that started with the older state. Keyed by the refresh token itself
//! (in memory only, never logged): a result is only ever handed to a holder of the same grant.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::{ProviderError, TokenBundle};

/// Most refresh results kept at once (a bundle is at most 32 KB sealed: 32 MB at worst); past it
/// (after dropping stale ones) a refresh still runs, only without being shared.
const MAX_KEPT: usize = 1_000;

/// Longest a successful result is kept (less when its access token is due sooner): long enough
/// for requests that started with the older state.
const KEEP_SECS: i64 = 300;

/// A refresh of one refresh token: under way, or done and kept until `keep_until`.
struct Flight {
    result: OnceCell<Result<TokenBundle, ProviderError>>,
    /// Unix seconds until which a successful result is handed out; `i64::MAX` while under way.
    keep_until: AtomicI64,
}

impl Flight {
    fn stale(&self, now: i64) -> bool {
        self.result.initialized() && self.keep_until.load(Ordering::Relaxed) <= now
    }
}

/// The refreshes under way and just done on this instance.
#[derive(Default)]
pub(super) struct Refreshes(Mutex<HashMap<String, Arc<Flight>>>);

impl Refreshes {
    /// The result of refreshing with `refresh_token`: `refresh` runs unless a refresh of the same
    /// token is under way (its result is awaited) or just succeeded (its result is used).
    pub(super) async fn run<F, Fut>(
        &self,
        refresh_token: &SecretString,
        now: i64,
        refresh: F,
    ) -> Result<TokenBundle, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenBundle, ProviderError>>,
    {
        let key = refresh_token.expose_secret();
        let Some(flight) = self.join(key, now) else {
            tracing::warn!("too many refreshes kept; this one is not shared");
            return refresh().await;
        };
        let result = flight
            .result
            .get_or_init(|| async {
                let result = refresh().await;
                // Set by the request that refreshed (from its clock), before anyone sees it.
                if let Ok(fresh) = &result {
                    flight.keep_until.store(
                        fresh.refresh_due().min(now.saturating_add(KEEP_SECS)),
                        Ordering::Relaxed,
                    );
                }
                result
            })
            .await
            .clone();
        // A failure is not kept: the next request asks the provider again.
        if result.is_err() {
            self.forget(key, &flight);
        }
        result
    }

    /// The flight for `key`, joined or started (`None` when the map is full).
    fn join(&self, key: &str, now: i64) -> Option<Arc<Flight>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| f.stale(now)) {
            map.remove(key);
        }
        if let Some(f) = map.get(key) {
            return Some(f.clone());
        }
        if map.len() >= MAX_KEPT {
            map.retain(|_, f| !f.stale(now));
            if map.len() >= MAX_KEPT {
                return None;
            }
        }
        let flight = Arc::new(Flight {
            result: OnceCell::new(),
            keep_until: AtomicI64::new(i64::MAX),
        });
        map.insert(key.to_string(), flight.clone());
        Some(flight)
    }

    fn forget(&self, key: &str, flight: &Arc<Flight>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn bundle(token: &str, expires_at: i64) -> TokenBundle {
        TokenBundle {
            access_token: token.to_string().into(),
            refresh_token: Some("rt-2".to_string().into()),
            expires_at,
            email: None,
        }
    }

    #[tokio::test]
    async fn concurrent_refreshes_of_one_token_ask_the_provider_once() {
        let r = Refreshes::default();
        let asked = AtomicU32::new(0);
        let rt: SecretString = "rt-1".to_string().into();
        let refresh = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(bundle("fresh", 5_000))
        };
        let (a, b, c) = tokio::join!(
            r.run(&rt, 1_000, refresh),
            r.run(&rt, 1_000, refresh),
            r.run(&rt, 1_000, refresh)
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        for got in [a, b, c] {
            assert_eq!(got.unwrap().access_token.expose_secret(), "fresh");
        }
        // Later, with the same (older) token: the kept result for a few minutes…
        let again = r.run(&rt, 1_000 + KEEP_SECS - 1, refresh).await.unwrap();
        assert_eq!(again.access_token.expose_secret(), "fresh");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // …then a new refresh.
        r.run(&rt, 1_000 + KEEP_SECS, refresh).await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        // Another token is another refresh.
        r.run(&"other".to_string().into(), 1_000, refresh)
            .await
            .unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failure_is_shared_by_those_waiting_and_not_kept() {
        let r = Refreshes::default();
        let asked = AtomicU32::new(0);
        let rt: SecretString = "rt-1".to_string().into();
        let refused = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(ProviderError::Rejected("invalid_grant".into()))
        };
        let (a, b) = tokio::join!(r.run(&rt, 1_000, refused), r.run(&rt, 1_000, refused));
        assert!(a.is_err() && b.is_err());
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert_eq!(r.len(), 0);
        assert!(r.run(&rt, 1_000, refused).await.is_err());
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
