//! Whether a client is nudged ("You have a new secure message") about a
//! conversation now — decided over the facts as they are when the job
//! looks, never over what the send path guessed.
//!
//! A nudge goes only when a message to the client has stayed unread (no
//! active device of theirs acknowledged it) for the practice's delay, while
//! no device of theirs has a socket open, at most once per conversation per
//! cooldown, never in quiet hours (it waits for their end), and only
//! through a channel the client allowed — one channel, SMS first: one
//! "new message" on the lock screen is enough, two is noise. A nudge the
//! preferences forbid is not sent another way: it is recorded with the
//! reason.

use super::dispatch::Channel;
use super::schedule::QuietHours;
use chrono_tz::Tz;

/// What is known about one conversation when the job looks.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Now (UTC seconds).
    pub now: i64,
    /// Minutes a message stays unread before a nudge; 0: the practice
    /// turned nudges off.
    pub after_minutes: i64,
    /// At most one nudge per conversation per this many minutes.
    pub cooldown_minutes: i64,
    /// When the first message to the client that none of their active
    /// devices acknowledged was accepted; `None`: nothing awaits them.
    pub unread_since: Option<i64>,
    /// A device of the client has a socket open.
    pub online: bool,
    /// The client's account is active.
    pub client_active: bool,
    /// When this conversation's last nudge went out.
    pub last_sent_at: Option<i64>,
    /// No reminders or nudges at all.
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
    /// The client's zone.
    pub tz: Tz,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to nudge about: forget the conversation until its next
    /// message.
    Clear,
    /// Look again then (UTC seconds).
    Later(i64),
    /// Not sent, recorded with the reason; forgotten until the next message.
    Withhold(&'static str),
    /// Send through this channel.
    Send(Channel),
}

/// The decision over the facts.
pub fn decide(f: &Facts) -> Decision {
    let Some(since) = f.unread_since else {
        return Decision::Clear;
    };
    if f.after_minutes <= 0 || !f.client_active {
        return Decision::Clear;
    }
    let due = since.saturating_add(f.after_minutes.saturating_mul(60));
    if f.now < due {
        return Decision::Later(due);
    }
    if f.online {
        // Their socket will acknowledge it; look once more a delay later.
        return Decision::Later(f.now.saturating_add(f.after_minutes.saturating_mul(60)));
    }
    if let Some(last) = f.last_sent_at {
        let next = last.saturating_add(f.cooldown_minutes.max(0).saturating_mul(60));
        if f.now < next {
            return Decision::Later(next);
        }
    }
    if f.opted_out {
        return Decision::Withhold("opted_out");
    }
    let allowed = [
        (Channel::Sms, f.sms, f.sms_configured),
        (Channel::Email, f.email, f.email_configured),
    ];
    if !allowed.iter().any(|(_, allowed, _)| *allowed) {
        return Decision::Withhold("no_allowed_channel");
    }
    let Some((channel, _, _)) = allowed.iter().find(|(_, allowed, ok)| *allowed && *ok) else {
        return Decision::Withhold("channel_not_configured");
    };
    if let Some(end) = f.quiet.and_then(|q| q.ends(f.tz, f.now)) {
        return Decision::Later(end);
    }
    Decision::Send(*channel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    const MIN: i64 = 60;

    fn facts() -> Facts {
        Facts {
            now: 1_000_000,
            after_minutes: 15,
            cooldown_minutes: 180,
            unread_since: Some(1_000_000 - 16 * MIN),
            online: false,
            client_active: true,
            last_sent_at: None,
            opted_out: false,
            email: true,
            sms: true,
            email_configured: true,
            sms_configured: true,
            quiet: None,
            tz: chrono_tz::UTC,
        }
    }

    #[test]
    fn a_message_unread_past_the_delay_while_offline_is_nudged_by_sms_first() {
        assert_eq!(decide(&facts()), Decision::Send(Channel::Sms));
        let email_only = Facts {
            sms: false,
            ..facts()
        };
        assert_eq!(decide(&email_only), Decision::Send(Channel::Email));
        let no_gateway = Facts {
            sms_configured: false,
            ..facts()
        };
        assert_eq!(
            decide(&no_gateway),
            Decision::Send(Channel::Email),
            "falls back to another allowed channel"
        );
    }

    #[test]
    fn nothing_unread_or_nudges_off_or_client_gone_clears() {
        assert_eq!(
            decide(&Facts {
                unread_since: None,
                ..facts()
            }),
            Decision::Clear
        );
        assert_eq!(
            decide(&Facts {
                after_minutes: 0,
                ..facts()
            }),
            Decision::Clear
        );
        assert_eq!(
            decide(&Facts {
                client_active: false,
                ..facts()
            }),
            Decision::Clear
        );
    }

    #[test]
    fn before_the_delay_it_waits_until_the_delay_is_up() {
        let f = Facts {
            unread_since: Some(1_000_000 - 5 * MIN),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Later(1_000_000 + 10 * MIN));
    }

    #[test]
    fn a_client_online_is_not_nudged() {
        let f = Facts {
            online: true,
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Later(1_000_000 + 15 * MIN));
    }

    #[test]
    fn at_most_one_nudge_per_cooldown() {
        let f = Facts {
            last_sent_at: Some(1_000_000 - 60 * MIN),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Later(1_000_000 + 120 * MIN));
        let f = Facts {
            last_sent_at: Some(1_000_000 - 180 * MIN),
            ..facts()
        };
        assert_eq!(decide(&f), Decision::Send(Channel::Sms));
    }

    #[test]
    fn preferences_that_forbid_it_withhold_it_with_the_reason() {
        assert_eq!(
            decide(&Facts {
                opted_out: true,
                ..facts()
            }),
            Decision::Withhold("opted_out")
        );
        let none = Facts {
            email: false,
            sms: false,
            ..facts()
        };
        assert_eq!(decide(&none), Decision::Withhold("no_allowed_channel"));
        let unconfigured = Facts {
            email_configured: false,
            sms_configured: false,
            ..facts()
        };
        assert_eq!(
            decide(&unconfigured),
            Decision::Withhold("channel_not_configured")
        );
        let sms_only_no_gateway = Facts {
            email: false,
            sms_configured: false,
            ..facts()
        };
        assert_eq!(
            decide(&sms_only_no_gateway),
            Decision::Withhold("channel_not_configured"),
            "never by email when the client allowed only SMS"
        );
    }

    #[test]
    fn in_quiet_hours_it_waits_for_their_end() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let at = |h| {
            ny.with_ymd_and_hms(2026, 11, 3, h, 0, 0)
                .earliest()
                .unwrap()
                .timestamp()
        };
        let f = Facts {
            now: at(22),
            unread_since: Some(at(21)),
            quiet: Some(QuietHours {
                start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            }),
            tz: ny,
            ..facts()
        };
        let end = ny
            .with_ymd_and_hms(2026, 11, 4, 8, 0, 0)
            .earliest()
            .unwrap()
            .timestamp();
        assert_eq!(decide(&f), Decision::Later(end));
        assert_eq!(
            decide(&Facts { now: end, ..f }),
            Decision::Send(Channel::Sms)
        );
    }
}
