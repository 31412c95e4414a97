//! Self-verifying exports (JSONL and CSV).
//!
//! Both formats carry, first, a header with a manifest signed by the audit
//! key: the practice, the filter, the signed tree head the export was cut
//! at, the seqs it contains (as ranges), and a consistency proof from the
//! previous signed head. Every entry then carries its leaf hash and its
//! inclusion proof under that head. So an export verifies alone, filtered
//! or not: every entry is proven part of the signed log, and a removed,
//! added or reordered line is named against the signed list of seqs.

// This module reads files someone handed us: no index or slice that could
// panic on what they hold.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::canonical::{hex, parse_hash, Entry, Hash};
use super::signing::{AuditKey, PublicKey, SignedTreeHead};
use serde::{Deserialize, Serialize};

/// Export format version.
pub const FORMAT_VERSION: u32 = 1;
/// First field of a CSV export's first record.
pub const CSV_MAGIC: &str = "alcove-audit-export-v1";

/// What the export claims, signed by the audit key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    /// Format version (1).
    pub format_version: u32,
    /// Practice.
    pub practice_id: String,
    /// When the export was made.
    pub generated_at: i64,
    /// The filter, as a query string (empty: the whole log).
    pub filter: String,
    /// Public key (hex) — verify against the key you pinned, not this.
    pub public_key: String,
    /// The signed tree head every inclusion proof is against.
    pub head: SignedTreeHead,
    /// Seqs in the export, as inclusive ranges `[first, last]`.
    pub seqs: Vec<[i64; 2]>,
    /// The previous signed head, and the consistency proof from it to `head`.
    pub previous_head: Option<SignedTreeHead>,
    /// Consistency proof (hex hashes) from `previous_head` to `head`.
    pub consistency_proof: Vec<String>,
}

/// The first JSONL line / the CSV header record's JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always `FORMAT_VERSION`.
    pub alcove_audit_export: u32,
    /// The signed manifest.
    pub manifest: Manifest,
    /// Ed25519 signature (base64) over the manifest's JSON bytes.
    pub signature: String,
}

/// One exported entry.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportLine {
    /// The hashed fields.
    #[serde(flatten)]
    pub entry: Entry,
    /// Its leaf hash (hex).
    pub leaf_hash: String,
    /// Inclusion proof under the manifest's head (hex hashes, bottom up).
    pub proof: Vec<String>,
}

/// A parsed export.
#[derive(Clone, Debug)]
pub struct ParsedExport {
    /// Header (None when missing or unreadable).
    pub header: Option<Header>,
    /// Entries in file order, with their 1-based line (record) number.
    pub lines: Vec<(usize, ExportLine)>,
    /// Lines that could not be read.
    pub malformed: Vec<(usize, String)>,
}

/// Compresses ascending seqs into inclusive ranges.
pub fn ranges(seqs: &[i64]) -> Vec<[i64; 2]> {
    let mut out: Vec<[i64; 2]> = Vec::new();
    for &s in seqs {
        match out.last_mut() {
            Some(r) if r[1] + 1 == s => r[1] = s,
            _ => out.push([s, s]),
        }
    }
    out
}

/// Builds the signed header.
pub fn header(key: &AuditKey, manifest: Manifest) -> Header {
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let signature = key.sign_manifest(&bytes);
    Header {
        alcove_audit_export: FORMAT_VERSION,
        manifest,
        signature,
    }
}

/// Checks the header's signature.
pub fn header_signature_ok(key: &PublicKey, header: &Header) -> bool {
    let bytes = serde_json::to_vec(&header.manifest).unwrap_or_default();
    key.verify_manifest(&bytes, &header.signature)
}

/// An export line for an entry at leaf index seq-1 with its proof.
pub fn line(entry: Entry, leaf: &Hash, proof: &[Hash]) -> ExportLine {
    ExportLine {
        entry,
        leaf_hash: hex(leaf),
        proof: proof.iter().map(|h| hex(h)).collect(),
    }
}

/// Where an export is cut: the fresh signed head, the tree it signs, and
/// the heads signed before (the newest one smaller gets a consistency
/// proof).
pub struct Cut<'a> {
    /// The head every inclusion proof is against.
    pub head: SignedTreeHead,
    /// The log's tree at that head.
    pub tree: &'a super::merkle::Tree,
    /// Heads signed earlier.
    pub earlier: Vec<SignedTreeHead>,
}

/// An export of `entries` (ascending, all within `tree`) cut at `head`:
/// the signed header (with the consistency proof from the newest earlier
/// head in `heads`) and one line per entry with its inclusion proof. Used
/// by the audit export and by incident reports alike, so both verify with
/// `alcove audit verify --export`.
pub fn build(
    key: &AuditKey,
    practice: &str,
    generated_at: i64,
    filter: String,
    cut: Cut<'_>,
    entries: Vec<Entry>,
) -> (Header, Vec<ExportLine>) {
    let Cut {
        head,
        tree,
        earlier,
    } = cut;
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    let previous = earlier
        .into_iter()
        .filter(|h| (h.tree_size as usize) < tree.size())
        .max_by_key(|h| h.tree_size);
    let consistency = previous
        .as_ref()
        .map(|p| {
            super::merkle::consistency_proof(p.tree_size as usize, tree.leaves())
                .iter()
                .map(|h| hex(h))
                .collect()
        })
        .unwrap_or_default();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        practice_id: practice.to_owned(),
        generated_at,
        filter,
        public_key: key.public_key().to_hex(),
        head,
        seqs: ranges(&seqs),
        previous_head: previous,
        consistency_proof: consistency,
    };
    let header = header(key, manifest);
    let lines = entries
        .into_iter()
        .filter_map(|entry| {
            let i = usize::try_from(entry.seq.checked_sub(1)?).ok()?;
            let leaf = *tree.leaves().get(i)?;
            Some(line(entry, &leaf, &tree.inclusion_proof(i)))
        })
        .collect();
    (header, lines)
}

/// JSONL: the header line, then one line per entry.
pub fn to_jsonl(header: &Header, lines: &[ExportLine]) -> String {
    let mut out = serde_json::to_string(header).unwrap_or_default();
    out.push('\n');
    for l in lines {
        out.push_str(&serde_json::to_string(l).unwrap_or_default());
        out.push('\n');
    }
    out
}

const CSV_COLUMNS: [&str; 15] = [
    "seq",
    "at",
    "practice_id",
    "actor_user_id",
    "actor_device_id",
    "action",
    "target_user_id",
    "target_device_id",
    "target_conversation_id",
    "outcome",
    "request_id",
    "ip",
    "detail",
    "leaf_hash",
    "proof",
];

fn csv_field(out: &mut String, value: Option<&str>) {
    // NULL is an empty unquoted field; every value is quoted, so an empty
    // string ("") stays distinct from NULL.
    if let Some(v) = value {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

fn csv_record(out: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, *f);
    }
    out.push_str("\r\n");
}

/// CSV (RFC 4180): a record `alcove-audit-export-v1,<header JSON>`, the
/// column names, then one record per entry (proof hashes space-separated).
pub fn to_csv(header: &Header, lines: &[ExportLine]) -> String {
    let mut out = String::new();
    let h = serde_json::to_string(header).unwrap_or_default();
    csv_record(&mut out, &[Some(CSV_MAGIC), Some(&h)]);
    let names: Vec<Option<&str>> = CSV_COLUMNS.iter().map(|c| Some(*c)).collect();
    csv_record(&mut out, &names);
    for l in lines {
        let e = &l.entry;
        let (seq, at, proof) = (e.seq.to_string(), e.at.to_string(), l.proof.join(" "));
        csv_record(
            &mut out,
            &[
                Some(&seq),
                Some(&at),
                Some(&e.practice_id),
                e.actor_user_id.as_deref(),
                e.actor_device_id.as_deref(),
                Some(&e.action),
                e.target_user_id.as_deref(),
                e.target_device_id.as_deref(),
                e.target_conversation_id.as_deref(),
                Some(&e.outcome),
                e.request_id.as_deref(),
                e.ip.as_deref(),
                e.detail.as_deref(),
                Some(&l.leaf_hash),
                Some(&proof),
            ],
        );
    }
    out
}

/// Parses CSV records (fields are None when empty and unquoted).
fn parse_csv(text: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut records = Vec::new();
    let mut record: Vec<Option<String>> = Vec::new();
    let mut chars = text.chars().peekable();
    let mut field = String::new();
    let mut quoted = false;
    let mut any = false;
    loop {
        let Some(c) = chars.next() else {
            if any || !record.is_empty() {
                record.push(if quoted { Some(field) } else { None });
                records.push(record);
            }
            return Ok(records);
        };
        match c {
            '"' if !any => {
                quoted = true;
                any = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted field".into()),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => field.push(ch),
                    }
                }
            }
            ',' => {
                record.push(if quoted {
                    Some(std::mem::take(&mut field))
                } else {
                    None
                });
                quoted = false;
                any = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(if quoted {
                    Some(std::mem::take(&mut field))
                } else {
                    None
                });
                records.push(std::mem::take(&mut record));
                quoted = false;
                any = false;
            }
            _ => return Err("unquoted value".into()),
        }
    }
}

/// Parses a JSONL or CSV export (detected from its first bytes).
pub fn parse(bytes: &[u8]) -> ParsedExport {
    let text = String::from_utf8_lossy(bytes);
    if text.starts_with('"') {
        parse_csv_export(&text)
    } else {
        parse_jsonl(&text)
    }
}

fn parse_jsonl(text: &str) -> ParsedExport {
    let mut out = ParsedExport {
        header: None,
        lines: vec![],
        malformed: vec![],
    };
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if n == 1 {
            match serde_json::from_str::<Header>(raw) {
                Ok(h) => out.header = Some(h),
                Err(_) => out
                    .malformed
                    .push((n, "the header line is unreadable".into())),
            }
            continue;
        }
        match serde_json::from_str::<ExportLine>(raw) {
            Ok(l) => out.lines.push((n, l)),
            Err(_) => out
                .malformed
                .push((n, "the line is not a complete entry".into())),
        }
    }
    out
}

fn parse_csv_export(text: &str) -> ParsedExport {
    let mut out = ParsedExport {
        header: None,
        lines: vec![],
        malformed: vec![],
    };
    let records = match parse_csv(text) {
        Ok(r) => r,
        Err(e) => {
            out.malformed
                .push((0, format!("the CSV cannot be read: {e}")));
            return out;
        }
    };
    for (i, rec) in records.into_iter().enumerate() {
        let n = i + 1;
        match n {
            1 => {
                let h = rec
                    .get(1)
                    .cloned()
                    .flatten()
                    .and_then(|j| serde_json::from_str::<Header>(&j).ok());
                match (
                    rec.first().cloned().flatten().as_deref() == Some(CSV_MAGIC),
                    h,
                ) {
                    (true, Some(h)) => out.header = Some(h),
                    _ => out
                        .malformed
                        .push((n, "the header record is unreadable".into())),
                }
            }
            2 => {}
            _ => {
                if rec.len() != CSV_COLUMNS.len() {
                    out.malformed
                        .push((n, "the record does not have 15 fields".into()));
                    continue;
                }
                let f = |k: usize| rec.get(k).cloned().flatten();
                let (Some(seq), Some(at)) = (
                    f(0).and_then(|s| s.parse().ok()),
                    f(1).and_then(|s| s.parse().ok()),
                ) else {
                    out.malformed
                        .push((n, "seq or time is not a number".into()));
                    continue;
                };
                let entry = Entry {
                    seq,
                    at,
                    practice_id: f(2).unwrap_or_default(),
                    actor_user_id: f(3),
                    actor_device_id: f(4),
                    action: f(5).unwrap_or_default(),
                    target_user_id: f(6),
                    target_device_id: f(7),
                    target_conversation_id: f(8),
                    outcome: f(9).unwrap_or_default(),
                    request_id: f(10),
                    ip: f(11),
                    detail: f(12),
                };
                let proof = f(14)
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                out.lines.push((
                    n,
                    ExportLine {
                        entry,
                        leaf_hash: f(13).unwrap_or_default(),
                        proof,
                    },
                ));
            }
        }
    }
    out
}

/// Parses a proof's hex hashes.
pub fn parse_proof(proof: &[String]) -> Option<Vec<Hash>> {
    proof.iter().map(|h| parse_hash(h)).collect()
}
