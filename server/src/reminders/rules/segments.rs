//! How many SMS segments a text costs (3GPP TS 23.038 / 23.040).
//!
//! A text made only of the GSM 7-bit default alphabet (plus its extension
//! table, whose characters cost two septets: an escape and the character)
//! fits 160 septets in one message, or 153 per part once it is split (the
//! user-data header takes the rest). Any other character switches the whole
//! text to UCS-2: 70 UTF-16 units in one message, 67 per part. A part never
//! splits an escape pair or a surrogate pair, so the count here is what a
//! gateway bills, not a division rounded up.

/// The encoding a text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// GSM 03.38 7-bit default alphabet.
    Gsm7,
    /// UCS-2 (UTF-16 code units).
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SmsCost {
    /// The encoding the text forces.
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Messages the gateway sends (and bills).
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{0c}^{}\\[~]|€";

/// Septets the character costs in GSM-7, or `None` outside the alphabet.
/// Printable ASCII, nearly all of a reminder, is decided without a search
/// of the tables (checked against them in the tests).
fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        '`' => return None,
        '[' | '\\' | ']' | '^' | '{' | '|' | '}' | '~' => return Some(2),
        ' '..='~' | '\n' | '\r' => return Some(1),
        _ => {}
    }
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts parts of at most `per_part` units, never splitting a character.
fn parts(costs: impl Iterator<Item = usize>, per_part: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for cost in costs {
        if used + cost > per_part {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

/// The SMS cost of `text`.
pub fn cost(text: &str) -> SmsCost {
    let septets: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    match septets {
        Some(septets) => {
            let units: usize = septets.iter().sum();
            let segments = if units <= 160 {
                1
            } else {
                parts(septets.into_iter(), 153)
            };
            SmsCost {
                encoding: SmsEncoding::Gsm7,
                units,
                segments,
            }
        }
        None => {
            let units: usize = text.chars().map(char::len_utf16).sum();
            let segments = if units <= 70 {
                1
            } else {
                parts(text.chars().map(char::len_utf16), 67)
            };
            SmsCost {
                encoding: SmsEncoding::Ucs2,
                units,
                segments,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_fits_160_septets_in_one_message() {
        let c = cost(&"a".repeat(160));
        assert_eq!(
            (c.encoding, c.units, c.segments),
            (SmsEncoding::Gsm7, 160, 1)
        );
        assert_eq!(cost(&"a".repeat(161)).segments, 2);
        assert_eq!(cost(&"a".repeat(306)).segments, 2);
        assert_eq!(cost(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets_and_are_never_split() {
        let c = cost("€");
        assert_eq!((c.encoding, c.units), (SmsEncoding::Gsm7, 2));
        // 152 septets then an escape pair: the pair moves whole to part 2.
        let text = format!("{}{}{}", "a".repeat(152), "[", "a".repeat(10));
        let c = cost(&text);
        assert_eq!(c.units, 164);
        assert_eq!(c.segments, 2);
        let text = format!("{}{}{}", "a".repeat(152), "[", "a".repeat(152));
        // 152 | [ + 151 = 153 | 1  → three parts, where 306 septets rounded
        // up would say two.
        assert_eq!(cost(&text).segments, 3);
    }

    #[test]
    fn spanish_accents_outside_the_alphabet_switch_to_ucs2() {
        // é and ñ are in GSM-7; á is not.
        assert_eq!(cost("mañana él").encoding, SmsEncoding::Gsm7);
        let c = cost("Su cita es el miércoles, mañana a las 15:00. Responda C para confirmar más");
        assert_eq!(c.encoding, SmsEncoding::Ucs2);
        assert_eq!(c.units, 74);
        assert_eq!(c.segments, 2);
        assert_eq!(cost(&"á".repeat(70)).segments, 1);
        assert_eq!(cost(&"á".repeat(71)).segments, 2);
        assert_eq!(cost(&"á".repeat(134)).segments, 2);
        assert_eq!(cost(&"á".repeat(135)).segments, 3);
    }

    #[test]
    fn emoji_are_surrogate_pairs_never_split() {
        let c = cost("🙂");
        assert_eq!((c.encoding, c.units, c.segments), (SmsEncoding::Ucs2, 2, 1));
        let text = format!("{}🙂", "a".repeat(66));
        // 68 units fit one message of 70.
        assert_eq!(cost(&text).segments, 1);
        let text = format!("{}🙂{}", "a".repeat(66), "a".repeat(10));
        // 66 | 🙂 + 10: the pair does not fit in the 67-unit first part.
        assert_eq!(cost(&text).segments, 2);
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_tables() {
        for c in (0u8..=0x7f).map(char::from) {
            let table = if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            };
            assert_eq!(gsm7_septets(c), table, "{c:?}");
        }
    }
}
