//! The incidents slice's operations over the store: reporting, reading and
//! deciding incidents, and the practice's webhook endpoints. Who may do
//! what is checked here; what a change means is `rules`.
//!
//! Anyone on staff reports (they do not decide alone whether something is
//! reportable: they report it); the practice's admins — its privacy
//! officers — read, assess and decide, and configure webhooks. A client's
//! "I lost this device" is a revocation that the watcher turns into an
//! incident (`jobs/watch.rs`).

use super::error::IncidentError;
use super::rules::account::{self, AccountEvidence};
use super::rules::assessment::{self, AssessmentError, FactorView, Statements};
use super::rules::deadlines::{self, Delay};
use super::rules::evidence::{residence, summarize, DeviceEvidence, Residence};
use super::rules::exception::{self, ClauseView, Exception, ExceptionError};
use super::rules::notice::Language;
use super::rules::status::{self, Decision, Kind, Status};
use super::rules::webhook;
use super::store::{
    AssessmentRow, AssessmentWrite, DeliveryView, EndpointView, IncidentChange, IncidentRow,
    NewEndpoint, NewIncident, Subject, TimelineEntry,
};
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::auth::step_up::FreshSecondFactor;
use crate::ids::{DeviceId, IncidentId, UserId, WebhookEndpointId};
use crate::sealing::Purpose;
use crate::state::AppState;
use crate::storage::{Role, StoreError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type Result<T> = std::result::Result<T, IncidentError>;

/// Longest note kept on the timeline.
const MAX_NOTE: usize = 4_000;
/// Endpoints a practice may configure.
pub const MAX_ENDPOINTS: i64 = 10;
/// One test delivery per endpoint this often (seconds): a button pressed
/// again, or by a script, does not flood the practice's receiver.
pub const TEST_EVERY_SECS: i64 = 10;

fn admin_only(authed: &Authed, what: &'static str) -> Result<()> {
    if authed.role == Role::Admin {
        Ok(())
    } else {
        Err(IncidentError::Forbidden(what))
    }
}

fn note(text: Option<String>) -> Result<Option<String>> {
    let Some(t) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.len() > MAX_NOTE {
        return Err(IncidentError::Invalid("note: at most 4,000 bytes"));
    }
    Ok(Some(t))
}

/// A report, by any staff member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// What happened.
    pub kind: Kind,
    /// When it was discovered (Unix seconds; default now).
    #[serde(default)]
    pub discovered_at: Option<i64>,
    /// The person concerned (a client a message went to by mistake, an
    /// account that may be compromised).
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// The device concerned.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// What happened, in the reporter's words (kept in the practice's
    /// record; never sent out of it).
    #[serde(default)]
    pub note: Option<String>,
}

/// An incident as the privacy officer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    /// Id.
    pub id: IncidentId,
    /// What happened.
    pub kind: Kind,
    /// Where it stands.
    pub status: Status,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// For the decision "exception": its clause of 164.402(1), the facts
    /// affirmed and the particulars.
    pub exception: Option<Exception>,
    /// When it was discovered (Unix seconds).
    pub discovered_at: i64,
    /// Who reported it (none: a detector).
    pub reported_by: Option<UserId>,
    /// Whether a detector opened it.
    pub detected: bool,
    /// Affected individuals.
    pub affected_count: i64,
    /// The largest number of affected residents of one state.
    pub max_state_residents: i64,
    /// A law-enforcement delay's last day (Unix seconds).
    pub delayed_until: Option<i64>,
    /// The notice deadlines should it be (or as it is) a breach.
    pub deadlines: DeadlinesView,
    /// Opened.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// Deadlines as dates and days left.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlinesView {
    /// Individuals (164.404), `YYYY-MM-DD`.
    pub individuals: String,
    /// HHS (164.408), `YYYY-MM-DD`.
    pub hhs: String,
    /// HHS is told with the individuals (500 or more affected).
    pub hhs_with_individuals: bool,
    /// Media (164.406), when more than 500 residents of one state.
    pub media: Option<String>,
    /// Days until the individuals' deadline (negative once passed).
    pub days_left: i64,
}

/// One incident with its subjects and timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    /// The incident.
    pub incident: IncidentView,
    /// Who and what it concerns.
    pub subjects: Vec<Subject>,
    /// What happened to it, in order.
    pub timeline: Vec<TimelineEntry>,
    /// For each device subject: what the server's records say it held,
    /// who is affected, and the safe harbor's facts.
    pub evidence: Vec<DeviceEvidence>,
    /// For each account subject (one named without a device): whose
    /// records it reached in the window searched, its sign-ins, and whether
    /// it has been secured since.
    pub accounts: Vec<AccountEvidence>,
    /// Where the affected individuals live (per recorded state of
    /// residence): the media rule's count.
    pub residence: Residence,
    /// The four-factor risk assessment (164.402(2)).
    pub assessment: AssessmentView,
    /// The exceptions of 164.402(1) a decision may name, each with the
    /// facts it requires.
    pub exception_choices: Vec<ClauseView>,
}

/// The four-factor worksheet as it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentView {
    /// The four factors: what the records say, the statement as written,
    /// and the audit entries it rests on.
    pub factors: Vec<FactorView>,
    /// The saved version (0: nothing saved; the prefill stands). A save or
    /// a sign-off names the version it read.
    pub version: i64,
    /// Last saved by.
    pub updated_by: Option<UserId>,
    /// Last saved (Unix seconds).
    pub updated_at: Option<i64>,
    /// Signed off by (the privacy officer, with a fresh second factor).
    pub signed_off_by: Option<UserId>,
    /// Signed off (Unix seconds); after it nothing changes.
    pub signed_off_at: Option<i64>,
}

/// A save of the worksheet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAssessment {
    /// The version read (0 when nothing was saved yet).
    pub expected_version: i64,
    /// The four statements.
    pub statements: Statements,
}

/// The sign-off: the version read, and the current code of the signer's
/// authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    /// The version read (0 when nothing was saved: the prefill is signed).
    pub expected_version: i64,
    /// The current TOTP code (used once).
    #[schema(value_type = String)]
    pub totp_code: secrecy::SecretString,
}

impl std::fmt::Debug for SignOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOff")
            .field("expected_version", &self.expected_version)
            .finish_non_exhaustive()
    }
}

fn view(state: &AppState, r: IncidentRow) -> Result<IncidentView> {
    let kind = Kind::from_code(&r.kind).ok_or(IncidentError::Invalid("stored kind"))?;
    let status = Status::from_code(&r.status).ok_or(IncidentError::Invalid("stored status"))?;
    let decision = r.decision.as_deref().and_then(Decision::from_code);
    let d = deadlines::of(
        r.discovered_at,
        r.affected_count,
        r.max_state_residents,
        r.delayed_until,
    );
    let today = deadlines::day_of(state.now());
    let exception = r
        .exception
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| IncidentError::Internal(anyhow::anyhow!("stored exception: {e}")))?;
    Ok(IncidentView {
        id: r.id,
        kind,
        status,
        decision,
        exception,
        discovered_at: r.discovered_at,
        reported_by: r.reported_by,
        detected: r.cause.is_some(),
        affected_count: r.affected_count,
        max_state_residents: r.max_state_residents,
        delayed_until: r.delayed_until,
        deadlines: DeadlinesView {
            days_left: deadlines::days_left(today, d.individuals),
            individuals: d.individuals.to_string(),
            hhs: d.hhs.to_string(),
            hhs_with_individuals: d.hhs_with_individuals,
            media: d.media.map(|m| m.to_string()),
        },
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// The audit detail of an incident event: ids, codes and counts only (it
/// is also what a webhook may say of it).
pub fn event_detail(r: &IncidentRow) -> serde_json::Value {
    serde_json::json!({
        "incident_id": r.id,
        "kind": r.kind,
        "status": r.status,
        "decision": r.decision,
        // The clause only: the particulars are staff's words.
        "exception": r
            .exception
            .as_deref()
            .and_then(|e| serde_json::from_str::<Exception>(e).ok())
            .map(|e| e.clause.code()),
        "affected_count": r.affected_count,
    })
}

/// Reports an incident (staff).
pub async fn report(state: &AppState, authed: &Authed, req: Report) -> Result<IncidentView> {
    if authed.role == Role::Client {
        return Err(IncidentError::Forbidden(
            "clients report a lost device from their devices page",
        ));
    }
    let now = state.now();
    let discovered_at = req.discovered_at.unwrap_or(now);
    if discovered_at > now || discovered_at < now - 6 * 366 * 86_400 {
        return Err(IncidentError::Invalid(
            "discovered_at: not in the future, not over six years ago",
        ));
    }
    let mut subjects = Vec::new();
    if let Some(user) = req.user_id {
        match state.store.user(authed.practice_id, user).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(IncidentError::NotFound("user")),
            Err(e) => return Err(e.into()),
        }
        subjects.push(Subject {
            user_id: Some(user),
            device_id: None,
        });
    }
    if let Some(device) = req.device_id {
        let owner = match state.store.device_owner(authed.practice_id, device).await {
            Ok(d) => d,
            Err(StoreError::NotFound) => return Err(IncidentError::NotFound("device")),
            Err(e) => return Err(e.into()),
        };
        subjects.push(Subject {
            user_id: Some(owner.user_id),
            device_id: Some(device),
        });
    }
    let new = NewIncident {
        id: IncidentId::new(),
        practice_id: authed.practice_id,
        kind: req.kind.code(),
        discovered_at,
        reported_by: Some(authed.user_id),
        cause: None,
        subjects,
        entry: format!("reported: {}", req.kind.code().replace('_', " ")),
        note: note(req.note)?,
    };
    let row = IncidentRow {
        id: new.id,
        practice_id: new.practice_id,
        kind: new.kind.to_owned(),
        status: Status::Open.code().to_owned(),
        decision: None,
        discovered_at,
        reported_by: new.reported_by,
        cause: None,
        affected_count: 0,
        max_state_residents: 0,
        delayed_until: None,
        created_at: now,
        updated_at: now,
        exception: None,
        account_since: None,
    };
    let event = authed
        .event(Action::IncidentOpened)
        .detail(event_detail(&row));
    state.store.open_incident(&new, event, now).await?;
    view(state, row)
}

/// The practice's incidents (admins).
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<IncidentView>> {
    admin_only(authed, "incidents are for the practice's admins")?;
    state
        .store
        .list_incidents(authed.practice_id, 500)
        .await?
        .into_iter()
        .map(|r| view(state, r))
        .collect()
}

/// One incident (admins).
pub async fn get(state: &AppState, authed: &Authed, id: IncidentId) -> Result<IncidentDetail> {
    admin_only(authed, "incidents are for the practice's admins")?;
    let (row, subjects, timeline) = state.store.incident(authed.practice_id, id).await?;
    let evidence = evidence_of(state, authed, &row, &subjects).await?;
    let saved = state.store.assessment(authed.practice_id, id).await?;
    let kind = Kind::from_code(&row.kind).ok_or(IncidentError::Invalid("stored kind"))?;
    let assessment = assessment_view(kind, &evidence, saved)?;
    let affected: Vec<String> = evidence.affected().map(str::to_owned).collect();
    let recorded = state
        .store
        .residences(authed.practice_id, &affected)
        .await?;
    Ok(IncidentDetail {
        incident: view(state, row)?,
        subjects,
        timeline,
        residence: residence(evidence.affected(), &recorded),
        evidence: evidence.devices,
        accounts: evidence.accounts,
        assessment,
        exception_choices: exception::choices(),
    })
}

/// What the server's records give for an incident's subjects.
struct Evidence {
    /// Each device subject's.
    devices: Vec<DeviceEvidence>,
    /// Each account subject's (a person named without a device).
    accounts: Vec<AccountEvidence>,
}

impl Evidence {
    /// Every affected individual, repeats included.
    fn affected(&self) -> impl Iterator<Item = &str> {
        self.devices
            .iter()
            .flat_map(|e| e.affected_clients.iter())
            .chain(self.accounts.iter().flat_map(|a| a.affected_clients.iter()))
            .map(String::as_str)
    }
}

async fn evidence_of(
    state: &AppState,
    authed: &Authed,
    row: &IncidentRow,
    subjects: &[Subject],
) -> Result<Evidence> {
    let mut devices = Vec::new();
    for device in subjects.iter().filter_map(|s| s.device_id) {
        match state.store.device_facts(authed.practice_id, device).await {
            Ok(facts) => devices.push(summarize(&facts)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // An account is searched from when the privacy officer judges it may
    // first have been misused (by default the look-back before discovery)
    // to now.
    let lookback = state.settings.incidents.account_lookback_days.max(0) * 86_400;
    let from = row
        .account_since
        .unwrap_or_else(|| row.discovered_at.saturating_sub(lookback));
    let window = (from, state.now());
    let mut users: Vec<UserId> = subjects
        .iter()
        .filter(|s| s.device_id.is_none())
        .filter_map(|s| s.user_id)
        .collect();
    users.sort_unstable_by_key(|u| u.to_string());
    users.dedup();
    let mut accounts = Vec::new();
    for user in users {
        match state
            .store
            .account_facts(authed.practice_id, user, window, row.discovered_at)
            .await
        {
            Ok(facts) => accounts.push(account::summarize(&facts)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Evidence { devices, accounts })
}

fn saved_statements(row: &AssessmentRow) -> Result<Statements> {
    serde_json::from_str(&row.statements)
        .map_err(|e| IncidentError::Internal(anyhow::anyhow!("stored assessment: {e}")))
}

fn assessment_view(
    kind: Kind,
    evidence: &Evidence,
    saved: Option<AssessmentRow>,
) -> Result<AssessmentView> {
    let statements = saved.as_ref().map(saved_statements).transpose()?;
    let prefill = assessment::prefill(kind, &evidence.devices, &evidence.accounts);
    let factors = assessment::with_saved(prefill, statements.as_ref());
    Ok(AssessmentView {
        factors,
        version: saved.as_ref().map_or(0, |r| r.version),
        updated_by: saved.as_ref().map(|r| r.updated_by),
        updated_at: saved.as_ref().map(|r| r.updated_at),
        signed_off_by: saved.as_ref().and_then(|r| r.signed_off_by),
        signed_off_at: saved.as_ref().and_then(|r| r.signed_off_at),
    })
}

/// Saves the worksheet's statements (admins), over the version read.
pub async fn save_assessment(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    req: SaveAssessment,
) -> Result<AssessmentView> {
    admin_only(authed, "incidents are assessed by the practice's admins")?;
    let (row, subjects, _) = state.store.incident(authed.practice_id, id).await?;
    let saved = state.store.assessment(authed.practice_id, id).await?;
    let signed = saved.as_ref().is_some_and(|r| r.signed_off_at.is_some());
    assessment::check(&req.statements, signed)?;
    if saved.as_ref().map_or(0, |r| r.version) != req.expected_version {
        return Err(IncidentError::Changed);
    }
    let write = AssessmentWrite {
        expected_version: req.expected_version,
        statements: serde_json::to_string(&req.statements)
            .map_err(|e| IncidentError::Internal(e.into()))?,
        actor: authed.user_id,
        sign_off: false,
        entry: "assessment saved".to_owned(),
    };
    let event = authed
        .event(Action::IncidentAssessed)
        .detail(serde_json::json!({"incident_id": id, "version": req.expected_version + 1}));
    if !state
        .store
        .write_assessment(authed.practice_id, id, &write, event, state.now())
        .await?
    {
        return Err(IncidentError::Changed);
    }
    let kind = Kind::from_code(&row.kind).ok_or(IncidentError::Invalid("stored kind"))?;
    let evidence = evidence_of(state, authed, &row, &subjects).await?;
    assessment_view(
        kind,
        &evidence,
        state.store.assessment(authed.practice_id, id).await?,
    )
}

/// Format version of an incident report.
pub const REPORT_VERSION: u32 = 1;

/// An incident's report: everything the practice must be able to show
/// (164.414: the burden of proof is its own), in one file that verifies
/// offline.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentReport {
    /// Always [`REPORT_VERSION`].
    pub alcove_incident_report: u32,
    /// When it was made (Unix seconds).
    pub generated_at: i64,
    /// The record: incident, subjects, timeline, evidence, assessment.
    pub record: IncidentDetail,
    /// The draft notice, for a breach.
    pub notice: Option<super::rules::notice::Notice>,
    /// The audit entries behind it — the assessment's sources and the
    /// incident's own events — as a standard audit export (JSONL, signed
    /// header, an inclusion proof per entry). Save it to a file and check it
    /// with `alcove audit verify --export FILE --public-key <the pinned key>`.
    pub audit_export: String,
}

/// Builds an incident's report (admins). Audited (how many entries it
/// carries), so a large export by one person shows.
pub async fn export_report(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
) -> Result<IncidentReport> {
    let record = get(state, authed, id).await?;
    let notice = match record.incident.decision {
        // From the record just read: its evidence is not read again.
        Some(Decision::Breach) => Some(
            notice_from(
                state,
                authed,
                (
                    record.incident.kind,
                    record.incident.discovered_at,
                    &record.evidence,
                ),
                // The record's copy is in English; the page drafts it in
                // Spanish too.
                Language::En,
            )
            .await?,
        ),
        _ => None,
    };
    let mut seqs: Vec<i64> = record
        .assessment
        .factors
        .iter()
        .flat_map(|f| f.sources.iter().copied())
        .collect();
    // The export's own entry vouches for the file's record and notice by
    // their digest, and is among the entries it carries: `alcove audit
    // verify` then catches an edited record as well as an edited entry.
    let internal = |e: anyhow::Error| IncidentError::Internal(e);
    let now = state.now();
    // The file's time is hashed too, and is the entry's: a verifier takes
    // the newest export entry of the incident in the file and requires
    // both, so an older export's record cannot stand in for this one.
    let vouched = serde_json::json!({
        "generated_at": now,
        "record": serde_json::to_value(&record).map_err(|e| internal(e.into()))?,
        "notice": serde_json::to_value(&notice).map_err(|e| internal(e.into()))?,
    });
    let record_sha256 = crate::audit::canonical::document_sha256(&vouched);
    seqs.extend(
        state
            .store
            .incident_event_seqs(authed.practice_id, id)
            .await?,
    );
    seqs.sort_unstable();
    seqs.dedup();
    let event = authed
        .event(Action::IncidentReportExported)
        .detail(serde_json::json!({
            "incident_id": id,
            "entries": seqs.len() + 1,
            "record_sha256": record_sha256,
        }));
    state.store.append_audit(event, now).await?;
    // The entry just appended, found by its digest (another admin's
    // change to the incident may have come after it).
    let own = state
        .store
        .report_export_seq(authed.practice_id, &record_sha256)
        .await?;
    seqs.extend(own);
    seqs.sort_unstable();
    seqs.dedup();
    let practice = authed.practice_id.to_string();
    let store = state.audit.store().await.map_err(internal)?;
    let key = state.audit.key().map_err(internal)?;
    let earlier = store.signed_heads(&practice).await?;
    let (head, tree) = state
        .audit
        .sign_head(&practice, now)
        .await
        .map_err(internal)?;
    let mut entries = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if seq < 1 || seq as usize > tree.size() {
            continue;
        }
        if let Some(row) = store
            .audit_rows(&practice, seq - 1, 1)
            .await?
            .into_iter()
            .next()
        {
            entries.push(row.entry);
        }
    }
    let cut = crate::audit::export::Cut {
        head,
        tree: &tree,
        earlier,
    };
    let (header, lines) =
        crate::audit::export::build(&key, &practice, now, format!("incident={id}"), cut, entries);
    Ok(IncidentReport {
        alcove_incident_report: REPORT_VERSION,
        generated_at: now,
        record,
        notice,
        audit_export: crate::audit::export::to_jsonl(&header, &lines),
    })
}

/// The draft notice to individuals (164.404(c)) of an incident (admins):
/// filled from its record and evidence; never sent by Alcove.
pub async fn notice(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    language: Language,
) -> Result<super::rules::notice::Notice> {
    admin_only(authed, "incidents are for the practice's admins")?;
    let (row, subjects, _) = state.store.incident(authed.practice_id, id).await?;
    let kind = Kind::from_code(&row.kind).ok_or(IncidentError::Invalid("stored kind"))?;
    let evidence = evidence_of(state, authed, &row, &subjects).await?;
    let facts = (kind, row.discovered_at, evidence.devices.as_slice());
    notice_from(state, authed, facts, language).await
}

/// The draft from what was already read of the incident.
async fn notice_from(
    state: &AppState,
    authed: &Authed,
    (kind, discovered_at, evidence): (Kind, i64, &[DeviceEvidence]),
    language: Language,
) -> Result<super::rules::notice::Notice> {
    use super::rules::notice::{draft, NoticeFacts};
    let practice = state.store.practice(authed.practice_id).await?;
    // The day the device was last seen before the loss, else revoked.
    let happened = evidence
        .iter()
        .filter_map(|e| e.last_seen_at.or(e.revoked_at))
        .min()
        .map(|t| deadlines::day_of(t).to_string());
    Ok(draft(
        &NoticeFacts {
            kind,
            discovered_on: deadlines::day_of(discovered_at).to_string(),
            practice: &practice.name,
            evidence,
            happened_on: happened,
        },
        language,
    ))
}

/// Whether a sign-off of the version read could be made now: asked before
/// the signer's code is checked, so a code is not used up by a sign-off
/// that was bound to be refused (the next one is thirty seconds away).
pub async fn check_sign_off(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    expected_version: i64,
) -> Result<()> {
    signable(state, authed, id, expected_version)
        .await
        .map(|_| ())
}

/// The incident, its subjects, its saved assessment and its decision, if a
/// sign-off of the version read may be made now.
async fn signable(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    expected_version: i64,
) -> Result<(
    IncidentRow,
    Vec<Subject>,
    Option<AssessmentRow>,
    Option<Decision>,
)> {
    admin_only(authed, "incidents are signed off by the practice's admins")?;
    let (row, subjects, _) = state.store.incident(authed.practice_id, id).await?;
    let status = Status::from_code(&row.status).ok_or(IncidentError::Invalid("stored status"))?;
    let decision = row.decision.as_deref().and_then(Decision::from_code);
    let saved = state.store.assessment(authed.practice_id, id).await?;
    let signed = saved.as_ref().is_some_and(|r| r.signed_off_at.is_some());
    assessment::may_sign_off(status, decision, signed)?;
    if saved.as_ref().map_or(0, |r| r.version) != expected_version {
        return Err(IncidentError::Changed);
    }
    Ok((row, subjects, saved, decision))
}

/// Signs off the decision and the assessment as read (admins, with a fresh
/// second factor): from then on neither changes.
pub async fn sign_off(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    expected_version: i64,
    _fresh: FreshSecondFactor,
) -> Result<AssessmentView> {
    let (row, subjects, saved, decision) = signable(state, authed, id, expected_version).await?;
    let kind = Kind::from_code(&row.kind).ok_or(IncidentError::Invalid("stored kind"))?;
    let evidence = evidence_of(state, authed, &row, &subjects).await?;
    // What is signed is what was read: the saved statements, or the
    // prefill when nothing was saved.
    let current = assessment_view(kind, &evidence, saved)?;
    let statements = Statements {
        nature_extent: current.factors[0].text.clone(),
        recipient: current.factors[1].text.clone(),
        acquired_viewed: current.factors[2].text.clone(),
        mitigation: current.factors[3].text.clone(),
    };
    let write = AssessmentWrite {
        expected_version,
        statements: serde_json::to_string(&statements)
            .map_err(|e| IncidentError::Internal(e.into()))?,
        actor: authed.user_id,
        sign_off: true,
        entry: format!(
            "signed off: {}",
            decision.map_or("", |d| d.code()).replace('_', " ")
        ),
    };
    let event = authed
        .event(Action::IncidentSignedOff)
        .detail(serde_json::json!({
            "incident_id": id,
            "decision": decision.map(|d| d.code()),
        }));
    if !state
        .store
        .write_assessment(authed.practice_id, id, &write, event, state.now())
        .await?
    {
        return Err(IncidentError::Changed);
    }
    assessment_view(
        kind,
        &evidence,
        state.store.assessment(authed.practice_id, id).await?,
    )
}

/// A change the privacy officer makes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The status as the caller read it (a change made by someone else
    /// since is refused, 409 `changed`).
    pub expected_status: Status,
    /// New status (default: unchanged).
    #[serde(default)]
    pub status: Option<Status>,
    /// The decision (with `status: decided`).
    #[serde(default)]
    pub decision: Option<Decision>,
    /// With the decision `exception` (and only then): its clause of
    /// 164.402(1), every fact that clause requires affirmed, and the
    /// particulars (`exception_choices` lists them).
    #[serde(default)]
    pub exception: Option<Exception>,
    /// A corrected discovery time (Unix seconds), with the reason in `note`.
    #[serde(default)]
    pub discovered_at: Option<i64>,
    /// For an incident naming an account: the earliest time it may have
    /// been misused (Unix seconds); its evidence searches from then to now
    /// (default: `incidents.account_lookback_days` before discovery).
    #[serde(default)]
    pub account_since: Option<i64>,
    /// Affected individuals.
    #[serde(default)]
    pub affected_count: Option<i64>,
    /// The largest number of affected residents of one state.
    #[serde(default)]
    pub max_state_residents: Option<i64>,
    /// A law-enforcement delay (164.412): `written` with its end date, or
    /// `oral` with the date it was made (30 days at most).
    #[serde(default)]
    pub law_enforcement_delay: Option<DelayInput>,
    /// The reasoning, the reason for a change, or a note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A law-enforcement delay as given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum DelayInput {
    /// A written statement: until this date.
    Written {
        /// Last day, `YYYY-MM-DD`.
        until: String,
    },
    /// An oral statement made on this date.
    Oral {
        /// The day it was made, `YYYY-MM-DD`.
        made_on: String,
    },
}

/// Changes an incident (admins): status, decision, facts, a note.
pub async fn change(
    state: &AppState,
    authed: &Authed,
    id: IncidentId,
    req: Change,
) -> Result<IncidentView> {
    admin_only(authed, "incidents are decided by the practice's admins")?;
    let (row, _, _) = state.store.incident(authed.practice_id, id).await?;
    let current = Status::from_code(&row.status).ok_or(IncidentError::Invalid("stored status"))?;
    if current != req.expected_status {
        return Err(IncidentError::Changed);
    }
    let note = note(req.note)?;
    let to = req.status.unwrap_or(current);
    if req.decision.is_some()
        && state
            .store
            .assessment(authed.practice_id, id)
            .await?
            .is_some_and(|a| a.signed_off_at.is_some())
    {
        // The decision is what was signed.
        return Err(AssessmentError::SignedOff.into());
    }
    let decision = req
        .decision
        .or_else(|| row.decision.as_deref().and_then(Decision::from_code));
    // An exception stands on its facts: given with the decision that names
    // it, checked whole; any other decision clears it.
    let mut cited = None;
    let exception = match (req.decision, req.exception) {
        (Some(Decision::Exception), Some(e)) => {
            let e = exception::check(e)?;
            cited = Some(e.clause.citation());
            Some(serde_json::to_string(&e).map_err(|e| IncidentError::Internal(e.into()))?)
        }
        (Some(Decision::Exception), None) => return Err(ExceptionError::Required.into()),
        (_, Some(_)) => return Err(ExceptionError::NotAnException.into()),
        (Some(_), None) => None,
        (None, None) => row.exception.clone(),
    };
    if to != current || req.decision.is_some() {
        status::transition(current, to, decision, note.is_some())?;
    } else if current == Status::Closed {
        return Err(status::TransitionError::NotAllowed {
            from: "closed",
            to: "closed",
        }
        .into());
    }
    let now = state.now();
    let discovered_at = match req.discovered_at {
        Some(t) if t != row.discovered_at => {
            if note.is_none() {
                return Err(IncidentError::Invalid(
                    "a changed discovery time needs its reason in note",
                ));
            }
            if t > now || t < now - 6 * 366 * 86_400 {
                return Err(IncidentError::Invalid(
                    "discovered_at: not in the future, not over six years ago",
                ));
            }
            t
        }
        _ => row.discovered_at,
    };
    // Where the account evidence starts: the officer's judgement of when the
    // account may first have been misused. It decides who is counted as
    // affected, so it is bounded (not after the discovery: misuse found
    // then began before), given with its reason, recorded with its value,
    // and fixed once the assessment is signed off.
    let account_since = match req.account_since {
        Some(t) if Some(t) != row.account_since => {
            if t > discovered_at || t < now - 6 * 366 * 86_400 {
                return Err(IncidentError::Invalid(
                    "account_since: not after the discovery time, not over six years ago",
                ));
            }
            if note.is_none() {
                return Err(IncidentError::Invalid(
                    "a changed account window needs its reason in note",
                ));
            }
            if state
                .store
                .assessment(authed.practice_id, id)
                .await?
                .is_some_and(|a| a.signed_off_at.is_some())
            {
                return Err(AssessmentError::SignedOff.into());
            }
            Some(t)
        }
        _ => row.account_since,
    };
    let count = |v: Option<i64>, old: i64, what| match v {
        Some(n) if !(0..=100_000_000).contains(&n) => Err(IncidentError::Invalid(what)),
        Some(n) => Ok(n),
        None => Ok(old),
    };
    let affected_count = count(
        req.affected_count,
        row.affected_count,
        "affected_count: 0 to 100,000,000",
    )?;
    let max_state_residents = count(
        req.max_state_residents,
        row.max_state_residents,
        "max_state_residents: 0 to 100,000,000",
    )?;
    if max_state_residents > affected_count {
        return Err(IncidentError::Invalid(
            "max_state_residents cannot exceed affected_count",
        ));
    }
    let delayed_until = match req.law_enforcement_delay {
        None => row.delayed_until,
        Some(d) => {
            let date = |raw: &str| {
                NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
                    IncidentError::Invalid("law_enforcement_delay: a date, YYYY-MM-DD")
                })
            };
            let delay = match d {
                DelayInput::Written { until } => Delay::Written(date(&until)?),
                DelayInput::Oral { made_on } => Delay::Oral(date(&made_on)?),
            };
            let end = delay
                .until()
                .and_hms_opt(23, 59, 59)
                .map(|t| t.and_utc().timestamp());
            Some(end.ok_or(IncidentError::Invalid("law_enforcement_delay"))?)
        }
    };
    let entry = if to == Status::Decided && current != Status::Decided || req.decision.is_some() {
        let cited = cited.map(|c| format!(" ({c})")).unwrap_or_default();
        format!(
            "decided: {}{cited}",
            decision.map_or("", |d| d.code()).replace('_', " ")
        )
    } else if to != current {
        format!("status: {}", to.code())
    } else if account_since != row.account_since {
        let day = account_since
            .and_then(|t| chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        format!("account evidence searched from {day}")
    } else {
        "updated".to_owned()
    };
    let window_moved = account_since != row.account_since;
    let changed = IncidentChange {
        expected_status: current.code().to_owned(),
        status: to.code().to_owned(),
        decision: decision.map(|d| d.code().to_owned()),
        discovered_at,
        affected_count,
        max_state_residents,
        delayed_until,
        exception: exception.clone(),
        account_since,
        entry,
        note,
        actor: authed.user_id,
    };
    let after = IncidentRow {
        status: changed.status.clone(),
        decision: changed.decision.clone(),
        discovered_at,
        affected_count,
        max_state_residents,
        delayed_until,
        exception,
        account_since,
        updated_at: now,
        ..row
    };
    let action = if req.decision.is_some() {
        Action::IncidentDecided
    } else {
        Action::IncidentUpdated
    };
    let mut detail = event_detail(&after);
    if window_moved {
        // Who is counted as affected follows from it: the log keeps the value.
        detail["account_since"] = serde_json::json!(account_since);
    }
    let event = authed.event(action).detail(detail);
    if !state
        .store
        .change_incident(authed.practice_id, id, &changed, event, now)
        .await?
    {
        return Err(IncidentError::Changed);
    }
    view(state, after)
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointRequest {
    /// `https://…` (see `incidents.webhook_allow_http`).
    pub url: String,
    /// Event types (`rules::webhook::EVENT_TYPES`).
    pub event_types: Vec<String>,
}

/// An endpoint just made: its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks).
    pub secret: String,
}

/// Checks a webhook URL as given (scheme, host); the addresses it resolves
/// to are checked again at every connection (`jobs/deliver.rs`).
pub fn check_url(state: &AppState, raw: &str) -> Result<reqwest::Url> {
    if raw.len() > 2_000 {
        return Err(IncidentError::Invalid("url: at most 2,000 bytes"));
    }
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|_| IncidentError::Invalid("url: not a URL"))?;
    let s = &state.settings.incidents;
    match url.scheme() {
        "https" => {}
        "http" if s.webhook_allow_http => {}
        _ => return Err(IncidentError::UrlRefused("webhook URLs must be https://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IncidentError::UrlRefused(
            "webhook URLs carry no credentials",
        ));
    }
    let host = url
        .host_str()
        .ok_or(IncidentError::Invalid("url: no host"))?;
    if !s.webhook_allow_private && !webhook::host_allowed(host) {
        return Err(IncidentError::UrlRefused(
            "webhook URLs may not point at this server's own network",
        ));
    }
    Ok(url)
}

/// Adds a webhook endpoint (admins); its secret is answered once.
pub async fn create_endpoint(
    state: &AppState,
    authed: &Authed,
    req: NewEndpointRequest,
) -> Result<CreatedEndpoint> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    let url = check_url(state, &req.url)?;
    if req.event_types.is_empty() {
        return Err(IncidentError::Invalid("event_types: at least one"));
    }
    let mut types: Vec<&'static str> = Vec::new();
    for t in &req.event_types {
        let known = webhook::EVENT_TYPES
            .iter()
            .find(|k| **k == t.as_str())
            .ok_or(IncidentError::Invalid("event_types: unknown event type"))?;
        if !types.contains(known) {
            types.push(known);
        }
    }
    let key = zeroize::Zeroizing::new(crate::auth::secrets::random_bytes::<32>().to_vec());
    let id = WebhookEndpointId::new();
    // Sealed at rest: whoever holds it can sign deliveries a receiver
    // accepts.
    let sealed = state
        .at_rest
        .seal(Purpose::WebhookSecret, &id.to_string(), &key)
        .map_err(IncidentError::Internal)?;
    let new = NewEndpoint {
        id,
        practice_id: authed.practice_id,
        url: url.to_string(),
        event_types: types.join(","),
        secret: sealed,
    };
    // The URL is the practice's configuration, not PHI; the secret is never
    // in the event.
    let event = authed
        .event(Action::WebhookEndpointCreated)
        .detail(serde_json::json!({"endpoint_id": new.id, "event_types": types}));
    let now = state.now();
    if !state
        .store
        .create_endpoint(&new, MAX_ENDPOINTS, event, now)
        .await?
    {
        return Err(IncidentError::Invalid("at most 10 webhook endpoints"));
    }
    Ok(CreatedEndpoint {
        endpoint: EndpointView {
            id: new.id,
            url: new.url,
            event_types: new.event_types,
            enabled: true,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            created_at: now,
            previous_secret_until: None,
        },
        secret: webhook::secret_string(&key),
    })
}

/// A store refusal about an endpoint: none of that id in this practice.
fn no_such_endpoint(e: StoreError) -> IncidentError {
    match e {
        StoreError::NotFound => IncidentError::NotFound("endpoint"),
        other => other.into(),
    }
}

/// The practice's endpoints (admins).
pub async fn endpoints(state: &AppState, authed: &Authed) -> Result<Vec<EndpointView>> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    Ok(state.store.list_endpoints(authed.practice_id).await?)
}

/// Turns an endpoint off (admins).
pub async fn disable_endpoint(
    state: &AppState,
    authed: &Authed,
    id: WebhookEndpointId,
) -> Result<()> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    let event = authed
        .event(Action::WebhookEndpointDisabled)
        .detail(serde_json::json!({"endpoint_id": id, "reason": "by_admin"}));
    state
        .store
        .disable_endpoint(authed.practice_id, id, event, state.now())
        .await
        .map_err(no_such_endpoint)
}

/// Turns an endpoint back on (admins): one the server turned off for
/// failing throughout, once its receiver is fixed, or one an admin turned
/// off. The deliveries still waiting, and those that ran out of attempts
/// in the outage, go out again under their ids.
pub async fn enable_endpoint(
    state: &AppState,
    authed: &Authed,
    id: WebhookEndpointId,
) -> Result<()> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    let event = authed
        .event(Action::WebhookEndpointEnabled)
        .detail(serde_json::json!({"endpoint_id": id}));
    let done = state
        .store
        .enable_endpoint(authed.practice_id, id, MAX_ENDPOINTS, event, state.now())
        .await
        .map_err(no_such_endpoint)?;
    if !done {
        return Err(IncidentError::Invalid("at most 10 webhook endpoints"));
    }
    Ok(())
}

/// A new signing secret, answered this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new `whsec_` secret (shown once).
    pub secret: String,
    /// Until when deliveries are signed with the previous secret too.
    pub previous_valid_until: i64,
}

/// Replaces an endpoint's signing secret (admins): a suspected leak, a
/// person who knew it leaving. The previous one keeps signing, beside the
/// new one, for `incidents.webhook_rotation_overlap_secs` (a day).
pub async fn rotate_secret(
    state: &AppState,
    authed: &Authed,
    id: WebhookEndpointId,
) -> Result<RotatedSecret> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    let key = zeroize::Zeroizing::new(crate::auth::secrets::random_bytes::<32>().to_vec());
    let sealed = state
        .at_rest
        .seal(Purpose::WebhookSecret, &id.to_string(), &key)
        .map_err(IncidentError::Internal)?;
    let now = state.now();
    let until = now
        + state
            .settings
            .incidents
            .webhook_rotation_overlap_secs
            .max(0);
    // Never the secret in the event.
    let event = authed
        .event(Action::WebhookSecretRotated)
        .detail(serde_json::json!({"endpoint_id": id, "previous_valid_until": until}));
    state
        .store
        .rotate_endpoint_secret(authed.practice_id, id, &sealed, until, event, now)
        .await
        .map_err(no_such_endpoint)?;
    Ok(RotatedSecret {
        secret: webhook::secret_string(&key),
        previous_valid_until: until,
    })
}

/// An endpoint's delivery log (admins).
pub async fn deliveries(
    state: &AppState,
    authed: &Authed,
    id: WebhookEndpointId,
) -> Result<Vec<DeliveryView>> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    Ok(state
        .store
        .list_deliveries(authed.practice_id, id, 200)
        .await?)
}

/// A test delivery queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// Its id (`webhook-id`): it shows in the endpoint's deliveries.
    pub delivery_id: String,
}

/// Queues a test delivery to an enabled endpoint (admins): event
/// `webhook.test`, no data, signed and retried like any other, so the
/// receiving system can be checked before an incident needs it.
pub async fn send_test(
    state: &AppState,
    authed: &Authed,
    endpoint: WebhookEndpointId,
) -> Result<TestQueued> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    let now = state.now();
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp(now, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let payload = webhook::payload(webhook::TEST_EVENT, &at, &webhook::Facts::default());
    let event = authed
        .event(Action::WebhookTestSent)
        .detail(serde_json::json!({"endpoint_id": endpoint}));
    let queued = state
        .store
        .queue_test_delivery(
            authed.practice_id,
            endpoint,
            &payload.to_string(),
            TEST_EVERY_SECS,
            event,
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => IncidentError::NotFound("enabled endpoint"),
            other => other.into(),
        })?;
    let delivery_id = queued.ok_or(IncidentError::TooSoon(TEST_EVERY_SECS))?;
    Ok(TestQueued { delivery_id })
}

/// Sends a delivery again (admins), under the same `webhook-id`.
pub async fn redeliver(state: &AppState, authed: &Authed, id: &str) -> Result<()> {
    admin_only(authed, "webhooks are set by the practice's admins")?;
    if id.len() > 64 || !id.starts_with("msg_") {
        return Err(IncidentError::NotFound("delivery"));
    }
    let event = authed
        .event(Action::WebhookRedelivered)
        .detail(serde_json::json!({"delivery_id": id}));
    state
        .store
        .redeliver(authed.practice_id, id, event, state.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => IncidentError::NotFound("delivery"),
            other => other.into(),
        })
}
