//! The draft notice to individuals of 45 CFR 164.404(c): written in plain
//! language, with each of the five required elements filled from the
//! incident where its record knows them and left as a marked blank where
//! only the practice does. Pure.
//!
//! Invariants:
//! - A draft, never sent by anything in Alcove: the practice fills the
//!   blanks, decides, and sends it the way it reaches each person.
//! - No person in it: one text for every affected individual, opened with
//!   a blank for their name; no client, clinician or device name, no
//!   message content.
//! - Every element is present (the tests check each), and the blanks are
//!   listed so nothing is sent half-written.

use super::evidence::DeviceEvidence;
use super::status::Kind;
pub use crate::reminders::rules::locale::Language;
use serde::Serialize;
use utoipa::ToSchema;

/// A blank the practice fills before sending.
pub const BLANK_NAME: &str = "[name]";
/// Its contact details: 164.404(c)(1)(E) asks for a toll-free number, an
/// email address, a web site or a postal address.
pub const BLANK_CONTACT: &str = "[toll-free number, email address, web site or postal address]";
/// The date the breach happened, when the record cannot say.
pub const BLANK_BREACH_DATE: &str = "[date it happened]";
/// A description the reporter must write.
pub const BLANK_WHAT: &str = "[what happened, in a sentence or two]";

/// The draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notice {
    /// A subject line (for a letter's heading or an email).
    pub subject: String,
    /// The text, with blanks in square brackets.
    pub body: String,
    /// The blanks left to fill, in order of appearance.
    pub blanks: Vec<String>,
}

/// What the draft is filled from.
#[derive(Debug, Clone)]
pub struct NoticeFacts<'a> {
    /// What happened.
    pub kind: Kind,
    /// Discovered, `YYYY-MM-DD`.
    pub discovered_on: String,
    /// The practice's name (it signs the notice).
    pub practice: &'a str,
    /// The devices' evidence (for a lost device).
    pub evidence: &'a [DeviceEvidence],
    /// `YYYY-MM-DD` of a device's loss or revocation, when known.
    pub happened_on: Option<String>,
}

/// Drafts the notice in `language` (English or Spanish: the languages
/// Alcove ships, as its reminders do). The blanks stay in English in both,
/// so the practice finds them the same way.
pub fn draft(f: &NoticeFacts<'_>, language: Language) -> Notice {
    let w = words(language);
    let happened = f
        .happened_on
        .clone()
        .unwrap_or_else(|| BLANK_BREACH_DATE.to_owned());
    let discovered = &f.discovered_on;
    let what = match f.kind {
        Kind::LostDevice => w.what_lost.replace("{happened}", &happened),
        Kind::MisdirectedMessage => w.what_misdirected.replace("{happened}", &happened),
        _ => w
            .what_other
            .replace("{blank}", BLANK_WHAT)
            .replace("{happened}", &happened),
    }
    .replace("{discovered}", discovered);
    let revoked = f.evidence.iter().any(|e| e.revoked_at.is_some());
    let destroyed = f.evidence.iter().any(|e| e.unlock_share_destroyed);
    let mut doing = Vec::new();
    if revoked {
        doing.push(w.doing_revoked);
    }
    if destroyed {
        doing.push(w.doing_destroyed);
    }
    doing.push(w.doing_review);
    let body = format!(
        "{} {BLANK_NAME},\n\n{}\n\n{}\n{what}\n\n{}\n{}\n\n{}\n{}\n\n{}\n{}\n\n{}\n{}\n\n{}\n",
        w.dear,
        w.opening,
        w.h_what,
        w.h_kinds,
        w.kinds,
        w.h_doing,
        doing.join(" "),
        w.h_steps,
        w.steps,
        w.h_more,
        w.more.replace("{blank}", BLANK_CONTACT),
        f.practice,
    );
    let blanks = [BLANK_NAME, BLANK_WHAT, BLANK_BREACH_DATE, BLANK_CONTACT]
        .into_iter()
        .filter(|b| body.contains(b))
        .map(str::to_owned)
        .collect();
    Notice {
        subject: format!("{} {}", w.subject, f.practice),
        body,
        blanks,
    }
}

/// The notice's fixed words in one language.
struct Words {
    subject: &'static str,
    dear: &'static str,
    opening: &'static str,
    h_what: &'static str,
    what_lost: &'static str,
    what_misdirected: &'static str,
    what_other: &'static str,
    h_kinds: &'static str,
    kinds: &'static str,
    h_doing: &'static str,
    doing_revoked: &'static str,
    doing_destroyed: &'static str,
    doing_review: &'static str,
    h_steps: &'static str,
    steps: &'static str,
    h_more: &'static str,
    more: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            subject: "Notice of a privacy incident from",
            dear: "Dear",
            opening: "We are writing to tell you about an incident that may have involved some \
                of your health information, what we are doing about it, and what you can do.",
            h_what: "What happened",
            what_lost: "On {happened}, a phone or computer used to exchange secure messages \
                with our practice was lost or stolen. We learned of it on {discovered}.",
            what_misdirected: "On {happened}, a secure message meant for you was sent to \
                another person by mistake. We learned of it on {discovered}.",
            what_other: "{blank} It happened on {happened}; we learned of it on {discovered}.",
            h_kinds: "What information was involved",
            kinds: "The information involved may include the content of secure messages \
                between you and our practice — which can include health information you shared \
                and details of your appointments — and the fact that you are a client of our \
                practice. It did not include your Social Security number or payment details, \
                which our messaging service does not hold.",
            h_doing: "What we are doing",
            doing_revoked: "We cut the device off from our messaging service as soon as we \
                knew: it was signed out and removed from every conversation, so it receives \
                nothing more.",
            doing_destroyed: "The messages stored on it are encrypted, and we destroyed our \
                half of the key needed to open them.",
            doing_review: "We are reviewing what happened with our privacy officer, using the \
                access records our messaging service keeps, and we are changing our practices \
                to prevent it from happening again.",
            h_steps: "What you can do",
            steps: "You do not need to do anything about your secure messages: they continue \
                as before. Be wary of messages, calls or emails that claim to come from us and \
                ask for your password, passphrase or sign-in codes — we never ask for them. If \
                you shared the device or its passcode with anyone, or if you notice anything \
                unusual, tell us.",
            h_more: "For more information",
            more: "If you have questions, please contact us at {blank}.",
        },
        Language::Es => Words {
            subject: "Aviso de un incidente de privacidad de",
            dear: "Estimado/a",
            opening: "Le escribimos para informarle sobre un incidente que puede haber \
                afectado parte de su información de salud, lo que estamos haciendo al respecto \
                y lo que usted puede hacer.",
            h_what: "Qué sucedió",
            what_lost: "El {happened} se perdió o fue robado un teléfono o una computadora \
                que se usaba para intercambiar mensajes seguros con nuestra consulta. Nos \
                enteramos el {discovered}.",
            what_misdirected: "El {happened} se envió por error a otra persona un mensaje \
                seguro dirigido a usted. Nos enteramos el {discovered}.",
            what_other: "{blank} Sucedió el {happened}; nos enteramos el {discovered}.",
            h_kinds: "Qué información estuvo involucrada",
            kinds: "La información involucrada puede incluir el contenido de los mensajes \
                seguros entre usted y nuestra consulta —que puede contener información de salud \
                que usted compartió y detalles de sus citas— y el hecho de que usted es cliente \
                de nuestra consulta. No incluyó su número de Seguro Social ni sus datos de pago, \
                que nuestro servicio de mensajería no guarda.",
            h_doing: "Qué estamos haciendo",
            doing_revoked: "Desconectamos el dispositivo de nuestro servicio de mensajería en \
                cuanto lo supimos: se cerró su sesión y se retiró de todas las conversaciones, \
                así que ya no recibe nada.",
            doing_destroyed: "Los mensajes guardados en él están cifrados, y destruimos nuestra \
                mitad de la clave necesaria para abrirlos.",
            doing_review: "Estamos revisando lo sucedido con nuestro responsable de privacidad, \
                con los registros de acceso que guarda nuestro servicio de mensajería, y estamos \
                cambiando nuestras prácticas para evitar que vuelva a ocurrir.",
            h_steps: "Qué puede hacer usted",
            steps: "No necesita hacer nada con sus mensajes seguros: siguen como antes. \
                Desconfíe de mensajes, llamadas o correos que digan venir de nosotros y le pidan \
                su contraseña, su frase de acceso o sus códigos de inicio de sesión: nunca se los \
                pedimos. Si compartió el dispositivo o su código con alguien, o si nota algo \
                inusual, avísenos.",
            h_more: "Más información",
            more: "Si tiene preguntas, comuníquese con nosotros: {blank}.",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::evidence::{DeviceEvidence, EvidenceSources};
    use super::*;

    fn lost() -> DeviceEvidence {
        DeviceEvidence {
            device_id: "d".into(),
            owner_id: "dr-okafor".into(),
            revoked_at: Some(1),
            last_seen_at: None,
            unlock_share_destroyed: true,
            live_session_at_revocation: false,
            socket_open_at_revocation: Some(false),
            removals: vec![],
            safe_harbor_facts: true,
            conversations: vec![],
            affected_clients: vec!["sam-client".into()],
            sources: EvidenceSources::default(),
        }
    }

    #[test]
    fn a_lost_device_notice_has_the_five_elements_of_164_404_c() {
        let ev = [lost()];
        let n = draft(
            &NoticeFacts {
                kind: Kind::LostDevice,
                discovered_on: "2026-12-03".into(),
                practice: "Maple Street Practice",
                evidence: &ev,
                happened_on: Some("2026-12-02".into()),
            },
            Language::En,
        );
        // (A) what happened, with the date of the breach and of discovery.
        assert!(n.body.contains("On 2026-12-02, a phone or computer"));
        assert!(n.body.contains("We learned of it on 2026-12-03."));
        // (B) the types of information.
        assert!(n.body.contains("What information was involved"));
        // (C) steps to take.
        assert!(n.body.contains("What you can do"));
        // (D) what the practice is doing: here, revoked and key destroyed.
        assert!(n.body.contains("cut the device off"));
        assert!(n.body.contains("destroyed our half of the key"));
        // (E) how to reach the practice: a blank it must fill.
        assert!(n.body.contains(BLANK_CONTACT));
        assert_eq!(n.blanks, [BLANK_NAME, BLANK_CONTACT]);
        assert!(n.body.ends_with("Maple Street Practice\n"));
        // Nobody named: no client, no clinician, no device.
        for id in ["sam-client", "dr-okafor"] {
            assert!(!n.body.contains(id));
        }
    }

    #[test]
    fn what_the_record_cannot_say_is_left_as_a_marked_blank() {
        let n = draft(
            &NoticeFacts {
                kind: Kind::Other,
                discovered_on: "2026-12-03".into(),
                practice: "P",
                evidence: &[],
                happened_on: None,
            },
            Language::En,
        );
        assert_eq!(
            n.blanks,
            [BLANK_NAME, BLANK_WHAT, BLANK_BREACH_DATE, BLANK_CONTACT]
        );
        assert!(!n.body.contains("cut the device off"));
        assert!(n.body.contains("reviewing what happened"));
    }

    #[test]
    fn the_spanish_notice_has_the_same_five_elements_and_the_same_blanks() {
        let ev = [lost()];
        let facts = NoticeFacts {
            kind: Kind::LostDevice,
            discovered_on: "2026-12-03".into(),
            practice: "Consultorio Maple",
            evidence: &ev,
            happened_on: Some("2026-12-02".into()),
        };
        let es = draft(&facts, Language::Es);
        let en = draft(&facts, Language::En);
        assert!(es
            .subject
            .starts_with("Aviso de un incidente de privacidad"));
        assert!(es.body.starts_with("Estimado/a [name],"));
        for heading in [
            "Qué sucedió",
            "Qué información estuvo involucrada",
            "Qué puede hacer usted",
            "Qué estamos haciendo",
            "Más información",
        ] {
            assert!(es.body.contains(&format!("\n{heading}\n")), "{heading}");
        }
        assert!(es.body.contains("El 2026-12-02 se perdió"));
        assert!(es.body.contains("Nos enteramos el 2026-12-03."));
        assert!(es.body.contains("destruimos nuestra mitad de la clave"));
        assert_eq!(es.blanks, en.blanks);
        assert!(es.body.ends_with("Consultorio Maple\n"));
        for id in ["sam-client", "dr-okafor"] {
            assert!(!es.body.contains(id));
        }
        let other = draft(
            &NoticeFacts {
                kind: Kind::Other,
                evidence: &[],
                happened_on: None,
                ..facts
            },
            Language::Es,
        );
        assert_eq!(
            other.blanks,
            [BLANK_NAME, BLANK_WHAT, BLANK_BREACH_DATE, BLANK_CONTACT]
        );
    }
}
