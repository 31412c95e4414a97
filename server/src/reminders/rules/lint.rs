//! The minimum-necessary linter: what may leave the encrypted channel.
//!
//! A reminder or nudge is read on a lock screen, on a shared phone, by
//! whoever holds a number that changed hands. It may say that there is an
//! appointment and when — never what kind of care it is, with whom, or
//! why. The linter refuses, each with its reason and its place:
//! - service words, diagnoses and credentials (the data files in `words/`,
//!   English and Spanish), after folding case, accents and look-alike
//!   digits, so "Th3rapy" and "sesión" are caught like "therapy";
//! - ICD-10 chapter V codes (`F32`, `F43.1`);
//! - the practice's clinicians' names (full name or surname), unless the
//!   client opted in to being told whom the appointment is with;
//! - merge fields not on the allow-list (`template.rs`), malformed braces;
//! - anything over the channel's length: SMS by billed segments
//!   (`segments.rs`), the email subject by characters.
//!
//! It runs when a template is saved and again on every send, over the
//! template's own text and over the rendered text, so a template that was
//! valid when saved but is not any more (the practice renamed itself
//! "Riverside Counseling", a word list grew) is refused at send time too.
//!
//! Its findings name a word from the lists or a place in the template —
//! never a client's details: they are stored as a withheld reminder's
//! reason and shown to staff.

use super::segments;
use super::template::{self, BadField, Kind};
use std::collections::HashMap;

/// The longest SMS a reminder may cost, in billed segments.
pub const MAX_SMS_SEGMENTS: usize = 2;
/// The longest email subject, in characters (RFC 5322's line advice).
pub const MAX_EMAIL_SUBJECT: usize = 78;
/// The longest email body, in characters.
pub const MAX_EMAIL_BODY: usize = 2_000;
/// What a lock screen shows of a notification, in characters.
pub const LOCK_SCREEN_PREVIEW: usize = 100;

/// Which list an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Service,
    Diagnosis,
    Credential,
}

/// A token pattern of a list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// The folded word exactly.
    Word(String),
    /// Any folded word starting with this.
    Stem(String),
    /// The original token exactly, case and all.
    Exact(String),
}

impl Pattern {
    fn matches(&self, token: &Token) -> bool {
        match self {
            Pattern::Word(w) => token.folded == *w,
            Pattern::Stem(s) => token.folded.starts_with(s.as_str()),
            Pattern::Exact(e) => token.original == *e,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    category: Category,
    tokens: Vec<Pattern>,
}

/// The word lists, parsed once at start, with the entries indexed by how
/// their first word matches: every send lints its rendered text, so a word
/// of the text looks up the few entries that can start there instead of
/// trying all of them (the dispatcher's largest cost before).
#[derive(Debug, Clone)]
pub struct WordLists {
    entries: Vec<Entry>,
    /// Entries whose first pattern is this folded word.
    by_word: HashMap<String, Vec<usize>>,
    /// Entries whose first pattern is this exact token.
    by_exact: HashMap<String, Vec<usize>>,
    /// Entries whose first pattern is a stem, by the stem's first char.
    by_stem_initial: HashMap<char, Vec<usize>>,
}

impl WordLists {
    /// The lists shipped in `words/`.
    pub fn shipped() -> Self {
        let mut entries = Vec::new();
        for (category, text) in [
            (Category::Service, include_str!("words/service.txt")),
            (Category::Diagnosis, include_str!("words/diagnosis.txt")),
            (Category::Credential, include_str!("words/credentials.txt")),
        ] {
            entries.extend(parse_list(category, text));
        }
        Self::indexed(entries)
    }

    fn indexed(entries: Vec<Entry>) -> Self {
        let mut lists = WordLists {
            entries,
            by_word: HashMap::new(),
            by_exact: HashMap::new(),
            by_stem_initial: HashMap::new(),
        };
        for (i, entry) in lists.entries.iter().enumerate() {
            match entry.tokens.first() {
                Some(Pattern::Word(w)) => lists.by_word.entry(w.clone()).or_default().push(i),
                Some(Pattern::Exact(e)) => lists.by_exact.entry(e.clone()).or_default().push(i),
                // A stem is never empty (a token has a char), so its first
                // char is every match's first char.
                Some(Pattern::Stem(s)) => {
                    if let Some(c) = s.chars().next() {
                        lists.by_stem_initial.entry(c).or_default().push(i);
                    }
                }
                None => {}
            }
        }
        lists
    }

    /// The entries that may start at `token`, in list order (the first
    /// that matches names the finding, as a scan of the whole list would).
    fn candidates(&self, token: &Token) -> Vec<&Entry> {
        let mut ids: Vec<usize> = Vec::new();
        for found in [
            self.by_word.get(&token.folded),
            self.by_exact.get(&token.original),
            token
                .folded
                .chars()
                .next()
                .and_then(|c| self.by_stem_initial.get(&c)),
        ]
        .into_iter()
        .flatten()
        {
            ids.extend(found);
        }
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|i| self.entries.get(i))
            .collect()
    }
}

fn parse_list(category: Category, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let tokens = if let Some(exact) = line.strip_prefix('=') {
            vec![Pattern::Exact(exact.to_owned())]
        } else {
            let stem = line.ends_with('*');
            let words: Vec<Token> = tokenize(line.trim_end_matches('*'));
            let last = words.len().saturating_sub(1);
            words
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    if stem && i == last {
                        Pattern::Stem(t.folded)
                    } else {
                        Pattern::Word(t.folded)
                    }
                })
                .collect()
        };
        if !tokens.is_empty() {
            out.push(Entry { category, tokens });
        }
    }
    out
}

/// A word of the text, with its place in chars.
#[derive(Debug, Clone)]
struct Token {
    original: String,
    folded: String,
    start: usize,
    end: usize,
}

/// Folds case and accents; with `leet`, look-alike digits and signs too.
fn fold(c: char, leet: bool) -> char {
    let lower = c.to_lowercase().next().unwrap_or(c);
    let plain = match lower {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        other => other,
    };
    if !leet {
        return plain;
    }
    match plain {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        other => other,
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '@' || c == '$'
}

/// Splits into words. A word with a letter in it has its digits read as
/// letters ("th3rapy"); a number stays a number ("12 step", "3:00").
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut current: Vec<char> = Vec::new();
    let mut start = 0;
    let chars: Vec<char> = text.chars().collect();
    let flush = |current: &mut Vec<char>, start: usize, end: usize, tokens: &mut Vec<Token>| {
        if current.is_empty() {
            return;
        }
        let leet = current.iter().any(|c| c.is_alphabetic());
        tokens.push(Token {
            original: current.iter().collect(),
            folded: current.iter().map(|&c| fold(c, leet)).collect(),
            start,
            end,
        });
        current.clear();
    };
    for (i, &c) in chars.iter().enumerate() {
        if is_word_char(c) {
            if current.is_empty() {
                start = i;
            }
            current.push(c);
        } else {
            flush(&mut current, start, i, &mut tokens);
        }
    }
    flush(&mut current, start, chars.len(), &mut tokens);
    tokens
}

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// A word that discloses the kind of care.
    ServiceWord,
    /// A diagnosis or condition.
    Diagnosis,
    /// An ICD-10 chapter V code.
    DiagnosisCode,
    /// A professional credential or clinical title.
    Credential,
    /// A clinician's name, and the client did not opt in.
    ClinicianName,
    /// A merge field not on the allow-list.
    FieldNotAllowed,
    /// A `{` without its `}`, or a stray `}`.
    MalformedField,
    /// Longer than the channel allows.
    TooLong,
    /// Nothing to send.
    Empty,
}

/// Which text of a template a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The SMS text.
    Sms,
    /// The email subject.
    EmailSubject,
    /// The email body.
    EmailBody,
}

/// One refusal: what, why, and where (char offsets into that part).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// Stable code.
    pub code: FindingCode,
    /// The part of the template.
    pub part: Part,
    /// First char of the offending span.
    pub start: usize,
    /// One past its last char.
    pub end: usize,
    /// The offending text (a listed word, a field, a name).
    pub text: String,
    /// A sentence for the editor.
    pub reason: String,
}

/// What the linter knows of the practice at this moment.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Display names of the practice's staff.
    pub clinician_names: &'a [String],
    /// Whether this client opted in to seeing their clinician's name (then
    /// only the merged `{sender}` may carry it; the template text never
    /// names anyone).
    pub clinician_opt_in: bool,
}

/// The words, diagnoses, credentials and codes in `text`.
pub fn lint_words(lists: &WordLists, part: Part, text: &str) -> Vec<Finding> {
    let tokens = tokenize(text);
    let mut findings = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if is_icd10_mental(&token.original) {
            findings.push(finding(
                FindingCode::DiagnosisCode,
                part,
                token.start,
                token.end,
                &token.original,
                "is a diagnosis code",
            ));
        }
        for entry in lists.candidates(token) {
            let Some(window) = tokens.get(i..i + entry.tokens.len()) else {
                continue;
            };
            if entry.tokens.iter().zip(window).all(|(p, t)| p.matches(t)) {
                let end = window.last().map_or(token.end, |t| t.end);
                let text_span: String = text
                    .chars()
                    .skip(token.start)
                    .take(end - token.start)
                    .collect();
                let (code, why) = match entry.category {
                    Category::Service => (
                        FindingCode::ServiceWord,
                        "discloses the kind of care (a reminder may only say that there is an appointment and when)",
                    ),
                    Category::Diagnosis => (FindingCode::Diagnosis, "names a diagnosis or condition"),
                    Category::Credential => (
                        FindingCode::Credential,
                        "is a clinical credential or title that discloses the kind of care",
                    ),
                };
                findings.push(finding(code, part, token.start, end, &text_span, why));
                break; // one finding per place is enough
            }
        }
    }
    findings
}

/// `F00`–`F99`, optionally with a subcode: ICD-10 chapter V.
fn is_icd10_mental(token: &str) -> bool {
    let mut chars = token.chars();
    matches!(chars.next(), Some('F' | 'f'))
        && chars.clone().count() == 2
        && chars.all(|c| c.is_ascii_digit())
}

fn finding(
    code: FindingCode,
    part: Part,
    start: usize,
    end: usize,
    text: &str,
    why: &str,
) -> Finding {
    Finding {
        code,
        part,
        start,
        end,
        text: text.to_owned(),
        reason: format!("“{text}” {why}"),
    }
}

/// Clinicians' names in `text`: a full name, or a surname alone.
fn lint_names(ctx: &Context<'_>, part: Part, text: &str) -> Vec<Finding> {
    let tokens = tokenize(text);
    let mut findings = Vec::new();
    for name in ctx.clinician_names {
        let name_tokens = tokenize(name);
        let Some(surname) = name_tokens.last() else {
            continue;
        };
        if surname.folded.chars().count() < 2 {
            continue;
        }
        for (i, token) in tokens.iter().enumerate() {
            let full = tokens.get(i..i + name_tokens.len()).filter(|w| {
                w.iter()
                    .zip(&name_tokens)
                    .all(|(a, b)| a.folded == b.folded)
            });
            let (start, end) = if let Some(w) = full {
                (token.start, w.last().map_or(token.end, |t| t.end))
            } else if token.folded == surname.folded {
                (token.start, token.end)
            } else {
                continue;
            };
            let span: String = text.chars().skip(start).take(end - start).collect();
            findings.push(finding(
                FindingCode::ClinicianName,
                part,
                start,
                end,
                &span,
                if ctx.clinician_opt_in {
                    "names a clinician: only {sender} may carry a name the client allowed"
                } else {
                    "names a clinician, and the client did not opt in to that"
                },
            ));
        }
    }
    findings
}

/// Lints a template's own text (one part): fields, words, names. Words and
/// names are looked for in the literal text only; what fields produce is
/// checked on the rendered text (`lint_rendered`).
pub fn lint_source(
    lists: &WordLists,
    ctx: &Context<'_>,
    kind: Kind,
    part: Part,
    source: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if source.trim().is_empty() {
        findings.push(Finding {
            code: FindingCode::Empty,
            part,
            start: 0,
            end: 0,
            text: String::new(),
            reason: "There is nothing to send.".to_owned(),
        });
        return findings;
    }
    let (pieces, bad) = template::parse(source);
    for b in bad {
        let (code, start, end, why) = match b {
            BadField::Unknown { start, end } => (
                FindingCode::FieldNotAllowed,
                start,
                end,
                "is not a field a reminder may merge (allowed: {weekday} {date} {time} {sender} {confirm} {cancel} {link})",
            ),
            BadField::Malformed { start, end } => (
                FindingCode::MalformedField,
                start,
                end,
                "is a brace without its pair",
            ),
        };
        let span: String = source.chars().skip(start).take(end - start).collect();
        findings.push(finding(code, part, start, end, &span, why));
    }
    // Known fields that this kind may not use (a nudge has no time).
    for piece in &pieces {
        if let template::Piece::Field { field, start, end } = *piece {
            if !field.allowed_in(kind) {
                let span: String = source.chars().skip(start).take(end - start).collect();
                findings.push(finding(
                    FindingCode::FieldNotAllowed,
                    part,
                    start,
                    end,
                    &span,
                    "is not a field this kind of message may merge (a nudge may use {sender} and {link})",
                ));
            }
        }
    }
    let literal = template::literal_text(source);
    findings.extend(lint_words(lists, part, &literal));
    findings.extend(lint_names(ctx, part, &literal));
    findings.sort_by_key(|f| (f.start, f.end));
    findings
}

/// Lints rendered text: the words (what the fields produced — a practice
/// name, say) and the channel's length.
pub fn lint_rendered(lists: &WordLists, part: Part, rendered: &str) -> Vec<Finding> {
    let mut findings = lint_words(lists, part, rendered);
    let chars = rendered.chars().count();
    let too_long = match part {
        Part::Sms => {
            let cost = segments::cost(rendered);
            (cost.segments > MAX_SMS_SEGMENTS).then(|| {
                format!(
                    "The text costs {} SMS segments ({} {}); at most {MAX_SMS_SEGMENTS} are allowed.",
                    cost.segments,
                    cost.units,
                    match cost.encoding {
                        segments::SmsEncoding::Gsm7 => "GSM-7 septets",
                        segments::SmsEncoding::Ucs2 => "UCS-2 units: a character outside GSM-7 makes every segment 67 long",
                    }
                )
            })
        }
        Part::EmailSubject => (chars > MAX_EMAIL_SUBJECT).then(|| {
            format!("The subject is {chars} characters; at most {MAX_EMAIL_SUBJECT} are allowed.")
        }),
        Part::EmailBody => (chars > MAX_EMAIL_BODY).then(|| {
            format!("The body is {chars} characters; at most {MAX_EMAIL_BODY} are allowed.")
        }),
    };
    if let Some(reason) = too_long {
        findings.push(Finding {
            code: FindingCode::TooLong,
            part,
            start: 0,
            end: chars,
            text: String::new(),
            reason,
        });
    }
    findings
}

/// What a lock screen shows of the text.
pub fn lock_screen_preview(text: &str) -> String {
    let mut preview: String = text.chars().take(LOCK_SCREEN_PREVIEW).collect();
    if text.chars().count() > LOCK_SCREEN_PREVIEW {
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries a scan of the whole list finds first at each word.
    fn scanned(lists: &WordLists, text: &str) -> Vec<(usize, usize)> {
        let tokens = tokenize(text);
        let mut out = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            for entry in &lists.entries {
                let Some(window) = tokens.get(i..i + entry.tokens.len()) else {
                    continue;
                };
                if entry.tokens.iter().zip(window).all(|(p, t)| p.matches(t)) {
                    out.push((token.start, window.last().map_or(token.end, |t| t.end)));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn the_index_finds_what_a_scan_of_the_whole_list_finds() {
        let lists = WordLists::shipped();
        let mut texts: Vec<String> = lists
            .entries
            .iter()
            .map(|e| {
                let words: Vec<String> = e
                    .tokens
                    .iter()
                    .map(|p| match p {
                        Pattern::Word(w) | Pattern::Exact(w) => w.clone(),
                        Pattern::Stem(s) => format!("{s}ing"),
                    })
                    .collect();
                format!("Your {} on Tue at 3, AA na F32 th3rapy", words.join(" "))
            })
            .collect();
        texts.push("Reminder: Tuesday 9 May at 3:00 PM. Reply C to confirm.".to_owned());
        for text in &texts {
            let indexed: Vec<(usize, usize)> = lint_words(&lists, Part::Sms, text)
                .iter()
                .filter(|f| f.code != FindingCode::DiagnosisCode)
                .map(|f| (f.start, f.end))
                .collect();
            assert_eq!(indexed, scanned(&lists, text), "{text:?}");
        }
    }
}
