//! Request rate limits of one registry (`[registries.limits]`): a token
//! bucket per signed-in identity (its user id) and one per anonymous client
//! address, each holding a minute's worth of requests and refilled evenly.
//! Buckets live in memory, bounded in bytes (an idle bucket is full again
//! after a minute, so forgetting it changes nothing); each replica counts
//! its own requests.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::Principal;
use crate::config::LimitsConfigOfRegistry;

/// Whose requests a bucket counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Caller {
    User(String),
    Address(IpAddr),
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The refusal of a request over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub message: String,
    /// Whole seconds until the next request is allowed (at least 1).
    pub retry_after: u64,
}

pub struct RateLimits {
    per_user: Option<u32>,
    per_address: Option<u32>,
    buckets: moka::sync::Cache<Caller, Arc<Mutex<Bucket>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("per_user", &self.per_user).field("per_address", &self.per_address).finish()
    }
}

/// Memory for the buckets of one registry.
const BUCKET_BYTES: u64 = 8 * 1024 * 1024;

impl RateLimits {
    pub fn new(limits: &LimitsConfigOfRegistry) -> Option<RateLimits> {
        let (per_user, per_address) = (limits.requests_per_minute, limits.anonymous_requests_per_minute);
        if per_user.is_none() && per_address.is_none() {
            return None;
        }
        let buckets = moka::sync::Cache::builder()
            .weigher(|k: &Caller, _v: &Arc<Mutex<Bucket>>| match k {
                Caller::User(u) => 96 + u.len() as u32,
                Caller::Address(_) => 96,
            })
            .max_capacity(BUCKET_BYTES)
            .time_to_idle(Duration::from_secs(120))
            .build();
        Some(RateLimits { per_user, per_address, buckets })
    }

    /// Take one request from the caller's bucket: signed-in callers by user
    /// id, anonymous ones by `address` (callers without either are not
    /// limited). `Err` says when to retry.
    pub fn take(&self, principal: &Principal, address: Option<IpAddr>, registry: &str) -> Result<(), Limited> {
        let (caller, per_minute, whose) = match (&principal.user_id, address) {
            (Some(user), _) => match self.per_user {
                Some(n) => (Caller::User(user.clone()), n, format!("for {user}")),
                None => return Ok(()),
            },
            (None, Some(ip)) => match self.per_address {
                Some(n) => (Caller::Address(ip), n, "for anonymous requests from this address".to_string()),
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let bucket = self.buckets.get_with(caller, || Arc::new(Mutex::new(Bucket { tokens: capacity, at: now })));
        let mut b = match bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let retry_after = ((1.0 - b.tokens) / per_second).ceil().max(1.0) as u64;
        Err(Limited {
            message: format!(
                "rate limit of registry {registry} reached ({per_minute} requests per minute {whose}): retry in {retry_after} s"
            ),
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Principal {
        Principal { user_id: Some(id.into()), role: crate::access::Role::User, ..Principal::anonymous() }
    }

    fn limits(user: Option<u32>, anon: Option<u32>) -> RateLimits {
        RateLimits::new(&LimitsConfigOfRegistry {
            requests_per_minute: user,
            anonymous_requests_per_minute: anon,
            ..Default::default()
        })
        .expect("limits")
    }

    #[test]
    fn a_minutes_worth_then_refused_with_a_retry_time() {
        let l = limits(Some(3), Some(1));
        let alice = user("alice");
        for _ in 0..3 {
            assert_eq!(l.take(&alice, None, "r"), Ok(()));
        }
        let refused = l.take(&alice, None, "r").expect_err("the fourth");
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        assert!(refused.message.contains("3 requests per minute for alice"), "{refused:?}");
        // Another identity has its own bucket; anonymous callers count by address.
        assert_eq!(l.take(&user("bob"), None, "r"), Ok(()));
        let anon = Principal::anonymous();
        let ip: IpAddr = [192, 0, 2, 1].into();
        assert_eq!(l.take(&anon, Some(ip), "r"), Ok(()));
        assert!(l.take(&anon, Some(ip), "r").is_err());
        assert_eq!(l.take(&anon, Some([192, 0, 2, 2].into()), "r"), Ok(()));
    }

    #[test]
    fn unset_limits_limit_nothing() {
        assert!(RateLimits::new(&LimitsConfigOfRegistry::default()).is_none());
        let l = limits(None, Some(1));
        let alice = user("alice");
        for _ in 0..100 {
            assert_eq!(l.take(&alice, None, "r"), Ok(()));
        }
    }
}
