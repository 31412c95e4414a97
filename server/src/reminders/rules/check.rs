//! A template as a whole: linted when saved (with the longest values it can
//! produce) and when sent (with the real ones), and previewed as the client
//! would see it.

use super::defaults::Texts;
use super::lint::{self, Context, Finding, Part, WordLists};
use super::locale::Language;
use super::segments::{self, SmsCost};
use super::template::{self, Kind, Values};

/// Which name a client's reminders may carry (their 164.522(b) choice).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SenderChoice {
    /// "Appointment reminder" (the default).
    #[default]
    Neutral,
    /// The practice's short name, if it passes the linter.
    Practice,
    /// The clinician's name (the client opted in), if it passes the linter.
    Clinician,
}

impl SenderChoice {
    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            SenderChoice::Neutral => "neutral",
            SenderChoice::Practice => "practice",
            SenderChoice::Clinician => "clinician",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "neutral" => Some(SenderChoice::Neutral),
            "practice" => Some(SenderChoice::Practice),
            "clinician" => Some(SenderChoice::Clinician),
            _ => None,
        }
    }
}

/// The sender name to merge: the client's choice when the name passes the
/// linter, else the neutral one (a practice called "Riverside Counseling"
/// never reaches a lock screen).
pub fn sender_name(
    lists: &WordLists,
    choice: SenderChoice,
    practice_short_name: &str,
    clinician_name: &str,
    language: Language,
) -> String {
    let candidate = match choice {
        SenderChoice::Neutral => return language.neutral_sender().to_owned(),
        SenderChoice::Practice => practice_short_name,
        SenderChoice::Clinician => clinician_name,
    };
    let candidate = candidate.trim();
    if candidate.is_empty() || !lint::lint_words(lists, Part::Sms, candidate).is_empty() {
        language.neutral_sender().to_owned()
    } else {
        candidate.to_owned()
    }
}

/// What the client would receive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Rendered {
    /// The SMS text.
    pub sms: String,
    /// What the SMS costs.
    pub sms_cost: SmsCost,
    /// The email subject.
    pub email_subject: String,
    /// The email body.
    pub email_body: String,
    /// What a lock screen shows of the SMS.
    pub sms_lock_screen: String,
    /// What a lock screen shows of the email (sender line aside): the
    /// subject, then the start of the body.
    pub email_lock_screen: String,
}

/// Renders all three texts.
pub fn render(texts: &Texts, values: &Values<'_>) -> Rendered {
    let sms = template::render(&texts.sms, values);
    let email_subject = template::render(&texts.email_subject, values);
    let email_body = template::render(&texts.email_body, values);
    Rendered {
        sms_cost: segments::cost(&sms),
        sms_lock_screen: lint::lock_screen_preview(&sms),
        email_lock_screen: lint::lock_screen_preview(&format!(
            "{email_subject} — {}",
            email_body.replace('\n', " ")
        )),
        sms,
        email_subject,
        email_body,
    }
}

/// What the linter found in a template's own three texts (SMS, email
/// subject, email body): the same for every text sent from it, so a
/// dispatch round lints each template once and each rendered text anew.
#[derive(Debug, Clone, Default)]
pub struct SourceFindings {
    parts: [Vec<Finding>; 3],
}

const PARTS: [Part; 3] = [Part::Sms, Part::EmailSubject, Part::EmailBody];

/// Lints the three sources.
pub fn lint_sources(
    lists: &WordLists,
    ctx: &Context<'_>,
    kind: Kind,
    texts: &Texts,
) -> SourceFindings {
    let sources = [&texts.sms, &texts.email_subject, &texts.email_body];
    SourceFindings {
        parts: [0, 1, 2].map(|i| lint::lint_source(lists, ctx, kind, PARTS[i], sources[i])),
    }
}

/// The sources' findings and the rendered texts' own, of the parts that
/// are sent (an SMS-only client's text is not refused for the email's
/// wording, and its email texts are not linted for nothing).
pub fn lint_sent(
    lists: &WordLists,
    sources: &SourceFindings,
    rendered: &Rendered,
    sent: &[Part],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let outs = [&rendered.sms, &rendered.email_subject, &rendered.email_body];
    for ((part, source_findings), out) in PARTS.iter().zip(&sources.parts).zip(outs) {
        if !sent.contains(part) {
            continue;
        }
        let source_clean = source_findings.is_empty();
        findings.extend(source_findings.iter().cloned());
        // Words in the rendered text that the source did not have came from
        // a field (a sender name); offsets there are into the rendered text,
        // so they are reported only when the source itself was clean.
        let rendered_findings = lint::lint_rendered(lists, *part, out);
        findings.extend(
            rendered_findings
                .into_iter()
                .filter(|f| source_clean || f.code == lint::FindingCode::TooLong),
        );
    }
    findings
}

/// Lints the three sources and the three rendered texts.
pub fn lint_all(
    lists: &WordLists,
    ctx: &Context<'_>,
    kind: Kind,
    texts: &Texts,
    rendered: &Rendered,
) -> Vec<Finding> {
    lint_sent(
        lists,
        &lint_sources(lists, ctx, kind, texts),
        rendered,
        &PARTS,
    )
}

/// Checks a template when it is saved: rendered with the longest values the
/// language produces and the longest sender it could carry.
pub fn check_on_save(
    lists: &WordLists,
    ctx: &Context<'_>,
    kind: Kind,
    language: Language,
    texts: &Texts,
    sample_sender: &str,
    link: &str,
) -> (Vec<Finding>, Rendered) {
    let sender = if sample_sender.chars().count() > language.neutral_sender().chars().count() {
        sample_sender
    } else {
        language.neutral_sender()
    };
    let rendered = render(texts, &Values::longest(language, sender, link));
    (lint_all(lists, ctx, kind, texts, &rendered), rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_default_passes_in_every_language_with_every_sender() {
        let lists = WordLists::shipped();
        let ctx = Context {
            clinician_names: &["Ana Rivera".to_owned()],
            clinician_opt_in: false,
        };
        for kind in [Kind::Reminder, Kind::Nudge] {
            for lang in Language::ALL {
                let texts = super::super::defaults::texts(kind, lang);
                for sender in ["Appointment reminder", "Maple Street Associates"] {
                    let (findings, rendered) = check_on_save(
                        &lists,
                        &ctx,
                        kind,
                        lang,
                        &texts,
                        sender,
                        "https://alcove.example",
                    );
                    assert!(findings.is_empty(), "{kind:?} {lang:?}: {findings:#?}");
                    assert!(rendered.sms_cost.segments <= lint::MAX_SMS_SEGMENTS);
                }
            }
        }
    }

    #[test]
    fn a_practice_name_with_a_service_word_falls_back_to_the_neutral_sender() {
        let lists = WordLists::shipped();
        let name = |choice, practice: &str, lang| {
            sender_name(&lists, choice, practice, "Ana Rivera", lang)
        };
        assert_eq!(
            name(SenderChoice::Practice, "Riverside Counseling", Language::En),
            "Appointment reminder"
        );
        assert_eq!(
            name(SenderChoice::Practice, "Terapia Sol", Language::Es),
            "Recordatorio de cita"
        );
        assert_eq!(
            name(SenderChoice::Practice, "Maple Street", Language::En),
            "Maple Street"
        );
        assert_eq!(
            name(SenderChoice::Clinician, "x", Language::En),
            "Ana Rivera"
        );
        assert_eq!(
            sender_name(
                &lists,
                SenderChoice::Clinician,
                "",
                "Dr. Ana Rivera, LCSW",
                Language::En
            ),
            "Appointment reminder"
        );
        assert_eq!(
            name(SenderChoice::Neutral, "Maple Street", Language::En),
            "Appointment reminder"
        );
    }

    #[test]
    fn a_template_valid_when_saved_is_refused_when_a_field_brings_a_forbidden_word() {
        let lists = WordLists::shipped();
        let ctx = Context::default();
        let texts = super::super::defaults::texts(Kind::Reminder, Language::En);
        // Rendered as it would be if a sender slipped past resolution.
        let values = Values::longest(Language::En, "Riverside Counseling", "https://a.example");
        let rendered = render(&texts, &values);
        let findings = lint_all(&lists, &ctx, Kind::Reminder, &texts, &rendered);
        assert!(findings
            .iter()
            .any(|f| f.code == lint::FindingCode::ServiceWord));
    }

    #[test]
    fn only_the_parts_that_are_sent_are_judged_at_send_time() {
        // The email body grew a word the lists now refuse (a list grew
        // after the template was saved); the SMS is clean.
        let lists = WordLists::shipped();
        let ctx = Context::default();
        let mut texts = super::super::defaults::texts(Kind::Reminder, Language::En);
        texts.email_body.push_str(" Bring your therapy notes.");
        let values = Values::longest(Language::En, "Maple Street", "https://a.example");
        let rendered = render(&texts, &values);
        let sources = lint_sources(&lists, &ctx, Kind::Reminder, &texts);
        assert!(lint_sent(&lists, &sources, &rendered, &[Part::Sms]).is_empty());
        let email = lint_sent(
            &lists,
            &sources,
            &rendered,
            &[Part::EmailSubject, Part::EmailBody],
        );
        assert_eq!(email.len(), 1, "{email:?}");
        assert_eq!(email[0].part, Part::EmailBody);
        // Everything, as on save.
        assert_eq!(
            lint_all(&lists, &ctx, Kind::Reminder, &texts, &rendered),
            email
        );
    }

    #[test]
    fn the_lock_screen_preview_is_the_first_hundred_characters() {
        let texts = super::super::defaults::texts(Kind::Reminder, Language::En);
        let r = render(
            &texts,
            &Values::longest(Language::En, "Appointment reminder", "https://a.example"),
        );
        assert_eq!(r.sms_lock_screen.chars().count(), 101);
        assert!(r.sms_lock_screen.ends_with('…'));
        assert!(r
            .email_lock_screen
            .starts_with("Appointment on Wednesday, September 30 — Hello,"));
    }
}
