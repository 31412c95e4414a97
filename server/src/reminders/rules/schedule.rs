//! When an appointment happens, and when its reminders fall due.
//!
//! Times are kept as the client's wall clock in their IANA zone: a weekly
//! 3 pm appointment stays at 3 pm local across a DST change (the UTC
//! instant moves by an hour), because that is what the person in the room
//! expects. Occurrences come from an RFC 5545 rule expanded by the `rrule`
//! crate; only weekly and every-two-weeks rules with a count are accepted,
//! so every occurrence — and every reminder row — is known and written when
//! the appointment is.
//!
//! A reminder is due `lead` before an occurrence. If that instant falls in
//! the client's quiet hours it moves *earlier*, to the minute before quiet
//! hours began: later could put a "2 h before" reminder after the
//! appointment itself, and earlier only tells them sooner. A due time that
//! has already passed when the appointment is written is not created (the
//! appointment is too near for that lead).

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The most occurrences a recurring appointment may have.
pub const MAX_OCCURRENCES: u16 = 52;

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not an IANA zone name.
    #[error("unknown time zone")]
    UnknownZone,
    /// The wall-clock time does not exist there (clocks went forward).
    #[error("that time does not exist in that zone (the clocks go forward)")]
    NonexistentTime,
    /// A recurrence other than weekly or every two weeks, or a bad count.
    #[error("recurrence must be every 1 or 2 weeks, 2 to 52 times")]
    BadRecurrence,
    /// The rule could not be expanded.
    #[error("recurrence could not be expanded")]
    Expansion,
}

/// How an appointment repeats.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// 1 (weekly) or 2 (every two weeks).
    pub every_weeks: u8,
    /// How many occurrences in all, the first included (2–52).
    pub count: u16,
}

impl Recurrence {
    /// Checks the bounds.
    pub fn validate(self) -> Result<Self, ScheduleError> {
        if matches!(self.every_weeks, 1 | 2) && (2..=MAX_OCCURRENCES).contains(&self.count) {
            Ok(self)
        } else {
            Err(ScheduleError::BadRecurrence)
        }
    }

    /// The RFC 5545 RRULE value.
    pub fn rrule(self) -> String {
        format!(
            "FREQ=WEEKLY;INTERVAL={};COUNT={}",
            self.every_weeks, self.count
        )
    }
}

/// Parses an IANA zone name.
pub fn zone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>().map_err(|_| ScheduleError::UnknownZone)
}

/// A wall-clock time in a zone: the earlier of two in the repeated hour of
/// a fall-back; refused in the skipped hour of a spring-forward.
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Tz>, ScheduleError> {
    tz.from_local_datetime(&local)
        .earliest()
        .ok_or(ScheduleError::NonexistentTime)
}

/// Every occurrence, as UTC seconds, first included.
pub fn occurrences(
    tz: Tz,
    start_local: NaiveDateTime,
    recurrence: Option<Recurrence>,
) -> Result<Vec<i64>, ScheduleError> {
    let first = local_instant(tz, start_local)?;
    let Some(r) = recurrence else {
        return Ok(vec![first.timestamp()]);
    };
    let r = r.validate()?;
    let text = format!(
        "DTSTART;TZID={}:{}\nRRULE:{}",
        tz.name(),
        start_local.format("%Y%m%dT%H%M%S"),
        r.rrule()
    );
    let set: rrule::RRuleSet = text.parse().map_err(|_| ScheduleError::Expansion)?;
    let result = set.all(MAX_OCCURRENCES);
    let dates: Vec<i64> = result.dates.iter().map(|d| d.timestamp()).collect();
    if dates.len() != usize::from(r.count) {
        return Err(ScheduleError::Expansion);
    }
    Ok(dates)
}

/// Quiet hours in the client's zone: no reminder is sent from `start` up to
/// `end` (which may be on the next day: 21:00–09:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// When they begin.
    pub start: NaiveTime,
    /// When they end.
    pub end: NaiveTime,
}

impl QuietHours {
    /// When the quiet hours containing `at` began, or `None` when `at` is
    /// not in quiet hours.
    pub fn began(&self, tz: Tz, at: i64) -> Option<i64> {
        if self.start == self.end {
            return None;
        }
        let local = Utc.timestamp_opt(at, 0).single()?.with_timezone(&tz);
        let t = local.time();
        let date = local.date_naive();
        let began_on = if self.start < self.end {
            (self.start <= t && t < self.end).then_some(date)?
        } else if t >= self.start {
            date
        } else if t < self.end {
            date.pred_opt()?
        } else {
            return None;
        };
        let naive = began_on.and_time(self.start);
        // A start inside a skipped hour begins at the first instant after.
        let began = tz.from_local_datetime(&naive).earliest().or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })?;
        Some(began.timestamp())
    }

    /// When the quiet hours containing `at` end, or `None` when `at` is not
    /// in quiet hours. An end inside a skipped hour is the first instant
    /// after it.
    pub fn ends(&self, tz: Tz, at: i64) -> Option<i64> {
        let began = self.began(tz, at)?;
        let began_local = Utc.timestamp_opt(began, 0).single()?.with_timezone(&tz);
        let mut day = began_local.date_naive();
        if self.end <= self.start {
            day = day.succ_opt()?;
        }
        let naive = day.and_time(self.end);
        let end = tz.from_local_datetime(&naive).earliest().or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })?;
        Some(end.timestamp())
    }
}

/// A reminder that falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The occurrence it is for (UTC seconds).
    pub occurrence: i64,
    /// How long before it the client asked to be told, in minutes.
    pub lead_minutes: u32,
    /// When it is sent (UTC seconds).
    pub due_at: i64,
}

/// The reminders for these occurrences, skipping those already past `now`.
pub fn due_times(
    tz: Tz,
    occurrences: &[i64],
    leads_minutes: &[u32],
    quiet: Option<QuietHours>,
    now: i64,
) -> Vec<Due> {
    let mut out = Vec::new();
    for &occurrence in occurrences {
        for &lead in leads_minutes {
            let mut due_at = occurrence - i64::from(lead) * 60;
            if let Some(q) = quiet {
                if let Some(began) = q.began(tz, due_at) {
                    due_at = began - 60;
                }
            }
            if due_at > now {
                out.push(Due {
                    occurrence,
                    lead_minutes: lead,
                    due_at,
                });
            }
        }
    }
    out.sort_by_key(|d| (d.due_at, d.occurrence));
    out
}

/// The new times of a series being moved that are to be scheduled: `new`
/// pairs with the series' future times in order (`old`: start and whether
/// it was cancelled), from the first one not cancelled — the one the move
/// starts at. A time paired with a cancelled one is left out, so a week
/// the client or clinician cancelled stays cancelled after the series
/// moves (at its old time, as the record of it), instead of being booked
/// again at the new time; new times past the old ones are all kept.
pub fn moved_times(old: &[(i64, bool)], new: &[i64], now: i64) -> Vec<i64> {
    let from_first_open = old.iter().skip_while(|(_, cancelled)| *cancelled);
    let mut cancelled = from_first_open.map(|(_, c)| *c);
    new.iter()
        .copied()
        .filter(|&at| !cancelled.next().unwrap_or(false) && at > now)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn naive(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    fn local(tz: Tz, t: i64) -> String {
        Utc.timestamp_opt(t, 0)
            .unwrap()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn a_weekly_3pm_appointment_stays_at_3pm_across_spring_forward_in_new_york() {
        let ny = zone("America/New_York").unwrap();
        // 2027-03-14 is the US spring-forward Sunday.
        let weekly = Recurrence {
            every_weeks: 1,
            count: 3,
        };
        let occ = occurrences(ny, naive(2027, 3, 8, 15, 0), Some(weekly)).unwrap();
        let shown: Vec<String> = occ.iter().map(|&t| local(ny, t)).collect();
        assert_eq!(
            shown,
            [
                "2027-03-08 15:00 EST",
                "2027-03-15 15:00 EDT",
                "2027-03-22 15:00 EDT"
            ]
        );
        // The UTC instant moved by an hour: 20:00Z then 19:00Z.
        assert_eq!(occ[1] - occ[0], 7 * 86_400 - 3_600);
    }

    #[test]
    fn every_two_weeks_across_fall_back_keeps_the_wall_clock() {
        let ny = zone("America/New_York").unwrap();
        // 2026-11-01 is the US fall-back Sunday.
        let r = Recurrence {
            every_weeks: 2,
            count: 2,
        };
        let occ = occurrences(ny, naive(2026, 10, 26, 9, 30), Some(r)).unwrap();
        let shown: Vec<String> = occ.iter().map(|&t| local(ny, t)).collect();
        assert_eq!(shown, ["2026-10-26 09:30 EDT", "2026-11-09 09:30 EST"]);
        assert_eq!(occ[1] - occ[0], 14 * 86_400 + 3_600);
    }

    #[test]
    fn a_48h_reminder_across_a_dst_change_is_48_real_hours_before() {
        let ny = zone("America/New_York").unwrap();
        let occ = occurrences(ny, naive(2027, 3, 15, 15, 0), None).unwrap();
        let due = due_times(ny, &occ, &[48 * 60], None, 0);
        // 48 h before 15:00 EDT Monday is 14:00 EST Saturday (one hour of
        // wall clock vanished in between).
        assert_eq!(local(ny, due[0].due_at), "2027-03-13 14:00 EST");
    }

    #[test]
    fn a_time_in_the_skipped_hour_is_refused_and_a_repeated_one_is_the_first() {
        let ny = zone("America/New_York").unwrap();
        assert_eq!(
            occurrences(ny, naive(2027, 3, 14, 2, 30), None),
            Err(ScheduleError::NonexistentTime)
        );
        let occ = occurrences(ny, naive(2026, 11, 1, 1, 30), None).unwrap();
        assert_eq!(local(ny, occ[0]), "2026-11-01 01:30 EDT");
    }

    #[test]
    fn east_of_utc_the_day_before_in_utc_is_the_right_local_day() {
        let tokyo = zone("Asia/Tokyo").unwrap();
        let occ = occurrences(tokyo, naive(2026, 12, 3, 8, 0), None).unwrap();
        // 08:00 JST is 23:00Z the day before.
        assert_eq!(
            Utc.timestamp_opt(occ[0], 0).unwrap().to_rfc3339(),
            "2026-12-02T23:00:00+00:00"
        );
        let berlin = zone("Europe/Berlin").unwrap();
        // Europe springs forward on 2027-03-28, two weeks after the US.
        let weekly = Recurrence {
            every_weeks: 1,
            count: 2,
        };
        let occ = occurrences(berlin, naive(2027, 3, 22, 18, 0), Some(weekly)).unwrap();
        let shown: Vec<String> = occ.iter().map(|&t| local(berlin, t)).collect();
        assert_eq!(shown, ["2027-03-22 18:00 CET", "2027-03-29 18:00 CEST"]);
    }

    #[test]
    fn a_reminder_due_in_quiet_hours_moves_to_just_before_they_began() {
        let ny = zone("America/New_York").unwrap();
        let quiet = QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        };
        // A 9:30 appointment; 2 h before is 7:30, inside 21:00–09:00.
        let occ = occurrences(ny, naive(2026, 12, 10, 9, 30), None).unwrap();
        let due = due_times(ny, &occ, &[120, 48 * 60], Some(quiet), 0);
        let shown: Vec<String> = due.iter().map(|d| local(ny, d.due_at)).collect();
        // 48 h before is 09:30 two days earlier: outside quiet hours.
        assert_eq!(shown, ["2026-12-08 09:30 EST", "2026-12-09 20:59 EST"]);
        // Quiet hours within one day: 12:00–13:00.
        let lunch = QuietHours {
            start: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
        };
        let occ = occurrences(ny, naive(2026, 12, 10, 14, 30), None).unwrap();
        let due = due_times(ny, &occ, &[120], Some(lunch), 0);
        assert_eq!(local(ny, due[0].due_at), "2026-12-10 11:59 EST");
    }

    #[test]
    fn quiet_hours_end_the_next_morning_in_the_clients_zone() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let quiet = QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        };
        let at = |d, h, m| {
            ny.from_local_datetime(&naive(2026, 3, d, h, m))
                .earliest()
                .unwrap()
                .timestamp()
        };
        // 23:30 on the night before spring forward: quiet until 09:00 EDT.
        assert_eq!(quiet.ends(ny, at(7, 23, 30)), Some(at(8, 9, 0)));
        assert_eq!(
            local(ny, quiet.ends(ny, at(7, 23, 30)).unwrap()),
            "2026-03-08 09:00 EDT"
        );
        // 07:00: the same night's quiet hours, ending today.
        assert_eq!(quiet.ends(ny, at(9, 7, 0)), Some(at(9, 9, 0)));
        assert_eq!(quiet.ends(ny, at(9, 12, 0)), None, "not quiet at noon");
        let daytime = QuietHours {
            start: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
        };
        assert_eq!(daytime.ends(ny, at(9, 12, 30)), Some(at(9, 13, 0)));
    }

    #[test]
    fn reminders_already_past_are_not_created() {
        let ny = zone("America/New_York").unwrap();
        let occ = occurrences(ny, naive(2026, 12, 10, 15, 0), None).unwrap();
        let now = occ[0] - 3 * 3600; // three hours before
        let due = due_times(ny, &occ, &[48 * 60, 120], None, now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].lead_minutes, 120);
    }

    #[test]
    fn recurrences_other_than_weekly_or_fortnightly_are_refused() {
        for (every_weeks, count) in [(0, 3), (3, 3), (1, 1), (1, 53), (2, 0)] {
            assert_eq!(
                Recurrence { every_weeks, count }.validate(),
                Err(ScheduleError::BadRecurrence)
            );
        }
        assert!(zone("Mars/Olympus").is_err());
    }

    #[test]
    fn moving_a_series_keeps_a_cancelled_week_cancelled() {
        let week = 7 * 86_400;
        let now = 0;
        // Weeks 1 (cancelled), 2, 3 (cancelled), 4: the move starts at week 2
        // and pairs with 2, 3, 4.
        let old = [
            (week, true),
            (2 * week, false),
            (3 * week, true),
            (4 * week, false),
        ];
        let new = [2 * week + 3600, 3 * week + 3600, 4 * week + 3600];
        assert_eq!(
            moved_times(&old, &new, now),
            vec![2 * week + 3600, 4 * week + 3600]
        );
        // A longer series keeps its extra times; nothing cancelled, all kept.
        let new = [2 * week, 3 * week, 4 * week, 5 * week];
        assert_eq!(moved_times(&old, &new, now).len(), 3);
        assert_eq!(moved_times(&[], &new, now), new.to_vec());
        // Times already past are never scheduled.
        assert_eq!(moved_times(&[], &new, 3 * week), vec![4 * week, 5 * week]);
    }
}
