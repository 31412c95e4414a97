//! SMS reminders through a gateway with Twilio's API shape: a form POST to
//! `{base_url}/2010-04-01/Accounts/{sid}/Messages.json` with basic auth,
//! answered with the message's `sid`.
//!
//! The gateway has no idempotency key either: a message accepted just
//! before a crash is sent again after it (at most the ones in flight).

use super::SendError;
use crate::config::SmsSettings;
use secrecy::ExposeSecret;
use std::time::Duration;

/// An SMS sender.
#[derive(Clone)]
pub struct Sms {
    http: reqwest::Client,
    url: String,
    settings: SmsSettings,
}

impl Sms {
    /// Builds the client.
    pub fn new(s: &SmsSettings) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(15));
        if let Some(file) = &s.ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("reminders.sms.ca_file {}: {e}", file.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build()?;
        Ok(Self {
            http,
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                s.base_url.trim_end_matches('/'),
                s.account_sid
            ),
            settings: s.clone(),
        })
    }

    /// Sends one text; returns the gateway's message id.
    pub async fn send(&self, to: &str, body: &str) -> Result<String, SendError> {
        let response = self
            .http
            .post(&self.url)
            .basic_auth(
                &self.settings.account_sid,
                Some(self.settings.auth_token.expose_secret()),
            )
            .form(&[
                ("To", to),
                ("From", self.settings.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await
            .map_err(|_| SendError::Transient("the gateway could not be reached"))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Transient("the gateway is busy or failing"));
        }
        if !status.is_success() {
            return Err(SendError::Permanent("the gateway refused the message"));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| SendError::Transient("the gateway's answer could not be read"))?;
        body.get("sid")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or(SendError::Transient("the gateway's answer has no sid"))
    }
}
