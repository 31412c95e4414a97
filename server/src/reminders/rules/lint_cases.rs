//! The linter as a table: each case is a template text, what the linter must
//! say about it (the first finding's code, or nothing), and why.

use super::lint::{
    lint_rendered, lint_source, Context, FindingCode, FindingCode::*, Part, WordLists,
};
use super::template::Kind;

struct Case {
    text: &'static str,
    part: Part,
    kind: Kind,
    opt_in: bool,
    expect: Option<FindingCode>,
    why: &'static str,
}

const fn sms(text: &'static str, expect: Option<FindingCode>, why: &'static str) -> Case {
    Case {
        text,
        part: Part::Sms,
        kind: Kind::Reminder,
        opt_in: false,
        expect,
        why,
    }
}

const fn subject(text: &'static str, expect: Option<FindingCode>, why: &'static str) -> Case {
    Case {
        part: Part::EmailSubject,
        ..sms(text, expect, why)
    }
}

const fn nudge(text: &'static str, expect: Option<FindingCode>, why: &'static str) -> Case {
    Case {
        kind: Kind::Nudge,
        ..sms(text, expect, why)
    }
}

const fn opted_in(text: &'static str, expect: Option<FindingCode>, why: &'static str) -> Case {
    Case {
        opt_in: true,
        ..sms(text, expect, why)
    }
}

const CASES: &[Case] = &[
    // Allowed: what a reminder may say.
    sms(
        "{sender}: appointment {weekday} {date} at {time}.",
        None,
        "the shape of the default",
    ),
    sms(
        "Reminder: {weekday} at {time}. Reply {confirm} or {cancel}.",
        None,
        "reply keywords are fields",
    ),
    sms(
        "You have an appointment tomorrow at {time}.",
        None,
        "'appointment' is what every dentist says",
    ),
    sms(
        "See you {weekday}!",
        None,
        "a friendly line discloses nothing",
    ),
    sms("Your visit is on {date}.", None, "'visit' is generic"),
    sms(
        "Open {link} for details.",
        None,
        "the link carries no identifier",
    ),
    sms(
        "Tiene una cita el {weekday} a las {time}.",
        None,
        "Spanish default wording",
    ),
    sms(
        "Cita: {date}, {time}. Responda {confirm}.",
        None,
        "Spanish short form",
    ),
    sms(
        "Please arrive 10 minutes early.",
        None,
        "numbers in plain words are fine",
    ),
    sms(
        "Call us at 555-0100 to change it.",
        None,
        "a phone number is not a diagnosis code",
    ),
    sms(
        "Room 3 at {time}",
        None,
        "digits alone are not read as letters",
    ),
    sms("12:30 works?", None, "a time is not a code"),
    sms(
        "Reply STOP to stop texts.",
        None,
        "STOP is the carrier keyword",
    ),
    sms("Msg & data rates may apply.", None, "carrier boilerplate"),
    sms("Hello from the front desk.", None, "'desk' is generic"),
    sms("We look forward to seeing you.", None, "nothing clinical"),
    sms(
        "Appointment reminder: {date}",
        None,
        "the neutral sender's own words",
    ),
    sms(
        "Recordatorio de cita: {date}",
        None,
        "the Spanish neutral sender",
    ),
    sms(
        "Maple Street Associates: {time}",
        None,
        "a practice name without service words",
    ),
    sms("Fine print: F", None, "a lone F is not a code"),
    sms(
        "Fax us at F1 desk",
        None,
        "F1 is not chapter V (two digits needed)",
    ),
    sms(
        "Suite F400, 2nd floor",
        None,
        "F400 has three digits: not an ICD-10 code",
    ),
    sms("Thank you!", None, "nothing at all"),
    sms("Nos vemos el {weekday}.", None, "Spanish friendly line"),
    sms(
        "Confirm with {confirm}, cancel with {cancel}",
        None,
        "only fields",
    ),
    nudge(
        "{sender}: you have a new secure message. {link}",
        None,
        "the default nudge",
    ),
    nudge("New message waiting: {link}", None, "a nudge with a link"),
    opted_in(
        "{sender}: {weekday} at {time}",
        None,
        "an opted-in name travels in {sender} only",
    ),
    subject(
        "Appointment on {weekday}, {date}",
        None,
        "the default subject",
    ),
    subject("Your upcoming appointment", None, "a plain subject"),
    // Service words (English).
    sms(
        "Your therapy appointment is {date}.",
        Some(ServiceWord),
        "therapy names the care",
    ),
    sms(
        "Your therapist will see you at {time}.",
        Some(ServiceWord),
        "therapist, by its stem",
    ),
    sms(
        "Therapies start {date}",
        Some(ServiceWord),
        "plural by the stem",
    ),
    sms("Your THERAPY is {date}", Some(ServiceWord), "case folded"),
    sms(
        "Your th3rapy is {date}",
        Some(ServiceWord),
        "look-alike digit folded",
    ),
    sms("Your ther4py is {date}", Some(ServiceWord), "4 read as a"),
    sms("Counseling at {time}", Some(ServiceWord), "counseling"),
    sms(
        "Counselling at {time}",
        Some(ServiceWord),
        "British spelling, same stem",
    ),
    sms("Your counselor awaits", Some(ServiceWord), "counselor"),
    sms("Psychotherapy {date}", Some(ServiceWord), "psychotherapy"),
    sms(
        "Psychiatry follow-up {date}",
        Some(ServiceWord),
        "psychiatry",
    ),
    sms(
        "Psychologist visit {date}",
        Some(ServiceWord),
        "psychologist",
    ),
    sms("Mental wellness check {date}", Some(ServiceWord), "mental"),
    sms(
        "Behavioral health visit",
        Some(ServiceWord),
        "behavioral health",
    ),
    sms(
        "Behavioural health visit",
        Some(ServiceWord),
        "British spelling",
    ),
    sms("Your session is {date}", Some(ServiceWord), "session"),
    sms("Sessions resume {date}", Some(ServiceWord), "sessions"),
    sms("Substance use group {date}", Some(ServiceWord), "substance"),
    sms("Addiction services {date}", Some(ServiceWord), "addiction"),
    sms("Recovery group {date}", Some(ServiceWord), "recovery"),
    sms("Rehab check-in {date}", Some(ServiceWord), "rehab"),
    sms("Detox intake {date}", Some(ServiceWord), "detox"),
    sms("Methadone pickup {date}", Some(ServiceWord), "methadone"),
    sms(
        "Buprenorphine refill {date}",
        Some(ServiceWord),
        "buprenorphine",
    ),
    sms(
        "Suboxone {date}",
        Some(ServiceWord),
        "a brand name of buprenorphine",
    ),
    sms("AA meeting {date}", Some(ServiceWord), "AA as an acronym"),
    sms("NA meeting {date}", Some(ServiceWord), "NA as an acronym"),
    sms("Crisis line follow-up", Some(ServiceWord), "crisis"),
    sms("Clinic visit {date}", Some(ServiceWord), "clinic"),
    sms(
        "Clinical review {date}",
        Some(ServiceWord),
        "clinical, by the stem",
    ),
    sms(
        "Dr. Smith at {time}",
        Some(ServiceWord),
        "a title that names a doctor",
    ),
    sms("Your doctor at {time}", Some(ServiceWord), "doctor"),
    sms("Treatment plan review", Some(ServiceWord), "treatment"),
    sms("Intake on {date}", Some(ServiceWord), "intake"),
    sms("Outpatient program", Some(ServiceWord), "outpatient"),
    sms("Sober living check", Some(ServiceWord), "sober"),
    sms("Social worker visit", Some(ServiceWord), "social worker"),
    // Service words (Spanish).
    sms("Su terapia es el {date}", Some(ServiceWord), "terapia"),
    sms(
        "Su terapeuta le espera",
        Some(ServiceWord),
        "terapeuta, by the stem",
    ),
    sms(
        "Su sesión es el {date}",
        Some(ServiceWord),
        "sesión, accent folded",
    ),
    sms(
        "Su sesion es el {date}",
        Some(ServiceWord),
        "sesion without the accent",
    ),
    sms("Cita de psicología", Some(ServiceWord), "psicología"),
    sms("Cita con el psiquiatra", Some(ServiceWord), "psiquiatra"),
    sms("Salud mental: {date}", Some(ServiceWord), "salud mental"),
    sms("Consejería el {date}", Some(ServiceWord), "consejería"),
    sms("Grupo de recuperación", Some(ServiceWord), "recuperación"),
    sms("Programa de adicciones", Some(ServiceWord), "adicciones"),
    sms(
        "Desintoxicación el {date}",
        Some(ServiceWord),
        "desintoxicación",
    ),
    sms("Metadona el {date}", Some(ServiceWord), "metadona"),
    sms("Clínica el {date}", Some(ServiceWord), "clínica"),
    sms("Su doctora le espera", Some(ServiceWord), "doctora"),
    sms("Tratamiento el {date}", Some(ServiceWord), "tratamiento"),
    // Diagnoses and codes.
    sms("Depression group {date}", Some(Diagnosis), "depression"),
    sms("Anxiety workshop {date}", Some(Diagnosis), "anxiety"),
    sms("Bipolar support {date}", Some(Diagnosis), "bipolar"),
    sms("PTSD program {date}", Some(Diagnosis), "PTSD"),
    sms("ADHD check {date}", Some(Diagnosis), "ADHD"),
    sms("Eating disorder group", Some(Diagnosis), "eating disorder"),
    sms("Grief group {date}", Some(Diagnosis), "grief"),
    sms("Alcohol program {date}", Some(Diagnosis), "alcohol"),
    sms("Trauma-informed care", Some(Diagnosis), "trauma"),
    sms("Grupo de ansiedad", Some(Diagnosis), "ansiedad"),
    sms(
        "Depresión: {date}",
        Some(Diagnosis),
        "depresión, accent folded",
    ),
    sms("Trastorno de pánico", Some(Diagnosis), "trastorno"),
    sms(
        "Re: F32.1 follow-up",
        Some(DiagnosisCode),
        "an ICD-10 F-code with subcode",
    ),
    sms("Code F43 review", Some(DiagnosisCode), "an ICD-10 F-code"),
    sms("code f10 review", Some(DiagnosisCode), "lower case code"),
    // Credentials.
    sms("Ana, LCSW, at {time}", Some(Credential), "LCSW"),
    sms("With our LPC at {time}", Some(Credential), "LPC"),
    sms("LMFT visit {date}", Some(Credential), "LMFT"),
    sms("Meet the PsyD team", Some(Credential), "PsyD"),
    sms("J. Doe, PhD", Some(Credential), "PhD"),
    sms("Our LMHC at {time}", Some(Credential), "LMHC"),
    // Clinician names.
    sms(
        "With Ana Rivera at {time}",
        Some(ClinicianName),
        "a full name",
    ),
    sms("Ms. Rivera at {time}", Some(ClinicianName), "a surname"),
    sms(
        "With RIVERA at {time}",
        Some(ClinicianName),
        "a surname, case folded",
    ),
    opted_in(
        "With Ana Rivera at {time}",
        Some(ClinicianName),
        "even opted in, the template text names nobody",
    ),
    // Fields.
    sms(
        "Hi {client_name}, {time}",
        Some(FieldNotAllowed),
        "a client's name is not a field",
    ),
    sms(
        "With {clinician} at {time}",
        Some(FieldNotAllowed),
        "no clinician field: {sender} carries an allowed name",
    ),
    sms(
        "At {location}",
        Some(FieldNotAllowed),
        "a location travels end to end, not here",
    ),
    sms(
        "Note: {note}",
        Some(FieldNotAllowed),
        "free text is not a field",
    ),
    sms(
        "{ time }",
        None,
        "spaces inside a known field are tolerated",
    ),
    sms("At {time", Some(MalformedField), "an unclosed brace"),
    sms("At time}", Some(MalformedField), "a stray closing brace"),
    nudge(
        "{sender}: new message for {weekday}",
        Some(FieldNotAllowed),
        "a nudge has no appointment",
    ),
    nudge(
        "{sender}: message at {time}",
        Some(FieldNotAllowed),
        "a nudge has no time",
    ),
    // Empty.
    sms("", Some(Empty), "nothing to send"),
    sms("   ", Some(Empty), "only spaces"),
];

#[test]
fn the_linter_table_holds_case_by_case() {
    assert!(CASES.len() >= 100, "{} cases", CASES.len());
    let lists = WordLists::shipped();
    let names = vec!["Ana Rivera".to_owned()];
    let mut failures = Vec::new();
    for case in CASES {
        let ctx = Context {
            clinician_names: &names,
            clinician_opt_in: case.opt_in,
        };
        let findings = lint_source(&lists, &ctx, case.kind, case.part, case.text);
        let got = findings.first().map(|f| f.code);
        if got != case.expect {
            failures.push(format!(
                "{:?}: expected {:?}, got {:?} ({}) {:?}",
                case.text, case.expect, got, case.why, findings
            ));
        }
        for f in &findings {
            let span: String = case
                .text
                .chars()
                .skip(f.start)
                .take(f.end - f.start)
                .collect();
            if f.code != Empty && span != f.text {
                failures.push(format!(
                    "{:?}: span {span:?} is not {:?}",
                    case.text, f.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_offending_span_is_reported_in_chars() {
    let lists = WordLists::shipped();
    let f = lint_source(
        &lists,
        &Context::default(),
        Kind::Reminder,
        Part::Sms,
        "Mañana: sesión a las 3",
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].start, f[0].end, f[0].text.as_str()),
        (8, 14, "sesión")
    );
    assert!(
        f[0].reason.contains("discloses the kind of care"),
        "{}",
        f[0].reason
    );
}

#[test]
fn length_is_counted_in_billed_segments_and_subject_characters() {
    let lists = WordLists::shipped();
    assert!(lint_rendered(&lists, Part::Sms, &"a".repeat(306)).is_empty());
    let f = lint_rendered(&lists, Part::Sms, &"a".repeat(307));
    assert_eq!(f[0].code, TooLong);
    // 135 UCS-2 units cost three segments.
    let f = lint_rendered(&lists, Part::Sms, &"á".repeat(135));
    assert_eq!(f[0].code, TooLong);
    assert!(f[0].reason.contains("UCS-2"), "{}", f[0].reason);
    assert!(lint_rendered(&lists, Part::EmailSubject, &"a".repeat(78)).is_empty());
    assert_eq!(
        lint_rendered(&lists, Part::EmailSubject, &"a".repeat(79))[0].code,
        TooLong
    );
}

#[test]
fn every_word_list_entry_is_caught_in_a_sentence() {
    // A grown list is covered without a new case: each entry, written out,
    // must be refused.
    let lists = WordLists::shipped();
    for text in [
        include_str!("words/service.txt"),
        include_str!("words/diagnosis.txt"),
        include_str!("words/credentials.txt"),
    ] {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let word = line.trim_start_matches('=').trim_end_matches('*');
            let sentence = format!("See you for {word} at 3");
            let found = lint_source(
                &lists,
                &Context::default(),
                Kind::Reminder,
                Part::Sms,
                &sentence,
            );
            assert!(!found.is_empty(), "{line:?} was not caught in {sentence:?}");
        }
    }
}
