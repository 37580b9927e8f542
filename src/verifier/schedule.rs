//! When a verdict must be checked against the registry again.
//!
//! A verdict is a fact about the registry at one moment: a signature pushed after the audit
//! (CI pushes, then signs), or deleted after it, changes it without any change to the source
//! or the policies. So no verdict is kept forever:
//!
//! - a definite result that does not hold (`Unsigned`, `KeyMismatch`, … or `Verified` with a
//!   definite `Attested=False`: CI attests a few seconds after it signs) is re-checked on a
//!   backoff: one minute after it was found (`--min-recheck-delay`), then after as long as it
//!   has held so far (1, 1, 2, 4, 8 … minutes), never later than the resync or re-verify
//!   interval;
//! - a result that holds (`Verified` and `Attested=True`, `NotRequired` included) is re-checked
//!   once per re-verify interval, so a deleted signature or attestation, or a changed referrer
//!   set, shows up.
//!
//! A result is definite only when both halves are: an indeterminate `Attested` (a 503 on the
//! `.att` tag, a spent byte budget) is never scheduled here, it is retried like an
//! indeterminate signature verdict.
//!
//! Pure functions of whether the result holds (`holds`), when it was first found (`since`), when
//! the registry was last asked (`checked`) and the intervals; times are Unix seconds (the API
//! server stores seconds).

use std::time::Duration;

/// The default `--min-recheck-delay`: the first re-check of a negative verdict comes this long
/// after it was found.
pub const FIRST_RECHECK: Duration = Duration::from_secs(60);

/// The default `--reverify-interval`.
pub const DEFAULT_REVERIFY: Duration = Duration::from_secs(3600);

/// The intervals a schedule depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// `--resync-interval`: caps the backoff of negative verdicts.
    pub resync: Duration,
    /// `--reverify-interval`: every verdict is re-checked at least this often.
    pub reverify: Duration,
    /// `--min-recheck-delay`: the first re-check of a negative verdict, and the shortest step
    /// of its backoff.
    pub first_recheck: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Self {
            resync: DEFAULT_REVERIFY,
            reverify: DEFAULT_REVERIFY,
            first_recheck: FIRST_RECHECK,
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// When the registry must next be asked about a definite result (`holds`: `Verified` and
/// `Attested=True`) found first at `since` and last checked at `checked`.
pub fn next_check(holds: bool, since: i64, checked: i64, iv: Intervals) -> i64 {
    let reverify = secs(iv.reverify);
    let delay = if holds {
        reverify
    } else {
        // As long as the result has held so far (doubling), at least the first step, capped.
        let held = checked.saturating_sub(since).max(0);
        held.max(secs(iv.first_recheck))
            .min(secs(iv.resync))
            .min(reverify)
    };
    checked.saturating_add(delay)
}

/// Whether the result must be checked against the registry again at `now`. A `checked` time in
/// the future (a clock step, a forged status) is due: it proves nothing.
pub fn is_due(holds: bool, since: i64, checked: i64, now: i64, iv: Intervals) -> bool {
    checked > now || now >= next_check(holds, since, checked, iv)
}

/// How long until the check is due (zero when it is): when to reconcile the source again.
pub fn due_in(holds: bool, since: i64, checked: i64, now: i64, iv: Intervals) -> Duration {
    if is_due(holds, since, checked, now, iv) {
        return Duration::ZERO;
    }
    let left = next_check(holds, since, checked, iv).saturating_sub(now);
    Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60;
    const IV: Intervals = Intervals {
        resync: Duration::from_secs(600),
        reverify: Duration::from_secs(3600),
        first_recheck: FIRST_RECHECK,
    };

    /// The times a negative verdict found at 0 is re-checked, if each check finds it again.
    fn negative_checks(iv: Intervals, n: usize) -> Vec<i64> {
        let mut out = vec![];
        let mut checked = 0;
        for _ in 0..n {
            checked = next_check(false, 0, checked, iv);
            out.push(checked);
        }
        out
    }

    #[test]
    fn a_negative_verdict_is_rechecked_within_a_minute_then_doubling_up_to_the_resync() {
        assert_eq!(
            negative_checks(IV, 8),
            [1, 2, 4, 8, 16, 26, 36, 46].map(|m| m * MIN)
        );
    }

    #[test]
    fn the_backoff_never_exceeds_a_short_resync_or_reverify_interval() {
        let short = Intervals {
            resync: Duration::from_secs(10),
            reverify: Duration::from_secs(3600),
            ..IV
        };
        assert_eq!(negative_checks(short, 3), [10, 20, 30]);
        let reverify = Intervals {
            resync: Duration::from_secs(3600),
            reverify: Duration::from_secs(90),
            ..IV
        };
        assert_eq!(negative_checks(reverify, 3), [60, 120, 210]);
    }

    #[test]
    fn the_first_step_of_the_backoff_is_the_min_recheck_delay() {
        let quick = Intervals {
            first_recheck: Duration::from_secs(10),
            ..IV
        };
        assert_eq!(negative_checks(quick, 5), [10, 20, 40, 80, 160]);
        // Never later than the resync or re-verify interval, whatever the flag says.
        let slow = Intervals {
            first_recheck: Duration::from_secs(7200),
            ..IV
        };
        assert_eq!(negative_checks(slow, 2), [600, 1200]);
    }

    #[test]
    fn a_verified_verdict_is_rechecked_once_per_reverify_interval() {
        assert_eq!(next_check(true, 0, 0, IV), 3600);
        assert_eq!(next_check(true, 0, 7200, IV), 10800);
        assert!(!is_due(true, 0, 0, 3599, IV));
        assert!(is_due(true, 0, 0, 3600, IV));
    }

    #[test]
    fn no_verdict_is_trusted_forever() {
        // Whatever the verdict and however long it has held, some time makes it due.
        for verified in [true, false] {
            for since in [0, 1_000, 1_000_000] {
                let checked = since + 5;
                assert!(is_due(verified, since, checked, checked + 3600, IV));
            }
        }
    }

    #[test]
    fn a_check_time_in_the_future_is_due() {
        assert!(is_due(true, 0, 1_000, 10, IV));
    }

    #[test]
    fn due_in_counts_down_to_zero() {
        assert_eq!(due_in(false, 0, 0, 0, IV), Duration::from_secs(60));
        assert_eq!(due_in(false, 0, 0, 45, IV), Duration::from_secs(15));
        assert_eq!(due_in(false, 0, 0, 61, IV), Duration::ZERO);
    }
}
