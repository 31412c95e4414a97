//! What the dispatcher and the nudge job share on the way out of the
//! encrypted channel: the configured channels, the client's addresses
//! (opened only here, only for the send), and composing a text — the
//! template of the client's language, the sender name their preferences
//! allow, rendered and linted now, at send time.

use crate::ids::{PracticeId, UserId};
use crate::reminders::channels::email::Email;
use crate::reminders::channels::sms::Sms;
use crate::reminders::channels::SendError;
use crate::reminders::rules::check::{self, Rendered, SenderChoice};
use crate::reminders::rules::defaults::{self, Texts};
use crate::reminders::rules::dispatch::Channel;
use crate::reminders::rules::lint::Context;
use crate::reminders::rules::locale::Language;
use crate::reminders::rules::template::{Kind, Values};
use crate::reminders::store::PreferencesRow;
use crate::state::AppState;
use chrono::DateTime;
use chrono_tz::Tz;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// The channels the settings configure.
pub struct Outbox {
    email: Option<Email>,
    sms: Option<Sms>,
}

/// Where a client may be reached, opened from their preferences: only the
/// channels they allow, only for this send.
#[derive(Default)]
pub struct Contacts {
    /// Their email address, when email is allowed.
    pub email: Option<Zeroizing<String>>,
    /// Their number, when SMS is allowed.
    pub sms: Option<Zeroizing<String>>,
}

impl Contacts {
    /// Opens the allowed addresses of a client's preferences.
    pub fn of(state: &AppState, client: UserId, prefs: Option<&PreferencesRow>) -> Self {
        let key = &state.reminders.contact;
        Self {
            email: prefs
                .filter(|p| p.email_enabled)
                .and_then(|p| p.email_ct.as_deref())
                .and_then(|ct| key.open(client, ct)),
            sms: prefs
                .filter(|p| p.sms_enabled)
                .and_then(|p| p.phone_ct.as_deref())
                .and_then(|ct| key.open(client, ct)),
        }
    }
}

impl Outbox {
    /// Builds the channels the settings configure.
    pub fn new(state: &AppState) -> anyhow::Result<Self> {
        let s = &state.settings.reminders;
        Ok(Self {
            email: s.email.as_ref().map(Email::new).transpose()?,
            sms: s.sms.as_ref().map(Sms::new).transpose()?,
        })
    }

    /// Whether a channel is configured.
    pub fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
        }
    }

    /// Sends one rendered text through one channel; the provider's id.
    /// `message_id` makes an email resent after a crash carry the same
    /// `Message-ID`.
    pub async fn send(
        &self,
        channel: Channel,
        message_id: &str,
        to: &Contacts,
        rendered: &Rendered,
    ) -> Result<String, SendError> {
        match channel {
            Channel::Email => match (&self.email, &to.email) {
                (Some(mailer), Some(to)) => {
                    mailer
                        .send(
                            message_id,
                            to,
                            &rendered.email_subject,
                            &rendered.email_body,
                        )
                        .await
                }
                _ => Err(SendError::Permanent("not configured")),
            },
            Channel::Sms => match (&self.sms, &to.sms) {
                (Some(gateway), Some(to)) => gateway.send(to, &rendered.sms).await,
                _ => Err(SendError::Permanent("not configured")),
            },
        }
    }
}

/// The staff names of each practice (the linter refuses a clinician's name
/// in a template's text).
pub async fn staff_names(
    state: &AppState,
    practices: impl IntoIterator<Item = PracticeId>,
) -> anyhow::Result<HashMap<PracticeId, Vec<String>>> {
    let mut out = HashMap::new();
    for practice in practices {
        if out.contains_key(&practice) {
            continue;
        }
        let users = state.store.list_users(practice).await?;
        out.insert(
            practice,
            users
                .iter()
                .filter(|u| u.role().is_staff())
                .map(|u| u.display_name.clone())
                .collect(),
        );
    }
    Ok(out)
}

/// Who a text is from and about.
pub struct Letter<'a> {
    /// What is sent.
    pub kind: Kind,
    /// The practice.
    pub practice_id: PracticeId,
    /// Its name (a sender the client may have chosen).
    pub practice_name: &'a str,
    /// The clinician's name (likewise).
    pub clinician_name: &'a str,
    /// The practice's staff names (never in a template's text).
    pub staff_names: &'a [String],
    /// The appointment, in the client's zone (reminders only).
    pub at: Option<DateTime<Tz>>,
}

/// Renders the practice's current template for the client's language and
/// lints it now: the text to send, or the linter's reason to withhold it.
pub async fn compose(
    state: &AppState,
    prefs: Option<&PreferencesRow>,
    letter: &Letter<'_>,
) -> anyhow::Result<Result<Rendered, String>> {
    let language = prefs
        .and_then(|p| Language::from_code(&p.language))
        .unwrap_or(Language::En);
    let choice = prefs
        .and_then(|p| SenderChoice::from_code(&p.sender))
        .unwrap_or_default();
    let words = &state.reminders.words;
    let sender = check::sender_name(
        words,
        choice,
        letter.practice_name,
        letter.clinician_name,
        language,
    );
    let texts = match state
        .store
        .reminder_template(letter.practice_id, letter.kind.code(), language.code())
        .await?
    {
        Some(t) => Texts {
            sms: t.sms,
            email_subject: t.email_subject,
            email_body: t.email_body,
        },
        None => defaults::texts(letter.kind, language),
    };
    let (date, time, weekday) = match &letter.at {
        Some(at) => (language.date(at), language.time(at), language.weekday(at)),
        None => (String::new(), String::new(), ""),
    };
    let link = state.settings.public_url();
    let values = Values {
        weekday,
        date: &date,
        time: &time,
        sender: &sender,
        confirm: "C",
        cancel: "X",
        link: &link,
    };
    let rendered = check::render(&texts, &values);
    let ctx = Context {
        clinician_names: letter.staff_names,
        clinician_opt_in: choice == SenderChoice::Clinician,
    };
    let findings = check::lint_all(words, &ctx, letter.kind, &texts, &rendered);
    Ok(match findings.first() {
        Some(f) => Err(format!("refused_by_linter: {}", f.reason)),
        None => Ok(rendered),
    })
}
