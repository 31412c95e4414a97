//! What the server keeps on disk is readable by its user only: a data
//! directory the server creates is 0700, and the database, its WAL and
//! shared-memory files and the server's key file are 0600, whatever the
//! umask (the directory here does not exist before, so its mode is the
//! server's doing, not the test harness's).

#![cfg(unix)]

use alcove_server::config::Settings;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let root = tempfile::tempdir().expect("dir");
    // Readable by others, as a default umask makes it.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut settings = Settings::defaults();
    settings.data_dir = root.path().join("data");
    settings.database_url = None;
    let store = alcove_server::storage::open(&settings)
        .await
        .expect("open store");
    // Something written, so the WAL exists.
    store.practice_count().await.expect("read");
    let state = alcove_server::app_state(store.clone(), settings.clone()).expect("state");
    drop(state);
    let dir = &settings.data_dir;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for name in [
        "alcove.db",
        "alcove.db-wal",
        "alcove.db-shm",
        "mls-external-sender.key",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    store.close().await;
}
