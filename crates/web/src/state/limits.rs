//! Rate limits on guessing: failed logins and failed public lookups, counted
//! in memory. Here, not with the handlers, because `AppState` holds them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A subject, with the address when counted per pair.
type SubjectKey = (String, Option<IpAddr>);

/// Counts failed attempts in a sliding window, per subject (an account, a
/// receipt code) and per client address. Kept in memory: a restart forgets,
/// which only ever errs towards letting a legitimate user back in.
///
/// For logins a subject is counted per (account, address) pair, so failures
/// sent from elsewhere can never lock the account's owner out; guessing from
/// many addresses is held back by the cap per address and by the cost of
/// argon2id. An administrator can lift an account's locks ([`unlock`](Self::unlock)).
pub struct LoginLimiter {
    per_subject: Mutex<HashMap<SubjectKey, Vec<Instant>>>,
    per_address: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    /// Whether a subject is counted per address (logins) or across them.
    per_pair: bool,
    pub window: Duration,
    pub max_per_account: usize,
    pub max_per_address: usize,
}

pub enum LimitVerdict {
    Allowed,
    AccountLocked { retry_after: Duration },
    AddressLimited { retry_after: Duration },
}

impl LoginLimiter {
    /// Logins: `max_per_account` failures lock an account for the address
    /// they came from only.
    pub fn per_pair(window: Duration, max_per_account: usize, max_per_address: usize) -> Self {
        Self::build(true, window, max_per_account, max_per_address)
    }

    /// Lookups by receipt code: failures from every address count together,
    /// since four digits are few enough to guess from many addresses.
    pub fn per_subject(window: Duration, max_per_subject: usize, max_per_address: usize) -> Self {
        Self::build(false, window, max_per_subject, max_per_address)
    }

    fn build(per_pair: bool, window: Duration, max_subject: usize, max_address: usize) -> Self {
        LoginLimiter {
            per_subject: Mutex::new(HashMap::new()),
            per_address: Mutex::new(HashMap::new()),
            per_pair,
            window,
            max_per_account: max_subject,
            max_per_address: max_address,
        }
    }

    fn key(&self, subject: &str, address: IpAddr) -> SubjectKey {
        (subject.to_string(), self.per_pair.then_some(address))
    }

    fn prune(list: &mut Vec<Instant>, window: Duration, now: Instant) {
        list.retain(|t| now.duration_since(*t) < window);
    }

    fn retry_after(list: &[Instant], window: Duration, now: Instant) -> Duration {
        list.first()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window)
    }

    pub fn check(&self, account: &str, address: IpAddr) -> LimitVerdict {
        let now = Instant::now();
        if let Ok(mut map) = self.per_address.lock()
            && let Some(list) = map.get_mut(&address)
        {
            Self::prune(list, self.window, now);
            if list.len() >= self.max_per_address {
                return LimitVerdict::AddressLimited {
                    retry_after: Self::retry_after(list, self.window, now),
                };
            }
        }
        if let Ok(mut map) = self.per_subject.lock()
            && let Some(list) = map.get_mut(&self.key(account, address))
        {
            Self::prune(list, self.window, now);
            if list.len() >= self.max_per_account {
                return LimitVerdict::AccountLocked {
                    retry_after: Self::retry_after(list, self.window, now),
                };
            }
        }
        LimitVerdict::Allowed
    }

    pub fn record_failure(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        let window = self.window;
        let fresh = |l: &Vec<Instant>| l.last().is_some_and(|t| now.duration_since(*t) < window);
        if let Ok(mut map) = self.per_subject.lock() {
            // Bound memory under a spray of made-up names.
            if map.len() > 100_000 {
                map.retain(|_, l| fresh(l));
            }
            map.entry(self.key(account, address)).or_default().push(now);
        }
        if let Ok(mut map) = self.per_address.lock() {
            if map.len() > 100_000 {
                map.retain(|_, l| fresh(l));
            }
            map.entry(address).or_default().push(now);
        }
    }

    /// A success from an address forgets that pair's failures.
    pub fn record_success(&self, account: &str, address: IpAddr) {
        if let Ok(mut map) = self.per_subject.lock() {
            map.remove(&self.key(account, address));
        }
    }

    /// How many addresses the account is locked for now.
    pub fn locked_addresses(&self, account: &str) -> usize {
        let now = Instant::now();
        let Ok(mut map) = self.per_subject.lock() else {
            return 0;
        };
        map.iter_mut()
            .filter(|((subject, _), _)| subject == account)
            .filter_map(|(_, list)| {
                Self::prune(list, self.window, now);
                (list.len() >= self.max_per_account).then_some(())
            })
            .count()
    }

    /// Forgets the account's failures from every address (an administrator's
    /// unlock); returns how many addresses it was locked for. The caps per
    /// address stay: they guard against whoever sent the failures.
    pub fn unlock(&self, account: &str) -> usize {
        let locked = self.locked_addresses(account);
        if let Ok(mut map) = self.per_subject.lock() {
            map.retain(|(subject, _), _| subject != account);
        }
        locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_locks_a_pair_then_an_address() {
        let limiter = LoginLimiter::per_pair(Duration::from_secs(60), 3, 5);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let elsewhere: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..3 {
            assert!(matches!(limiter.check("a", ip), LimitVerdict::Allowed));
            limiter.record_failure("a", ip);
        }
        assert!(matches!(
            limiter.check("a", ip),
            LimitVerdict::AccountLocked { .. }
        ));
        // The owner, from another address, is not locked out.
        assert!(matches!(
            limiter.check("a", elsewhere),
            LimitVerdict::Allowed
        ));
        assert_eq!(limiter.locked_addresses("a"), 1);
        assert!(matches!(limiter.check("b", ip), LimitVerdict::Allowed));
        limiter.record_failure("b", ip);
        limiter.record_failure("c", ip);
        assert!(matches!(
            limiter.check("d", ip),
            LimitVerdict::AddressLimited { .. }
        ));
        assert!(matches!(
            limiter.check("d", elsewhere),
            LimitVerdict::Allowed
        ));
    }

    #[test]
    fn unlock_lifts_every_lock_of_the_account() {
        let limiter = LoginLimiter::per_pair(Duration::from_secs(60), 2, 100);
        let addresses: Vec<IpAddr> = (1..=4).map(|i| IpAddr::from([192, 0, 2, i])).collect();
        for ip in &addresses {
            limiter.record_failure("admin", *ip);
            limiter.record_failure("admin", *ip);
            limiter.record_failure("other", *ip);
            limiter.record_failure("other", *ip);
        }
        assert_eq!(limiter.locked_addresses("admin"), 4);
        assert_eq!(limiter.unlock("admin"), 4);
        assert_eq!(limiter.locked_addresses("admin"), 0);
        for ip in &addresses {
            assert!(matches!(limiter.check("admin", *ip), LimitVerdict::Allowed));
            assert!(matches!(
                limiter.check("other", *ip),
                LimitVerdict::AccountLocked { .. }
            ));
        }
        assert_eq!(limiter.unlock("admin"), 0);
    }

    #[test]
    fn lookups_count_a_code_across_addresses() {
        let limiter = LoginLimiter::per_subject(Duration::from_secs(60), 2, 100);
        limiter.record_failure("K7M", [192, 0, 2, 1].into());
        limiter.record_failure("K7M", [192, 0, 2, 2].into());
        assert!(matches!(
            limiter.check("K7M", [192, 0, 2, 3].into()),
            LimitVerdict::AccountLocked { .. }
        ));
    }
}
