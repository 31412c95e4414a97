//! The languages reminders ship in, and how each writes a date and a time.
//!
//! Written out rather than taken from a locale database: the words that can
//! appear in a reminder are then exactly these, which is what the linter's
//! guarantees rest on (a merge field can only ever produce text listed here).

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;

/// A language a client can receive reminders in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Spanish.
    Es,
}

impl Language {
    /// Every shipped language.
    pub const ALL: [Language; 2] = [Language::En, Language::Es];

    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
        }
    }

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Language::En),
            "es" => Some(Language::Es),
            _ => None,
        }
    }

    /// The sender name used when nothing more specific may be shown.
    pub fn neutral_sender(self) -> &'static str {
        match self {
            Language::En => "Appointment reminder",
            Language::Es => "Recordatorio de cita",
        }
    }

    /// The weekday, as a merge field writes it.
    pub fn weekday(self, t: &DateTime<Tz>) -> &'static str {
        let i = t.weekday().num_days_from_monday() as usize;
        let names = match self {
            Language::En => [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            Language::Es => [
                "lunes",
                "martes",
                "miércoles",
                "jueves",
                "viernes",
                "sábado",
                "domingo",
            ],
        };
        names.get(i).copied().unwrap_or("")
    }

    /// The day and month ("December 3", "3 de diciembre").
    pub fn date(self, t: &DateTime<Tz>) -> String {
        let i = t.month0() as usize;
        match self {
            Language::En => {
                let months = [
                    "January",
                    "February",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "August",
                    "September",
                    "October",
                    "November",
                    "December",
                ];
                format!("{} {}", months.get(i).copied().unwrap_or(""), t.day())
            }
            Language::Es => {
                let months = [
                    "enero",
                    "febrero",
                    "marzo",
                    "abril",
                    "mayo",
                    "junio",
                    "julio",
                    "agosto",
                    "septiembre",
                    "octubre",
                    "noviembre",
                    "diciembre",
                ];
                format!("{} de {}", t.day(), months.get(i).copied().unwrap_or(""))
            }
        }
    }

    /// The time of day ("3:00 PM", "15:00").
    pub fn time(self, t: &DateTime<Tz>) -> String {
        match self {
            Language::En => {
                let (pm, h) = t.hour12();
                format!("{h}:{:02} {}", t.minute(), if pm { "PM" } else { "AM" })
            }
            Language::Es => format!("{}:{:02}", t.hour(), t.minute()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_and_times_read_as_each_language_writes_them() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let t = tz.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
        assert_eq!(Language::En.weekday(&t), "Thursday");
        assert_eq!(Language::En.date(&t), "December 3");
        assert_eq!(Language::En.time(&t), "3:00 PM");
        assert_eq!(Language::Es.weekday(&t), "jueves");
        assert_eq!(Language::Es.date(&t), "3 de diciembre");
        assert_eq!(Language::Es.time(&t), "15:00");
        let morning = tz.with_ymd_and_hms(2026, 12, 3, 0, 5, 0).unwrap();
        assert_eq!(Language::En.time(&morning), "12:05 AM");
    }
}
