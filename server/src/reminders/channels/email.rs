//! Email reminders through SMTP.
//!
//! One pooled transport per server. Every message of one reminder carries
//! the same `Message-ID` (`<reminder id>.<channel>@<sender's domain>`), so
//! the one duplicate a crash can cause (SMTP has no idempotency key: a
//! message accepted just before a `kill -9` is sent again after it) is
//! recognisably the same message to the recipient's mail system.

use super::SendError;
use crate::config::EmailSettings;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::time::Duration;

/// An SMTP sender.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    domain: String,
}

impl Email {
    /// Builds the transport (no connection yet).
    pub fn new(s: &EmailSettings) -> anyhow::Result<Self> {
        let builder = match s.tls.as_str() {
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            other => {
                anyhow::bail!("reminders.email.tls must be starttls, tls or none, not {other:?}")
            }
        };
        let mut builder = builder.port(s.port).timeout(Some(Duration::from_secs(15)));
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from: lettre::message::Mailbox = s
            .from
            .parse()
            .map_err(|_| anyhow::anyhow!("reminders.email.from is not an address"))?;
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }

    /// Sends one message; returns the `Message-ID` as the provider's id.
    pub async fn send(
        &self,
        reminder: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<String, SendError> {
        let to: lettre::message::Mailbox = to
            .parse()
            .map_err(|_| SendError::Permanent("the address does not parse"))?;
        let message_id = format!("<{reminder}.email@{}>", self.domain);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|_| SendError::Permanent("the message could not be built"))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(message_id),
            Err(e) if e.is_permanent() => Err(SendError::Permanent("the mail server refused it")),
            Err(_) => Err(SendError::Transient(
                "the mail server could not be reached or deferred it",
            )),
        }
    }
}
