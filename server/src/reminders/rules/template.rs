//! Templates: literal text with merge fields from an allow-list.
//!
//! `{weekday}`, `{date}` and `{time}` (the appointment's, in the client's
//! zone and language), `{sender}` (the name the client's preferences allow),
//! `{confirm}` and `{cancel}` (the reply keywords) and `{link}` (the app's
//! address, which carries no identifier). Nothing else can be merged: there
//! is no field for a client's name, a clinician's name, a location or a
//! note, so no template can leak them by a typo in a field name — the linter
//! refuses any other `{…}`.

use super::locale::Language;

/// A merge field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The appointment's weekday.
    Weekday,
    /// The appointment's day and month.
    Date,
    /// The appointment's time of day.
    Time,
    /// The sender name the client's preferences allow.
    Sender,
    /// The keyword that confirms.
    Confirm,
    /// The keyword that cancels.
    Cancel,
    /// The app's address.
    Link,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "weekday" => Field::Weekday,
            "date" => Field::Date,
            "time" => Field::Time,
            "sender" => Field::Sender,
            "confirm" => Field::Confirm,
            "cancel" => Field::Cancel,
            "link" => Field::Link,
            _ => return None,
        })
    }

    /// Whether a template of this kind may use the field (a nudge is about
    /// a message, not an appointment: it has no time to give).
    pub fn allowed_in(self, kind: Kind) -> bool {
        match kind {
            Kind::Reminder => true,
            Kind::Nudge => matches!(self, Field::Sender | Field::Link),
        }
    }
}

/// What a template is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An appointment reminder.
    Reminder,
    /// "You have a new secure message".
    Nudge,
}

impl Kind {
    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Reminder => "reminder",
            Kind::Nudge => "nudge",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "reminder" => Some(Kind::Reminder),
            "nudge" => Some(Kind::Nudge),
            _ => None,
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// A known merge field, at these char offsets of the source.
    Field {
        /// Which field.
        field: Field,
        /// Its `{`.
        start: usize,
        /// One past its `}`.
        end: usize,
    },
}

/// A piece of a template that is not a known field, as char offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadField {
    /// `{name}` where `name` is not on the allow-list.
    #[allow(missing_docs)] // char offsets of the `{` and one past the `}`
    Unknown { start: usize, end: usize },
    /// A `{` without its `}` (or a stray `}`).
    #[allow(missing_docs)] // char offsets of the brace
    Malformed { start: usize, end: usize },
}

/// Splits a template into literal text and fields; the bad fields are
/// reported (and left out of the pieces) so the linter can point at them.
pub fn parse(source: &str) -> (Vec<Piece<'_>>, Vec<BadField>) {
    let mut pieces = Vec::new();
    let mut bad = Vec::new();
    let mut rest = source;
    let mut offset = 0usize; // chars consumed before `rest`
    while !rest.is_empty() {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => {
                pieces.push(Piece::Text(rest));
                break;
            }
            (_, Some(c)) if open.is_none_or(|o| c < o) => {
                let (before, after) = rest.split_at(c);
                let before_chars = before.chars().count();
                pieces.push(Piece::Text(before));
                bad.push(BadField::Malformed {
                    start: offset + before_chars,
                    end: offset + before_chars + 1,
                });
                offset += before_chars + 1;
                rest = after.get(1..).unwrap_or("");
            }
            (Some(o), _) => {
                let (before, after) = rest.split_at(o);
                let before_chars = before.chars().count();
                if !before.is_empty() {
                    pieces.push(Piece::Text(before));
                }
                let start = offset + before_chars;
                let inner = after.get(1..).unwrap_or("");
                let end_in_inner = inner.find('}');
                let next_open = inner.find('{');
                match end_in_inner {
                    Some(e) if next_open.is_none_or(|n| e < n) => {
                        let name = inner.get(..e).unwrap_or("");
                        let name_chars = name.chars().count();
                        match Field::parse(name.trim()) {
                            Some(field) => pieces.push(Piece::Field {
                                field,
                                start,
                                end: start + name_chars + 2,
                            }),
                            None => bad.push(BadField::Unknown {
                                start,
                                end: start + name_chars + 2,
                            }),
                        }
                        offset = start + name_chars + 2;
                        rest = inner.get(e + 1..).unwrap_or("");
                    }
                    _ => {
                        bad.push(BadField::Malformed {
                            start,
                            end: start + 1,
                        });
                        offset = start + 1;
                        rest = inner;
                    }
                }
            }
            // Taken by the guarded arm above; here for a total match.
            (None, Some(_)) => break,
        }
    }
    (pieces, bad)
}

/// The values a template is rendered with.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    /// `{weekday}`.
    pub weekday: &'a str,
    /// `{date}`.
    pub date: &'a str,
    /// `{time}`.
    pub time: &'a str,
    /// `{sender}`.
    pub sender: &'a str,
    /// `{confirm}`.
    pub confirm: &'a str,
    /// `{cancel}`.
    pub cancel: &'a str,
    /// `{link}`.
    pub link: &'a str,
}

impl<'a> Values<'a> {
    fn get(&self, field: Field) -> &str {
        match field {
            Field::Weekday => self.weekday,
            Field::Date => self.date,
            Field::Time => self.time,
            Field::Sender => self.sender,
            Field::Confirm => self.confirm,
            Field::Cancel => self.cancel,
            Field::Link => self.link,
        }
    }

    /// The longest values a language can produce, for checking a length
    /// limit when a template is saved (the send-time check uses the real
    /// ones).
    pub fn longest(language: Language, sender: &'a str, link: &'a str) -> Values<'a> {
        match language {
            Language::En => Values {
                weekday: "Wednesday",
                date: "September 30",
                time: "12:00 PM",
                sender,
                confirm: "C",
                cancel: "X",
                link,
            },
            Language::Es => Values {
                weekday: "miércoles",
                date: "30 de septiembre",
                time: "12:00",
                sender,
                confirm: "C",
                cancel: "X",
                link,
            },
        }
    }
}

/// Renders the template; bad fields render as nothing (a template with bad
/// fields is refused by the linter before it is ever sent).
pub fn render(source: &str, values: &Values<'_>) -> String {
    let (pieces, _) = parse(source);
    let mut out = String::with_capacity(source.len() + 32);
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field { field, .. } => out.push_str(values.get(field)),
        }
    }
    out
}

/// The text with every `{…}` (good or bad) blanked to spaces, char offsets
/// kept, so words are linted over the literal text only.
pub fn literal_text(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut depth = false;
    for c in source.chars() {
        match c {
            '{' => {
                depth = true;
                out.push(' ');
            }
            '}' => {
                depth = false;
                out.push(' ');
            }
            _ if depth => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            weekday: "Thursday",
            date: "December 3",
            time: "3:00 PM",
            sender: "Appointment reminder",
            confirm: "C",
            cancel: "X",
            link: "https://alcove.example",
        }
    }

    #[test]
    fn fields_on_the_allow_list_are_merged() {
        let t = "{sender}: {weekday}, {date} at {time}. Reply {confirm} or {cancel}. {link}";
        assert_eq!(
            render(t, &values()),
            "Appointment reminder: Thursday, December 3 at 3:00 PM. Reply C or X. https://alcove.example"
        );
    }

    #[test]
    fn unknown_and_malformed_fields_are_reported_with_their_place() {
        let (_, bad) = parse("Hi {client_name}, at {time");
        assert_eq!(
            bad,
            vec![
                BadField::Unknown { start: 3, end: 16 },
                BadField::Malformed { start: 21, end: 22 }
            ]
        );
        let (_, bad) = parse("a } b");
        assert_eq!(bad, vec![BadField::Malformed { start: 2, end: 3 }]);
        let (_, bad) = parse("ñ{x}");
        assert_eq!(bad, vec![BadField::Unknown { start: 1, end: 4 }]);
    }

    #[test]
    fn literal_text_keeps_char_offsets() {
        let s = "é {time} x";
        let l = literal_text(s);
        assert_eq!(l.chars().count(), s.chars().count());
        assert_eq!(l, "é        x");
    }
}
