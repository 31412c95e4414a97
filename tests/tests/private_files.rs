//! What the server keeps on disk is readable by its user only: after a
//! start on SQLite the data directory is 0700 and the database, its WAL
//! and shared-memory files and the server's key file are 0600, whatever
//! the umask.

#![cfg(unix)]

use alcove_tests::{Backend, TestApp};
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    // Something written, so the WAL exists.
    app.new_practice("Private").await;
    let dir = &app.settings.data_dir;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for name in [
        "alcove.db",
        "alcove.db-wal",
        "alcove.db-shm",
        "mls-external-sender.key",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    app.stop().await;
}
