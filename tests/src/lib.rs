//! Test harness: starts the real Alcove server in-process on `127.0.0.1:0`
//! over a fresh SQLite file or a fresh PostgreSQL database, with a manual
//! clock, and offers fixtures (admin set-up, invites, registration) that go
//! through the HTTP API exactly as a client would.
//!
//! PostgreSQL tests run when `ALCOVE_TEST_POSTGRES_URL` is set (each test
//! gets its own database, dropped afterwards); otherwise they print a loud
//! SKIPPED line. `.ci/run` always sets it.

pub mod gateway;
pub mod launch;
pub mod mls;
pub mod push;
pub mod release_server;
pub mod smtp;
pub mod webhooks;

use alcove_server::bootstrap::{self, SetupLink};
use alcove_server::clock::{Clock, ManualClock};
use alcove_server::config::Settings;
use alcove_server::storage::{self, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// Which storage backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on `ALCOVE_TEST_POSTGRES_URL`.
    Postgres,
}

/// Runs an `async fn(Backend)` once per backend, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}

/// A database made for one test.
pub struct TestDb {
    /// URL for `Settings::database_url` (None for SQLite).
    pub url: Option<String>,
    /// Folder for the SQLite file and keys.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// Creates the database, or returns None (after saying so loudly) when
    /// PostgreSQL is asked for but not configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(Self {
                url: None,
                dir,
                pg: None,
            }),
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("ALCOVE_TEST_POSTGRES_URL") else {
                    // Written past the test harness's output capture, so the
                    // skip is visible even when the test "passes".
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n!!! PostgreSQL test SKIPPED: ALCOVE_TEST_POSTGRES_URL is not set \
                         (e.g. postgres://postgres@127.0.0.1:5432/test) !!!"
                    );
                    return None;
                };
                let name = format!("alcove_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .expect("connect to ALCOVE_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!(
                    "{}/{name}",
                    &base[..base.rfind('/').expect("URL has a path")]
                );
                Some(Self {
                    url: Some(url),
                    dir,
                    pg: Some((admin_url, name)),
                })
            }
        }
    }

    /// Settings pointing at this database.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::defaults();
        settings.data_dir = self.dir.path().to_path_buf();
        settings.database_url = self.url.clone().map(Into::into);
        settings
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop runs outside async context: use a private runtime on a
            // thread, and wait for it so databases do not pile up.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                    {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running server.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Its store (for assertions on what was written).
    pub store: Arc<dyn Store>,
    /// Its clock.
    pub clock: ManualClock,
    /// Its settings.
    pub settings: Settings,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _db: TestDb,
}

impl TestApp {
    /// Starts with default settings; None when the backend is skipped.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with adjusted settings.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        let mut settings = db.settings();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        settings.listen = addr;
        settings.public_url = Some(format!("http://{addr}"));
        adjust(&mut settings);
        let clock = ManualClock::new(alcove_server::clock::SystemClock.now());
        let (store, shutdown, server) = Self::launch(&settings, &clock, listener).await;
        Some(Self {
            addr,
            base: format!("http://{addr}"),
            store,
            clock,
            settings,
            shutdown: Some(shutdown),
            server: Some(server),
            _db: db,
        })
    }

    /// Opens the store and runs the binary's own start-up path (removals
    /// re-issued, audit key, head publisher, jobs), not a test-only one.
    async fn launch(
        settings: &Settings,
        clock: &ManualClock,
        listener: tokio::net::TcpListener,
    ) -> (
        Arc<dyn Store>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let store = storage::open(settings).await.expect("open store");
        let application = alcove_server::Application::build(
            store.clone(),
            settings.clone(),
            Arc::new(clock.clone()),
            listener,
        )
        .await
        .expect("application");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = application
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        });
        (store, tx, server)
    }

    /// Stops the server and starts it again on the same database, address
    /// and settings, the clock where it was: a deploy or a reboot. Sessions
    /// live in the database, so the people's clients go on working; what
    /// was in memory (sockets, queues) is gone.
    pub async fn restart(mut self) -> Self {
        self.halt().await;
        // The listener of the stopped server is closed; its port is free
        // again (listeners are bound with SO_REUSEADDR).
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the same address again");
        let (store, shutdown, server) = Self::launch(&self.settings, &self.clock, listener).await;
        self.store = store;
        self.shutdown = Some(shutdown);
        self.server = Some(server);
        self
    }

    /// Stops the server and closes the store.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.store.close().await;
    }

    /// The PostgreSQL URL of this test's database (None for SQLite), for
    /// tests that reach past the server with raw SQL.
    pub fn database_url(&self) -> Option<String> {
        self._db.url.clone()
    }

    /// Runs raw SQL on the test's database, outside the server (what an
    /// attacker with the database, or a change the server did not make,
    /// would do).
    pub async fn raw_sql(&self, statements: &[String]) {
        use sqlx::Connection;
        match self.settings.database() {
            alcove_server::config::DatabaseKind::Sqlite(path) => {
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .expect("sqlite");
                for s in statements {
                    sqlx::query(s)
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"));
                }
            }
            alcove_server::config::DatabaseKind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.database_url().expect("url"))
                    .await
                    .expect("postgres");
                for s in statements {
                    sqlx::query(s)
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"));
                }
            }
        }
    }

    /// Reads one byte column of every row a query returns, outside the
    /// server (what a copy of the database holds).
    pub async fn raw_bytes(&self, query: &str) -> Vec<Vec<u8>> {
        use sqlx::Connection;
        match self.settings.database() {
            alcove_server::config::DatabaseKind::Sqlite(path) => {
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .expect("sqlite");
                sqlx::query_scalar(query)
                    .fetch_all(&mut c)
                    .await
                    .expect("query")
            }
            alcove_server::config::DatabaseKind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.database_url().expect("url"))
                    .await
                    .expect("postgres");
                sqlx::query_scalar(query)
                    .fetch_all(&mut c)
                    .await
                    .expect("query")
            }
        }
    }

    /// A new API client with its own cookie jar (one browser profile).
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.base)
    }

    /// Creates a practice and returns its first admin's setup link.
    pub async fn new_practice(&self, name: &str) -> SetupLink {
        bootstrap::create_practice(&*self.store, &self.settings, &self.clock, name)
            .await
            .expect("create practice")
    }

    /// The current TOTP code for a base32 secret, at the app's clock.
    pub fn totp(&self, secret_b32: &str) -> String {
        totp_code(secret_b32, self.clock.now())
    }

    /// Moves the clock past the current TOTP step so a fresh code is valid.
    pub fn next_totp_step(&self) {
        self.clock.advance(30);
    }

    /// Registers staff through an invite link: password, TOTP enrolment,
    /// signed in with a cookie.
    pub async fn register_staff(&self, link: &str, login: &str) -> Person {
        let client = self.client();
        let token = token_of(link);
        let password = format!("staff passphrase {login}");
        let (status, body) = client
            .post(
                "/api/v1/invites/accept",
                &json!({"token": token, "login": login, "display_name": login, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "mfa_enrollment_required", "{body}");
        let secret = body["totp_secret"].as_str().expect("secret").to_string();
        let (status, body) = client
            .post(
                "/api/v1/auth/mfa/enroll",
                &json!({"enrollment_token": body["enrollment_token"], "totp_code": self.totp(&secret),
                        "device_name": "Office laptop"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "signed_in", "{body}");
        let mut client = client;
        client.csrf = body["csrf_token"].as_str().map(str::to_string);
        Person {
            client,
            login: login.to_string(),
            password,
            totp_secret: Some(secret),
            user_id: body["user_id"].as_str().expect("user_id").to_string(),
            practice_id: body["practice_id"]
                .as_str()
                .expect("practice_id")
                .to_string(),
            device_id: body["device_id"].as_str().expect("device_id").to_string(),
            recovery_codes: body["recovery_codes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Registers a client through an invite link: passphrase, signed in.
    pub async fn register_client(&self, link: &str, login: &str) -> Person {
        let mut client = self.client();
        let password = format!("client passphrase {login}");
        let (status, body) = client
            .post(
                "/api/v1/invites/accept",
                &json!({"token": token_of(link), "login": login, "display_name": login,
                        "password": password, "device_name": "My phone"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "signed_in", "{body}");
        client.csrf = body["csrf_token"].as_str().map(str::to_string);
        Person {
            client,
            login: login.to_string(),
            password,
            totp_secret: None,
            user_id: body["user_id"].as_str().expect("user_id").to_string(),
            practice_id: body["practice_id"]
                .as_str()
                .expect("practice_id")
                .to_string(),
            device_id: body["device_id"].as_str().expect("device_id").to_string(),
            recovery_codes: vec![],
        }
    }

    /// A new practice with a signed-in admin.
    pub async fn practice_with_admin(&self, name: &str, login: &str) -> Person {
        let link = self.new_practice(name).await;
        self.register_staff(&link.link, login).await
    }

    /// A new practice with its admin, a clinician (invited by the admin)
    /// and a client of that clinician (invited by the clinician), all
    /// signed in.
    pub async fn practice_with_people(&self) -> PracticePeople {
        let admin = self.practice_with_admin("P", "admin@p.example").await;
        let clinician = self
            .register_staff(&self.invite(&admin, "clinician").await, "dr@p.example")
            .await;
        let client = self
            .register_client(&self.invite(&clinician, "client").await, "sam@p.example")
            .await;
        PracticePeople {
            admin,
            clinician,
            client,
        }
    }

    /// A second, bearer-token session of a client (no TOTP) on its first
    /// device; returns the token.
    pub async fn bearer_session(&self, person: &Person) -> String {
        let (status, body) = self
            .client()
            .post(
                "/api/v1/auth/login",
                &json!({"practice_id": person.practice_id, "login": person.login, "password": person.password,
                        "device_id": person.device_id, "transport": "bearer"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Invites a person of `role` as `by`; returns the link.
    pub async fn invite(&self, by: &Person, role: &str) -> String {
        let (status, body) = by
            .client
            .post("/api/v1/invites", &json!({"role": role}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["link"].as_str().expect("link").to_string()
    }

    /// A staff member invited by `by` as `role` who chose a password from
    /// the invitation but stopped before setting up the authenticator: the
    /// next sign-in asks for that step instead of opening a session.
    pub async fn staff_without_authenticator(
        &self,
        by: &Person,
        role: &str,
        login: &str,
        password: &str,
    ) {
        let link = self.invite(by, role).await;
        let (status, body) = self
            .client()
            .post(
                "/api/v1/invites/accept",
                &json!({"token": token_of(&link), "login": login, "display_name": "A", "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "mfa_enrollment_required", "{body}");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The people of [`TestApp::practice_with_people`].
pub struct PracticePeople {
    /// The practice's admin.
    pub admin: Person,
    /// A clinician.
    pub clinician: Person,
    /// The clinician's client.
    pub client: Person,
}

/// A registered person and their signed-in client.
pub struct Person {
    /// Their browser-like client (cookie jar, CSRF token).
    pub client: ApiClient,
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
    /// TOTP secret (base32), when enrolled.
    pub totp_secret: Option<String>,
    /// User id.
    pub user_id: String,
    /// Their practice (named at every sign-in: logins are unique per
    /// practice).
    pub practice_id: String,
    /// Device id of the first device.
    pub device_id: String,
    /// Recovery codes shown at enrolment.
    pub recovery_codes: Vec<String>,
}

/// Resident size of a process, KiB (benchmarks).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The token part of an invite link (after `#`).
pub fn token_of(link: &str) -> String {
    link.rsplit('#')
        .next()
        .expect("link has a fragment")
        .to_string()
}

/// The TOTP code an authenticator app shows for a base32 secret at a Unix
/// time (the server's own RFC 6238 code).
pub fn totp_code(secret_b32: &str, unix_secs: i64) -> String {
    let secret = decode_base32(secret_b32);
    format!(
        "{:06}",
        alcove_server::auth::totp::code_at_step(&secret, unix_secs.div_euclid(30))
    )
}

fn decode_base32(s: &str) -> Vec<u8> {
    data_encoding::BASE32_NOPAD
        .decode(s.trim_end_matches('=').as_bytes())
        .expect("base32")
}

/// A JSON API client with a cookie jar, like one browser profile (a clone
/// shares the jar).
#[derive(Clone)]
pub struct ApiClient {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// Base URL.
    pub base: String,
    /// CSRF token sent on state-changing requests.
    pub csrf: Option<String>,
    /// Bearer token, when the client uses one instead of the cookie.
    pub bearer: Option<String>,
}

impl ApiClient {
    /// A fresh client.
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 alcove-tests")
            .build()
            .expect("client");
        Self {
            http,
            base: base.to_string(),
            csrf: None,
            bearer: None,
        }
    }

    fn decorate(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn finish(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = req.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        Self::finish(self.decorate(self.http.post(format!("{}{path}", self.base)).json(body))).await
    }

    /// POST raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Self::finish(self.decorate(req)).await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(self.decorate(self.http.get(format!("{}{path}", self.base)))).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        Self::finish(self.decorate(self.http.put(format!("{}{path}", self.base)).json(body))).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        Self::finish(self.decorate(self.http.patch(format!("{}{path}", self.base)).json(body)))
            .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(self.decorate(self.http.delete(format!("{}{path}", self.base)))).await
    }
}
