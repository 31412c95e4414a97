//! What the dispatcher and the nudge job share on the way out of the
//! encrypted channel: the configured channels, the client's addresses
//! (opened only here, only for the send), and composing a text — the
//! template of the client's language, the sender name their preferences
//! allow, rendered and linted now, at send time.

use crate::ids::{PracticeId, UserId};
use crate::reminders::channels::email::Email;
use crate::reminders::channels::sms::Sms;
use crate::reminders::channels::SendError;
use crate::reminders::rules::check::{self, Rendered, SenderChoice, SourceFindings};
use crate::reminders::rules::defaults::{self, Texts};
use crate::reminders::rules::dispatch::Channel;
use crate::reminders::rules::lint::{Context, Part};
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

/// What a round needs of each practice it sends for, read once per round
/// rather than once per text: the current templates of the round's kind in
/// every language, and what the linter finds in their own text (with the
/// practice's staff names, whether or not the client opted in to their
/// clinician's name). A template saved during the round is used from the
/// next one; every rendered text is still linted, now.
pub struct Practices {
    templates: HashMap<(PracticeId, Language), Texts>,
    sources: HashMap<(PracticeId, Language, bool), SourceFindings>,
}

impl Practices {
    /// Reads them for each practice once.
    pub async fn read(
        state: &AppState,
        kind: Kind,
        practices: impl IntoIterator<Item = PracticeId>,
    ) -> anyhow::Result<Self> {
        let words = &state.reminders.words;
        let mut templates = HashMap::new();
        let mut sources = HashMap::new();
        for practice in practices {
            if templates.contains_key(&(practice, Language::En)) {
                continue;
            }
            let users = state.store.list_users(practice).await?;
            // The linter refuses a clinician's name in a template's text.
            let staff: Vec<String> = users
                .iter()
                .filter(|u| u.role().is_staff())
                .map(|u| u.display_name.clone())
                .collect();
            for language in Language::ALL {
                let texts = match state
                    .store
                    .reminder_template(practice, kind.code(), language.code())
                    .await?
                {
                    Some(t) => Texts {
                        sms: t.sms,
                        email_subject: t.email_subject,
                        email_body: t.email_body,
                    },
                    None => defaults::texts(kind, language),
                };
                for opt_in in [false, true] {
                    let ctx = Context {
                        clinician_names: &staff,
                        clinician_opt_in: opt_in,
                    };
                    let found = check::lint_sources(words, &ctx, kind, &texts);
                    sources.insert((practice, language, opt_in), found);
                }
                templates.insert((practice, language), texts);
            }
        }
        Ok(Self { templates, sources })
    }
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
    /// The appointment, in the client's zone (reminders only).
    pub at: Option<DateTime<Tz>>,
}

/// Renders the practice's current template for the client's language and
/// lints what goes out through `channels` now: the text to send, or the
/// linter's reason to withhold it.
pub fn compose(
    state: &AppState,
    practices: &Practices,
    prefs: Option<&PreferencesRow>,
    letter: &Letter<'_>,
    channels: &[Channel],
) -> Result<Rendered, String> {
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
    let key = (letter.practice_id, language);
    let opt_in = choice == SenderChoice::Clinician;
    let (Some(texts), Some(sources)) = (
        practices.templates.get(&key),
        practices
            .sources
            .get(&(letter.practice_id, language, opt_in)),
    ) else {
        // Not read for this round: never sent unlinted.
        return Err("not_checked: the practice's template was not read".to_owned());
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
    let rendered = check::render(texts, &values);
    let parts: Vec<Part> = channels
        .iter()
        .flat_map(|c| match c {
            Channel::Sms => &[Part::Sms][..],
            Channel::Email => &[Part::EmailSubject, Part::EmailBody][..],
        })
        .copied()
        .collect();
    let findings = check::lint_sent(words, sources, &rendered, &parts);
    match findings.first() {
        Some(f) => Err(format!("refused_by_linter: {}", f.reason)),
        None => Ok(rendered),
    }
}
