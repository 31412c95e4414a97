//! A state of residence, parsed at the edge.

/// The USPS codes of the 50 states, the District of Columbia and the
/// territories: each a "State" of the breach notification rule
/// (45 CFR 160.103 defines State to include DC and the territories).
const CODES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

/// A state, DC or territory by its USPS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsState(&'static str);

impl UsState {
    /// Parses a USPS code, in any case, without surrounding spaces.
    pub fn parse(s: &str) -> Option<Self> {
        let upper = s.trim().to_ascii_uppercase();
        CODES.iter().find(|c| **c == upper).map(|c| Self(c))
    }

    /// The code, upper case.
    pub fn code(self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_states_dc_and_territories_parse_in_any_case() {
        assert_eq!(UsState::parse("ca").map(UsState::code), Some("CA"));
        assert_eq!(UsState::parse(" DC ").map(UsState::code), Some("DC"));
        assert_eq!(UsState::parse("PR").map(UsState::code), Some("PR"));
        assert_eq!(CODES.len(), 56);
    }

    #[test]
    fn names_and_made_up_codes_are_refused() {
        for bad in ["California", "XX", "", "C", "CAL", "ON"] {
            assert_eq!(UsState::parse(bad), None, "{bad}");
        }
    }
}
