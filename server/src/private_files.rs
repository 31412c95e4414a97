//! Files only the server's user may read: the data directory is created
//! 0700 and the database files, keys and the heads file are 0600, whatever
//! the umask — they hold ciphertext, TOTP secrets, unlock shares and the
//! keys that sign the audit log.

use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) and makes it 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes `file` 0600 if it exists.
pub fn restrict(file: &Path) -> io::Result<()> {
    match set_mode(file, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes a new file (never over an existing one) created 0600, and syncs
/// it: key files, made once on first start.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_directory_is_0700_and_files_0600() {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("data");
        create_dir(&dir).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("alcove.db");
        std::fs::write(&file, b"x").expect("write");
        restrict(&file).expect("restrict");
        assert_eq!(mode(&file), 0o600);
        restrict(&dir.join("absent")).expect("absent files are fine");
    }
}
