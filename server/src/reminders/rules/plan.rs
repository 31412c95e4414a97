//! Which reminder rows a client should have, and how to get there from the
//! rows they have: the decision every appointment or preference change
//! makes inside its transaction.
//!
//! Pending rows that are still wanted are kept as they are (a reschedule
//! that leaves an occurrence's time alone does not churn its reminders);
//! pending rows no longer wanted are withdrawn with the reason; wanted rows
//! that do not exist yet are created. Rows already sent, withheld or
//! dropped are history and never touched.

use super::schedule::{self, QuietHours};
use chrono_tz::Tz;

/// How far ahead a client is reminded when they never said (48 h and 2 h,
/// what the commercial tools default to).
pub const DEFAULT_LEADS_MINUTES: [u32; 2] = [48 * 60, 2 * 60];

/// The longest lead a client may ask for (two weeks), and how many.
pub const MAX_LEAD_MINUTES: u32 = 14 * 24 * 60;
/// At most this many reminders per occurrence.
pub const MAX_LEADS: usize = 3;

/// Leads as stored ("2880,120"); anything unreadable is left out.
pub fn parse_leads(stored: &str) -> Vec<u32> {
    stored
        .split(',')
        .filter_map(|s| s.trim().parse::<u32>().ok())
        .filter(|&m| (1..=MAX_LEAD_MINUTES).contains(&m))
        .take(MAX_LEADS)
        .collect()
}

/// Leads as stored.
pub fn format_leads(leads: &[u32]) -> String {
    leads
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Quiet hours as stored ("21:00", "09:00").
pub fn parse_quiet(start: Option<&str>, end: Option<&str>) -> Option<QuietHours> {
    let parse = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
    Some(QuietHours {
        start: parse(start?)?,
        end: parse(end?)?,
    })
}

/// An occurrence that may still get reminders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming<Id> {
    /// Which occurrence.
    pub id: Id,
    /// Its start (UTC seconds).
    pub starts_at: i64,
    /// The series' zone.
    pub tz: Tz,
}

/// A pending reminder row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<Id, RowId> {
    /// The row.
    pub row: RowId,
    /// Its occurrence.
    pub occurrence: Id,
    /// Its lead.
    pub lead_minutes: u32,
    /// When it is due.
    pub due_at: i64,
}

/// A row to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted<Id> {
    /// Its occurrence.
    pub occurrence: Id,
    /// Its lead.
    pub lead_minutes: u32,
    /// When it is due.
    pub due_at: i64,
}

/// What to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<Id, RowId> {
    /// Pending rows to withdraw.
    pub withdraw: Vec<RowId>,
    /// Rows to create.
    pub create: Vec<Wanted<Id>>,
}

/// The rows wanted for these occurrences with these preferences, compared
/// with the pending ones.
pub fn replan<Id: Clone + PartialEq, RowId: Clone>(
    upcoming: &[Upcoming<Id>],
    pending: &[Pending<Id, RowId>],
    leads_minutes: &[u32],
    quiet: Option<QuietHours>,
    now: i64,
) -> Changes<Id, RowId> {
    let mut wanted = Vec::new();
    for occ in upcoming {
        for due in schedule::due_times(occ.tz, &[occ.starts_at], leads_minutes, quiet, now) {
            wanted.push(Wanted {
                occurrence: occ.id.clone(),
                lead_minutes: due.lead_minutes,
                due_at: due.due_at,
            });
        }
    }
    let same = |p: &Pending<Id, RowId>, w: &Wanted<Id>| {
        p.occurrence == w.occurrence && p.lead_minutes == w.lead_minutes && p.due_at == w.due_at
    };
    let withdraw = pending
        .iter()
        .filter(|p| !wanted.iter().any(|w| same(p, w)))
        .map(|p| p.row.clone())
        .collect();
    let create = wanted
        .into_iter()
        .filter(|w| !pending.iter().any(|p| same(p, w)))
        .collect();
    Changes { withdraw, create }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> Tz {
        "America/New_York".parse().unwrap()
    }

    #[test]
    fn unchanged_rows_are_kept_and_moved_ones_replaced() {
        let day = 86_400;
        let upcoming = vec![
            Upcoming {
                id: 1,
                starts_at: 10 * day,
                tz: ny(),
            },
            Upcoming {
                id: 2,
                starts_at: 17 * day,
                tz: ny(),
            },
        ];
        let pending = vec![
            // Occurrence 1, 2 h before: still wanted.
            Pending {
                row: "a",
                occurrence: 1,
                lead_minutes: 120,
                due_at: 10 * day - 7_200,
            },
            // Occurrence 2 at its old time: withdrawn.
            Pending {
                row: "b",
                occurrence: 2,
                lead_minutes: 120,
                due_at: 16 * day,
            },
            // An occurrence no longer upcoming (cancelled): withdrawn.
            Pending {
                row: "c",
                occurrence: 3,
                lead_minutes: 120,
                due_at: 20 * day,
            },
        ];
        let c = replan(&upcoming, &pending, &[120], None, 0);
        assert_eq!(c.withdraw, vec!["b", "c"]);
        assert_eq!(
            c.create,
            vec![Wanted {
                occurrence: 2,
                lead_minutes: 120,
                due_at: 17 * day - 7_200
            }]
        );
    }

    #[test]
    fn stored_preferences_read_back_and_bad_ones_are_left_out() {
        assert_eq!(parse_leads("2880,120"), vec![2880, 120]);
        assert_eq!(parse_leads("x, 0, 60, 99999999"), vec![60]);
        assert_eq!(format_leads(&[2880, 120]), "2880,120");
        let q = parse_quiet(Some("21:00"), Some("09:00")).unwrap();
        assert_eq!(q.start.to_string(), "21:00:00");
        assert_eq!(parse_quiet(Some("25:00"), Some("09:00")), None);
        assert_eq!(parse_quiet(None, Some("09:00")), None);
    }

    #[test]
    fn no_occurrences_withdraws_everything_pending() {
        let pending = vec![Pending {
            row: 7,
            occurrence: 1,
            lead_minutes: 60,
            due_at: 100,
        }];
        let c = replan::<i32, i32>(&[], &pending, &[60], None, 0);
        assert_eq!(c.withdraw, vec![7]);
        assert!(c.create.is_empty());
    }
}
