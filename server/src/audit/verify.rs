//! `alcove audit verify`: checks a live database or an export against signed
//! tree heads and the audit public key, and names what is wrong.
//!
//! How each kind of tampering shows (leaf hashes include the seq):
//! - **modified**: the entry's content no longer hashes to the leaf the log
//!   committed to at its seq (stored leaf hash in the database; inclusion
//!   proof under the signed head in an export).
//! - **reordered**: the entry hashes correctly only at another seq (moved or
//!   swapped), or export lines are out of seq order.
//! - **deleted**: a seq is missing in the middle, or a run of later entries
//!   each hash correctly only one seq higher (renumbered to close the gap).
//! - **inserted**: a seq beyond the counter or outside the signed list of an
//!   export, a duplicate seq, or a run of later entries each hashing
//!   correctly only one seq lower (renumbered to make room).
//! - **truncated**: a signed head (or the counter, or an export's signed seq
//!   list) covers more entries than are present at the end.
//! - **head mismatch**: the leaves do not reproduce a signed root although
//!   every entry matches its stored hash — the hashes were rewritten too; the
//!   range between the last matching and the first failing head is named.

use super::canonical::{Entry, Hash};
use super::export::{self, ParsedExport};
use super::merkle::{self, Frontier};
use super::signing::{PublicKey, SignedTreeHead};
use crate::audit::store::{AuditStore, StoredEntry};
use std::collections::{BTreeMap, BTreeSet};

/// How far (in seqs) a moved entry is searched for.
const MOVE_WINDOW: i64 = 64;

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The entry at `seq` is not the one the log committed to.
    Modified {
        /// Where.
        seq: i64,
    },
    /// The entry at `seq` was removed.
    Deleted {
        /// Which.
        seq: i64,
    },
    /// An entry that was never appended appears at `seq`.
    Inserted {
        /// Where.
        seq: i64,
    },
    /// The entry committed at `seq` was found at `found_at`.
    Reordered {
        /// Its true seq.
        seq: i64,
        /// Where it is now (a seq; in an export, a line number).
        found_at: i64,
    },
    /// Entries are missing at the end.
    Truncated {
        /// How many entries the evidence says there are.
        expected: i64,
        /// How many there are.
        found: i64,
    },
    /// Leaves do not reproduce a signed root (hashes rewritten).
    HeadMismatch {
        /// The head's size.
        tree_size: u64,
        /// Last size that still matched a signed head.
        last_good: u64,
    },
    /// A signature does not verify.
    BadSignature {
        /// What was signed.
        what: String,
    },
    /// A line could not be read.
    Malformed {
        /// Line (record) number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// A document carrying its audit export (an incident report) is not
    /// the one the log recorded.
    Document {
        /// Why.
        reason: String,
    },
}

impl Problem {
    /// Short name: modified, deleted, inserted, reordered, truncated,
    /// head_mismatch, bad_signature, malformed.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Modified { .. } => "modified",
            Problem::Deleted { .. } => "deleted",
            Problem::Inserted { .. } => "inserted",
            Problem::Reordered { .. } => "reordered",
            Problem::Truncated { .. } => "truncated",
            Problem::HeadMismatch { .. } => "head_mismatch",
            Problem::BadSignature { .. } => "bad_signature",
            Problem::Malformed { .. } => "malformed",
            Problem::Document { .. } => "document",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Modified { seq } => write!(f, "MODIFIED entry seq {seq}: its content is not what the log committed to"),
            Problem::Deleted { seq } => write!(f, "DELETED entry seq {seq}: it is missing from the log"),
            Problem::Inserted { seq } => write!(f, "INSERTED entry at seq {seq}: it was never appended to the log"),
            Problem::Reordered { seq, found_at } => {
                write!(f, "REORDERED entry seq {seq}: found at position {found_at}")
            }
            Problem::Truncated { expected, found } => {
                write!(f, "TRUNCATED log: {expected} entries were recorded, only {found} remain")
            }
            Problem::HeadMismatch { tree_size, last_good } => write!(
                f,
                "entries do not reproduce the signed tree head of size {tree_size}: entries in seq {}..={tree_size} \
                 were altered and their leaf hashes rewritten",
                last_good + 1
            ),
            Problem::BadSignature { what } => write!(f, "BAD SIGNATURE on {what}"),
            Problem::Malformed { line, reason } => write!(f, "MALFORMED line {line}: {reason}"),
            Problem::Document { reason } => write!(f, "DOCUMENT: {reason}"),
        }
    }
}

/// The outcome of one verification.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Practice.
    pub practice_id: String,
    /// Entries examined.
    pub entries: usize,
    /// Signed heads checked.
    pub heads_checked: usize,
    /// Largest signed tree size the log was proven against.
    pub verified_size: u64,
    /// Findings (empty: intact).
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether a finding of this kind was made.
    pub fn has(&self, kind: &str) -> bool {
        self.problems.iter().any(|p| p.kind() == kind)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "practice {}: {} entries, {} signed heads checked, verified up to tree size {}",
            self.practice_id, self.entries, self.heads_checked, self.verified_size
        )?;
        if self.problems.is_empty() {
            writeln!(f, "  OK: the log is intact")
        } else {
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
            Ok(())
        }
    }
}

/// Structural analysis shared by the database and export checks.
///
/// `rows` are in stored order (database: by seq; export: file order), each
/// with the position to report (a seq or a line number); `belongs(i, s)`
/// says whether row `i`'s content is what the log committed to at seq `s`.
fn analyse(
    rows: &[(i64, &Entry)],
    belongs: &dyn Fn(usize, i64) -> bool,
    problems: &mut Vec<Problem>,
) -> (BTreeSet<i64>, i64) {
    let mut present = BTreeSet::new();
    // Of several rows claiming one seq, the one that belongs there is the
    // original; the others were inserted.
    let mut primary: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, (_, e)) in rows.iter().enumerate() {
        match primary.get(&e.seq) {
            None => {
                primary.insert(e.seq, i);
            }
            Some(&p) if !belongs(p, e.seq) && belongs(i, e.seq) => {
                primary.insert(e.seq, i);
            }
            Some(_) => {}
        }
    }
    let mut moved: Vec<(i64, i64, i64)> = Vec::new(); // (claimed seq, true seq, position)
    let mut prev: Option<i64> = None;
    for (i, (position, e)) in rows.iter().enumerate() {
        let s = e.seq;
        if primary.get(&s) != Some(&i) {
            problems.push(Problem::Inserted { seq: s });
            continue;
        }
        present.insert(s);
        if let Some(p) = prev {
            if s < p {
                problems.push(Problem::Reordered {
                    seq: s,
                    found_at: *position,
                });
            }
        }
        prev = Some(prev.map_or(s, |p| p.max(s)));
        if belongs(i, s) {
            continue;
        }
        let true_seq = (1..=MOVE_WINDOW)
            .flat_map(|d| [s - d, s + d])
            .find(|&o| o >= 1 && belongs(i, o));
        match true_seq {
            Some(o) => moved.push((s, o, *position)),
            None => problems.push(Problem::Modified { seq: s }),
        }
    }
    // Swapped pairs first, then runs shifted by the same amount.
    moved.sort();
    let mut used = vec![false; moved.len()];
    for a in 0..moved.len() {
        if used[a] {
            continue;
        }
        if let Some(b) = (0..moved.len())
            .find(|&b| b != a && !used[b] && moved[b].0 == moved[a].1 && moved[b].1 == moved[a].0)
        {
            used[a] = true;
            used[b] = true;
            let (s, o, pos) = moved[a];
            let _ = s;
            problems.push(Problem::Reordered {
                seq: o,
                found_at: pos,
            });
        }
    }
    let mut deleted_by_shift = 0;
    let mut a = 0;
    while a < moved.len() {
        if used[a] {
            a += 1;
            continue;
        }
        let (s0, o0, pos0) = moved[a];
        let d = o0 - s0;
        let mut b = a + 1;
        while b < moved.len()
            && !used[b]
            && moved[b].1 - moved[b].0 == d
            && moved[b].0 == moved[b - 1].0 + 1
        {
            b += 1;
        }
        let run_to_end = moved[b - 1].0 == present.iter().next_back().copied().unwrap_or(0);
        if b - a >= 2 || run_to_end {
            if d > 0 {
                // Later entries moved down by d: seqs s0..s0+d were removed.
                for k in 0..d {
                    problems.push(Problem::Deleted { seq: s0 + k });
                }
                deleted_by_shift += d;
            } else {
                for k in d..0 {
                    problems.push(Problem::Inserted { seq: s0 + k });
                }
            }
        } else {
            problems.push(Problem::Reordered {
                seq: o0,
                found_at: pos0,
            });
        }
        a = b;
    }
    (present, deleted_by_shift)
}

/// Missing seqs: in the middle they are deletions; at the end, truncation.
fn coverage(
    present: &BTreeSet<i64>,
    expected_max: i64,
    deleted_by_shift: i64,
    problems: &mut Vec<Problem>,
) {
    let max_present = present.iter().next_back().copied().unwrap_or(0);
    for s in 1..max_present {
        if !present.contains(&s) {
            problems.push(Problem::Deleted { seq: s });
        }
    }
    if expected_max > max_present + deleted_by_shift {
        problems.push(Problem::Truncated {
            expected: expected_max,
            found: present.len() as i64,
        });
    }
}

fn verified_heads<'a>(
    key: &PublicKey,
    practice: &str,
    heads: impl Iterator<Item = &'a SignedTreeHead>,
    problems: &mut Vec<Problem>,
) -> Vec<SignedTreeHead> {
    let mut by_size: BTreeMap<u64, SignedTreeHead> = BTreeMap::new();
    for h in heads {
        if h.practice_id != practice {
            continue;
        }
        if !key.verify_head(h) {
            problems.push(Problem::BadSignature {
                what: format!("the signed tree head of size {}", h.tree_size),
            });
            continue;
        }
        by_size.insert(h.tree_size, h.clone());
    }
    by_size.into_values().collect()
}

/// Verifies one practice's log in the database.
pub async fn verify_database(
    store: &dyn AuditStore,
    practice: &str,
    key: &PublicKey,
    witness_heads: &[SignedTreeHead],
) -> anyhow::Result<Report> {
    let mut rows: Vec<StoredEntry> = Vec::new();
    loop {
        let after = rows.last().map(|r| r.entry.seq).unwrap_or(0);
        let batch = store.audit_rows(practice, after, 10_000).await?;
        if batch.is_empty() {
            break;
        }
        rows.extend(batch);
    }
    let stored_heads = store.signed_heads(practice).await?;
    let counter = store.audit_counter(practice).await?;
    let mut problems = Vec::new();
    let heads = verified_heads(
        key,
        practice,
        stored_heads.iter().chain(witness_heads),
        &mut problems,
    );

    let stored: Vec<Option<Hash>> = rows.iter().map(|r| r.stored_leaf()).collect();
    let view: Vec<(i64, &Entry)> = rows.iter().map(|r| (r.entry.seq, &r.entry)).collect();
    let belongs = |i: usize, s: i64| stored[i].is_some_and(|h| rows[i].entry.leaf_hash_at(s) == h);
    let (present, shifted) = analyse(&view, &belongs, &mut problems);
    let max_present = present.iter().next_back().copied().unwrap_or(0);
    for s in present.range(counter + 1..) {
        problems.push(Problem::Inserted { seq: *s });
    }
    let head_max = heads.last().map(|h| h.tree_size as i64).unwrap_or(0);
    coverage(
        &present,
        counter.max(head_max).max(max_present),
        shifted,
        &mut problems,
    );

    // Roots over the stored leaves, in stored order, against every head.
    let (checked, verified, mismatch) = check_heads(
        &heads,
        rows.iter()
            .map(|r| r.stored_leaf().unwrap_or_else(|| r.entry.leaf_hash())),
    );
    if let Some((tree_size, last_good)) = mismatch {
        let explained = problems.iter().any(|p| match p {
            Problem::Modified { seq }
            | Problem::Deleted { seq }
            | Problem::Inserted { seq }
            | Problem::Reordered { seq, .. } => *seq as u64 <= tree_size,
            Problem::Truncated { .. } => true,
            _ => false,
        });
        if !explained {
            problems.push(Problem::HeadMismatch {
                tree_size,
                last_good,
            });
        }
    }
    Ok(Report {
        practice_id: practice.to_string(),
        entries: rows.len(),
        heads_checked: checked,
        verified_size: verified,
        problems,
    })
}

/// Pushes leaves through a frontier and compares the root at each head's
/// size. Returns (heads checked, largest matching size, first mismatch as
/// (size, last good size)).
fn check_heads(
    heads: &[SignedTreeHead],
    leaves: impl Iterator<Item = Hash>,
) -> (usize, u64, Option<(u64, u64)>) {
    let mut frontier = Frontier::new();
    let mut next = heads.iter().peekable();
    let (mut checked, mut verified, mut mismatch) = (0, 0u64, None);
    let mut check = |frontier: &Frontier, h: &SignedTreeHead, checked: &mut usize| {
        *checked += 1;
        if Some(frontier.root()) == h.root() {
            if mismatch.is_none() {
                verified = h.tree_size;
            }
        } else if mismatch.is_none() {
            mismatch = Some((h.tree_size, verified));
        }
    };
    while let Some(h) = next.peek() {
        if h.tree_size == 0 {
            check(&frontier, h, &mut checked);
            next.next();
        } else {
            break;
        }
    }
    for leaf in leaves {
        frontier.push(leaf);
        while let Some(h) = next.peek() {
            if h.tree_size == frontier.size() {
                check(&frontier, h, &mut checked);
                next.next();
            } else {
                break;
            }
        }
    }
    (checked, verified, mismatch)
}

/// Verifies an export file offline.
pub fn verify_export(bytes: &[u8], key: &PublicKey, witness_heads: &[SignedTreeHead]) -> Report {
    verify_parsed(&export::parse(bytes), key, witness_heads)
}

/// What `alcove audit verify --export FILE` checks: an incident report
/// (one JSON object carrying its audit export) as [`verify_document`],
/// anything else as an audit export (JSONL or CSV).
pub fn verify_file(bytes: &[u8], key: &PublicKey, witness_heads: &[SignedTreeHead]) -> Report {
    let document = serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("audit_export").is_some());
    if document {
        verify_document(bytes, key, witness_heads)
    } else {
        verify_export(bytes, key, witness_heads)
    }
}

/// Verifies a document that carries its own audit export (an incident
/// report: `{record, notice, audit_export, …}`): the export as
/// [`verify_export`] does, and that its own entry — the newest
/// `incident.report_exported` of the incident in the file, made at the
/// file's `generated_at` — records `record_sha256` equal to the digest of
/// `{"generated_at", "record", "notice"}` as the file holds them
/// ([`super::canonical::document_sha256`]). So an edited record, timeline
/// or assessment in the file is caught, not only an edited audit entry,
/// and so is an older export's record put in its place.
pub fn verify_document(bytes: &[u8], key: &PublicKey, witness_heads: &[SignedTreeHead]) -> Report {
    let doc: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Report {
                problems: vec![Problem::Document {
                    reason: format!("not a JSON document: {e}"),
                }],
                ..Report::default()
            }
        }
    };
    let export = doc
        .get("audit_export")
        .and_then(|e| e.as_str())
        .unwrap_or_default();
    let parsed = export::parse(export.as_bytes());
    let mut report = verify_parsed(&parsed, key, witness_heads);
    let vouched = serde_json::json!({
        "generated_at": doc.get("generated_at").cloned().unwrap_or_default(),
        "record": doc.get("record").cloned().unwrap_or_default(),
        "notice": doc.get("notice").cloned().unwrap_or_default(),
    });
    let digest = super::canonical::document_sha256(&vouched);
    // The export's own entry is the newest report export of this incident
    // in the file, made at the file's `generated_at`: an older export's
    // entry (the file carries those too) vouches only for its own file.
    let incident = doc
        .pointer("/record/incident/id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let own = parsed
        .lines
        .iter()
        .map(|(_, l)| &l.entry)
        .filter(|e| e.action == "incident.report_exported")
        .filter_map(|e| {
            let detail: serde_json::Value = serde_json::from_str(e.detail.as_deref()?).ok()?;
            (detail.get("incident_id")?.as_str()? == incident).then_some((e, detail))
        })
        .max_by_key(|(e, _)| e.seq);
    match own {
        None => report.problems.push(Problem::Document {
            reason: "no entry of its audit export records this incident's report".into(),
        }),
        Some((entry, detail)) => {
            let recorded = detail.get("record_sha256").and_then(|v| v.as_str());
            if Some(entry.at) != doc.get("generated_at").and_then(|v| v.as_i64()) {
                report.problems.push(Problem::Document {
                    reason: format!(
                        "its newest report entry (seq {}) was not made when the file says it was",
                        entry.seq
                    ),
                });
            } else if recorded != Some(digest.as_str()) {
                report.problems.push(Problem::Document {
                    reason: format!(
                        "its record and notice hash to {digest}, not to what its report entry (seq {}) \
                         recorded: the file was changed after it was made",
                        entry.seq
                    ),
                });
            }
        }
    }
    report
}

fn verify_parsed(
    parsed: &ParsedExport,
    key: &PublicKey,
    witness_heads: &[SignedTreeHead],
) -> Report {
    let mut problems = Vec::new();
    for (line, reason) in &parsed.malformed {
        problems.push(Problem::Malformed {
            line: *line,
            reason: reason.clone(),
        });
    }
    let Some(header) = &parsed.header else {
        problems.push(Problem::BadSignature {
            what: "the export (no header)".into(),
        });
        return Report {
            entries: parsed.lines.len(),
            problems,
            ..Report::default()
        };
    };
    let m = &header.manifest;
    if !export::header_signature_ok(key, header) {
        problems.push(Problem::BadSignature {
            what: "the export manifest".into(),
        });
    }
    let heads = verified_heads(key, &m.practice_id, std::iter::once(&m.head), &mut problems);
    let root = heads.first().and_then(|h| h.root());
    // The head the export was cut at extends the previous signed head.
    if let (Some(prev), Some(root)) = (&m.previous_head, root) {
        let proof = export::parse_proof(&m.consistency_proof);
        let consistent = key.verify_head(prev)
            && prev.practice_id == m.practice_id
            && prev.root().zip(proof).is_some_and(|(prev_root, proof)| {
                merkle::verify_consistency(
                    prev.tree_size,
                    m.head.tree_size,
                    &prev_root,
                    &root,
                    &proof,
                )
            });
        if !consistent {
            problems.push(Problem::HeadMismatch {
                tree_size: m.head.tree_size,
                last_good: 0,
            });
        }
    }
    let size = m.head.tree_size;
    let proofs: Vec<Option<Vec<Hash>>> = parsed
        .lines
        .iter()
        .map(|(_, l)| export::parse_proof(&l.proof))
        .collect();
    let belongs = |i: usize, s: i64| {
        let (Some(root), Some(proof)) = (root, proofs[i].as_ref()) else {
            return false;
        };
        s >= 1
            && merkle::verify_inclusion(
                (s - 1) as u64,
                size,
                &parsed.lines[i].1.entry.leaf_hash_at(s),
                proof,
                &root,
            )
    };
    // Against the signed list of seqs rather than 1..=n (exports may be
    // filtered); a line with a seq the manifest does not list was added.
    let listed: BTreeSet<i64> = m.seqs.iter().flat_map(|r| r[0]..=r[1]).collect();
    let mut found = Vec::new();
    let mut view: Vec<(i64, &Entry)> = Vec::new();
    let mut index: Vec<usize> = Vec::new();
    for (i, (n, l)) in parsed.lines.iter().enumerate() {
        if listed.contains(&l.entry.seq) {
            view.push((*n as i64, &l.entry));
            index.push(i);
        } else {
            found.push(Problem::Inserted { seq: l.entry.seq });
        }
    }
    let belongs_listed = |i: usize, s: i64| belongs(index[i], s);
    let (present, shifted) = analyse(&view, &belongs_listed, &mut found);
    let listed_max = listed.iter().next_back().copied().unwrap_or(0);
    let max_present = present.iter().next_back().copied().unwrap_or(0);
    for s in listed.difference(&present) {
        if *s < max_present
            && !found
                .iter()
                .any(|p| matches!(p, Problem::Deleted { seq } if seq == s))
        {
            found.push(Problem::Deleted { seq: *s });
        }
    }
    let tail_missing = listed.range(max_present + 1..).count() as i64;
    if tail_missing > shifted {
        found.push(Problem::Truncated {
            expected: listed.len() as i64,
            found: present.len() as i64,
        });
    }
    problems.extend(found);

    // Witness heads: a whole-log export must reproduce every earlier head.
    let whole = listed.len() as u64 == size && listed_max as u64 == size;
    let mut checked = usize::from(root.is_some());
    if whole {
        let witness = verified_heads(
            key,
            &m.practice_id,
            witness_heads.iter().filter(|h| h.tree_size <= size),
            &mut problems,
        );
        let mut by_seq: Vec<(i64, Hash)> = parsed
            .lines
            .iter()
            .map(|(_, l)| (l.entry.seq, l.entry.leaf_hash()))
            .collect();
        by_seq.sort_by_key(|(s, _)| *s);
        let (c, _, mismatch) = check_heads(&witness, by_seq.into_iter().map(|(_, h)| h));
        checked += c;
        if let Some((tree_size, last_good)) = mismatch {
            if problems.is_empty() {
                problems.push(Problem::HeadMismatch {
                    tree_size,
                    last_good,
                });
            }
        }
    }
    Report {
        practice_id: m.practice_id.clone(),
        entries: parsed.lines.len(),
        heads_checked: checked,
        verified_size: if problems.is_empty() { size } else { 0 },
        problems,
    }
}

/// Reads signed heads from a witness file (one JSON head per line).
pub fn read_heads_file(text: &str) -> anyhow::Result<Vec<SignedTreeHead>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| anyhow::anyhow!("unreadable signed head: {e}"))
        })
        .collect()
}

/// `alcove audit verify`: prints one report per practice (or for the
/// export) and fails when anything is wrong.
pub async fn run_cli(
    settings: &crate::config::Settings,
    export_file: Option<std::path::PathBuf>,
    practice: Option<String>,
    heads_file: Option<std::path::PathBuf>,
    public_key: Option<String>,
) -> anyhow::Result<()> {
    let key = match public_key {
        Some(text) => {
            let text = match std::fs::read_to_string(&text) {
                Ok(content) => content,
                Err(_) => text,
            };
            PublicKey::parse(&text).ok_or_else(|| {
                anyhow::anyhow!("--public-key is not a 32-byte Ed25519 key in hex or base64")
            })?
        }
        None => {
            let path = settings.audit_key_path();
            let bytes = std::fs::read(&path).map_err(|e| {
                anyhow::anyhow!(
                    "no --public-key given and the signing key {} cannot be read: {e}",
                    path.display()
                )
            })?;
            super::signing::AuditKey::from_pkcs8(&bytes)?.public_key()
        }
    };
    println!("audit public key {} (id {})", key.to_hex(), key.key_id());
    let heads_path = heads_file.clone().or_else(|| {
        Some(settings.audit_heads_path()).filter(|p| p.exists() && export_file.is_none())
    });
    let witness = match &heads_path {
        Some(p) => {
            let heads = read_heads_file(&std::fs::read_to_string(p)?)?;
            println!("{} witness heads from {}", heads.len(), p.display());
            heads
        }
        None => vec![],
    };
    let mut failed = false;
    if let Some(path) = export_file {
        let report = verify_file(&std::fs::read(&path)?, &key, &witness);
        print!("{report}");
        failed |= !report.ok();
    } else {
        // Opened directly: verification never writes (no leaf backfill).
        let store = crate::storage::audit_store::open(settings).await?;
        let practices = match practice {
            Some(p) => vec![p],
            None => store.audit_practices().await?,
        };
        for p in practices {
            let report = verify_database(&*store, &p, &key, &witness).await?;
            print!("{report}");
            failed |= !report.ok();
        }
        store.close().await;
    }
    if failed {
        anyhow::bail!("the audit log failed verification");
    }
    println!("audit log verified");
    Ok(())
}
