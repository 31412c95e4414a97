//! The reminders slice's service: what a request may do, decided here and
//! carried out through `ReminderStore` in one transaction per change.
//!
//! Who may do what:
//! - an admin: every client of the practice (appointments, preferences,
//!   templates);
//! - a clinician or associate: the clients assigned to them
//!   (appointments they see are their own; preferences recorded on a
//!   client's behalf, e.g. asked for by phone, are audited and shown to the
//!   client);
//! - a client: their own occurrences (confirm, cancel) and preferences.
//!
//! Which of these a caller is comes from `policy::scope` (one place for
//! the rule); which operations a role may call at all is the route's
//! permission, checked before the handler, and not tested again here.

use super::contact::ContactKey;
use super::error::ReminderError;
use super::rules::check::{self, SenderChoice};
use super::rules::defaults::{self, Texts};
use super::rules::lint::{Context, Finding, WordLists};
use super::rules::locale::Language;
use super::rules::plan;
use super::rules::schedule::{self, Recurrence};
use super::rules::template::Kind;
use super::store::{NewAppointment, Occurrence, PreferencesRow, Timing};
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::ids::{AppointmentId, OccurrenceId, PracticeId, UserId};
use crate::policy::{self, Scope};
use crate::state::AppState;
use crate::storage::Role;
use std::sync::Arc;

/// The slice's handle in `AppState`; cheap to clone.
#[derive(Clone, Debug)]
pub struct ReminderService {
    /// Seals and opens contact addresses.
    pub contact: Arc<ContactKey>,
    /// The linter's word lists, parsed once.
    pub words: Arc<WordLists>,
}

impl ReminderService {
    /// Loads (or creates, 0600) the contact key in `data_dir`.
    pub fn start(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self {
            contact: Arc::new(ContactKey::load_or_create(data_dir)?),
            words: Arc::new(WordLists::shipped()),
        })
    }
}

type Result<T> = std::result::Result<T, ReminderError>;

/// In person or by video.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// At the practice.
    InPerson,
    /// By video.
    Telehealth,
}

impl Modality {
    fn code(self) -> &'static str {
        match self {
            Modality::InPerson => "in_person",
            Modality::Telehealth => "telehealth",
        }
    }
}

/// When and how, as a request gives it.
#[derive(Debug, Clone)]
pub struct TimingInput {
    /// IANA zone.
    pub time_zone: String,
    /// `YYYY-MM-DDTHH:MM` in that zone.
    pub start_local: String,
    /// Minutes (5–480).
    pub duration_minutes: u32,
    /// Weekly or every two weeks.
    pub recurrence: Option<Recurrence>,
    /// In person or telehealth.
    pub modality: Modality,
}

/// Checks a timing and expands its occurrences.
pub fn timing(input: &TimingInput, now: i64) -> Result<Timing> {
    let tz = schedule::zone(&input.time_zone)?;
    let start = chrono::NaiveDateTime::parse_from_str(&input.start_local, "%Y-%m-%dT%H:%M")
        .map_err(|_| ReminderError::Invalid("start_local must be YYYY-MM-DDTHH:MM"))?;
    if !(5..=480).contains(&input.duration_minutes) {
        return Err(ReminderError::Invalid(
            "duration_minutes must be between 5 and 480",
        ));
    }
    let occurrences = schedule::occurrences(tz, start, input.recurrence)?;
    if occurrences.first().is_none_or(|&first| first <= now) {
        return Err(ReminderError::InThePast);
    }
    // Years ahead is a typo, not a plan.
    if occurrences
        .first()
        .is_some_and(|&first| first > now + 2 * 366 * 86_400)
    {
        return Err(ReminderError::Invalid(
            "start_local must be within two years",
        ));
    }
    Ok(Timing {
        time_zone: tz.name().to_owned(),
        start_local: input.start_local.clone(),
        duration_minutes: i64::from(input.duration_minutes),
        rrule: input.recurrence.map(Recurrence::rrule),
        modality: input.modality.code(),
        occurrences,
    })
}

/// Refuses unless the caller may act for this client.
async fn may_act_for(state: &AppState, authed: &Authed, client: UserId) -> Result<()> {
    let user = state
        .store
        .user(authed.practice_id, client)
        .await
        .map_err(|_| ReminderError::NotFound("client"))?;
    if user.role() != Role::Client || user.deactivated_at.is_some() {
        return Err(ReminderError::NotFound("client"));
    }
    match policy::scope(authed.role) {
        Scope::Practice => Ok(()),
        Scope::OwnClients => {
            if state
                .store
                .is_assigned(authed.practice_id, authed.user_id, client)
                .await
                .map_err(ReminderError::Store)?
            {
                Ok(())
            } else {
                Err(ReminderError::NotAssigned)
            }
        }
        Scope::Own if authed.user_id == client => Ok(()),
        Scope::Own => Err(ReminderError::NotFound("client")),
    }
}

/// Tells the sockets of the people who may see an appointment of `client`
/// with `clinician` that it changed (after the change committed), so a
/// clinician sees a client's answer, and a client a new time, as it
/// happens. Best effort: the change is durable whatever happens here, and
/// every page reads the list again when opened.
async fn announce(state: &AppState, practice: PracticeId, client: UserId, clinician: UserId) {
    match state
        .store
        .appointment_watchers(practice, client, clinician)
        .await
    {
        Ok(devices) => state
            .delivery
            .wakeups
            .wake(&devices, crate::delivery::wake::Wake::Appointments),
        Err(e) => tracing::warn!(error = %e, "appointment change not announced"),
    }
}

/// Schedules a series.
pub async fn create_appointment(
    state: &AppState,
    authed: &Authed,
    client: UserId,
    clinician: Option<UserId>,
    input: &TimingInput,
) -> Result<(AppointmentId, Vec<OccurrenceId>)> {
    // Only staff get here (the route needs `CareForClients`).
    may_act_for(state, authed, client).await?;
    let clinician = match (policy::scope(authed.role), clinician) {
        (Scope::Practice, Some(c)) => c,
        (Scope::Practice, None) => {
            return Err(ReminderError::Invalid(
                "clinician_id is needed when an admin schedules",
            ))
        }
        (_, None) => authed.user_id,
        (_, Some(c)) if c == authed.user_id => c,
        (_, Some(_)) => {
            return Err(ReminderError::Forbidden(
                "you can only schedule your own appointments",
            ))
        }
    };
    if clinician != authed.user_id
        && !state
            .store
            .is_assigned(authed.practice_id, clinician, client)
            .await
            .map_err(ReminderError::Store)?
    {
        return Err(ReminderError::NotAssigned);
    }
    let now = state.now();
    let timing = timing(input, now)?;
    let id = AppointmentId::new();
    let event = authed
        .event(Action::AppointmentCreated)
        .target_user(client)
        .detail(serde_json::json!({
            "appointment": id,
            "occurrences": timing.occurrences.len(),
        }));
    let appointment = NewAppointment {
        id,
        practice_id: authed.practice_id,
        client_id: client,
        clinician_id: clinician,
        timing,
        created_by: authed.user_id,
    };
    let occurrences = state
        .store
        .create_appointment(&appointment, now, event)
        .await?;
    announce(state, authed.practice_id, client, clinician).await;
    Ok((id, occurrences))
}

/// Loads a series and checks the caller may change it.
async fn series_for_change(
    state: &AppState,
    authed: &Authed,
    id: AppointmentId,
) -> Result<super::store::Appointment> {
    // Only staff get here (the routes need `CareForClients`): clients
    // answer their appointments, staff change them.
    let a = state.store.appointment(authed.practice_id, id).await?;
    match policy::scope(authed.role) {
        Scope::Practice => Ok(a),
        _ if a.clinician_id == authed.user_id => Ok(a),
        // Another clinician's appointment is not theirs to see.
        _ => Err(ReminderError::NotFound("appointment")),
    }
}

/// Moves a series.
pub async fn reschedule(
    state: &AppState,
    authed: &Authed,
    id: AppointmentId,
    input: &TimingInput,
) -> Result<Vec<OccurrenceId>> {
    let a = series_for_change(state, authed, id).await?;
    let now = state.now();
    let timing = timing(input, now)?;
    let event = authed
        .event(Action::AppointmentRescheduled)
        .target_user(a.client_id)
        .detail(serde_json::json!({ "appointment": id, "occurrences": timing.occurrences.len() }));
    let occurrences = state
        .store
        .reschedule_appointment(authed.practice_id, id, &timing, now, event)
        .await?;
    announce(state, authed.practice_id, a.client_id, a.clinician_id).await;
    Ok(occurrences)
}

/// Cancels a series' future occurrences, or one of them.
pub async fn cancel(
    state: &AppState,
    authed: &Authed,
    id: AppointmentId,
    occurrence: Option<OccurrenceId>,
) -> Result<()> {
    let a = series_for_change(state, authed, id).await?;
    let event = authed
        .event(Action::AppointmentCancelled)
        .target_user(a.client_id)
        .detail(serde_json::json!({ "appointment": id, "occurrence": occurrence }));
    state
        .store
        .cancel_appointment(authed.practice_id, id, occurrence, state.now(), event)
        .await
        .map_err(|e| match e {
            crate::storage::StoreError::NotFound => ReminderError::NotFound("occurrence"),
            other => other.into(),
        })?;
    announce(state, authed.practice_id, a.client_id, a.clinician_id).await;
    Ok(())
}

/// A client's answer to one occurrence.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// "I'll be there."
    Confirm,
    /// "I can't come."
    Cancel,
}

/// A client confirms or cancels one of their occurrences.
pub async fn answer(
    state: &AppState,
    authed: &Authed,
    occurrence: OccurrenceId,
    answer: Answer,
    via: &'static str,
) -> Result<Occurrence> {
    // Only clients get here (the route needs `AnswerReminders`), and the
    // store finds the occurrence only among the caller's own.
    let status = match answer {
        Answer::Confirm => "confirmed",
        Answer::Cancel => "cancelled",
    };
    let event = authed
        .event(match answer {
            Answer::Confirm => Action::AppointmentConfirmed,
            Answer::Cancel => Action::AppointmentCancelledByClient,
        })
        .target_user(authed.user_id)
        .detail(serde_json::json!({ "occurrence": occurrence, "via": via }));
    let occ = state
        .store
        .set_occurrence_status(
            authed.practice_id,
            occurrence,
            Some(authed.user_id),
            status,
            state.now(),
            event,
        )
        .await
        .map_err(|e| match e {
            crate::storage::StoreError::NotFound => ReminderError::NotFound("occurrence"),
            other => other.into(),
        })?;
    announce(state, authed.practice_id, occ.client_id, occ.clinician_id).await;
    Ok(occ)
}

/// Upcoming occurrences the caller may see: a client's own, a clinician's
/// own appointments (optionally one client's), an admin's any.
pub async fn upcoming(
    state: &AppState,
    authed: &Authed,
    client: Option<UserId>,
) -> Result<Vec<Occurrence>> {
    let now = state.now();
    let (client, clinician) = match policy::scope(authed.role) {
        // A client sees their own; naming anyone else is answered as for
        // an id that does not exist here, never silently with their own.
        Scope::Own if client.is_some_and(|c| c != authed.user_id) => {
            return Err(ReminderError::NotFound("client"))
        }
        Scope::Own => (Some(authed.user_id), None),
        Scope::Practice => (client, None),
        Scope::OwnClients => (client, Some(authed.user_id)),
    };
    Ok(state
        .store
        .occurrences(authed.practice_id, client, clinician, now - 86_400)
        .await?)
}

/// What a client asked for, as a request gives it.
#[derive(Debug, Clone)]
pub struct PreferencesInput {
    /// Email allowed.
    pub email_enabled: bool,
    /// SMS allowed.
    pub sms_enabled: bool,
    /// New email address: `None` keeps, `Some("")` clears.
    pub email: Option<String>,
    /// New phone number (E.164): `None` keeps, `Some("")` clears.
    pub phone: Option<String>,
    /// Quiet hours, `HH:MM` both or neither.
    pub quiet: Option<(String, String)>,
    /// The client's IANA zone: `None` keeps the stored one.
    pub time_zone: Option<String>,
    /// Which name reminders carry.
    pub sender: SenderChoice,
    /// Minutes before each occurrence.
    pub leads_minutes: Vec<u32>,
    /// Language.
    pub language: Language,
    /// No reminders at all.
    pub opted_out: bool,
}

fn valid_email(s: &str) -> bool {
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.chars().all(|c| c.is_ascii_graphic())
}

fn valid_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Replaces a client's preferences (the client, or staff recording what
/// the client asked for).
pub async fn put_preferences(
    state: &AppState,
    authed: &Authed,
    client: UserId,
    input: PreferencesInput,
) -> Result<()> {
    may_act_for(state, authed, client).await?;
    if input.leads_minutes.is_empty() && !input.opted_out {
        return Err(ReminderError::Invalid(
            "leads_minutes needs at least one lead",
        ));
    }
    if input.leads_minutes.len() > plan::MAX_LEADS
        || input
            .leads_minutes
            .iter()
            .any(|&m| !(15..=plan::MAX_LEAD_MINUTES).contains(&m))
    {
        return Err(ReminderError::Invalid(
            "leads_minutes: at most 3, each from 15 minutes to 14 days",
        ));
    }
    let (quiet_start, quiet_end) = match &input.quiet {
        Some((s, e)) => {
            if plan::parse_quiet(Some(s), Some(e)).is_none() {
                return Err(ReminderError::Invalid("quiet hours must be HH:MM"));
            }
            (Some(s.clone()), Some(e.clone()))
        }
        None => (None, None),
    };
    if let Some(tz) = &input.time_zone {
        crate::reminders::rules::schedule::zone(tz)
            .map_err(|_| ReminderError::Invalid("time_zone is not an IANA zone"))?;
    }
    let existing = state
        .store
        .reminder_preferences(authed.practice_id, client)
        .await?;
    let time_zone = input
        .time_zone
        .clone()
        .or_else(|| existing.as_ref().and_then(|p| p.time_zone.clone()));
    let key = &state.reminders.contact;
    let email_ct = match input.email.as_deref().map(str::trim) {
        None => existing.as_ref().and_then(|p| p.email_ct.clone()),
        Some("") => None,
        Some(e) if valid_email(e) => Some(key.seal(client, e)),
        Some(_) => return Err(ReminderError::Invalid("email is not an address")),
    };
    let (phone_ct, phone_index) = match input.phone.as_deref().map(str::trim) {
        None => (
            existing.as_ref().and_then(|p| p.phone_ct.clone()),
            existing.as_ref().and_then(|p| p.phone_index.clone()),
        ),
        Some("") => (None, None),
        Some(p) if valid_phone(p) => (Some(key.seal(client, p)), Some(key.phone_index(p))),
        Some(_) => {
            return Err(ReminderError::Invalid(
                "phone must be in E.164 form (+15555550100)",
            ))
        }
    };
    if input.email_enabled && email_ct.is_none() {
        return Err(ReminderError::Invalid(
            "email is allowed but no address is given",
        ));
    }
    if input.sms_enabled && phone_ct.is_none() {
        return Err(ReminderError::Invalid(
            "SMS is allowed but no number is given",
        ));
    }
    let by_staff = authed.user_id != client;
    let event = authed
        .event(if by_staff {
            Action::ReminderPreferencesRecorded
        } else {
            Action::ReminderPreferencesUpdated
        })
        .target_user(client)
        // What changed in kind, never the addresses.
        .detail(serde_json::json!({
            "email": input.email_enabled,
            "sms": input.sms_enabled,
            "opted_out": input.opted_out,
            "language": input.language.code(),
        }));
    let row = PreferencesRow {
        client_id: client,
        practice_id: authed.practice_id,
        email_enabled: input.email_enabled,
        sms_enabled: input.sms_enabled,
        email_ct,
        phone_ct,
        phone_index,
        quiet_start,
        quiet_end,
        time_zone,
        sender: input.sender.code().to_owned(),
        leads_minutes: plan::format_leads(&input.leads_minutes),
        language: input.language.code().to_owned(),
        opted_out: input.opted_out,
        updated_by: authed.user_id,
        updated_at: state.now(),
    };
    Ok(state
        .store
        .put_reminder_preferences(&row, state.now(), event)
        .await?)
}

/// A client's preferences as shown (addresses masked), defaults when none.
pub async fn preferences(
    state: &AppState,
    authed: &Authed,
    client: UserId,
) -> Result<PreferencesView> {
    may_act_for(state, authed, client).await?;
    let row = state
        .store
        .reminder_preferences(authed.practice_id, client)
        .await?;
    let key = &state.reminders.contact;
    Ok(match row {
        None => PreferencesView {
            client_id: client,
            email_enabled: false,
            sms_enabled: false,
            email_hint: None,
            phone_hint: None,
            quiet_start: None,
            quiet_end: None,
            time_zone: None,
            sender: SenderChoice::Neutral,
            leads_minutes: plan::DEFAULT_LEADS_MINUTES.to_vec(),
            language: Language::En,
            opted_out: false,
            updated_by: None,
            updated_at: None,
        },
        Some(p) => PreferencesView {
            client_id: client,
            email_enabled: p.email_enabled,
            sms_enabled: p.sms_enabled,
            email_hint: p
                .email_ct
                .as_deref()
                .and_then(|ct| key.open(client, ct))
                .map(|e| mask_email(&e)),
            phone_hint: p
                .phone_ct
                .as_deref()
                .and_then(|ct| key.open(client, ct))
                .map(|p| mask_phone(&p)),
            quiet_start: p.quiet_start,
            quiet_end: p.quiet_end,
            time_zone: p.time_zone,
            sender: SenderChoice::from_code(&p.sender).unwrap_or_default(),
            leads_minutes: plan::parse_leads(&p.leads_minutes),
            language: Language::from_code(&p.language).unwrap_or(Language::En),
            opted_out: p.opted_out,
            updated_by: Some(p.updated_by),
            updated_at: Some(p.updated_at),
        },
    })
}

/// `a•••@example.org`: enough to recognise, not to use.
fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// `•••0100`.
fn mask_phone(p: &str) -> String {
    let tail: String = p
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("•••{tail}")
}

/// Preferences as shown: addresses masked.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[allow(missing_docs)] // the fields of `PreferencesInput`, addresses masked
pub struct PreferencesView {
    pub client_id: UserId,
    pub email_enabled: bool,
    pub sms_enabled: bool,
    /// The email address, masked (`a•••@example.org`).
    pub email_hint: Option<String>,
    /// The phone number, masked (`•••0100`).
    pub phone_hint: Option<String>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// The client's IANA zone, when they gave it.
    pub time_zone: Option<String>,
    pub sender: SenderChoice,
    pub leads_minutes: Vec<u32>,
    pub language: Language,
    pub opted_out: bool,
    /// Who last set them (the client, or staff recording a request).
    pub updated_by: Option<UserId>,
    pub updated_at: Option<i64>,
}

/// A template with its lint and its preview.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    /// What it is for.
    pub kind: Kind,
    /// Its language.
    pub language: Language,
    /// The saved version (0: the shipped default).
    pub version: i64,
    /// Its texts.
    pub texts: Texts,
    /// Why it would be refused (empty: it passes).
    pub findings: Vec<Finding>,
    /// What a client would receive (the longest dates, the practice's
    /// sender name).
    pub preview: check::Rendered,
}

/// The linter's knowledge of the practice now: staff names, the sender
/// name a practice-name preference would carry.
async fn lint_context(state: &AppState, authed: &Authed) -> Result<(Vec<String>, String)> {
    let users = state.store.list_users(authed.practice_id).await?;
    let staff: Vec<String> = users
        .iter()
        .filter(|u| u.role().is_staff())
        .map(|u| u.display_name.clone())
        .collect();
    let practice = state.store.practice(authed.practice_id).await?;
    Ok((staff, practice.name))
}

/// Lints texts for the editor (nothing saved).
pub async fn lint(
    state: &AppState,
    authed: &Authed,
    kind: Kind,
    language: Language,
    texts: Texts,
    version: i64,
) -> Result<TemplateView> {
    // Only staff get here: the routes that lint (reading, linting, saving
    // a template) need `CareForClients` or `ConfigureReminders`.
    // Bounded before any work: the linter's cost grows with the text.
    for t in [&texts.sms, &texts.email_subject, &texts.email_body] {
        if t.len() > 4_000 {
            return Err(ReminderError::Invalid(
                "a template text is at most 4,000 bytes",
            ));
        }
    }
    let (staff, practice_name) = lint_context(state, authed).await?;
    let words = &state.reminders.words;
    let sender = check::sender_name(words, SenderChoice::Practice, &practice_name, "", language);
    let ctx = Context {
        clinician_names: &staff,
        clinician_opt_in: false,
    };
    let link = state.settings.public_url();
    let (findings, preview) =
        check::check_on_save(words, &ctx, kind, language, &texts, &sender, &link);
    Ok(TemplateView {
        kind,
        language,
        version,
        texts,
        findings,
        preview,
    })
}

/// The template in use: the practice's newest version, else the default.
pub async fn template(
    state: &AppState,
    authed: &Authed,
    kind: Kind,
    language: Language,
) -> Result<TemplateView> {
    let saved = state
        .store
        .reminder_template(authed.practice_id, kind.code(), language.code())
        .await?;
    let (version, texts) = match saved {
        Some(t) => (
            t.version,
            Texts {
                sms: t.sms,
                email_subject: t.email_subject,
                email_body: t.email_body,
            },
        ),
        None => (0, defaults::texts(kind, language)),
    };
    lint(state, authed, kind, language, texts, version).await
}

/// Saves a new version (admins), refused with the findings when it does
/// not pass.
pub async fn put_template(
    state: &AppState,
    authed: &Authed,
    kind: Kind,
    language: Language,
    texts: Texts,
) -> Result<TemplateView> {
    // Only admins get here (the route needs `ConfigureReminders`).
    let view = lint(state, authed, kind, language, texts, 0).await?;
    if !view.findings.is_empty() {
        return Err(ReminderError::TemplateRefused(view.findings));
    }
    let event = authed.event(Action::ReminderTemplateSaved);
    let version = state
        .store
        .put_reminder_template(
            authed.practice_id,
            kind.code(),
            language.code(),
            &view.texts,
            authed.user_id,
            state.now(),
            event,
        )
        .await?;
    Ok(TemplateView { version, ..view })
}

/// Reminders staff may see: an admin all, a clinician their own
/// appointments'.
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<super::store::ReminderView>> {
    let clinician = match policy::scope(authed.role) {
        Scope::Practice => None,
        Scope::OwnClients => Some(authed.user_id),
        // The route (`CareForClients`) admits no client; refused anyway
        // rather than answered with everyone's.
        Scope::Own => return Err(ReminderError::Forbidden("the reminders list is for staff")),
    };
    Ok(state
        .store
        .list_reminders(authed.practice_id, clinician, 500)
        .await?)
}

/// A practice's nudge timing.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NudgeSettings {
    /// Minutes a message stays unread (the client offline) before
    /// "You have a new secure message" goes out; 0 turns nudges off.
    pub after_minutes: i64,
    /// At most one nudge per conversation per this many minutes.
    pub cooldown_minutes: i64,
}

/// The bounds of `NudgeSettings`: a delay of 5 minutes to a day (or off),
/// a cooldown of an hour to a week.
pub const NUDGE_AFTER_MINUTES: std::ops::RangeInclusive<i64> = 5..=1440;
/// See `NUDGE_AFTER_MINUTES`.
pub const NUDGE_COOLDOWN_MINUTES: std::ops::RangeInclusive<i64> = 60..=10_080;

/// The practice's nudge timing (staff).
pub async fn nudge_settings(state: &AppState, authed: &Authed) -> Result<NudgeSettings> {
    // Only staff get here (the route needs `CareForClients`).
    let (after_minutes, cooldown_minutes) = state.store.nudge_settings(authed.practice_id).await?;
    Ok(NudgeSettings {
        after_minutes,
        cooldown_minutes,
    })
}

/// Sets the practice's nudge timing (an admin; audited).
pub async fn put_nudge_settings(
    state: &AppState,
    authed: &Authed,
    settings: NudgeSettings,
) -> Result<NudgeSettings> {
    // Only admins get here (the route needs `ConfigureReminders`).
    if settings.after_minutes != 0 && !NUDGE_AFTER_MINUTES.contains(&settings.after_minutes) {
        return Err(ReminderError::Invalid(
            "after_minutes: 0 (off) or from 5 minutes to a day",
        ));
    }
    if !NUDGE_COOLDOWN_MINUTES.contains(&settings.cooldown_minutes) {
        return Err(ReminderError::Invalid(
            "cooldown_minutes: from an hour to a week",
        ));
    }
    let event = authed
        .event(Action::NudgeSettingsChanged)
        .detail(serde_json::json!({
            "after_minutes": settings.after_minutes,
            "cooldown_minutes": settings.cooldown_minutes,
        }));
    state
        .store
        .put_nudge_settings(
            authed.practice_id,
            settings.after_minutes,
            settings.cooldown_minutes,
            state.now(),
            event,
        )
        .await?;
    Ok(settings)
}

/// Nudges of the practice (admins) or of one's own conversations (staff),
/// newest first.
pub async fn list_nudges(
    state: &AppState,
    authed: &Authed,
) -> Result<Vec<super::store::NudgeView>> {
    let staff = match policy::scope(authed.role) {
        Scope::Practice => None,
        Scope::OwnClients => Some(authed.user_id),
        // As for the reminders list: no client gets here.
        Scope::Own => return Err(ReminderError::Forbidden("the nudges list is for staff")),
    };
    Ok(state
        .store
        .list_nudges(authed.practice_id, staff, 500)
        .await?)
}

/// Acts on a reply to a reminder text (its signature already checked):
/// confirms or cancels the sender's next appointment, records a STOP in
/// their preferences. Returns the reply to text back, if any: it says only
/// what was done.
pub async fn inbound_sms(
    state: &AppState,
    from: &str,
    reply: super::rules::inbound::Reply,
) -> Result<Option<&'static str>> {
    use super::rules::inbound::Reply;
    let index = state.reminders.contact.phone_index(from);
    let clients = state.store.clients_by_phone(&index).await?;
    if clients.is_empty() {
        return Ok(None);
    }
    let now = state.now();
    let meta = crate::audit::RequestMeta::default();
    match reply {
        Reply::Help => Ok(Some(
            "Reply C to confirm or X to cancel your next appointment, STOP to get no more texts.",
        )),
        Reply::Other => Ok(None),
        Reply::Stop => {
            // Every client on this number: a shared phone opted out is
            // opted out for all of them.
            for (practice, client) in clients {
                let Some(mut row) = state.store.reminder_preferences(practice, client).await?
                else {
                    continue;
                };
                row.opted_out = true;
                row.updated_by = client;
                let event =
                    crate::audit::Event::new(practice, Action::ReminderPreferencesOptedOut, &meta)
                        .target_user(client)
                        .detail(serde_json::json!({ "via": "sms" }));
                state
                    .store
                    .put_reminder_preferences(&row, now, event)
                    .await?;
            }
            Ok(Some("You will get no more texts from us."))
        }
        Reply::Confirm | Reply::Cancel => {
            // A number shared by several clients does not say whose
            // appointment it is: nothing is guessed.
            let [(practice, client)] = clients.as_slice() else {
                return Ok(Some("Please answer in the app."));
            };
            let Some(occurrence) = state.store.next_occurrence(*practice, *client, now).await?
            else {
                return Ok(Some("There is no upcoming appointment to answer."));
            };
            let (status, action, text) = match reply {
                Reply::Confirm => (
                    "confirmed",
                    Action::AppointmentConfirmed,
                    "Thank you, your appointment is confirmed.",
                ),
                _ => (
                    "cancelled",
                    Action::AppointmentCancelledByClient,
                    "Your appointment is cancelled.",
                ),
            };
            let event = crate::audit::Event::new(*practice, action, &meta)
                .target_user(*client)
                .detail(serde_json::json!({ "occurrence": occurrence, "via": "sms" }));
            let occ = state
                .store
                .set_occurrence_status(*practice, occurrence, Some(*client), status, now, event)
                .await?;
            announce(state, *practice, occ.client_id, occ.clinician_id).await;
            Ok(Some(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_masked() {
        assert!(valid_email("a@example.org"));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.org",
            "a@.org",
            "a@b.org.",
            "a b@c.org",
            "a@b@c.org",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
        assert!(valid_phone("+15555550100"));
        for bad in [
            "15555550100",
            "+0555555",
            "+1555",
            "+1555555010012345",
            "+1555-555",
        ] {
            assert!(!valid_phone(bad), "{bad:?}");
        }
        assert_eq!(mask_email("alex@example.org"), "a•••@example.org");
        assert_eq!(mask_phone("+15555550100"), "•••0100");
    }
}
