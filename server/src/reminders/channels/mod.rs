//! The ways out of the encrypted channel: email (SMTP through `lettre`) and
//! SMS (a gateway with Twilio's API shape). Each send is told apart as
//! transient (try again later) or permanent (give up), and its error says
//! only what kind of failure it was — never an address or the text.

pub mod email;
pub mod sms;

/// A send that did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (connection refused, 4xx SMTP, 5xx or 429 HTTP).
    #[error("transient: {0}")]
    Transient(&'static str),
    /// Will fail again (a refused address, a 4xx from the gateway).
    #[error("permanent: {0}")]
    Permanent(&'static str),
}
