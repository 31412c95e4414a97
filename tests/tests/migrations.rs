//! The two migration folders stay one schema: the same files, equal line
//! for line once the documented type substitutions are made
//! (docs/architecture.md, "Storage"): PostgreSQL's `BIGINT`, `BYTEA` and
//! `BOOLEAN` are SQLite's `INTEGER`, `BLOB` and `INTEGER` (or `BOOLEAN`,
//! which SQLite stores as an integer), and SQLite may
//! declare a table `WITHOUT ROWID`. The SQL in `storage/sql.rs` is written
//! once for both, so a column that exists on one backend only, or differs
//! in more than its type's name, would be a bug waiting for the other.

use std::collections::BTreeMap;
use std::path::Path;

fn folder(name: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(name);
    std::fs::read_dir(&dir)
        .expect("migrations folder")
        .map(|e| {
            let path = e.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("migration text");
            (
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect()
}

fn as_sqlite(postgres: &str) -> String {
    postgres
        .replace("BIGINT", "INTEGER")
        .replace("BYTEA", "BLOB")
        .replace("BOOLEAN", "INTEGER")
}

#[test]
fn the_two_migration_folders_are_one_schema_up_to_type_names() {
    let sqlite = folder("sqlite");
    let postgres = folder("postgres");
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "the same migrations, in the same order, on both backends"
    );
    assert!(sqlite.len() >= 11, "{:?}", sqlite.keys());
    for (name, lite) in &sqlite {
        // SQLite takes `BOOLEAN` as a name for its integers: either spelling.
        let lite = lite
            .replace(") WITHOUT ROWID;", ");")
            .replace("BOOLEAN", "INTEGER");
        let pg = as_sqlite(&postgres[name]);
        for (i, (a, b)) in lite.lines().zip(pg.lines()).enumerate() {
            assert_eq!(a, b, "{name}, line {}: SQLite vs PostgreSQL", i + 1);
        }
        assert_eq!(
            lite.lines().count(),
            pg.lines().count(),
            "{name}: line counts differ"
        );
    }
}
