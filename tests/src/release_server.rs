//! The release `alcove` binary as a separate process on 127.0.0.1:0 over a
//! temporary SQLite file, for the benchmarks in `tests/examples/` (each
//! process then holds one end of every socket). `ALCOVE_BIN` names another
//! binary; the default is `target/release/alcove`.

/// A running server; killed when dropped.
pub struct ReleaseServer {
    /// The process.
    pub child: tokio::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// The first admin's setup link it printed.
    pub link: String,
    _dir: tempfile::TempDir,
}

impl ReleaseServer {
    /// Starts the binary with extra environment (settings as `ALCOVE_*`
    /// variables) and waits for its listening line.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let bin = std::env::var("ALCOVE_BIN").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/alcove").to_string()
        });
        let dir = tempfile::tempdir().expect("dir");
        let launched = crate::launch::launch(std::path::Path::new(&bin), dir.path(), env)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            child: launched.child,
            addr: launched.addr,
            link: launched
                .link
                .expect("the first start prints its setup link"),
            _dir: dir,
        }
    }

    /// The first admin accepts the setup link with `login` and `password`
    /// (no authenticator yet: an account to sign in to, or to fail to).
    pub async fn first_admin(&self, login: &str, password: &str) {
        let anon = crate::ApiClient::new(&format!("http://{}", self.addr));
        let token = self.link.rsplit('#').next().expect("token");
        let (status, body) = anon
            .post(
                "/api/v1/invites/accept",
                &serde_json::json!({"token": token, "login": login, "display_name": "Admin",
                                    "password": password, "transport": "bearer"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}
