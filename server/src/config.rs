//! Layered configuration: built-in defaults, then a TOML file, then `ALCOVE_`
//! environment variables, then command-line flags.
//!
//! Invariant: nothing secret (the database URL may hold a password) is ever
//! printed: `Settings` has a redacting `Debug`, and `alcove config` prints the
//! default template, never the effective values.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The name a practice has until its admins (or `practice_name` in the
/// settings) give it one; `/me` says whether it still has it.
pub const DEFAULT_PRACTICE_NAME: &str = "My Practice";

/// Everything the server can be told.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database and key files.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for the embedded SQLite file.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    /// The URL people reach this server at; links are built from it.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Origins allowed to make cookie-authenticated requests and open sockets.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Name given to the practice created on first start.
    pub practice_name: String,
    /// Authentication and session policy.
    pub auth: AuthSettings,
    /// Request limits.
    pub limits: LimitSettings,
    /// Logging.
    pub log: LogSettings,
    /// Tamper-evident audit log.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Appointment reminders: dispatch and channels.
    #[serde(default)]
    pub reminders: ReminderSettings,
    /// Incidents: the watcher and webhook delivery.
    #[serde(default)]
    pub incidents: IncidentSettings,
    /// Web Push notices of new messages.
    #[serde(default)]
    pub push: PushSettings,
    /// For tests of the real binary only.
    #[serde(default)]
    pub testing: TestingSettings,
}

/// Web Push: how often subscribed devices are looked at, and where pushes
/// may go.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// How often devices with news are looked for when idle (ms).
    pub interval_ms: u64,
    /// At most one push per device this often (s).
    pub cooldown_secs: i64,
    /// How long one push may take (ms).
    pub timeout_ms: u64,
    /// The VAPID contact the push services may write to (RFC 8292):
    /// `mailto:` or `https:`.
    pub contact: String,
    /// Allow push endpoints on loopback, private and link-local addresses
    /// (tests: a push service of their own).
    pub allow_private: bool,
    /// Allow `http://` push endpoints (tests only).
    pub allow_http: bool,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            cooldown_secs: 60,
            timeout_ms: 10_000,
            contact: "mailto:privacy@practice.invalid".into(),
            allow_private: false,
            allow_http: false,
        }
    }
}

/// Incidents: how the audit log is watched and webhooks delivered.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    /// How often the watcher reads new audit events when idle (ms).
    pub watch_interval_ms: u64,
    /// How often due webhook deliveries are looked for when idle (ms).
    pub deliver_interval_ms: u64,
    /// How often approaching notice deadlines are looked for (ms).
    pub deadlines_interval_ms: u64,
    /// Deliveries attempted per round.
    pub batch_size: i64,
    /// How long one attempt may take (ms).
    pub webhook_timeout_ms: u64,
    /// Allow webhook URLs on loopback, private and link-local addresses
    /// (tests; a receiver inside the operator's own network).
    pub webhook_allow_private: bool,
    /// Allow `http://` webhook URLs (tests only: a payload's signature is
    /// no secret, but its content is the practice's).
    pub webhook_allow_http: bool,
    /// Refused requests (`access.refused`) by one account within
    /// `probe_window_secs` that open an incident: someone trying what their
    /// role may not (probing).
    pub probe_refusals: i64,
    /// The window of `probe_refusals` (s).
    pub probe_window_secs: i64,
    /// Audit exports, incident report exports and access reviews by one
    /// account within `bulk_read_window_secs` that open an incident: the
    /// record of who saw which client being taken out in bulk.
    pub bulk_reads: i64,
    /// The window of `bulk_reads` (s).
    pub bulk_read_window_secs: i64,
    /// How long a rotated-out webhook secret still signs beside the new one
    /// (s): the receiver's time to switch.
    pub webhook_rotation_overlap_secs: i64,
    /// How far before an incident's discovery an account's evidence looks
    /// (days): a credential is rarely misused only on the day it is noticed.
    pub account_lookback_days: i64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            watch_interval_ms: 1000,
            deliver_interval_ms: 1000,
            deadlines_interval_ms: 600_000,
            batch_size: 50,
            webhook_timeout_ms: 10_000,
            webhook_allow_private: false,
            webhook_allow_http: false,
            probe_refusals: 20,
            probe_window_secs: 600,
            bulk_reads: 10,
            bulk_read_window_secs: 3600,
            webhook_rotation_overlap_secs: 86_400,
            account_lookback_days: 30,
        }
    }
}

/// For tests of the real binary only; never set in a deployment.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingSettings {
    /// The server's clock is the system's plus the number of seconds in
    /// this file (`clock::FileOffsetClock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_file: Option<PathBuf>,
}

/// Appointment reminders: how they are dispatched and through what.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderSettings {
    /// How often the dispatcher looks for due reminders when idle (ms).
    pub dispatch_interval_ms: u64,
    /// Reminders claimed per round.
    pub batch_size: i64,
    /// How long a claimed reminder is someone's before another node may
    /// take it over (seconds).
    pub lease_secs: i64,
    /// A reminder more than this late (downtime) is dropped and recorded,
    /// not sent (seconds).
    pub grace_secs: i64,
    /// Attempts before a transient failure becomes `failed`.
    pub max_attempts: i64,
    /// SMTP for email reminders; absent: email reminders are withheld.
    #[serde(default, skip_serializing)]
    pub email: Option<EmailSettings>,
    /// The SMS gateway; absent: SMS reminders are withheld.
    #[serde(default, skip_serializing)]
    pub sms: Option<SmsSettings>,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            dispatch_interval_ms: 250,
            batch_size: 50,
            lease_secs: 120,
            grace_secs: 1800,
            max_attempts: 6,
            email: None,
            sms: None,
        }
    }
}

impl std::fmt::Debug for ReminderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReminderSettings")
            .field("dispatch_interval_ms", &self.dispatch_interval_ms)
            .field("batch_size", &self.batch_size)
            .field("lease_secs", &self.lease_secs)
            .field("grace_secs", &self.grace_secs)
            .field("max_attempts", &self.max_attempts)
            .field("email", &self.email)
            .field("sms", &self.sms)
            .finish()
    }
}

/// SMTP for email reminders (`lettre`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `starttls` (required), `tls` (implicit) or `none` (loopback only).
    pub tls: String,
    /// Login, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (a secret: never printed).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The From address.
    pub from: String,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username.as_ref().map(|_| "[set]"))
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .finish()
    }
}

/// An SMS gateway with Twilio's API shape.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `https://api.twilio.com` or a compatible gateway.
    pub base_url: String,
    /// Account id (path and basic-auth user).
    pub account_sid: String,
    /// Auth token (basic-auth password, and the key inbound webhooks are
    /// signed with; a secret: never printed).
    pub auth_token: SecretString,
    /// The number reminders are sent from.
    pub from: String,
    /// A PEM file of certificate authorities to trust for the gateway's
    /// `https://` besides the public web's (a gateway or relay behind a
    /// private CA; the tests' local https gateway).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Tamper-evident audit log: signing key and witnesses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Ed25519 signing key (PKCS#8, created 0600 on first start).
    /// Default: `<data_dir>/audit-signing.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<PathBuf>,
    /// Signed tree heads are published this often (seconds).
    pub publish_interval_secs: u64,
    /// File witness: every published head is appended here as a JSON line.
    /// Default: `<data_dir>/audit-heads.jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_file: Option<PathBuf>,
    /// URL witness: every published head is POSTed here as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_url: Option<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            publish_interval_secs: 300,
            witness_file: None,
            witness_url: None,
        }
    }
}

/// Authentication and session policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Staff sessions end after this long without a request (seconds).
    pub staff_idle_timeout_secs: i64,
    /// Client sessions end after this long without a request (seconds).
    pub client_idle_timeout_secs: i64,
    /// Every session ends this long after login, active or not (seconds).
    pub session_lifetime_secs: i64,
    /// Invites expire after this long (seconds).
    pub invite_ttl_secs: i64,
    /// The first admin's setup link expires after this long (seconds).
    pub setup_link_ttl_secs: i64,
    /// Failed logins allowed per account within the window before back-off.
    pub max_failures_per_account: i64,
    /// Failed logins allowed per client IP within the window before back-off.
    pub max_failures_per_ip: i64,
    /// Failed logins allowed per account from all addresses together within
    /// the window (`max_failures_per_account` counts per account *and*
    /// address, so an attacker elsewhere cannot lock the owner out).
    #[serde(default = "default_max_failures_per_account_global")]
    pub max_failures_per_account_global: i64,
    /// Reverse proxies (CIDR blocks) whose `Forwarded` / `X-Forwarded-For`
    /// headers name the client. Empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::request::Cidr>,
    /// Length of the failure-counting window (seconds).
    pub failure_window_secs: i64,
    /// Memory all concurrent password hashes together may use (MiB; each
    /// Argon2id hash takes 19 MiB). Bounds how many run at once.
    #[serde(default = "default_hash_memory_mib")]
    pub hash_memory_mib: u64,
    /// Password hashes run at once at most (0: one per CPU core).
    #[serde(default)]
    pub hash_concurrency: usize,
    /// How long a sign-in waits for a free hashing slot before it is
    /// answered 503 `busy` with `Retry-After` (milliseconds).
    #[serde(default = "default_hash_queue_ms")]
    pub hash_queue_ms: u64,
    /// Relax the cookie's `Secure` flag when the public URL is plain-HTTP
    /// loopback (development only; ignored for any other URL).
    pub allow_insecure_localhost_cookie: bool,
    /// How often lapsed shared-computer devices are looked for and signed
    /// out (milliseconds).
    #[serde(default = "default_shared_devices_interval_ms")]
    pub shared_devices_interval_ms: u64,
}

fn default_shared_devices_interval_ms() -> u64 {
    30_000
}

/// Request limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest JSON request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Delivery sockets one device may hold open at once (on one node).
    #[serde(default = "default_max_sockets_per_device")]
    pub max_sockets_per_device: usize,
}

/// Logging.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `alcove_server=debug`.
    pub filter: String,
}

fn default_max_failures_per_account_global() -> i64 {
    100
}

fn default_max_sockets_per_device() -> usize {
    8
}

fn default_hash_memory_mib() -> u64 {
    128
}

fn default_hash_queue_ms() -> u64 {
    2000
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            staff_idle_timeout_secs: 15 * 60,
            client_idle_timeout_secs: 30 * 60,
            session_lifetime_secs: 12 * 3600,
            invite_ttl_secs: 7 * 24 * 3600,
            setup_link_ttl_secs: 24 * 3600,
            max_failures_per_account: 10,
            max_failures_per_ip: 100,
            max_failures_per_account_global: default_max_failures_per_account_global(),
            trusted_proxies: Vec::new(),
            failure_window_secs: 15 * 60,
            hash_memory_mib: default_hash_memory_mib(),
            hash_concurrency: 0,
            hash_queue_ms: default_hash_queue_ms(),
            allow_insecure_localhost_cookie: true,
            shared_devices_interval_ms: default_shared_devices_interval_ms(),
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_sockets_per_device: default_max_sockets_per_device(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// The serializable defaults (secrets excluded by construction).
#[derive(Serialize)]
struct Defaults {
    listen: SocketAddr,
    data_dir: PathBuf,
    practice_name: String,
    auth: AuthSettings,
    limits: LimitSettings,
    log: LogSettings,
    audit: AuditSettings,
    reminders: ReminderSettings,
    incidents: IncidentSettings,
    push: PushSettings,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./alcove-data"),
            practice_name: DEFAULT_PRACTICE_NAME.into(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            log: LogSettings::default(),
            audit: AuditSettings::default(),
            reminders: ReminderSettings::default(),
            incidents: IncidentSettings::default(),
            push: PushSettings::default(),
        }
    }
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct CliOverrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// Top-level setting names, as read from `ALCOVE_*` variables.
/// Text settings whose values may look like numbers (phone numbers,
/// account ids, tokens, names), read from the environment as written.
const TEXT_KEYS: &[&str] = &[
    "practice_name",
    "reminders.sms.from",
    "reminders.sms.account_sid",
    "reminders.sms.auth_token",
    "reminders.email.username",
    "reminders.email.password",
    "reminders.email.from",
    "push.contact",
];

const SETTING_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "public_url",
    "allowed_origins",
    "practice_name",
    "auth",
    "limits",
    "log",
    "audit",
    "reminders",
    "incidents",
    "push",
    "testing",
];

/// Which database a `Settings` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    /// The embedded SQLite file at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres,
}

impl Settings {
    /// Loads defaults, then `file` (when it exists), then `ALCOVE_*`
    /// variables (nested keys with `__`, e.g. `ALCOVE_AUTH__INVITE_TTL_SECS`),
    /// then the command line.
    pub fn load(file: Option<&Path>, cli: &CliOverrides) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Defaults::default()));
        match file {
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None => fig = fig.merge(Toml::file("alcove.toml")),
        }
        // Only variables naming a setting are read: other tools' ALCOVE_*
        // variables (ALCOVE_CONFIG, ALCOVE_TEST_POSTGRES_URL) are not settings,
        // while a typo in the file is still refused by deny_unknown_fields.
        let env = Env::prefixed("ALCOVE_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SETTING_KEYS.iter().any(|k| {
                key == *k || key.starts_with(&format!("{k}__")) || key.starts_with(&format!("{k}."))
            })
        });
        fig = fig.merge(env);
        // The environment's values are parsed as data: `+15555550100` would
        // become the number 15555550100 (its `+` gone) and an all-digit
        // token a number, which these text settings refuse. They are read
        // as written.
        for key in TEXT_KEYS {
            let var = format!("ALCOVE_{}", key.to_ascii_uppercase().replace('.', "__"));
            if let Ok(value) = std::env::var(&var) {
                fig = fig.merge(Serialized::default(key, value));
            }
        }
        fig = fig.merge(Serialized::defaults(cli));
        fig.extract().map_err(Box::new)
    }

    /// Defaults only (tests).
    pub fn defaults() -> Self {
        Figment::from(Serialized::defaults(Defaults::default()))
            .extract()
            .unwrap_or_else(|_| unreachable!("built-in defaults always parse"))
    }

    /// The database this configuration selects.
    pub fn database(&self) -> DatabaseKind {
        match &self.database_url {
            Some(url) if is_postgres_url(url.expose_secret()) => DatabaseKind::Postgres,
            _ => DatabaseKind::Sqlite(self.data_dir.join("alcove.db")),
        }
    }

    /// The audit signing key file.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-signing.key"))
    }

    /// The file witness of signed tree heads.
    pub fn audit_heads_path(&self) -> PathBuf {
        self.audit
            .witness_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-heads.jsonl"))
    }

    /// The URL links are built from.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Origins allowed for cookie-authenticated requests and WebSockets.
    pub fn origins(&self) -> Vec<String> {
        if self.allowed_origins.is_empty() {
            vec![self.public_url()]
        } else {
            self.allowed_origins.clone()
        }
    }

    /// Whether the session cookie carries `Secure`. Only plain-HTTP loopback
    /// development may go without it.
    pub fn secure_cookie(&self) -> bool {
        let url = self.public_url();
        // The host must be exactly a loopback name: a prefix match let
        // `http://localhost.example.org` go without `Secure`.
        let host = url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .map(|authority| match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or("").to_string(),
                None => authority.split(':').next().unwrap_or("").to_string(),
            });
        let loopback = matches!(host.as_deref(), Some("127.0.0.1" | "localhost" | "::1"));
        !(loopback && self.auth.allow_insecure_localhost_cookie)
    }
}

/// True for `postgres://` and `postgresql://` URLs.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "[redacted]"),
            )
            .field("public_url", &self.public_url)
            .field("allowed_origins", &self.allowed_origins)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("log", &self.log)
            .field("audit", &self.audit)
            .field("reminders", &self.reminders)
            .field("incidents", &self.incidents)
            .field("testing", &self.testing)
            .finish()
    }
}

/// The commented default configuration printed by `alcove config`.
pub const TEMPLATE: &str = r#"# Alcove configuration. Every key is optional; shown here with its default.
# Precedence: built-in defaults < this file < ALCOVE_* environment variables
# (nested keys with a double underscore: ALCOVE_AUTH__INVITE_TTL_SECS=3600)
# < command-line flags (--listen, --data-dir).
# Load a file with `alcove --config FILE` or ALCOVE_CONFIG; ./alcove.toml is
# read when present.

# Address to listen on (ALCOVE_LISTEN, --listen).
listen = "127.0.0.1:8080"

# Folder for the embedded SQLite database (alcove.db) and key files
# (ALCOVE_DATA_DIR, --data-dir).
data_dir = "./alcove-data"

# Set a postgres:// URL to use PostgreSQL instead of the embedded SQLite file.
# It may carry a password: prefer ALCOVE_DATABASE_URL over writing it here.
# database_url = "postgres://user@host:5432/alcove"

# The URL people use to reach this server (links in invites are built from it).
# Default: http://<listen>. Behind TLS termination set it to https://...
# public_url = "https://alcove.example.org"

# Origins allowed to make cookie-authenticated requests. Default: [public_url].
# allowed_origins = ["https://alcove.example.org"]

# Name of the practice created on first start.
practice_name = "My Practice"

[auth]
# Automatic logoff after inactivity (seconds): staff 15 min, clients 30 min.
staff_idle_timeout_secs = 900
client_idle_timeout_secs = 1800
# Absolute session lifetime (seconds).
session_lifetime_secs = 43200
# Invite links expire after 7 days; the first admin's setup link after 24 h.
invite_ttl_secs = 604800
setup_link_ttl_secs = 86400
# Login throttling: failures allowed per account and per IP in the window,
# after which further attempts get 429 with an increasing back-off.
# max_failures_per_account counts per account and client address: an
# attacker elsewhere cannot lock the owner out; all addresses together may
# fail max_failures_per_account_global times.
max_failures_per_account = 10
max_failures_per_ip = 100
max_failures_per_account_global = 100
failure_window_secs = 900
# Password hashing (Argon2id, 19 MiB each) is bounded: at most
# hash_memory_mib of hashes at once, and at most hash_concurrency (0: one
# per CPU core); a sign-in waits up to hash_queue_ms for a slot, then gets
# 503 busy with Retry-After.
hash_memory_mib = 128
hash_concurrency = 0
hash_queue_ms = 2000
# Reverse proxies whose Forwarded / X-Forwarded-For headers name the client
# (CIDR blocks). Without them the TCP peer is the client: behind a proxy set
# this, or every user shares the proxy's address and its throttle.
# trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]
# Drop the cookie's Secure flag only when public_url is http://127.0.0.1 or
# http://localhost (development). Any other URL always gets Secure cookies.
allow_insecure_localhost_cookie = true

[limits]
# Largest accepted JSON body (bytes).
max_body_bytes = 65536
# Delivery sockets one device may hold at once (tabs of one browser share a
# device); one more is answered 429 too_many_sockets.
max_sockets_per_device = 8

[log]
# "text" or "json"; the filter uses tracing's syntax.
format = "text"
filter = "info"

[audit]
# Ed25519 key signing the audit log's tree heads (PKCS#8, created with mode
# 0600 on first start). Keep it out of database backups. Default:
# <data_dir>/audit-signing.key
# signing_key_file = "/etc/alcove/audit-signing.key"
# How often signed tree heads are published to the witnesses (seconds).
publish_interval_secs = 300
# Every published head is appended to this file as one JSON line. Default:
# <data_dir>/audit-heads.jsonl. Ship it off the machine (or use witness_url).
# witness_file = "/var/lib/alcove-witness/audit-heads.jsonl"
# Every published head is also POSTed as JSON to this URL, when set.
# witness_url = "http://witness.internal:9000/heads"

[reminders]
# The dispatcher looks for due reminders this often when idle (ms), claims
# batch_size at a time under a lease of lease_secs (another node may take a
# reminder over once its lease ran out), drops reminders more than
# grace_secs late (after downtime: recorded, not sent), and gives up on a
# reminder after max_attempts transient failures. A round's outcomes are
# committed together: a crash resends at most batch_size reminders.
dispatch_interval_ms = 250
batch_size = 50
lease_secs = 120
grace_secs = 1800
max_attempts = 6
# Email reminders go through SMTP. Without this section they are withheld
# (recorded with the reason). tls: "starttls" (required), "tls" (implicit)
# or "none" (a relay on loopback only). Prefer ALCOVE_REMINDERS__EMAIL__PASSWORD.
# [reminders.email]
# host = "smtp.example.org"
# port = 587
# tls = "starttls"
# username = "alcove"
# password = "..."
# from = "reminders@example.org"
# SMS reminders go through a gateway with Twilio's API shape. Without this
# section they are withheld. Prefer ALCOVE_REMINDERS__SMS__AUTH_TOKEN.
# [reminders.sms]
# base_url = "https://api.twilio.com"
# account_sid = "AC..."
# auth_token = "..."
# from = "+15555550100"
# ca_file = "/etc/alcove/gateway-ca.pem"   # a private CA to trust (optional)

[incidents]
# The watcher reads each practice's new audit events this often when idle
# (ms): detectors open incidents, and webhook events are queued for the
# subscribed endpoints. Deliveries are attempted batch_size at a time, each
# for at most webhook_timeout_ms, retried with backoff for about three days.
# Approaching notice deadlines (30, 14, 7, 3, 1 days left, and passed) are
# announced as incident.deadline_approaching, looked for this often (ms).
watch_interval_ms = 1000
deliver_interval_ms = 1000
deadlines_interval_ms = 600000
batch_size = 50
webhook_timeout_ms = 10000
# Webhook URLs must be https:// and resolve to public addresses (server-side
# request forgery). Allow private addresses only for a receiver inside your
# own network; http:// only in tests.
webhook_allow_private = false
webhook_allow_http = false
# One account refused this many times (a role trying what it may not)
# within probe_window_secs opens an unauthorized-access incident.
probe_refusals = 20
probe_window_secs = 600
# One account exporting the audit log or an incident report, or viewing
# access reviews, this many times within bulk_read_window_secs opens an
# unauthorized-access incident (0 turns it off).
bulk_reads = 10
bulk_read_window_secs = 3600
# After a webhook's secret is replaced, the previous one still signs beside
# it for this long (s), so the receiver can switch without a gap.
webhook_rotation_overlap_secs = 86400
# An incident about an account (a password that may be known to someone
# else) lists the clients whose records it reached from this many days
# before the discovery until now.
account_lookback_days = 30

[push]
# Web Push notices ("a new secure message", nothing more) to devices whose
# browser subscribed, looked for this often (ms), at most one per device
# per cooldown_secs.
interval_ms = 1000
cooldown_secs = 60
timeout_ms = 10000
# Who the push services may write to about this server (RFC 8292).
contact = "mailto:privacy@practice.invalid"
# Push endpoints must be https:// and resolve to public addresses; tests
# allow their own push service on loopback.
allow_private = false
allow_http = false
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matches_defaults() {
        let from_template: Settings = Figment::from(Serialized::defaults(Defaults::default()))
            .merge(Toml::string(TEMPLATE))
            .extract()
            .expect("template parses");
        let defaults = Settings::defaults();
        assert_eq!(format!("{from_template:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn debug_redacts_database_url() {
        let settings: Settings = Figment::from(Serialized::defaults(Defaults::default()))
            .merge(Toml::string(
                r#"database_url = "postgres://u:hunter2@db/x""#,
            ))
            .extract()
            .expect("parses");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(settings.database(), DatabaseKind::Postgres);
    }

    #[test]
    fn debug_redacts_channel_secrets() {
        let settings: Settings = Figment::from(Serialized::defaults(Defaults::default()))
            .merge(Toml::string(
                r#"
                [reminders.email]
                host = "smtp.example.org"
                port = 587
                tls = "starttls"
                username = "mailer-login"
                password = "hunter2"
                from = "r@example.org"
                [reminders.sms]
                base_url = "https://gw.example"
                account_sid = "AC1"
                auth_token = "tok-s3cret"
                from = "+15555550100"
                "#,
            ))
            .extract()
            .expect("parses");
        let shown = format!("{settings:?}");
        for secret in ["hunter2", "tok-s3cret", "mailer-login"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("smtp.example.org"));
    }

    #[test]
    fn secure_cookie_only_relaxed_on_loopback_http() {
        let mut s = Settings::defaults();
        assert!(!s.secure_cookie());
        s.public_url = Some("https://alcove.example.org".into());
        assert!(s.secure_cookie());
        s.public_url = Some("http://alcove.example.org".into());
        assert!(s.secure_cookie());
        // A host that only starts like a loopback name is not one.
        for url in [
            "http://localhost.example.org",
            "http://127.0.0.1.nip.io",
            "http://localhost@evil.example",
        ] {
            s.public_url = Some(url.into());
            assert!(s.secure_cookie(), "{url}");
        }
        for url in [
            "http://localhost:8080",
            "http://127.0.0.1:9000/",
            "http://[::1]:8080",
        ] {
            s.public_url = Some(url.into());
            assert!(!s.secure_cookie(), "{url}");
        }
    }
}
