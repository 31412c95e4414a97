//! The templates a practice starts with. They pass the linter (tested), say
//! only that there is an appointment and when, and name nobody.

use super::locale::Language;
use super::template::Kind;

/// A template's three texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Texts {
    /// The SMS.
    pub sms: String,
    /// The email subject.
    pub email_subject: String,
    /// The email body.
    pub email_body: String,
}

/// The shipped template for a kind and language.
pub fn texts(kind: Kind, language: Language) -> Texts {
    let (sms, subject, body) = match (kind, language) {
        (Kind::Reminder, Language::En) => (
            "{sender}: you have an appointment on {weekday}, {date} at {time}. Reply {confirm} to confirm or {cancel} to cancel.",
            "Appointment on {weekday}, {date}",
            "Hello,\n\nThis is a reminder of your appointment on {weekday}, {date} at {time}.\n\nTo confirm or cancel, sign in at {link}, or reply {confirm} or {cancel} to our text message.\n\n{sender}",
        ),
        (Kind::Reminder, Language::Es) => (
            "{sender}: tiene una cita el {weekday} {date} a las {time}. Responda {confirm} para confirmar o {cancel} para cancelar.",
            "Cita el {weekday} {date}",
            "Hola:\n\nLe recordamos su cita el {weekday} {date} a las {time}.\n\nPara confirmar o cancelar, entre en {link}, o responda {confirm} o {cancel} a nuestro mensaje de texto.\n\n{sender}",
        ),
        (Kind::Nudge, Language::En) => (
            "{sender}: you have a new secure message. {link}",
            "You have a new secure message",
            "Hello,\n\nYou have a new secure message. Sign in to read it: {link}\n\n{sender}",
        ),
        (Kind::Nudge, Language::Es) => (
            "{sender}: tiene un mensaje seguro nuevo. {link}",
            "Tiene un mensaje seguro nuevo",
            "Hola:\n\nTiene un mensaje seguro nuevo. Entre para leerlo: {link}\n\n{sender}",
        ),
    };
    Texts {
        sms: sms.to_owned(),
        email_subject: subject.to_owned(),
        email_body: body.to_owned(),
    }
}
