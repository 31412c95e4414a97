//! What the incidents slice keeps, and the trait its SQL implements
//! (`sql.rs`, once for both backends).
//!
//! Invariants:
//! - Every change of an incident writes its timeline entry and its audit
//!   event in the change's own transaction; the timeline is append-only.
//! - A status change applies only if the status is still the one the
//!   caller read (two privacy officers deciding at once: one wins, the
//!   other is told).
//! - At most one open incident per detector cause (a unique index).
//! - Webhook deliveries are rows written in the transaction that reads
//!   their cause from the audit log and advances the watcher's cursor: the
//!   audit log is the outbox, and every cause already writes its audit
//!   event in its own transaction.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, IncidentId, PracticeId, UserId, WebhookEndpointId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// An incident as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `incidents`
pub struct IncidentRow {
    pub id: IncidentId,
    pub practice_id: PracticeId,
    pub kind: String,
    pub status: String,
    pub decision: Option<String>,
    pub discovered_at: UnixTime,
    pub reported_by: Option<UserId>,
    pub cause: Option<String>,
    pub affected_count: i64,
    pub max_state_residents: i64,
    pub delayed_until: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    /// JSON of `rules::exception::Exception`, for the decision "exception".
    pub exception: Option<String>,
    /// The earliest time a named account may have been misused (the
    /// officer's judgement); `None`: the look-back before discovery.
    pub account_since: Option<UnixTime>,
}

/// One subject of an incident.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Subject {
    /// A user.
    pub user_id: Option<UserId>,
    /// A device.
    pub device_id: Option<DeviceId>,
}

/// One timeline entry.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// Order within the incident.
    pub seq: i64,
    /// When.
    pub at: UnixTime,
    /// By whom (none: the server's detectors).
    pub actor_user_id: Option<UserId>,
    /// What happened (a fixed phrase of the server's).
    pub entry: String,
    /// The staff member's own words, if any.
    pub note: Option<String>,
}

/// A new incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    /// Its id.
    pub id: IncidentId,
    /// Practice.
    pub practice_id: PracticeId,
    /// Kind code.
    pub kind: &'static str,
    /// Discovery time.
    pub discovered_at: UnixTime,
    /// Reporter (none: a detector).
    pub reported_by: Option<UserId>,
    /// A detector's cause.
    pub cause: Option<String>,
    /// Subjects.
    pub subjects: Vec<Subject>,
    /// The first timeline entry.
    pub entry: String,
    /// The reporter's words.
    pub note: Option<String>,
}

/// A change of an incident, applied if its status is still `expected`.
#[derive(Debug, Clone)]
pub struct IncidentChange {
    /// The status read before deciding the change.
    pub expected_status: String,
    /// New status.
    pub status: String,
    /// New decision.
    pub decision: Option<String>,
    /// New discovery time.
    pub discovered_at: UnixTime,
    /// Affected individuals.
    pub affected_count: i64,
    /// Largest number of residents of one state.
    pub max_state_residents: i64,
    /// Law-enforcement delay end.
    pub delayed_until: Option<UnixTime>,
    /// The exception's clause, facts and particulars (JSON), or none.
    pub exception: Option<String>,
    /// Where the account evidence's search starts.
    pub account_since: Option<UnixTime>,
    /// Timeline entry.
    pub entry: String,
    /// The actor's words.
    pub note: Option<String>,
    /// By whom.
    pub actor: UserId,
}

/// One audit event the watcher reads.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `audit_events`
pub struct WatchedEvent {
    pub seq: i64,
    pub at: UnixTime,
    pub action: String,
    pub actor_user_id: Option<String>,
    pub target_user_id: Option<String>,
    pub target_device_id: Option<String>,
    pub detail: Option<String>,
}

/// A webhook event to fan out to the practice's subscribed endpoints.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// Event type.
    pub event_type: &'static str,
    /// The JSON body (PHI-free by construction: `rules::webhook::payload`).
    pub payload: String,
}

/// What one watcher round read of one practice's log, to record at once.
#[derive(Debug, Clone)]
pub struct WatchRound {
    /// Practice.
    pub practice_id: PracticeId,
    /// The cursor moves to this seq.
    pub seq: i64,
    /// Incidents the detectors open (skipped when their cause is open).
    pub openings: Vec<(NewIncident, audit::Event)>,
    /// Webhook events.
    pub announcements: Vec<Announcement>,
}

/// A webhook endpoint as admins see it (never its secret).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct EndpointView {
    /// Id.
    pub id: WebhookEndpointId,
    /// Where deliveries go.
    pub url: String,
    /// Comma-separated event types.
    pub event_types: String,
    /// Whether deliveries go out.
    pub enabled: bool,
    /// Failing since (every attempt failed since then).
    pub failing_since: Option<UnixTime>,
    /// When it went off (`None` while on).
    pub disabled_at: Option<UnixTime>,
    /// Why it went off: `failing` (the server turned it off after three
    /// days of failed attempts) or `by_admin`.
    pub disabled_reason: Option<String>,
    /// Created.
    pub created_at: UnixTime,
    /// After a rotation: until when deliveries are signed with the
    /// previous secret too.
    pub previous_secret_until: Option<UnixTime>,
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Id.
    pub id: WebhookEndpointId,
    /// Practice.
    pub practice_id: PracticeId,
    /// URL.
    pub url: String,
    /// Comma-separated event types.
    pub event_types: String,
    /// Secret key bytes.
    pub secret: Vec<u8>,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)]
pub struct ClaimedDelivery {
    pub id: String,
    pub practice_id: PracticeId,
    pub endpoint_id: WebhookEndpointId,
    pub url: String,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<UnixTime>,
    pub payload: String,
    pub attempts: i64,
    pub failing_since: Option<UnixTime>,
    pub created_at: UnixTime,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The delivery.
    pub id: String,
    /// Its endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Practice.
    pub practice_id: PracticeId,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// Delivered (a 2xx).
    pub delivered: bool,
    /// The answer's status, if one came.
    pub status_code: Option<i64>,
    /// Why it failed (a kind, never a body).
    pub error: Option<String>,
    /// The next attempt; `None` with `delivered` false: failed for good.
    pub next_attempt_at: Option<UnixTime>,
    /// Disable the endpoint (failing throughout), with its audit event.
    pub disable: Option<audit::Event>,
}

/// A delivery as admins see it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` every attempt carried.
    pub id: String,
    /// Endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt (pending).
    pub next_attempt_at: UnixTime,
    /// The last answer's status code.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: UnixTime,
    /// Delivered.
    pub delivered_at: Option<UnixTime>,
}

/// An incident's four-factor assessment as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `incident_assessments`
pub struct AssessmentRow {
    /// JSON of `rules::assessment::Statements`.
    pub statements: String,
    pub version: i64,
    pub updated_by: UserId,
    pub updated_at: UnixTime,
    pub signed_off_by: Option<UserId>,
    pub signed_off_at: Option<UnixTime>,
}

/// A save or a sign-off of an assessment.
#[derive(Debug, Clone)]
pub struct AssessmentWrite {
    /// The version the writer read (0: none saved yet).
    pub expected_version: i64,
    /// The statements, as JSON.
    pub statements: String,
    /// Who.
    pub actor: UserId,
    /// Sign it off too (final).
    pub sign_off: bool,
    /// The timeline entry.
    pub entry: String,
}

/// Storage of the incidents slice.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// How many audit events of `actor` with one of `actions` were written
    /// after `since`, up to the audit entry `until_seq` (the counted
    /// detectors: refused requests, exports and access reviews).
    async fn actions_by(
        &self,
        practice: PracticeId,
        actor: &str,
        actions: &[&'static str],
        since: UnixTime,
        until_seq: i64,
    ) -> StoreResult<i64>;

    /// The audit entries (seqs) of the incident's own events (opened,
    /// updated, decided, assessed, signed off, exported).
    async fn incident_event_seqs(
        &self,
        practice: PracticeId,
        incident: IncidentId,
    ) -> StoreResult<Vec<i64>>;

    /// The audit entry (seq) of the report export whose detail records
    /// `record_sha256` (the export just appended it).
    async fn report_export_seq(
        &self,
        practice: PracticeId,
        record_sha256: &str,
    ) -> StoreResult<Option<i64>>;

    /// The saved assessment of an incident, if any.
    async fn assessment(
        &self,
        practice: PracticeId,
        incident: IncidentId,
    ) -> StoreResult<Option<AssessmentRow>>;

    /// Writes the assessment over the version the writer read, with its
    /// timeline entry and audit event. `Ok(false)` when another save or a
    /// sign-off came first, or (for a sign-off) the incident is not decided
    /// any more.
    async fn write_assessment(
        &self,
        practice: PracticeId,
        incident: IncidentId,
        w: &AssessmentWrite,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Opens an incident by hand, with its audit event. `Ok(false)` when a
    /// detector's cause already has an open one.
    async fn open_incident(
        &self,
        new: &NewIncident,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// One incident of the practice with its subjects and timeline.
    async fn incident(
        &self,
        practice: PracticeId,
        id: IncidentId,
    ) -> StoreResult<(IncidentRow, Vec<Subject>, Vec<TimelineEntry>)>;

    /// The practice's incidents, newest first.
    async fn list_incidents(
        &self,
        practice: PracticeId,
        limit: i64,
    ) -> StoreResult<Vec<IncidentRow>>;

    /// Applies a change if the status is still the expected one (`false`
    /// otherwise: nothing written), with its timeline entry and event.
    async fn change_incident(
        &self,
        practice: PracticeId,
        id: IncidentId,
        change: &IncidentChange,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Leases practices whose audit log moved past the watcher's cursor;
    /// their cursors.
    async fn claim_watch(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<(PracticeId, i64)>>;

    /// The audit events of a practice with one of `actions` among the
    /// entries after `after`, at most `span` entries on, in order; and the
    /// last entry that span covered (what the cursor moves to) with whether
    /// the log goes on past it. The other entries (messages delivered, most
    /// of the log) are skipped in the index, never read.
    async fn watched_events(
        &self,
        practice: PracticeId,
        after: i64,
        span: i64,
        actions: &[&'static str],
    ) -> StoreResult<(Vec<WatchedEvent>, i64, bool)>;

    /// Records a watcher round in one transaction: openings (with their
    /// events), deliveries for the subscribed endpoints, the cursor; frees
    /// the lease.
    async fn finish_watch(&self, round: &WatchRound, now: UnixTime) -> StoreResult<()>;

    /// Adds an endpoint, with its audit event, unless the practice already
    /// has `max` enabled ones (`false`: nothing written). Concurrent adds
    /// take turns on the practice's row, so the bound holds under them.
    async fn create_endpoint(
        &self,
        e: &NewEndpoint,
        max: i64,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// The practice's endpoints.
    async fn list_endpoints(&self, practice: PracticeId) -> StoreResult<Vec<EndpointView>>;

    /// Turns an endpoint off by an admin's hand (its deliveries stay in
    /// the log), with its audit event.
    async fn disable_endpoint(
        &self,
        practice: PracticeId,
        id: WebhookEndpointId,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<()>;

    /// Turns an endpoint back on, with its audit event, unless the practice
    /// already has `max` enabled ones (`false`: nothing written); its
    /// waiting deliveries are due at once, those that failed while it was
    /// failing throughout are queued again, and its failing clock restarts.
    /// Takes turns with `create_endpoint` on the practice's row, so the
    /// bound holds under concurrent adds and enables. An endpoint already
    /// on: `true`, nothing written. `NotFound`: no such endpoint here.
    async fn enable_endpoint(
        &self,
        practice: PracticeId,
        id: WebhookEndpointId,
        max: i64,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Replaces an endpoint's secret (sealed) with `secret`, keeping the
    /// current one as the previous secret until `previous_until`; with its
    /// audit event. `NotFound` when no such endpoint of the practice.
    async fn rotate_endpoint_secret(
        &self,
        practice: PracticeId,
        id: WebhookEndpointId,
        secret: &[u8],
        previous_until: UnixTime,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<()>;

    /// Leases due deliveries of enabled endpoints.
    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Records a round's attempts in one transaction.
    async fn finish_deliveries(
        &self,
        outcomes: &[AttemptOutcome],
        now: UnixTime,
    ) -> StoreResult<()>;

    /// The delivery log of one endpoint, newest first.
    async fn list_deliveries(
        &self,
        practice: PracticeId,
        endpoint: WebhookEndpointId,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryView>>;

    /// What the server knows of a device of the practice, for evidence
    /// (`rules::evidence`): its owner, revocation, unlock share, sessions
    /// at revocation, last sighting, and the ranges handed to it.
    async fn device_facts(
        &self,
        practice: PracticeId,
        device: DeviceId,
    ) -> StoreResult<crate::incidents::rules::evidence::DeviceFacts>;

    /// Queues a test delivery (`payload`) to an enabled endpoint of the
    /// practice, with its audit event, in one transaction; returns the
    /// delivery's id, or `None` (nothing written) when a test went to that
    /// endpoint less than `every` seconds ago — checked under the
    /// endpoint's row, so concurrent presses queue one test
    /// (`NotFound`: no such enabled endpoint here).
    async fn queue_test_delivery(
        &self,
        practice: PracticeId,
        endpoint: WebhookEndpointId,
        payload: &str,
        every: i64,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<Option<String>>;

    /// What the audit log holds of an account in `window` (from, to: Unix
    /// seconds), for evidence (`rules::account`): what it did and what was
    /// done to it, at most 100,000 entries (`truncated` beyond).
    async fn account_facts(
        &self,
        practice: PracticeId,
        user: UserId,
        window: (UnixTime, UnixTime),
        discovered_at: UnixTime,
    ) -> StoreResult<crate::incidents::rules::account::AccountFacts>;

    /// Incidents that may still owe notices (not closed, not decided as
    /// no breach), with the last deadline threshold announced.
    async fn notice_candidates(&self, limit: i64) -> StoreResult<Vec<(IncidentRow, Option<i64>)>>;

    /// Records an announced threshold, with its audit event, if the last
    /// one is still `last` (one node announces it).
    async fn record_deadline_notice(
        &self,
        incident: IncidentId,
        last: Option<i64>,
        threshold: i64,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Sends a delivery again (pending, due now).
    async fn redeliver(
        &self,
        practice: PracticeId,
        id: &str,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<()>;
}
