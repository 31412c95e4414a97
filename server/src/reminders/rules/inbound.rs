//! Inbound SMS replies: is the request really from the gateway, and what
//! did the client answer.
//!
//! The gateway signs each webhook as Twilio does (`X-Twilio-Signature`):
//! HMAC-SHA1, keyed with the account's auth token, over the full URL the
//! gateway requested followed by every POST parameter's name and value,
//! names in case-sensitive order (and each name's values in order), base64.
//! A request whose signature does not verify changes nothing.

use ring::hmac;

/// What is signed: the URL, then each name and value in order.
fn signed_bytes(url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut out = url.as_bytes().to_vec();
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for value in values {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
    out
}

fn key(auth_token: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes())
}

/// The signature the gateway computes for `url` and `params`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    data_encoding::BASE64.encode(hmac::sign(&key(auth_token), &signed_bytes(url, params)).as_ref())
}

/// Whether `presented` is the signature (checked by `ring` in constant
/// time).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], presented: &str) -> bool {
    let Ok(tag) = data_encoding::BASE64.decode(presented.trim().as_bytes()) else {
        return false;
    };
    hmac::verify(&key(auth_token), &signed_bytes(url, params), &tag).is_ok()
}

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Confirm the next appointment.
    Confirm,
    /// Cancel the next appointment.
    Cancel,
    /// No more texts (the carriers' opt-out words, which gateways honour
    /// themselves: Alcove records the opt-out in the preferences).
    Stop,
    /// What can I reply?
    Help,
    /// Anything else (not acted on).
    Other,
}

/// Reads a reply: one keyword, any case, surrounding spaces and a final
/// full stop ignored. Anything longer is not a keyword: a sentence
/// is never guessed at.
pub fn parse_reply(body: &str) -> Reply {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_uppercase();
    match word.as_str() {
        "C" | "CONFIRM" | "CONFIRMAR" | "SI" | "SÍ" | "YES" => Reply::Confirm,
        "X" => Reply::Cancel,
        // CANCEL is a carrier opt-out word (the gateway stops texts on
        // it), so it means STOP here too; the appointment is cancelled
        // with X or in the app.
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "PARAR" | "BAJA" => {
            Reply::Stop
        }
        "HELP" | "INFO" | "AYUDA" => Reply::Help,
        _ => Reply::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_signature_is_twilios_documented_example() {
        // Twilio's documentation example (auth token 12345).
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = twilio_signature("12345", url, &params);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &params, &sig));
        assert!(!verify("12346", url, &params, &sig));
        assert!(!verify(
            "12345",
            "https://mycompany.com/other",
            &params,
            &sig
        ));
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify("12345", url, &tampered, &sig));
        assert!(!verify("12345", url, &params, ""));
    }

    #[test]
    fn keywords_in_any_case_and_nothing_else() {
        for (body, reply) in [
            ("C", Reply::Confirm),
            (" c. ", Reply::Confirm),
            ("confirm", Reply::Confirm),
            ("Sí", Reply::Confirm),
            ("x", Reply::Cancel),
            ("STOP", Reply::Stop),
            ("stop!", Reply::Stop),
            ("Cancel", Reply::Stop),
            ("help", Reply::Help),
            ("ayuda", Reply::Help),
            ("C see you then", Reply::Other),
            ("", Reply::Other),
            ("xx", Reply::Other),
        ] {
            assert_eq!(parse_reply(body), reply, "{body:?}");
        }
    }
}
