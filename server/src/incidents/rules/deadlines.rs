//! Breach-notification deadlines (45 CFR 164.404–408, 164.412), computed
//! from the discovery date and the facts of the decision. Pure: dates in,
//! dates out.
//!
//! - Individuals: without unreasonable delay and no later than 60 calendar
//!   days after discovery (164.404(b)).
//! - HHS: at the same time as the individuals when 500 or more are affected
//!   (164.408(b)); otherwise within 60 days after the end of the calendar
//!   year in which the breach was discovered (164.408(c)) — 1 March, or
//!   29 February in a leap year.
//! - Media: when more than 500 residents of one state are affected, as for
//!   the individuals (164.406).
//! - A law-enforcement delay (164.412) holds every notice until its end: a
//!   written statement's date, or 30 days from an oral one.
//!
//! Dates are calendar days in the practice's view; the server keeps Unix
//! seconds and counts days in UTC (a deadline is the end of that day).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// The notice deadlines of one breach, as calendar dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    /// Individuals (always).
    pub individuals: NaiveDate,
    /// HHS.
    pub hhs: NaiveDate,
    /// Whether HHS is told with the individuals (500 or more affected).
    pub hhs_with_individuals: bool,
    /// Prominent media outlets, when more than 500 residents of one state.
    pub media: Option<NaiveDate>,
}

/// A law-enforcement delay (164.412).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// A written statement naming the period: until this date.
    Written(NaiveDate),
    /// An oral statement made on this date: at most 30 days from it.
    Oral(NaiveDate),
}

impl Delay {
    /// The last day of the delay.
    pub fn until(self) -> NaiveDate {
        match self {
            Delay::Written(d) => d,
            Delay::Oral(d) => d + Duration::days(30),
        }
    }
}

/// The day of a Unix time (UTC).
pub fn day_of(unix_secs: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .date_naive()
}

/// The deadlines for a breach discovered on `discovered`, affecting
/// `affected` individuals, at most `max_state_residents` of them residents
/// of any one state, held by `delay` if any.
pub fn deadlines(
    discovered: NaiveDate,
    affected: u64,
    max_state_residents: u64,
    delay: Option<Delay>,
) -> Deadlines {
    let individuals = discovered + Duration::days(60);
    let hhs_with_individuals = affected >= 500;
    let hhs = if hhs_with_individuals {
        individuals
    } else {
        // 60 days after 31 December of the year of discovery.
        NaiveDate::from_ymd_opt(discovered.year(), 12, 31).unwrap_or(discovered)
            + Duration::days(60)
    };
    let media = (max_state_residents > 500).then_some(individuals);
    let hold = |d: NaiveDate| match delay {
        Some(delay) => d.max(delay.until()),
        None => d,
    };
    Deadlines {
        individuals: hold(individuals),
        hhs: hold(hhs),
        hhs_with_individuals,
        media: media.map(hold),
    }
}

/// The deadlines of an incident as stored: discovery and delay end in
/// Unix seconds (a stored delay is the last second of its last day),
/// counts as kept (a negative count is none).
pub fn of(
    discovered_at: i64,
    affected: i64,
    max_state_residents: i64,
    delayed_until: Option<i64>,
) -> Deadlines {
    deadlines(
        day_of(discovered_at),
        u64::try_from(affected).unwrap_or(0),
        u64::try_from(max_state_residents).unwrap_or(0),
        delayed_until.map(|t| Delay::Written(day_of(t))),
    )
}

/// Whole days from `today` to `deadline` (negative once passed).
pub fn days_left(today: NaiveDate, deadline: NaiveDate) -> i64 {
    (deadline - today).num_days()
}

/// The "days left" at which an approaching deadline is announced.
pub const NOTICE_THRESHOLDS: [i64; 6] = [30, 14, 7, 3, 1, 0];

/// The threshold to announce now, if any: the smallest one `days_left`
/// has reached that is below the last one announced. A deadline already
/// passed is announced once, as 0.
pub fn notice_due(days_left: i64, last: Option<i64>) -> Option<i64> {
    let reached = NOTICE_THRESHOLDS
        .iter()
        .copied()
        .filter(|t| days_left <= *t)
        .min()?;
    match last {
        Some(l) if reached >= l => None,
        _ => Some(reached),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn individuals_within_60_days_of_discovery() {
        let t = deadlines(d(2026, 3, 10), 3, 3, None);
        assert_eq!(t.individuals, d(2026, 5, 9));
        // Across February of a leap year.
        assert_eq!(
            deadlines(d(2028, 2, 1), 1, 1, None).individuals,
            d(2028, 4, 1)
        );
        assert_eq!(
            deadlines(d(2027, 2, 1), 1, 1, None).individuals,
            d(2027, 4, 2)
        );
    }

    #[test]
    fn under_500_hhs_is_told_60_days_after_the_year_ends() {
        let t = deadlines(d(2026, 3, 10), 499, 499, None);
        assert!(!t.hhs_with_individuals);
        assert_eq!(t.hhs, d(2027, 3, 1), "2027 is not a leap year");
        // Discovered in 2027: the year ends before leap-year February.
        assert_eq!(deadlines(d(2027, 6, 1), 10, 10, None).hhs, d(2028, 2, 29));
        // Discovered on 31 December: still that year's report.
        assert_eq!(deadlines(d(2026, 12, 31), 10, 10, None).hhs, d(2027, 3, 1));
        // On 1 January: next year's.
        assert_eq!(deadlines(d(2027, 1, 1), 10, 10, None).hhs, d(2028, 2, 29));
    }

    #[test]
    fn from_500_hhs_is_told_with_the_individuals() {
        for (affected, with) in [(499, false), (500, true), (501, true)] {
            let t = deadlines(d(2026, 3, 10), affected, 0, None);
            assert_eq!(t.hhs_with_individuals, with, "{affected}");
            if with {
                assert_eq!(t.hhs, t.individuals);
            }
        }
    }

    #[test]
    fn media_when_more_than_500_residents_of_one_state() {
        assert_eq!(deadlines(d(2026, 3, 10), 900, 500, None).media, None);
        assert_eq!(
            deadlines(d(2026, 3, 10), 900, 501, None).media,
            Some(d(2026, 5, 9))
        );
    }

    #[test]
    fn a_law_enforcement_delay_holds_every_notice() {
        let written = deadlines(
            d(2026, 3, 10),
            600,
            600,
            Some(Delay::Written(d(2026, 7, 1))),
        );
        assert_eq!(written.individuals, d(2026, 7, 1));
        assert_eq!(written.hhs, d(2026, 7, 1));
        assert_eq!(written.media, Some(d(2026, 7, 1)));
        // An oral statement holds 30 days at most.
        let oral = deadlines(d(2026, 3, 10), 3, 3, Some(Delay::Oral(d(2026, 4, 20))));
        assert_eq!(oral.individuals, d(2026, 5, 20));
        assert_eq!(
            oral.hhs,
            d(2027, 3, 1),
            "a delay never brings a deadline forward"
        );
    }

    #[test]
    fn each_threshold_is_announced_once_as_the_deadline_nears() {
        assert_eq!(notice_due(60, None), None);
        assert_eq!(notice_due(30, None), Some(30));
        assert_eq!(notice_due(29, Some(30)), None);
        assert_eq!(
            notice_due(13, Some(30)),
            Some(14),
            "a day skipped (downtime) still announces"
        );
        assert_eq!(notice_due(13, Some(14)), None);
        assert_eq!(notice_due(2, Some(14)), Some(3));
        assert_eq!(notice_due(-5, Some(1)), Some(0), "passed: once");
        assert_eq!(notice_due(-6, Some(0)), None);
    }

    #[test]
    fn days_left_counts_down_and_goes_negative() {
        assert_eq!(days_left(d(2026, 5, 1), d(2026, 5, 9)), 8);
        assert_eq!(days_left(d(2026, 5, 10), d(2026, 5, 9)), -1);
        assert_eq!(day_of(0), d(1970, 1, 1));
    }
}
