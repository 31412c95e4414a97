//! Whether a due reminder is sent, and through what — decided at send
//! time over the facts as they are then (the client may have opted out or
//! changed channels since the row was written).
//!
//! A reminder the preferences forbid is never sent another way: it is
//! withheld with the reason, and staff see it.

use super::schedule::QuietHours;
use chrono_tz::Tz;

/// A way out of the encrypted channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email through SMTP.
    Email,
    /// SMS through the gateway.
    Sms,
}

impl Channel {
    /// Its stable name.
    pub fn code(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// What is known when a reminder falls due.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Now (UTC seconds).
    pub now: i64,
    /// When it fell due.
    pub due_at: i64,
    /// When the occurrence starts.
    pub starts_at: i64,
    /// The occurrence's status.
    pub status: String,
    /// How late is still worth sending (seconds).
    pub grace_secs: i64,
    /// No reminders at all.
    pub opted_out: bool,
    /// Email allowed and an address on file.
    pub email: bool,
    /// SMS allowed and a number on file.
    pub sms: bool,
    /// The server has SMTP configured.
    pub email_configured: bool,
    /// The server has a gateway configured.
    pub sms_configured: bool,
    /// The client's quiet hours.
    pub quiet: Option<QuietHours>,
    /// The client's zone (the series').
    pub tz: Tz,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send through these.
    Send(Vec<Channel>),
    /// Not sent, because of the client's preferences or the practice's set-up.
    Withhold(&'static str),
    /// Not sent: too late to be of use.
    Drop(&'static str),
    /// Not sent: the occurrence is no longer happening.
    Withdraw(&'static str),
}

/// The decision over the facts.
pub fn decide(f: &Facts) -> Decision {
    if !matches!(f.status.as_str(), "scheduled" | "confirmed") {
        return Decision::Withdraw("occurrence_not_scheduled");
    }
    if f.now >= f.starts_at {
        return Decision::Drop("after_the_appointment");
    }
    if f.now > f.due_at + f.grace_secs {
        return Decision::Drop("late");
    }
    if f.opted_out {
        return Decision::Withhold("opted_out");
    }
    if f.quiet.is_some_and(|q| q.began(f.tz, f.now).is_some()) {
        return Decision::Withhold("quiet_hours");
    }
    let allowed: Vec<(Channel, bool)> = [
        (Channel::Email, f.email, f.email_configured),
        (Channel::Sms, f.sms, f.sms_configured),
    ]
    .into_iter()
    .filter(|(_, allowed, _)| *allowed)
    .map(|(c, _, configured)| (c, configured))
    .collect();
    if allowed.is_empty() {
        return Decision::Withhold("no_allowed_channel");
    }
    let usable: Vec<Channel> = allowed
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(c, _)| *c)
        .collect();
    if usable.is_empty() {
        return Decision::Withhold("channel_not_configured");
    }
    Decision::Send(usable)
}

impl Decision {
    /// Why it is not sent (none when it is).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Decision::Send(_) => None,
            Decision::Withhold(why) | Decision::Drop(why) | Decision::Withdraw(why) => Some(why),
        }
    }
}

/// The channels a reminder already went out through, as recorded
/// (`email,sms`): an earlier try whose other channel failed for the moment.
pub fn channels_sent(recorded: Option<&str>) -> Vec<Channel> {
    let codes: Vec<&str> = recorded.unwrap_or("").split(',').map(str::trim).collect();
    [Channel::Email, Channel::Sms]
        .into_iter()
        .filter(|c| codes.contains(&c.code()))
        .collect()
}

/// Of the channels allowed now, those still owed: one a reminder already
/// went out through is never sent again (the client has it; SMTP and the
/// SMS API have no idempotency key to make a second send harmless).
pub fn still_owed(allowed: Vec<Channel>, sent: &[Channel]) -> Vec<Channel> {
    allowed.into_iter().filter(|c| !sent.contains(c)).collect()
}

/// When to try again after `attempts` transient failures: 30 s doubling,
/// at most an hour.
pub fn retry_delay_secs(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_i64 << exp).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    #[test]
    fn a_channel_already_sent_is_not_owed_again() {
        assert_eq!(channels_sent(None), vec![]);
        assert_eq!(channels_sent(Some("email")), vec![Channel::Email]);
        assert_eq!(
            channels_sent(Some("sms,email")),
            vec![Channel::Email, Channel::Sms]
        );
        assert_eq!(channels_sent(Some("fax")), vec![]);
        let both = vec![Channel::Email, Channel::Sms];
        assert_eq!(still_owed(both.clone(), &[]), both);
        assert_eq!(
            still_owed(both.clone(), &[Channel::Email]),
            vec![Channel::Sms]
        );
        assert_eq!(still_owed(both, &[Channel::Email, Channel::Sms]), vec![]);
        // The client turned SMS off since: nothing more is owed.
        assert_eq!(still_owed(vec![Channel::Email], &[Channel::Email]), vec![]);
    }

    fn facts() -> Facts {
        Facts {
            now: 1_000_000,
            due_at: 1_000_000,
            starts_at: 1_007_200,
            status: "scheduled".into(),
            grace_secs: 1800,
            opted_out: false,
            email: true,
            sms: false,
            email_configured: true,
            sms_configured: true,
            quiet: None,
            tz: "America/New_York".parse().unwrap(),
        }
    }

    #[test]
    fn only_what_the_preferences_allow_is_used_and_nothing_else_instead() {
        assert_eq!(decide(&facts()), Decision::Send(vec![Channel::Email]));
        let both = Facts {
            sms: true,
            ..facts()
        };
        assert_eq!(
            decide(&both),
            Decision::Send(vec![Channel::Email, Channel::Sms])
        );
        let none = Facts {
            email: false,
            ..facts()
        };
        assert_eq!(decide(&none), Decision::Withhold("no_allowed_channel"));
        // Only SMS allowed and no gateway: withheld, never sent by email.
        let sms_only = Facts {
            email: false,
            sms: true,
            sms_configured: false,
            ..facts()
        };
        assert_eq!(
            decide(&sms_only),
            Decision::Withhold("channel_not_configured")
        );
        let out = Facts {
            opted_out: true,
            ..facts()
        };
        assert_eq!(decide(&out), Decision::Withhold("opted_out"));
    }

    #[test]
    fn late_or_cancelled_reminders_are_not_sent() {
        let late = Facts {
            now: 1_000_000 + 1801,
            ..facts()
        };
        assert_eq!(decide(&late), Decision::Drop("late"));
        let edge = Facts {
            now: 1_000_000 + 1800,
            ..facts()
        };
        assert!(matches!(decide(&edge), Decision::Send(_)));
        let after = Facts {
            now: 1_007_200,
            due_at: 1_007_000,
            ..facts()
        };
        assert_eq!(decide(&after), Decision::Drop("after_the_appointment"));
        let cancelled = Facts {
            status: "cancelled".into(),
            ..facts()
        };
        assert_eq!(
            decide(&cancelled),
            Decision::Withdraw("occurrence_not_scheduled")
        );
    }

    #[test]
    fn nothing_is_sent_in_quiet_hours_even_when_late() {
        // 1_000_000 is 1970-01-12 08:46 EST.
        let quiet = QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        };
        let f = Facts {
            quiet: Some(quiet),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Withhold("quiet_hours"));
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(
            (1..=9).map(retry_delay_secs).collect::<Vec<_>>(),
            [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        );
    }
}
