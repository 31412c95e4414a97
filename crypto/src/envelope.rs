//! Content envelope: the plaintext inside every MLS application message.
//!
//! Wire format, version 1 (all integers big-endian, no padding):
//!
//! ```text
//! offset size  field
//! 0      1     version            = 0x01
//! 1      1     type               1 text, 2 reminder, 3 reminder_response,
//!                                 4 receipt, 5 system, 6 history;
//!                                 others: unknown
//! 2      16    client_message_id  random, chosen by the sender (dedup key)
//! 18     8     sent_at_ms         sender's clock, ms since Unix epoch
//! 26     4     body_len           = N
//! 30     N     body               type-specific, see below
//! ```
//!
//! Nothing may follow the body. The whole envelope is at most
//! [`MAX_ENVELOPE_LEN`] bytes (64 KiB), checked on encode and on decode.
//!
//! Bodies (`str16` = u16 length + UTF-8 bytes):
//!
//! * **text (1)**: the whole body is UTF-8 text (may be empty).
//! * **reminder (2)**: `reminder_id[16] || starts_at_ms u64 ||
//!   duration_minutes u32 || template_id str16 || location str16 ||
//!   requires_response u8 (0|1)`, then optionally the details extension:
//!   `0x02 || change u8 (1 scheduled, 2 rescheduled, 3 cancelled) ||
//!   time_zone str16 || modality u8 (0 unspecified, 1 in person,
//!   2 telehealth) || link str16 || note str16`.
//! * **reminder_response (3)**: `reminder_id[16] || response u8 (1 confirm,
//!   2 cancel, 3 reschedule_request) || note str16`, then optionally the
//!   occurrence extension: `0x02 || occurrence_id[16] || starts_at_ms u64`.
//!
//! An extension is versioned by its first byte and is present only when
//! the sender has something to put in it, so a body without one is exactly
//! the first version's: what older builds wrote still decodes, and what
//! this build writes without details is byte-identical to it. An extension
//! byte other than 2 is malformed (a later version adds its fields after
//! version 2's, under a new byte).
//! * **receipt (4)**: `kind u8 (1 delivered, 2 read) || count u16 ||
//!   count × message_id[16]`, count 1..=1024.
//! * **system (5)**: `code str16 || detail str16`.
//! * **history (6)**: a handover of earlier messages to one new device of
//!   the group (`docs/history.md`): `for_device str16 || count u16 ||
//!   count × record`, count 0..=1024 (0: nothing earlier); a record is `seq u64 ||
//!   sender_user_id str16 || status u8 (0 none, 1 sent, 2 delivered,
//!   3 read) || envelope_len u32 || envelope`, where `envelope` is a whole
//!   envelope of type text, reminder or reminder_response (nothing else:
//!   no receipts, no nested handovers). `seq` is the server's log position
//!   the handing device recorded it at; `status` is its sending state as
//!   the handing device knows it (0 for the other person's messages).
//!
//! A type this version does not know decodes to [`Content::Unknown`] with
//! the raw body; receivers skip it (it must not be shown as an error). A
//! version other than 1 is [`Error::UnsupportedVersion`].

use crate::error::{Error, Result};
use crate::wire::{put_bytes_u16, put_bytes_u32, Reader};

/// Envelope format version written by this build.
pub const ENVELOPE_VERSION: u8 = 1;
/// Maximum encoded envelope size in bytes (header included).
pub const MAX_ENVELOPE_LEN: usize = 64 * 1024;
/// Header size in bytes.
pub const ENVELOPE_HEADER_LEN: usize = 30;
/// Maximum number of message ids in one receipt.
pub const MAX_RECEIPT_IDS: usize = 1024;
/// Maximum bytes in a short string field (`str16`).
pub const MAX_SHORT_STRING: usize = 4096;

/// Type code of [`Content::Text`].
pub const TYPE_TEXT: u8 = 1;
/// Type code of [`Content::Reminder`].
pub const TYPE_REMINDER: u8 = 2;
/// Type code of [`Content::ReminderResponse`].
pub const TYPE_REMINDER_RESPONSE: u8 = 3;
/// Type code of [`Content::Receipt`].
pub const TYPE_RECEIPT: u8 = 4;
/// Type code of [`Content::System`].
pub const TYPE_SYSTEM: u8 = 5;
/// Type code of [`Content::History`].
pub const TYPE_HISTORY: u8 = 6;
/// Maximum number of records in one history handover.
pub const MAX_HISTORY_RECORDS: usize = 1024;

/// First byte of the version-2 extension of reminder and response bodies.
pub const EXTENSION_V2: u8 = 0x02;

/// What a reminder message tells the other side about the appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReminderChange {
    /// A new appointment (or series).
    Scheduled,
    /// It moved: `starts_at_ms` is the new time.
    Rescheduled,
    /// It is off.
    Cancelled,
}

impl ReminderChange {
    fn code(self) -> u8 {
        match self {
            ReminderChange::Scheduled => 1,
            ReminderChange::Rescheduled => 2,
            ReminderChange::Cancelled => 3,
        }
    }
    fn from_code(c: u8) -> Result<Self> {
        match c {
            1 => Ok(ReminderChange::Scheduled),
            2 => Ok(ReminderChange::Rescheduled),
            3 => Ok(ReminderChange::Cancelled),
            _ => Err(Error::malformed("reminder change")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            ReminderChange::Scheduled => "scheduled",
            ReminderChange::Rescheduled => "rescheduled",
            ReminderChange::Cancelled => "cancelled",
        }
    }
    fn from_name(s: &str) -> Result<Self> {
        match s {
            "scheduled" => Ok(ReminderChange::Scheduled),
            "rescheduled" => Ok(ReminderChange::Rescheduled),
            "cancelled" => Ok(ReminderChange::Cancelled),
            _ => Err(Error::InvalidArgument("reminder change".into())),
        }
    }
}

/// How the appointment takes place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    /// Not said.
    Unspecified,
    /// At a place (`location`).
    InPerson,
    /// By video (`link`).
    Telehealth,
}

impl Modality {
    fn code(self) -> u8 {
        match self {
            Modality::Unspecified => 0,
            Modality::InPerson => 1,
            Modality::Telehealth => 2,
        }
    }
    fn from_code(c: u8) -> Result<Self> {
        match c {
            0 => Ok(Modality::Unspecified),
            1 => Ok(Modality::InPerson),
            2 => Ok(Modality::Telehealth),
            _ => Err(Error::malformed("modality")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Modality::Unspecified => "",
            Modality::InPerson => "in_person",
            Modality::Telehealth => "telehealth",
        }
    }
    fn from_name(s: &str) -> Result<Self> {
        match s {
            "" => Ok(Modality::Unspecified),
            "in_person" => Ok(Modality::InPerson),
            "telehealth" => Ok(Modality::Telehealth),
            _ => Err(Error::InvalidArgument("modality".into())),
        }
    }
}

/// The details of an appointment that only the two sides may read: they
/// travel only here, end to end, never through the server's scheduling
/// records or a reminder text (extension version 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderDetails {
    /// New, moved or cancelled.
    pub change: ReminderChange,
    /// The client's IANA zone the time is shown in (may be empty).
    pub time_zone: String,
    /// In person or telehealth.
    pub modality: Modality,
    /// The telehealth link (may be empty).
    pub link: String,
    /// A note from the clinician (may be empty).
    pub note: String,
}

/// Which occurrence of a series a response answers (extension version 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OccurrenceRef {
    /// The occurrence's id (the server's scheduling record).
    pub occurrence_id: [u8; 16],
    /// Its start, ms since Unix epoch, so the line reads without a lookup.
    pub starts_at_ms: u64,
}

/// A structured appointment reminder (minimum-necessary: a template id and
/// time, no free-text diagnosis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reminder {
    /// Stable id of the reminder (responses refer to it).
    pub reminder_id: [u8; 16],
    /// Appointment start, ms since Unix epoch.
    pub starts_at_ms: u64,
    /// Appointment length in minutes.
    pub duration_minutes: u32,
    /// Id of the practice-approved template used to render it.
    pub template_id: String,
    /// Location text (e.g. "Office 2" or "Video"); may be empty.
    pub location: String,
    /// Whether a confirm/cancel response is requested.
    pub requires_response: bool,
    /// The end-to-end details (version 2); None writes a version-1 body.
    pub details: Option<ReminderDetails>,
}

/// A client's response to a reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseKind {
    /// The client confirms the appointment.
    Confirm,
    /// The client cancels the appointment.
    Cancel,
    /// The client asks to reschedule.
    RescheduleRequest,
}

impl ResponseKind {
    fn code(self) -> u8 {
        match self {
            ResponseKind::Confirm => 1,
            ResponseKind::Cancel => 2,
            ResponseKind::RescheduleRequest => 3,
        }
    }
    fn from_code(c: u8) -> Result<Self> {
        match c {
            1 => Ok(ResponseKind::Confirm),
            2 => Ok(ResponseKind::Cancel),
            3 => Ok(ResponseKind::RescheduleRequest),
            _ => Err(Error::malformed("reminder response kind")),
        }
    }
}

/// Receipt kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptKind {
    /// The messages reached a device of the recipient.
    Delivered,
    /// The messages were displayed to the recipient.
    Read,
}

impl ReceiptKind {
    fn code(self) -> u8 {
        match self {
            ReceiptKind::Delivered => 1,
            ReceiptKind::Read => 2,
        }
    }
    fn from_code(c: u8) -> Result<Self> {
        match c {
            1 => Ok(ReceiptKind::Delivered),
            2 => Ok(ReceiptKind::Read),
            _ => Err(Error::malformed("receipt kind")),
        }
    }
}

/// The sending state of a handed-over message, as the handing device knew it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryStatus {
    /// Not the person's own message (or no state known).
    None,
    /// Sent, no receipt yet.
    Sent,
    /// A device of the other person received it.
    Delivered,
    /// The other person read it.
    Read,
}

impl HistoryStatus {
    fn code(self) -> u8 {
        match self {
            HistoryStatus::None => 0,
            HistoryStatus::Sent => 1,
            HistoryStatus::Delivered => 2,
            HistoryStatus::Read => 3,
        }
    }
    fn from_code(c: u8) -> Result<Self> {
        match c {
            0 => Ok(HistoryStatus::None),
            1 => Ok(HistoryStatus::Sent),
            2 => Ok(HistoryStatus::Delivered),
            3 => Ok(HistoryStatus::Read),
            _ => Err(Error::malformed("history status")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            HistoryStatus::None => "",
            HistoryStatus::Sent => "sent",
            HistoryStatus::Delivered => "delivered",
            HistoryStatus::Read => "read",
        }
    }
    fn from_name(s: &str) -> Result<Self> {
        match s {
            "" => Ok(HistoryStatus::None),
            "sent" => Ok(HistoryStatus::Sent),
            "delivered" => Ok(HistoryStatus::Delivered),
            "read" => Ok(HistoryStatus::Read),
            _ => Err(Error::InvalidArgument("history status".into())),
        }
    }
}

/// One earlier message in a history handover: the original envelope (its
/// id, time and content unchanged) and who wrote it. The writer is the
/// handing device's word, vouched for by its own MLS signature only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRecord {
    /// The server's log position the handing device recorded it at.
    pub seq: u64,
    /// The user who wrote it (one of the conversation's two people).
    pub sender_user_id: String,
    /// Its sending state as the handing device knew it.
    pub status: HistoryStatus,
    /// The original envelope: text, reminder or reminder_response only.
    pub envelope: Envelope,
}

/// Typed content of an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Free text.
    Text(String),
    /// An appointment reminder.
    Reminder(Reminder),
    /// A response to a reminder.
    ReminderResponse {
        /// The reminder being answered.
        reminder_id: [u8; 16],
        /// The answer.
        response: ResponseKind,
        /// Optional note (may be empty).
        note: String,
        /// The occurrence answered (version 2); None writes a version-1 body.
        occurrence: Option<OccurrenceRef>,
    },
    /// Delivery or read receipt for one or more messages.
    Receipt {
        /// Delivered or read.
        kind: ReceiptKind,
        /// Client message ids acknowledged.
        message_ids: Vec<[u8; 16]>,
    },
    /// A system notice (e.g. "device added"), rendered from a code.
    System {
        /// Machine-readable code.
        code: String,
        /// Human-readable detail (may be empty).
        detail: String,
    },
    /// Earlier messages handed over to one new device of the group.
    History {
        /// The device id the handover is for; every other member skips it.
        for_device: String,
        /// Oldest first, at most [`MAX_HISTORY_RECORDS`]; none says there
        /// is nothing earlier (the new device stops waiting for it).
        records: Vec<HistoryRecord>,
    },
    /// A type this version does not know. Skip it.
    Unknown {
        /// The unknown type code.
        type_code: u8,
        /// The raw body.
        body: Vec<u8>,
    },
}

impl Content {
    /// Type code on the wire.
    pub fn type_code(&self) -> u8 {
        match self {
            Content::Text(_) => TYPE_TEXT,
            Content::Reminder(_) => TYPE_REMINDER,
            Content::ReminderResponse { .. } => TYPE_REMINDER_RESPONSE,
            Content::Receipt { .. } => TYPE_RECEIPT,
            Content::System { .. } => TYPE_SYSTEM,
            Content::History { .. } => TYPE_HISTORY,
            Content::Unknown { type_code, .. } => *type_code,
        }
    }
}

/// An envelope: typed content plus idempotency id and sender timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Random 16-byte id chosen by the sender; receivers deduplicate on it.
    pub client_message_id: [u8; 16],
    /// Sender's timestamp in ms since the Unix epoch (passed in by caller).
    pub sent_at_ms: u64,
    /// The content.
    pub content: Content,
}

fn put_str16(out: &mut Vec<u8>, s: &str) -> Result<()> {
    if s.len() > MAX_SHORT_STRING {
        return Err(Error::TooLarge {
            len: s.len(),
            limit: MAX_SHORT_STRING,
        });
    }
    put_bytes_u16(out, s.as_bytes())
}

impl Envelope {
    /// Encode; fails with [`Error::TooLarge`] above [`MAX_ENVELOPE_LEN`] and
    /// with [`Error::InvalidArgument`] for content that could not be decoded
    /// back (e.g. an empty receipt).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        match &self.content {
            Content::Text(t) => body.extend_from_slice(t.as_bytes()),
            Content::Reminder(r) => {
                body.extend_from_slice(&r.reminder_id);
                body.extend_from_slice(&r.starts_at_ms.to_be_bytes());
                body.extend_from_slice(&r.duration_minutes.to_be_bytes());
                put_str16(&mut body, &r.template_id)?;
                put_str16(&mut body, &r.location)?;
                body.push(u8::from(r.requires_response));
                if let Some(d) = &r.details {
                    body.push(EXTENSION_V2);
                    body.push(d.change.code());
                    put_str16(&mut body, &d.time_zone)?;
                    body.push(d.modality.code());
                    put_str16(&mut body, &d.link)?;
                    put_str16(&mut body, &d.note)?;
                }
            }
            Content::ReminderResponse {
                reminder_id,
                response,
                note,
                occurrence,
            } => {
                body.extend_from_slice(reminder_id);
                body.push(response.code());
                put_str16(&mut body, note)?;
                if let Some(o) = occurrence {
                    body.push(EXTENSION_V2);
                    body.extend_from_slice(&o.occurrence_id);
                    body.extend_from_slice(&o.starts_at_ms.to_be_bytes());
                }
            }
            Content::Receipt { kind, message_ids } => {
                if message_ids.is_empty() || message_ids.len() > MAX_RECEIPT_IDS {
                    return Err(Error::InvalidArgument(format!(
                        "receipt must list 1..={MAX_RECEIPT_IDS} ids"
                    )));
                }
                body.push(kind.code());
                let n = u16::try_from(message_ids.len())
                    .map_err(|_| Error::InvalidArgument("too many ids".into()))?;
                body.extend_from_slice(&n.to_be_bytes());
                for id in message_ids {
                    body.extend_from_slice(id);
                }
            }
            Content::System { code, detail } => {
                put_str16(&mut body, code)?;
                put_str16(&mut body, detail)?;
            }
            Content::History {
                for_device,
                records,
            } => {
                if records.len() > MAX_HISTORY_RECORDS {
                    return Err(Error::InvalidArgument(format!(
                        "a handover holds at most {MAX_HISTORY_RECORDS} records"
                    )));
                }
                put_str16(&mut body, for_device)?;
                let n = u16::try_from(records.len())
                    .map_err(|_| Error::InvalidArgument("too many records".into()))?;
                body.extend_from_slice(&n.to_be_bytes());
                for rec in records {
                    if !handed_over(&rec.envelope.content) {
                        return Err(Error::InvalidArgument(
                            "a handover holds texts, reminders and responses only".into(),
                        ));
                    }
                    body.extend_from_slice(&rec.seq.to_be_bytes());
                    put_str16(&mut body, &rec.sender_user_id)?;
                    body.push(rec.status.code());
                    put_bytes_u32(&mut body, &rec.envelope.encode()?)?;
                }
            }
            Content::Unknown { type_code, body: b } => {
                if (TYPE_TEXT..=TYPE_HISTORY).contains(type_code) {
                    return Err(Error::InvalidArgument(
                        "Unknown content with a known type code".into(),
                    ));
                }
                body.extend_from_slice(b);
            }
        }
        let total = ENVELOPE_HEADER_LEN + body.len();
        if total > MAX_ENVELOPE_LEN {
            return Err(Error::TooLarge {
                len: total,
                limit: MAX_ENVELOPE_LEN,
            });
        }
        let mut out = Vec::with_capacity(total);
        out.push(ENVELOPE_VERSION);
        out.push(self.content.type_code());
        out.extend_from_slice(&self.client_message_id);
        out.extend_from_slice(&self.sent_at_ms.to_be_bytes());
        put_bytes_u32(&mut out, &body)?;
        Ok(out)
    }

    /// Decode; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(Error::TooLarge {
                len: bytes.len(),
                limit: MAX_ENVELOPE_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != ENVELOPE_VERSION {
            return Err(Error::UnsupportedVersion(u32::from(version)));
        }
        let type_code = r.u8()?;
        let client_message_id = r.array::<16>()?;
        let sent_at_ms = r.u64()?;
        let body = r.bytes_u32(MAX_ENVELOPE_LEN)?;
        r.finish()?;
        let content = decode_body(type_code, body)?;
        Ok(Envelope {
            client_message_id,
            sent_at_ms,
            content,
        })
    }
}

/// What a handover may carry: the messages people wrote, nothing that
/// changes state (receipts) and no handover inside a handover.
fn handed_over(content: &Content) -> bool {
    matches!(
        content,
        Content::Text(_) | Content::Reminder(_) | Content::ReminderResponse { .. }
    )
}

/// Whether a version-2 extension follows (nothing left: a version-1 body).
fn extension(r: &mut Reader<'_>) -> Result<bool> {
    if r.remaining() == 0 {
        return Ok(false);
    }
    match r.u8()? {
        EXTENSION_V2 => Ok(true),
        _ => Err(Error::malformed("extension version")),
    }
}

fn decode_body(type_code: u8, body: &[u8]) -> Result<Content> {
    let mut r = Reader::new(body);
    let content = match type_code {
        TYPE_TEXT => {
            let t = String::from_utf8(r.rest().to_vec())
                .map_err(|_| Error::malformed("text is not UTF-8"))?;
            Content::Text(t)
        }
        TYPE_REMINDER => {
            let reminder_id = r.array::<16>()?;
            let starts_at_ms = r.u64()?;
            let duration_minutes = r.u32()?;
            let template_id = r.string_u16(MAX_SHORT_STRING)?;
            let location = r.string_u16(MAX_SHORT_STRING)?;
            let requires_response = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(Error::malformed("bool")),
            };
            let details = if extension(&mut r)? {
                Some(ReminderDetails {
                    change: ReminderChange::from_code(r.u8()?)?,
                    time_zone: r.string_u16(MAX_SHORT_STRING)?,
                    modality: Modality::from_code(r.u8()?)?,
                    link: r.string_u16(MAX_SHORT_STRING)?,
                    note: r.string_u16(MAX_SHORT_STRING)?,
                })
            } else {
                None
            };
            Content::Reminder(Reminder {
                reminder_id,
                starts_at_ms,
                duration_minutes,
                template_id,
                location,
                requires_response,
                details,
            })
        }
        TYPE_REMINDER_RESPONSE => {
            let reminder_id = r.array::<16>()?;
            let response = ResponseKind::from_code(r.u8()?)?;
            let note = r.string_u16(MAX_SHORT_STRING)?;
            let occurrence = if extension(&mut r)? {
                Some(OccurrenceRef {
                    occurrence_id: r.array::<16>()?,
                    starts_at_ms: r.u64()?,
                })
            } else {
                None
            };
            Content::ReminderResponse {
                reminder_id,
                response,
                note,
                occurrence,
            }
        }
        TYPE_RECEIPT => {
            let kind = ReceiptKind::from_code(r.u8()?)?;
            let n = usize::from(r.u16()?);
            if n == 0 || n > MAX_RECEIPT_IDS {
                return Err(Error::malformed("receipt id count"));
            }
            let mut message_ids = Vec::with_capacity(n);
            for _ in 0..n {
                message_ids.push(r.array::<16>()?);
            }
            Content::Receipt { kind, message_ids }
        }
        TYPE_SYSTEM => {
            let code = r.string_u16(MAX_SHORT_STRING)?;
            let detail = r.string_u16(MAX_SHORT_STRING)?;
            Content::System { code, detail }
        }
        TYPE_HISTORY => {
            let for_device = r.string_u16(MAX_SHORT_STRING)?;
            let n = usize::from(r.u16()?);
            if n > MAX_HISTORY_RECORDS {
                return Err(Error::malformed("history record count"));
            }
            let mut records = Vec::with_capacity(n);
            for _ in 0..n {
                let seq = r.u64()?;
                let sender_user_id = r.string_u16(MAX_SHORT_STRING)?;
                let status = HistoryStatus::from_code(r.u8()?)?;
                // The outer envelope is at most 64 KiB, so this one is too;
                // the type check keeps recursion to one level.
                let envelope = Envelope::decode(r.bytes_u32(MAX_ENVELOPE_LEN)?)?;
                if !handed_over(&envelope.content) {
                    return Err(Error::malformed("history record type"));
                }
                records.push(HistoryRecord {
                    seq,
                    sender_user_id,
                    status,
                    envelope,
                });
            }
            Content::History {
                for_device,
                records,
            }
        }
        other => Content::Unknown {
            type_code: other,
            body: r.rest().to_vec(),
        },
    };
    r.finish()?;
    Ok(content)
}

// ---------------------------------------------------------------------------
// Canonical JSON form (used by test vectors and the wasm boundary).
//
// {"client_message_id": hex32, "sent_at_ms": u64, "content": {"type": ...}}
// content:
//   {"type":"text","text":str}
//   {"type":"reminder","reminder_id":hex32,"starts_at_ms":u64,
//    "duration_minutes":u32,"template_id":str,"location":str,
//    "requires_response":bool,
//    "details"?: {"change":"scheduled"|"rescheduled"|"cancelled",
//                 "time_zone":str,"modality":""|"in_person"|"telehealth",
//                 "link":str,"note":str}}
//   {"type":"reminder_response","reminder_id":hex32,
//    "response":"confirm"|"cancel"|"reschedule_request","note":str,
//    "occurrence"?: {"occurrence_id":hex32,"starts_at_ms":u64}}
// An absent extension is left out of the JSON (not written as null).
//   {"type":"receipt","kind":"delivered"|"read","message_ids":[hex32...]}
//   {"type":"system","code":str,"detail":str}
//   {"type":"history","for_device":str,"records":[{"seq":u64,
//    "sender_user_id":str,"status":""|"sent"|"delivered"|"read",
//    "envelope":{...an envelope of type text, reminder or
//    reminder_response...}}...]}
//   {"type":"unknown","type_code":u8,"body":hex}

mod json {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct EnvelopeJson {
        pub client_message_id: String,
        pub sent_at_ms: u64,
        pub content: ContentJson,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    pub(super) enum ContentJson {
        Text {
            text: String,
        },
        Reminder {
            reminder_id: String,
            starts_at_ms: u64,
            duration_minutes: u32,
            template_id: String,
            location: String,
            requires_response: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            details: Option<DetailsJson>,
        },
        ReminderResponse {
            reminder_id: String,
            response: String,
            note: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            occurrence: Option<OccurrenceJson>,
        },
        Receipt {
            kind: String,
            message_ids: Vec<String>,
        },
        System {
            code: String,
            detail: String,
        },
        History {
            for_device: String,
            records: Vec<RecordJson>,
        },
        Unknown {
            type_code: u8,
            body: String,
        },
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RecordJson {
        pub seq: u64,
        pub sender_user_id: String,
        pub status: String,
        pub envelope: Box<EnvelopeJson>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct DetailsJson {
        pub change: String,
        pub time_zone: String,
        pub modality: String,
        pub link: String,
        pub note: String,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct OccurrenceJson {
        pub occurrence_id: String,
        pub starts_at_ms: u64,
    }
}

fn id16(s: &str) -> Result<[u8; 16]> {
    crate::wire::hex_decode(s)?
        .try_into()
        .map_err(|_| Error::InvalidArgument("id must be 16 bytes (32 hex digits)".into()))
}

impl Envelope {
    /// Canonical JSON form (see the comment above this impl in the source
    /// and `docs/protocol.md`).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&self.json_form()?).map_err(|e| Error::internal(format!("json: {e}")))
    }

    fn json_form(&self) -> Result<json::EnvelopeJson> {
        use crate::wire::hex_encode as hx;
        use json::ContentJson as C;
        let content = match &self.content {
            Content::Text(t) => C::Text { text: t.clone() },
            Content::Reminder(r) => C::Reminder {
                reminder_id: hx(&r.reminder_id),
                starts_at_ms: r.starts_at_ms,
                duration_minutes: r.duration_minutes,
                template_id: r.template_id.clone(),
                location: r.location.clone(),
                requires_response: r.requires_response,
                details: r.details.as_ref().map(|d| json::DetailsJson {
                    change: d.change.name().into(),
                    time_zone: d.time_zone.clone(),
                    modality: d.modality.name().into(),
                    link: d.link.clone(),
                    note: d.note.clone(),
                }),
            },
            Content::ReminderResponse {
                reminder_id,
                response,
                note,
                occurrence,
            } => C::ReminderResponse {
                reminder_id: hx(reminder_id),
                response: match response {
                    ResponseKind::Confirm => "confirm",
                    ResponseKind::Cancel => "cancel",
                    ResponseKind::RescheduleRequest => "reschedule_request",
                }
                .into(),
                note: note.clone(),
                occurrence: occurrence.map(|o| json::OccurrenceJson {
                    occurrence_id: hx(&o.occurrence_id),
                    starts_at_ms: o.starts_at_ms,
                }),
            },
            Content::Receipt { kind, message_ids } => C::Receipt {
                kind: match kind {
                    ReceiptKind::Delivered => "delivered",
                    ReceiptKind::Read => "read",
                }
                .into(),
                message_ids: message_ids.iter().map(|m| hx(m)).collect(),
            },
            Content::System { code, detail } => C::System {
                code: code.clone(),
                detail: detail.clone(),
            },
            Content::History {
                for_device,
                records,
            } => C::History {
                for_device: for_device.clone(),
                records: records
                    .iter()
                    .map(|r| {
                        Ok(json::RecordJson {
                            seq: r.seq,
                            sender_user_id: r.sender_user_id.clone(),
                            status: r.status.name().into(),
                            envelope: Box::new(r.envelope.json_form()?),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            },
            Content::Unknown { type_code, body } => C::Unknown {
                type_code: *type_code,
                body: hx(body),
            },
        };
        Ok(json::EnvelopeJson {
            client_message_id: hx(&self.client_message_id),
            sent_at_ms: self.sent_at_ms,
            content,
        })
    }

    /// Parse the canonical JSON form.
    pub fn from_json(s: &str) -> Result<Self> {
        if s.len() > 4 * MAX_ENVELOPE_LEN {
            return Err(Error::TooLarge {
                len: s.len(),
                limit: 4 * MAX_ENVELOPE_LEN,
            });
        }
        let j: json::EnvelopeJson =
            serde_json::from_str(s).map_err(|e| Error::InvalidArgument(format!("json: {e}")))?;
        Self::from_json_form(j)
    }

    fn from_json_form(j: json::EnvelopeJson) -> Result<Self> {
        use json::ContentJson as C;
        let content = match j.content {
            C::Text { text } => Content::Text(text),
            C::Reminder {
                reminder_id,
                starts_at_ms,
                duration_minutes,
                template_id,
                location,
                requires_response,
                details,
            } => Content::Reminder(Reminder {
                reminder_id: id16(&reminder_id)?,
                starts_at_ms,
                duration_minutes,
                template_id,
                location,
                requires_response,
                details: match details {
                    Some(d) => Some(ReminderDetails {
                        change: ReminderChange::from_name(&d.change)?,
                        time_zone: d.time_zone,
                        modality: Modality::from_name(&d.modality)?,
                        link: d.link,
                        note: d.note,
                    }),
                    None => None,
                },
            }),
            C::ReminderResponse {
                reminder_id,
                response,
                note,
                occurrence,
            } => Content::ReminderResponse {
                reminder_id: id16(&reminder_id)?,
                response: match response.as_str() {
                    "confirm" => ResponseKind::Confirm,
                    "cancel" => ResponseKind::Cancel,
                    "reschedule_request" => ResponseKind::RescheduleRequest,
                    _ => return Err(Error::InvalidArgument("response".into())),
                },
                note,
                occurrence: match occurrence {
                    Some(o) => Some(OccurrenceRef {
                        occurrence_id: id16(&o.occurrence_id)?,
                        starts_at_ms: o.starts_at_ms,
                    }),
                    None => None,
                },
            },
            C::Receipt { kind, message_ids } => Content::Receipt {
                kind: match kind.as_str() {
                    "delivered" => ReceiptKind::Delivered,
                    "read" => ReceiptKind::Read,
                    _ => return Err(Error::InvalidArgument("receipt kind".into())),
                },
                message_ids: message_ids
                    .iter()
                    .map(|m| id16(m))
                    .collect::<Result<Vec<_>>>()?,
            },
            C::System { code, detail } => Content::System { code, detail },
            C::History {
                for_device,
                records,
            } => Content::History {
                for_device,
                records: records
                    .into_iter()
                    .map(|r| {
                        Ok(HistoryRecord {
                            seq: r.seq,
                            sender_user_id: r.sender_user_id,
                            status: HistoryStatus::from_name(&r.status)?,
                            envelope: Self::from_json_form(*r.envelope)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            },
            C::Unknown { type_code, body } => Content::Unknown {
                type_code,
                body: crate::wire::hex_decode(&body)?,
            },
        };
        Ok(Envelope {
            client_message_id: id16(&j.client_message_id)?,
            sent_at_ms: j.sent_at_ms,
            content,
        })
    }
}
