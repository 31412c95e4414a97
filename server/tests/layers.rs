//! The layer check: no module of the server names a module of a higher
//! layer. A capability's parts sit at different layers — its rules, store
//! trait and error type low, its SQL in the middle, its service and jobs
//! above, its HTTP handlers at the edge — so the check is per file, not per
//! folder (`docs/architecture.md`, "Layers").
//!
//! It reads the sources rather than the compiler's view: every path that
//! starts with `crate::`, `$crate::` or `super::` outside a file's
//! `#[cfg(test)]` part is resolved to the file that defines it (the longest
//! prefix that is a file) and compared.

// Test code: a failed step is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// Lowest first: a file may name files of its own layer or any below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Depends on nothing in the crate: ids, the clock, settings, request
    /// facts, the JSON error, storage's infrastructure error.
    Foundation,
    /// Decisions and data a capability owns: `rules`, store traits and rows,
    /// error types, the audit log's encoding, tree and signatures.
    Domain,
    /// The SQL of every store trait, for both backends.
    Storage,
    /// What runs the decisions: services, jobs, sessions, delivery,
    /// revocation, application state.
    Service,
    /// What faces the network or the process: HTTP handlers, the router,
    /// the embedded client, start-up.
    Edge,
}

/// Where a file of `server/src` sits. Order matters: the first rule that
/// matches decides.
fn layer(file: &str) -> Layer {
    let parts: Vec<&str> = file.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    let top = parts.first().copied().unwrap_or_default();
    let foundation = [
        "ids.rs",
        "clock.rs",
        "config.rs",
        "private_files.rs",
        "error.rs",
        "request.rs",
        "storage/error.rs",
    ];
    if foundation.contains(&file) {
        return Layer::Foundation;
    }
    let audit_domain = [
        "mod.rs",
        "canonical.rs",
        "merkle.rs",
        "signing.rs",
        "store.rs",
    ];
    if top == "audit" && audit_domain.contains(&name) {
        return Layer::Domain;
    }
    if parts.contains(&"rules") || ["rules.rs", "store.rs", "error.rs", "models.rs"].contains(&name)
    {
        return Layer::Domain;
    }
    if top == "storage" || name == "sql.rs" || name.ends_with("_sql.rs") {
        return Layer::Storage;
    }
    if top == "api"
        || parts.contains(&"http")
        || name == "http.rs"
        || ["web.rs", "bootstrap.rs", "lib.rs", "main.rs"].contains(&file)
    {
        return Layer::Edge;
    }
    Layer::Service
}

/// The module path of a file (`reminders/http/mod.rs` → reminders::http).
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every module path a source names through `crate::`, `$crate::` or
/// `super::`, as absolute segments (identifiers only).
fn named_paths(file: &str, source: &str) -> Vec<Vec<String>> {
    let own = module_of(file);
    let code = &without_test_items(source);
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let (base, skip): (Vec<String>, usize) = if rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if rest.starts_with("super::") {
            (own[..own.len().saturating_sub(1)].to_vec(), "super::".len())
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        if i > 0 && is_ident(bytes[i - 1]) {
            i += skip;
            continue;
        }
        let mut path = base;
        let mut j = i + skip;
        loop {
            let start = j;
            while j < code.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            let segment = &code[start..j];
            if segment == "super" {
                path.pop();
            } else {
                path.push(segment.to_owned());
            }
            if code[j..].starts_with("::") {
                j += 2;
            } else {
                break;
            }
        }
        found.push(path);
        i = j.max(i + 1);
    }
    found
}

/// The source without its `#[cfg(test)]` items (a test module, a test-only
/// import): each runs from the attribute to its `;` or its matching `}`.
fn without_test_items(source: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find(ATTR) {
        out.push_str(&rest[..at]);
        let item = &rest[at + ATTR.len()..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The file that defines the longest prefix of `path`, if any.
fn resolve(src: &Path, path: &[String]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let stem = path[..n].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|candidate| src.join(candidate).is_file())
    })
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Each import that runs up a layer: (file, its layer, the file it names,
/// that file's layer, the path as written).
fn violations(src: &Path, file: &str, source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for path in named_paths(file, source) {
        let Some(target) = resolve(src, &path) else {
            continue;
        };
        if target != file && layer(&target) > layer(file) {
            out.push(format!(
                "{file} ({:?}) names {} in {target} ({:?})",
                layer(file),
                path.join("::"),
                layer(&target)
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_module_of_the_server_imports_one_of_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    files.sort();
    assert!(files.len() > 50, "the server's sources were not found");
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| violations(&src, f, &std::fs::read_to_string(src.join(f)).unwrap()))
        .collect();
    assert!(
        found.is_empty(),
        "imports that run up a layer (move the named item down, or the importing code up):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_that_runs_up_whatever_way_it_is_written() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Storage naming an HTTP handler, absolutely, inside a macro, and
    // relatively; a rule naming a service.
    let storage =
        "use crate::api::extract::ApiJson;\nfn f() { $crate::reminders::http::appointments::x(); }";
    assert_eq!(violations(&src, "storage/sql.rs", storage).len(), 2);
    let rule = "use super::super::service::ReminderService;";
    assert_eq!(violations(&src, "reminders/rules/plan.rs", rule).len(), 1);
    // What is below or beside is fine, and test code is not checked.
    let fine = "use crate::ids::UserId;\nuse super::store::ReminderStore;\n#[cfg(test)]\nmod t { fn f() { crate::api::x(); } }";
    assert!(violations(&src, "reminders/service.rs", fine).is_empty());
    // ... but what follows a test module is.
    let after = format!("{fine}\nuse crate::api::extract::ApiJson;");
    assert_eq!(violations(&src, "reminders/service.rs", &after).len(), 1);
    // Names that merely end in "crate" are not paths.
    assert!(violations(&src, "storage/sql.rs", "let my_crate::api = 1;").is_empty());
}
