//! What the reminders slice keeps, and the trait both backends implement
//! (`sql.rs`, instantiated in `storage/sqlite.rs` and `storage/postgres.rs`).
//!
//! Invariants:
//! - Every change to an appointment, an occurrence's status or a client's
//!   preferences re-plans that client's pending reminders in the same
//!   transaction (`rules::plan`), and appends its audit event there: a
//!   reminder row exists exactly when the committed appointments and
//!   preferences say it should, and a rolled-back change leaves none.
//! - Only pending rows are ever withdrawn; sent, withheld, dropped and
//!   failed rows are the record and stay.
//! - Contact addresses arrive encrypted (`contact.rs`); this layer never
//!   sees them in the clear.
//! - Every query is filtered by `practice_id`.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{AppointmentId, DeviceId, NudgeId, OccurrenceId, PracticeId, ReminderId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;
use serde::Serialize;

/// A new appointment series.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    /// Identifier.
    pub id: AppointmentId,
    /// Practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_id: UserId,
    /// The clinician or associate seeing them.
    pub clinician_id: UserId,
    /// What may change on a reschedule.
    pub timing: Timing,
    /// Who created it.
    pub created_by: UserId,
}

/// When and how an appointment happens.
#[derive(Debug, Clone)]
pub struct Timing {
    /// IANA zone (the client's).
    pub time_zone: String,
    /// Wall-clock start there, `YYYY-MM-DDTHH:MM`.
    pub start_local: String,
    /// Minutes.
    pub duration_minutes: i64,
    /// RFC 5545 RRULE when it repeats.
    pub rrule: Option<String>,
    /// `in_person` or `telehealth`.
    pub modality: &'static str,
    /// Every occurrence's start (UTC seconds), from `rules::schedule`.
    pub occurrences: Vec<UnixTime>,
}

/// An appointment series as stored.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[allow(missing_docs)] // the columns of `appointments`
pub struct Appointment {
    pub id: AppointmentId,
    pub practice_id: PracticeId,
    pub client_id: UserId,
    pub clinician_id: UserId,
    pub time_zone: String,
    pub start_local: String,
    pub duration_minutes: i64,
    pub rrule: Option<String>,
    pub modality: String,
    pub created_by: UserId,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// One occurrence, with what a list needs of its series.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[allow(missing_docs)] // columns of `appointment_occurrences` and its series
pub struct Occurrence {
    pub id: OccurrenceId,
    pub appointment_id: AppointmentId,
    pub client_id: UserId,
    pub clinician_id: UserId,
    pub starts_at: UnixTime,
    pub duration_minutes: i64,
    pub time_zone: String,
    pub modality: String,
    /// `scheduled`, `confirmed`, `cancelled`, `rescheduled` or `no_reply`.
    pub status: String,
    /// The series' RFC 5545 rule (`FREQ=WEEKLY;INTERVAL=2;COUNT=6`), so a
    /// page can move the rest of a series by the same rule; none for a
    /// one-time appointment.
    pub rrule: Option<String>,
}

/// A client's confidential-communication preferences, as stored (contact
/// addresses encrypted).
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `reminder_preferences`
pub struct PreferencesRow {
    pub client_id: UserId,
    pub practice_id: PracticeId,
    pub email_enabled: bool,
    pub sms_enabled: bool,
    pub email_ct: Option<Vec<u8>>,
    pub phone_ct: Option<Vec<u8>>,
    /// Keyed hash of the number (`ContactKey::phone_index`).
    pub phone_index: Option<Vec<u8>>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// The client's IANA zone (quiet hours of nudges).
    pub time_zone: Option<String>,
    pub sender: String,
    /// Comma-separated minutes before each occurrence.
    pub leads_minutes: String,
    pub language: String,
    pub opted_out: bool,
    pub updated_by: UserId,
    pub updated_at: UnixTime,
}

/// A stored template version.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `reminder_templates`
pub struct TemplateRow {
    pub version: i64,
    pub sms: String,
    pub email_subject: String,
    pub email_body: String,
    pub created_by: UserId,
    pub created_at: UnixTime,
}

/// A reminder as staff see it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[allow(missing_docs)] // columns of `reminders` and its occurrence
pub struct ReminderView {
    pub id: ReminderId,
    pub occurrence_id: OccurrenceId,
    pub client_id: UserId,
    pub clinician_id: UserId,
    pub starts_at: UnixTime,
    /// The series' zone (the client's), to show times as they read them.
    pub time_zone: String,
    pub lead_minutes: i64,
    pub due_at: UnixTime,
    /// `pending`, `sent`, `failed`, `withheld`, `withdrawn` or `dropped`.
    pub status: String,
    pub attempts: i64,
    /// `email` or `sms` once tried.
    pub channel: Option<String>,
    /// Why it was withheld, withdrawn, dropped or failed: a code and words,
    /// never a client's details.
    pub reason: Option<String>,
    pub sent_at: Option<UnixTime>,
}

/// A reminder claimed for sending, with the facts of its occurrence.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // columns of `reminders` and what it joins
pub struct DueReminder {
    pub id: ReminderId,
    pub practice_id: PracticeId,
    pub client_id: UserId,
    pub occurrence_id: OccurrenceId,
    pub due_at: UnixTime,
    pub attempts: i64,
    pub starts_at: UnixTime,
    pub occurrence_status: String,
    pub time_zone: String,
    pub clinician_id: UserId,
    pub clinician_name: String,
    pub practice_name: String,
    /// The channels an earlier try already sent it through (`email`), and
    /// their providers' ids: a channel that failed for the moment is tried
    /// again alone.
    pub sent_channels: Option<String>,
    pub sent_ids: Option<String>,
    /// The claiming round's token (`claimed_preferences`).
    pub claim: String,
}

/// How a claimed reminder ended (or when to try it again).
#[derive(Debug, Clone)]
pub struct Finish {
    /// The reminder.
    pub id: ReminderId,
    /// Its practice.
    pub practice_id: PracticeId,
    /// The clinician whose appointment it reminds of (told of the outcome).
    pub clinician_id: UserId,
    /// `sent`, `withheld`, `dropped`, `withdrawn`, `failed`, or `pending`
    /// (a transient failure: tried again from `retry_at`).
    pub status: &'static str,
    /// The channels it went out through (`email`, `sms`, `email,sms`) so
    /// far — also while `pending`, when another channel is to be retried.
    pub channel: Option<String>,
    /// The providers' message ids.
    pub provider_id: Option<String>,
    /// Why it was not (fully) sent: a code and words, never a client's
    /// details.
    pub reason: Option<String>,
    /// Not before this time again (pending only).
    pub retry_at: Option<UnixTime>,
}

/// A conversation claimed by the nudge job, with the facts it decides over
/// (read in the claim's transaction).
#[derive(Debug, Clone)]
pub struct NudgeCandidate {
    /// The conversation.
    pub conversation_id: String,
    /// Its practice.
    pub practice_id: PracticeId,
    /// Its client.
    pub client_id: UserId,
    /// Its staff member's name (a sender name the client may have chosen).
    pub clinician_name: String,
    /// The practice's name.
    pub practice_name: String,
    /// `last_seq` when read: the hint is cleared or advanced only if no
    /// entry came since.
    pub last_seq: i64,
    /// The practice's delay (minutes; 0: off).
    pub after_minutes: i64,
    /// The practice's cooldown (minutes).
    pub cooldown_minutes: i64,
    /// Transient failures so far.
    pub attempts: i64,
    /// When this conversation's last nudge went out.
    pub last_sent_at: Option<UnixTime>,
    /// The first application message to the client that no active device
    /// of theirs acknowledged: its seq and when it was accepted.
    pub unread: Option<(i64, UnixTime)>,
    /// The client's active devices (is one online?).
    pub client_devices: Vec<DeviceId>,
    /// The client's account is active.
    pub client_active: bool,
    /// The zone of the client's latest appointment (when their preferences
    /// name none).
    pub appointment_zone: Option<String>,
}

/// A nudge as staff see it: that one went, or why not — never its text or
/// where it went.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[allow(missing_docs)] // the columns of `nudges`
pub struct NudgeView {
    pub id: NudgeId,
    pub conversation_id: String,
    pub client_id: UserId,
    /// `sent`, `withheld` or `failed`.
    pub status: String,
    /// `email` or `sms` when sent.
    pub channel: Option<String>,
    /// Why it was withheld or failed.
    pub reason: Option<String>,
    pub created_at: UnixTime,
}

/// A nudge sent, withheld or failed, as recorded for staff.
#[derive(Debug, Clone)]
pub struct NudgeRecord {
    /// `sent`, `withheld` or `failed`.
    pub status: &'static str,
    /// The channel, when one was used.
    pub channel: Option<String>,
    /// The provider's message id, when sent.
    pub provider_id: Option<String>,
    /// Why it was withheld or failed.
    pub reason: Option<String>,
}

/// How the job left a claimed conversation.
#[derive(Debug, Clone)]
pub struct NudgeFinish {
    /// The conversation.
    pub conversation_id: String,
    /// Its practice.
    pub practice_id: PracticeId,
    /// Its client.
    pub client_id: UserId,
    /// `last_seq` as claimed.
    pub last_seq: i64,
    /// The hint afterwards (seq, since), `None` to clear it — written only
    /// if `last_seq` is unchanged (else a newer message keeps its hint).
    pub awaiting: Option<(i64, UnixTime)>,
    /// Not looked at again before this.
    pub not_before: Option<UnixTime>,
    /// Transient failures so far.
    pub attempts: i64,
    /// Set when a nudge went out now.
    pub sent_at: Option<UnixTime>,
    /// The record staff see.
    pub record: Option<NudgeRecord>,
    /// Its audit event.
    pub event: Option<audit::Event>,
}

/// Storage of the reminders slice.
#[async_trait]
pub trait ReminderStore: Send + Sync {
    /// Creates a series with its occurrences and plans its reminders.
    async fn create_appointment(
        &self,
        appointment: &NewAppointment,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<Vec<OccurrenceId>>;

    /// One series.
    async fn appointment(
        &self,
        practice: PracticeId,
        id: AppointmentId,
    ) -> StoreResult<Appointment>;

    /// Moves a series: its future occurrences become `rescheduled`, the new
    /// ones are created, reminders re-planned.
    async fn reschedule_appointment(
        &self,
        practice: PracticeId,
        id: AppointmentId,
        timing: &Timing,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<Vec<OccurrenceId>>;

    /// Cancels a series' future occurrences (or one, when given) and
    /// withdraws their pending reminders.
    async fn cancel_appointment(
        &self,
        practice: PracticeId,
        id: AppointmentId,
        occurrence: Option<OccurrenceId>,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// Sets a future occurrence's status (a client's confirm or cancel),
    /// re-planning reminders; `client` restricts it to that client's own.
    async fn set_occurrence_status(
        &self,
        practice: PracticeId,
        occurrence: OccurrenceId,
        client: Option<UserId>,
        status: &'static str,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<Occurrence>;

    /// Occurrences starting at or after `from`, of one client and/or one
    /// clinician.
    async fn occurrences(
        &self,
        practice: PracticeId,
        client: Option<UserId>,
        clinician: Option<UserId>,
        from: UnixTime,
    ) -> StoreResult<Vec<Occurrence>>;

    /// A client's preferences, if ever set.
    async fn reminder_preferences(
        &self,
        practice: PracticeId,
        client: UserId,
    ) -> StoreResult<Option<PreferencesRow>>;

    /// Replaces a client's preferences and re-plans their reminders.
    async fn put_reminder_preferences(
        &self,
        prefs: &PreferencesRow,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// The newest version of a template, if the practice saved one.
    async fn reminder_template(
        &self,
        practice: PracticeId,
        kind: &'static str,
        language: &'static str,
    ) -> StoreResult<Option<TemplateRow>>;

    /// Saves a new version; returns its number.
    #[allow(clippy::too_many_arguments)]
    async fn put_reminder_template(
        &self,
        practice: PracticeId,
        kind: &'static str,
        language: &'static str,
        texts: &crate::reminders::rules::defaults::Texts,
        by: UserId,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<i64>;

    /// The clients whose number has this index (a shared family phone can
    /// be several).
    async fn clients_by_phone(&self, index: &[u8]) -> StoreResult<Vec<(PracticeId, UserId)>>;

    /// The devices to tell that an appointment of `client` with `clinician`
    /// changed: theirs and every admin's, not revoked, of active users.
    async fn appointment_watchers(
        &self,
        practice: PracticeId,
        client: UserId,
        clinician: UserId,
    ) -> StoreResult<Vec<crate::ids::DeviceId>>;

    /// The devices to tell that reminders of `clinician`'s appointments
    /// went out (or were withheld): theirs and every admin's — the staff
    /// whose reminders page lists them — not revoked, of active users.
    async fn reminder_watchers(
        &self,
        practice: PracticeId,
        clinician: UserId,
    ) -> StoreResult<Vec<crate::ids::DeviceId>> {
        // The clinician's and the admins': an appointment's watchers with
        // the clinician in the client's place.
        self.appointment_watchers(practice, clinician, clinician)
            .await
    }

    /// A client's next occurrence that can still be answered.
    async fn next_occurrence(
        &self,
        practice: PracticeId,
        client: UserId,
        now: UnixTime,
    ) -> StoreResult<Option<OccurrenceId>>;

    /// Claims up to `limit` due reminders whose lease has run out (or was
    /// never taken), leasing them until `lease_until`; on PostgreSQL rows
    /// another node holds are skipped, never waited for.
    async fn claim_due_reminders(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<DueReminder>>;

    /// The preferences of the clients whose reminders the round holding
    /// `claim` claimed, read at once for the round (not once per reminder).
    async fn claimed_preferences(&self, claim: &str) -> StoreResult<Vec<PreferencesRow>>;

    /// Records how claimed reminders ended, each with its audit event, in
    /// one transaction (one commit per dispatch round, not per reminder).
    /// A reminder withdrawn while it was being sent is still recorded as
    /// sent (it went out); any other end applies only to a pending one.
    async fn finish_reminders(
        &self,
        finished: &[(Finish, audit::Event)],
        now: UnixTime,
    ) -> StoreResult<()>;

    /// Claims up to `limit` conversations whose hint says a message may
    /// have awaited the client past the practice's delay and whose
    /// not-before and lease have passed, leasing each until `lease_until`
    /// (an upsert that only one node wins), with the facts the decision
    /// needs.
    async fn claim_nudges(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<NudgeCandidate>>;

    /// Records a round's outcomes in one transaction: the hints (only where
    /// no entry came since the claim), the working state, the records and
    /// their audit events.
    async fn finish_nudges(&self, finished: &[NudgeFinish], now: UnixTime) -> StoreResult<()>;

    /// The practice's nudge delay and cooldown (minutes).
    async fn nudge_settings(&self, practice: PracticeId) -> StoreResult<(i64, i64)>;

    /// Sets them, with the audit event.
    async fn put_nudge_settings(
        &self,
        practice: PracticeId,
        after_minutes: i64,
        cooldown_minutes: i64,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// Nudges of the practice (or of one staff member's conversations),
    /// newest first.
    async fn list_nudges(
        &self,
        practice: PracticeId,
        staff: Option<UserId>,
        limit: i64,
    ) -> StoreResult<Vec<NudgeView>>;

    /// Reminders of the practice (or of one clinician's clients), newest
    /// due first.
    async fn list_reminders(
        &self,
        practice: PracticeId,
        clinician: Option<UserId>,
        limit: i64,
    ) -> StoreResult<Vec<ReminderView>>;
}
