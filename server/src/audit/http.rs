//! The audit log for admins (the privacy officer): query, export, signed
//! tree head, inclusion and consistency proofs.
//!
//! Invariants: admin only (403 otherwise, and the refused attempt is itself
//! audited); scoped to the caller's practice (taken from the session); every
//! view, proof and export is appended to the log before it is answered; no
//! endpoint edits or deletes entries.

use crate::api::extract::ApiQuery;
use crate::audit::canonical::{hex, Entry};
use crate::audit::export;
use crate::audit::merkle;
use crate::audit::signing::SignedTreeHead;
use crate::audit::store::AuditFilter;
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Largest page of `GET /audit/events`.
const MAX_PAGE: i64 = 500;
/// Largest export.
const MAX_EXPORT: i64 = 200_000;

/// Filters shared by the query and the export.
#[derive(Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Acting user id.
    #[param(format = Uuid)]
    pub user: Option<String>,
    /// Acting or target device id.
    #[param(format = Uuid)]
    pub device: Option<String>,
    /// Client (target user) id: who accessed this client's records.
    #[param(format = Uuid)]
    pub client: Option<String>,
    /// Exact action, e.g. `auth.login`.
    #[param(max_length = 100)]
    pub action: Option<String>,
    /// `success` or `failure`.
    #[param(inline, value_type = Option<Outcome>)]
    pub outcome: Option<String>,
    /// From this time (Unix seconds, inclusive).
    pub from: Option<i64>,
    /// Until this time (Unix seconds, exclusive).
    pub to: Option<i64>,
    /// Query: `next_cursor` of the previous page. Export: ignored.
    pub cursor: Option<i64>,
    /// Query: page size (1-500, default 100). Export: ignored (but checked).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Export: `jsonl` (default) or `csv`. Query: ignored (but checked).
    #[param(inline, value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

/// Outcome filter (documentation type).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Outcome {
    Success,
    Failure,
}

/// Export format (documentation type).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ExportFormat {
    Jsonl,
    Csv,
}

impl Filters {
    fn to_filter(&self) -> Result<AuditFilter, AppError> {
        let id = |v: &Option<String>, what: &'static str| -> Result<Option<String>, AppError> {
            match v {
                None => Ok(None),
                Some(s) => uuid::Uuid::parse_str(s)
                    .map(|u| Some(u.hyphenated().to_string()))
                    .map_err(|_| {
                        AppError::invalid("invalid_filter", format!("{what} must be an id"))
                    }),
            }
        };
        if let Some(o) = &self.outcome {
            if o != "success" && o != "failure" {
                return Err(AppError::invalid(
                    "invalid_filter",
                    "outcome must be success or failure",
                ));
            }
        }
        if self
            .action
            .as_ref()
            .is_some_and(|a| a.chars().count() > 100)
        {
            return Err(AppError::invalid("invalid_filter", "action is too long"));
        }
        if self.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
            return Err(AppError::invalid(
                "invalid_filter",
                "limit must be 1 to 500",
            ));
        }
        if let Some(f) = &self.format {
            if f != "jsonl" && f != "csv" {
                return Err(AppError::invalid(
                    "invalid_format",
                    "format must be jsonl or csv",
                ));
            }
        }
        Ok(AuditFilter {
            user: id(&self.user, "user")?,
            device: id(&self.device, "device")?,
            client: id(&self.client, "client")?,
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            from: self.from,
            to: self.to,
            before_seq: None,
            after_seq: None,
        })
    }

    /// The filter as a canonical query string (recorded in exports).
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        add("user", self.user.clone());
        add("device", self.device.clone());
        add("client", self.client.clone());
        add("action", self.action.clone());
        add("outcome", self.outcome.clone());
        add("from", self.from.map(|v| v.to_string()));
        add("to", self.to.map(|v| v.to_string()));
        parts.join("&")
    }

    fn is_empty(&self) -> bool {
        self.describe().is_empty()
    }
}

/// The parsed query, refused (400 `invalid_query`) here rather than by the
/// extractor. (The router checked the role before anything of the request
/// was read, and recorded a refusal whatever its query.)
fn query<T>(q: Result<ApiQuery<T>, AppError>) -> Result<T, AppError> {
    q.map(|ApiQuery(v)| v)
}

/// An entry as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Its leaf hash (hex).
    pub leaf_hash: Option<String>,
}

/// One page of entries, newest first.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Entries.
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// Query the practice's audit log (newest first, cursor paging).
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(Filters),
    responses((status = 200, body = EventPage), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_filter")))]
pub async fn events(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<ApiQuery<Filters>, AppError>,
) -> ApiResult<Json<EventPage>> {
    let f = query(q)?;
    let mut filter = f.to_filter()?;
    filter.before_seq = f.cursor;
    let limit = f.limit.unwrap_or(100);
    let store = state.audit.store().await?;
    // Recorded before answering, so a view is in the log even if the
    // answer is lost.
    let event = authed
        .event(Action::AuditViewed)
        .detail(serde_json::json!({"filter": f.describe(), "cursor": f.cursor}));
    state.store.append_audit(event, state.now()).await?;
    let rows = store
        .audit_query(&authed.practice_id.to_string(), &filter, false, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    let events: Vec<EventView> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| EventView {
            leaf_hash: r.leaf_hash.as_deref().map(hex),
            entry: r.entry,
        })
        .collect();
    let next_cursor = if more {
        events.last().map(|e| e.entry.seq)
    } else {
        None
    };
    Ok(Json(EventPage {
        events,
        next_cursor,
    }))
}

/// The signed tree head and the key to check it with.
#[derive(Serialize, ToSchema)]
pub struct HeadView {
    /// Freshly signed head of the practice's log.
    pub head: SignedTreeHead,
    /// Ed25519 public key, hex. Pin it outside the server.
    pub public_key: String,
}

/// Sign and return the current tree head.
#[utoipa::path(get, path = "/api/v1/audit/head", tag = "audit",
    responses((status = 200, body = HeadView), (status = 403, body = crate::error::ErrorBody)))]
pub async fn head(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<HeadView>> {
    state
        .store
        .append_audit(authed.event(Action::AuditHeadViewed), state.now())
        .await?;
    let (head, _) = state
        .audit
        .sign_head(&authed.practice_id.to_string(), state.now())
        .await?;
    Ok(Json(HeadView {
        head,
        public_key: state.audit.key()?.public_key().to_hex(),
    }))
}

/// Parameters of the inclusion proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Entry (1 is the first; past the log's end is 404).
    #[param(minimum = 1)]
    pub seq: i64,
}

/// An inclusion proof under a fresh signed head.
#[derive(Serialize, ToSchema)]
pub struct InclusionView {
    /// The entry.
    pub entry: Entry,
    /// Its leaf hash (hex).
    pub leaf_hash: String,
    /// Leaf index (seq - 1).
    pub leaf_index: u64,
    /// Audit path (hex, bottom up), RFC 9162 §2.1.3.
    pub proof: Vec<String>,
    /// The head the proof is against.
    pub head: SignedTreeHead,
}

/// Prove that entry `seq` is in the signed log.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit", params(InclusionQuery),
    responses((status = 200, body = InclusionView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "no entry with this seq")))]
pub async fn inclusion(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<ApiQuery<InclusionQuery>, AppError>,
) -> ApiResult<Json<InclusionView>> {
    let q = query(q)?;
    let practice = authed.practice_id.to_string();
    let event = authed
        .event(Action::AuditProofViewed)
        .detail(serde_json::json!({"kind": "inclusion", "seq": q.seq}));
    state.store.append_audit(event, state.now()).await?;
    let (head, tree) = state.audit.sign_head(&practice, state.now()).await?;
    if q.seq < 1 || q.seq as usize > tree.size() {
        return Err(AppError::not_found("audit entry"));
    }
    let store = state.audit.store().await?;
    let row = store
        .audit_rows(&practice, q.seq - 1, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("audit entry"))?;
    let index = (q.seq - 1) as usize;
    Ok(Json(InclusionView {
        entry: row.entry,
        leaf_hash: hex(&tree.leaves()[index]),
        leaf_index: index as u64,
        proof: tree.inclusion_proof(index).iter().map(|h| hex(h)).collect(),
        head,
    }))
}

/// The most entries one batch of inclusion proofs covers.
pub const MAX_PROOFS: usize = 500;

/// Parameters of a batch of inclusion proofs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionsQuery {
    /// Entries, comma-separated (`3,9,12`): at most 500, each 1 or more.
    pub seqs: String,
}

/// Parses `seqs` at the edge: numbers, at least one, at most
/// [`MAX_PROOFS`] once duplicates are dropped, in ascending order.
fn parse_seqs(raw: &str) -> Result<Vec<i64>, AppError> {
    let bad = || {
        AppError::bad_request(
            "invalid_query",
            "the query parameter seqs is malformed: 1 to 500 entry numbers, comma-separated",
        )
    };
    let mut seqs = raw
        .split(',')
        .map(|s| s.trim().parse::<i64>().ok().filter(|n| *n >= 1))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(bad)?;
    seqs.sort_unstable();
    seqs.dedup();
    if seqs.is_empty() || seqs.len() > MAX_PROOFS {
        return Err(bad());
    }
    Ok(seqs)
}

/// One entry's proof in a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchedInclusion {
    /// The entry.
    pub entry: Entry,
    /// Its leaf hash (hex).
    pub leaf_hash: String,
    /// Leaf index (seq - 1).
    pub leaf_index: u64,
    /// Audit path (hex, bottom up), RFC 9162 §2.1.3.
    pub proof: Vec<String>,
}

/// Inclusion proofs of several entries under one fresh signed head.
#[derive(Serialize, ToSchema)]
pub struct InclusionsView {
    /// The head every proof is against.
    pub head: SignedTreeHead,
    /// One proof per entry asked for, in ascending order of seq.
    pub proofs: Vec<BatchedInclusion>,
}

/// Prove that several entries are in the signed log, under one head: what
/// a worksheet's sources need (one request, one head signed, one audit
/// record) instead of one proof per entry.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusions", tag = "audit", params(InclusionsQuery),
    responses((status = 200, body = InclusionsView), (status = 403, body = crate::error::ErrorBody),
        (status = 400, body = crate::error::ErrorBody, description = "invalid_query: seqs malformed, none, or more than 500"),
        (status = 404, body = crate::error::ErrorBody, description = "an entry past the log's end")))]
pub async fn inclusions(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<ApiQuery<InclusionsQuery>, AppError>,
) -> ApiResult<Json<InclusionsView>> {
    let seqs = parse_seqs(&query(q)?.seqs)?;
    let practice = authed.practice_id.to_string();
    let event = authed
        .event(Action::AuditProofViewed)
        .detail(serde_json::json!({
            "kind": "inclusions",
            "count": seqs.len(),
            "first": seqs.first(),
            "last": seqs.last(),
        }));
    state.store.append_audit(event, state.now()).await?;
    let (head, tree) = state.audit.sign_head(&practice, state.now()).await?;
    if seqs.last().is_some_and(|last| *last as usize > tree.size()) {
        return Err(AppError::not_found("audit entry"));
    }
    let store = state.audit.store().await?;
    let mut proofs = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let row = store
            .audit_rows(&practice, seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::not_found("audit entry"))?;
        let index = (seq - 1) as usize;
        proofs.push(BatchedInclusion {
            entry: row.entry,
            leaf_hash: hex(&tree.leaves()[index]),
            leaf_index: index as u64,
            proof: tree.inclusion_proof(index).iter().map(|h| hex(h)).collect(),
        });
    }
    Ok(Json(InclusionsView { head, proofs }))
}

/// Parameters of the consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Size of the earlier tree (e.g. a head a witness holds).
    pub first: u64,
}

/// A consistency proof from an earlier size to a fresh signed head.
#[derive(Serialize, ToSchema)]
pub struct ConsistencyView {
    /// Earlier size.
    pub first: u64,
    /// Root of the earlier tree (hex), for comparison with the held head.
    pub first_root: String,
    /// Proof (hex), RFC 9162 §2.1.4.
    pub proof: Vec<String>,
    /// The current signed head.
    pub head: SignedTreeHead,
}

/// Prove that the log at size `first` is a prefix of the current log.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "first is past the log's size")))]
pub async fn consistency(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<ApiQuery<ConsistencyQuery>, AppError>,
) -> ApiResult<Json<ConsistencyView>> {
    let q = query(q)?;
    let event = authed
        .event(Action::AuditProofViewed)
        .detail(serde_json::json!({"kind": "consistency", "first": q.first}));
    state.store.append_audit(event, state.now()).await?;
    let (head, tree) = state
        .audit
        .sign_head(&authed.practice_id.to_string(), state.now())
        .await?;
    let first = q.first as usize;
    if first > tree.size() {
        return Err(AppError::not_found("tree size"));
    }
    let leaves = tree.leaves();
    Ok(Json(ConsistencyView {
        first: q.first,
        first_root: hex(&merkle::root(&leaves[..first])),
        proof: merkle::consistency_proof(first, leaves)
            .iter()
            .map(|h| hex(h))
            .collect(),
        head,
    }))
}

/// Export the (filtered) log as JSONL or CSV that verifies on its own.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(Filters),
    responses((status = 200, description = "JSONL (application/x-ndjson, the default) or CSV (text/csv)",
                content((String = "application/x-ndjson"), (String = "text/csv"))),
              (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody, description = "invalid_filter, invalid_format, or too_large: narrow the filter")))]
pub async fn export(
    State(state): State<AppState>,
    authed: Authed,
    q: Result<ApiQuery<Filters>, AppError>,
) -> ApiResult<Response> {
    let f = query(q)?;
    // `to_filter` refuses any format but `jsonl` and `csv`.
    let mut filter = f.to_filter()?;
    let csv = f.format.as_deref() == Some("csv");
    let practice = authed.practice_id.to_string();
    let event = authed.event(Action::AuditExported).detail(
        serde_json::json!({"filter": f.describe(), "format": if csv { "csv" } else { "jsonl" }}),
    );
    state.store.append_audit(event, state.now()).await?;
    let now = state.now();
    let store = state.audit.store().await?;
    let key = state.audit.key()?;
    let heads = store.signed_heads(&practice).await?;
    let (head, tree) = state.audit.sign_head(&practice, now).await?;

    // Entries up to the head, oldest first.
    let mut rows = Vec::new();
    filter.after_seq = Some(0);
    loop {
        let batch = store.audit_query(&practice, &filter, true, 5000).await?;
        let Some(last) = batch.last() else { break };
        filter.after_seq = Some(last.entry.seq);
        rows.extend(
            batch
                .into_iter()
                .filter(|r| r.entry.seq as usize <= tree.size()),
        );
        if rows.len() as i64 > MAX_EXPORT {
            return Err(AppError::invalid(
                "too_large",
                "narrow the filter: the export would exceed 200000 entries",
            ));
        }
        if filter.after_seq.unwrap_or(0) as usize >= tree.size() {
            break;
        }
    }
    let filter = if f.is_empty() {
        String::new()
    } else {
        f.describe()
    };
    let entries = rows.into_iter().map(|r| r.entry).collect();
    let (header, lines) = export::build(
        &key,
        &practice,
        now,
        filter,
        export::Cut {
            head,
            tree: &tree,
            earlier: heads,
        },
        entries,
    );
    let (body, content_type, ext) = if csv {
        (
            export::to_csv(&header, &lines),
            "text/csv; charset=utf-8",
            "csv",
        )
    } else {
        (
            export::to_jsonl(&header, &lines),
            "application/x-ndjson",
            "jsonl",
        )
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"alcove-audit-{now}.{ext}\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_seqs_is_parsed_sorted_once_each_and_bounded() {
        assert_eq!(parse_seqs("9, 3,9,1").unwrap(), [1, 3, 9]);
        for bad in ["", "1,,2", "0", "-4", "x", "1.5"] {
            assert!(parse_seqs(bad).is_err(), "{bad:?}");
        }
        let most: Vec<String> = (1..=MAX_PROOFS).map(|n| n.to_string()).collect();
        assert_eq!(parse_seqs(&most.join(",")).unwrap().len(), MAX_PROOFS);
        let over = format!("{},{}", most.join(","), MAX_PROOFS + 1);
        assert!(parse_seqs(&over).is_err());
        let repeated = vec!["7"; MAX_PROOFS * 2].join(",");
        assert_eq!(parse_seqs(&repeated).unwrap(), [7], "duplicates drop first");
    }
}
