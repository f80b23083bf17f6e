//! Per-caller rate limits: token buckets (the `governor` crate's keyed GCRA limiters) for
//! requests (each HTTP request to `/graphql` and each WebSocket operation) and for writes
//! (each mutation field), keyed by who calls: the user's id, the service role, or for the
//! anonymous the client's IP address. The buckets live in this process: with several
//! gateway instances, each allows its own rate.
//!
//! Memory: one entry (a key and an 8-byte state) per caller seen within a bucket's refill
//! time; [`RateLimits::start_housekeeping`] drops the others every
//! [`HOUSEKEEPING_EVERY`] (`retain_recent`), so the map holds at most the callers of
//! the last minute or so. A check costs one hash-map lookup and one atomic update.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::metrics::{self, RateLimitReason};

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    User(Uuid),
    Service,
    /// The anonymous, by client address (None when the transport does not say: then all
    /// such callers share one bucket).
    Anonymous(Option<IpAddr>),
}

/// A bucket's rate and burst; `per_second` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub per_second: u32,
    pub burst: u32,
}

/// How often stale callers are dropped from the buckets.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// The request and write buckets of this process.
pub struct RateLimits {
    requests: Option<DefaultKeyedRateLimiter<Caller>>,
    writes: Option<DefaultKeyedRateLimiter<Caller>>,
}

/// A caller and the buckets to charge, carried with a request.
#[derive(Clone)]
pub struct CallerBucket {
    pub limits: Arc<RateLimits>,
    pub caller: Caller,
}

/// Refused: retry after this long (whole seconds, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter(bucket: Bucket) -> Option<DefaultKeyedRateLimiter<Caller>> {
    let rate = NonZeroU32::new(bucket.per_second)?;
    let burst = NonZeroU32::new(bucket.burst).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn new(requests: Bucket, writes: Bucket) -> Self {
        RateLimits {
            requests: limiter(requests),
            writes: limiter(writes),
        }
    }

    /// One request (or WebSocket operation) of `caller`.
    pub fn check_request(&self, caller: &Caller) -> Result<(), RetryAfter> {
        check(self.requests.as_ref(), caller, 1, RateLimitReason::Requests)
    }

    /// `fields` mutation fields of `caller`, all or none.
    pub fn check_writes(&self, caller: &Caller, fields: u64) -> Result<(), RetryAfter> {
        let n = u32::try_from(fields).unwrap_or(u32::MAX);
        check(self.writes.as_ref(), caller, n, RateLimitReason::Writes)
    }

    /// Callers in the buckets now (an estimate while requests run).
    pub fn callers(&self) -> usize {
        self.requests.as_ref().map_or(0, |l| l.len()) + self.writes.as_ref().map_or(0, |l| l.len())
    }

    /// Drops callers whose buckets are full again (indistinguishable from new ones).
    pub fn retain_recent(&self) {
        for limiter in [&self.requests, &self.writes].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs [`retain_recent`](Self::retain_recent) every `every` until the limits are
    /// dropped. Needs a tokio runtime.
    pub fn start_housekeeping(self: &Arc<Self>, every: Duration) {
        let limits: Weak<RateLimits> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match limits.upgrade() {
                    Some(limits) => limits.retain_recent(),
                    None => return,
                }
            }
        });
    }
}

fn check(
    limiter: Option<&DefaultKeyedRateLimiter<Caller>>,
    caller: &Caller,
    n: u32,
    reason: RateLimitReason,
) -> Result<(), RetryAfter> {
    let (Some(limiter), Some(n)) = (limiter, NonZeroU32::new(n)) else {
        return Ok(());
    };
    let refused = match limiter.check_key_n(caller, n) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(not_until)) => not_until.wait_time_from(DefaultClock::default().now()),
        // More than the burst at once can never pass: wait for a full bucket.
        Err(_) => Duration::from_secs(1),
    };
    metrics::record_rate_limited(reason);
    Err(RetryAfter(refused.as_secs_f64().ceil().max(1.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_per_caller_and_refill() {
        let limits = RateLimits::new(
            Bucket {
                per_second: 1,
                burst: 3,
            },
            Bucket {
                per_second: 1,
                burst: 5,
            },
        );
        let alice = Caller::User(Uuid::new_v4());
        let bob = Caller::User(Uuid::new_v4());
        for _ in 0..3 {
            assert_eq!(limits.check_request(&alice), Ok(()));
        }
        assert_eq!(limits.check_request(&alice), Err(RetryAfter(1)));
        assert_eq!(limits.check_request(&bob), Ok(()));
        assert_eq!(limits.check_request(&Caller::Service), Ok(()));
        // Writes: all or none, and more than the burst never passes.
        assert_eq!(limits.check_writes(&alice, 4), Ok(()));
        assert_eq!(limits.check_writes(&alice, 2), Err(RetryAfter(1)));
        assert_eq!(limits.check_writes(&bob, 6), Err(RetryAfter(1)));
        assert_eq!(limits.check_writes(&alice, 0), Ok(()));
        assert_eq!(limits.callers(), 3 + 1);
        let off = RateLimits::new(
            Bucket {
                per_second: 0,
                burst: 0,
            },
            Bucket {
                per_second: 0,
                burst: 0,
            },
        );
        for _ in 0..1000 {
            assert_eq!(off.check_request(&alice), Ok(()));
        }
        assert_eq!(off.callers(), 0);
    }

    #[test]
    fn stale_callers_are_dropped() {
        let limits = RateLimits::new(
            Bucket {
                per_second: 1000,
                burst: 1,
            },
            Bucket {
                per_second: 1000,
                burst: 1,
            },
        );
        for i in 0..100u8 {
            let caller = Caller::Anonymous(Some(IpAddr::from([10, 0, 0, i])));
            assert_eq!(limits.check_request(&caller), Ok(()));
        }
        assert_eq!(limits.callers(), 100);
        // A 1,000/s bucket of 1 is full again after a millisecond.
        std::thread::sleep(Duration::from_millis(20));
        limits.retain_recent();
        assert_eq!(limits.callers(), 0);
    }
}
