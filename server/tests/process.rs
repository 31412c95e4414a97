//! The `alcove` binary as an operator runs it: first start prints the setup
//! link, an acknowledged write survives `kill -9`, and the subcommands work.

// Test code: a failed step is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_alcove");

/// The one launcher of the binary (shared with the `alcove-tests` crate).
#[path = "../../tests/src/launch.rs"]
mod launch;

/// Starts `alcove serve` on port 0 and waits (with a deadline) for its
/// address and, on first start, its setup link.
async fn start(data_dir: &Path) -> (Child, String, Option<String>) {
    let l = launch::launch(Path::new(BIN), data_dir, &[])
        .await
        .expect("alcove listens");
    (l.child, format!("http://{}", l.addr), l.link)
}

fn totp_now(secret_b32: &str) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("base32");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    format!(
        "{:06}",
        alcove_server::auth::totp::code_at_step(&secret, now / 30)
    )
}

#[tokio::test]
async fn acknowledged_registration_survives_kill_9() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, addr, link) = start(dir.path()).await;
    let link = link.expect("first start prints the setup link");
    assert!(
        dir.path().join("alcove.db").exists(),
        "SQLite file created in the data dir"
    );
    let token = link.rsplit('#').next().expect("token");
    let http = reqwest::Client::new();

    let accepted: serde_json::Value = http
        .post(format!("{addr}/api/v1/invites/accept"))
        .json(
            &serde_json::json!({"token": token, "login": "admin@x.example", "display_name": "Admin",
                                  "password": "a sturdy admin passphrase"}),
        )
        .send()
        .await
        .expect("accept")
        .json()
        .await
        .expect("json");
    let secret = accepted["totp_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let enrolled = http
        .post(format!("{addr}/api/v1/auth/mfa/enroll"))
        .json(
            &serde_json::json!({"enrollment_token": accepted["enrollment_token"],
                                  "totp_code": totp_now(&secret), "device_name": "Desk"}),
        )
        .send()
        .await
        .expect("enroll");
    assert_eq!(enrolled.status(), 200);
    let enrolled: serde_json::Value = enrolled.json().await.expect("json");
    let recovery = enrolled["recovery_codes"][0]
        .as_str()
        .expect("code")
        .to_string();

    // The answer above was the acknowledgement; now crash without warning.
    server.kill().await.expect("SIGKILL");

    let (_server, addr, link) = start(dir.path()).await;
    assert!(
        link.is_none(),
        "no second setup link once a practice exists"
    );
    let login = http
        .post(format!("{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"login": "admin@x.example", "password": "a sturdy admin passphrase",
                                  "recovery_code": recovery, "device_name": "Desk 2", "transport": "bearer"}))
        .send().await.expect("login");
    assert_eq!(
        login.status(),
        200,
        "user, password, TOTP enrolment and recovery codes all survived"
    );
}

#[tokio::test]
async fn subcommands_config_migrate_init() {
    let out = Command::new(BIN)
        .arg("config")
        .env(
            "ALCOVE_DATABASE_URL",
            "postgres://alcove:hunter2@db.invalid/alcove",
        )
        .output()
        .await
        .expect("config");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("listen = \"127.0.0.1:8080\"")
            && text.contains("data_dir = \"./alcove-data\"")
    );
    assert!(!text.contains("hunter2"), "config never prints secrets");

    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_str().expect("utf-8");
    let migrate = Command::new(BIN)
        .args(["--data-dir", d, "migrate"])
        .env_remove("ALCOVE_DATABASE_URL")
        .output()
        .await
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let init = Command::new(BIN)
        .args(["--data-dir", d, "init"])
        .env_remove("ALCOVE_DATABASE_URL")
        .output()
        .await
        .expect("init");
    let text = String::from_utf8(init.stdout).expect("utf-8");
    assert!(text.contains("/invite#"), "{text}");
    let again = Command::new(BIN)
        .args(["--data-dir", d, "init"])
        .env_remove("ALCOVE_DATABASE_URL")
        .output()
        .await
        .expect("init");
    let text = String::from_utf8(again.stdout).expect("utf-8");
    assert!(
        text.contains("already exists") && !text.contains("/invite#"),
        "{text}"
    );
    let second = Command::new(BIN)
        .args(["--data-dir", d, "init", "--new-practice", "Second"])
        .env_remove("ALCOVE_DATABASE_URL")
        .output()
        .await
        .expect("init");
    assert!(String::from_utf8(second.stdout)
        .expect("utf-8")
        .contains("/invite#"));

    // A bad config file is a clear error, not a panic.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = 12").expect("write");
    let out = Command::new(BIN)
        .args(["--config", bad.to_str().expect("utf-8"), "migrate"])
        .output()
        .await
        .expect("bad config");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration error"));
}

#[tokio::test]
async fn migrate_on_postgres_from_the_environment() {
    let Ok(url) = std::env::var("ALCOVE_TEST_POSTGRES_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! PostgreSQL test SKIPPED: ALCOVE_TEST_POSTGRES_URL is not set !!!"
        );
        return;
    };
    // `migrate` against the shared test database is idempotent and
    // touches only Alcove's tables; give it a schema of its own.
    let schema = format!("alcove_cli_{}", std::process::id());
    let with_schema = format!(
        "{url}{}options=-csearch_path%3D{schema}",
        if url.contains('?') { "&" } else { "?" }
    );
    let psql = Command::new("psql")
        .args([&url, "-c", &format!("CREATE SCHEMA IF NOT EXISTS {schema}")])
        .output()
        .await
        .expect("psql");
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let out = Command::new(BIN)
        .arg("migrate")
        .env("ALCOVE_DATABASE_URL", &with_schema)
        .output()
        .await
        .expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("postgres"));
    let _ = Command::new("psql")
        .args([&url, "-c", &format!("DROP SCHEMA {schema} CASCADE")])
        .output()
        .await;
}
