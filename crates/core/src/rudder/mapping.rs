//! One result row → one RudderStack event, serialized straight into bytes.
//!
//! The roles of the fields (identity, group, email, traits) are worked out once from the result's
//! metadata; each row is then written into a reused buffer with its JSON types kept, and gets a
//! deterministic `messageId` so a repeated Looker delivery is deduplicated by RudderStack.

use std::borrow::Cow;
use std::io::Write;

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::changes::hash::{Fingerprint, KeyHash};

use crate::rows::{FieldMeta, RawCell, ResultHeader, RowCells};

/// Tag of the field holding the user id.
pub const TAG_USER_ID: &str = "user_id";
/// Tag of the field holding the email.
pub const TAG_EMAIL: &str = "email";
/// Tag of the field holding the anonymous id.
pub const TAG_ANONYMOUS_ID: &str = "rudder_anonymous_id";
/// Tag of the field holding the group id.
pub const TAG_GROUP_ID: &str = "rudder_group_id";
/// Tags that identify a user.
pub const IDENTITY_TAGS: [&str; 3] = [TAG_EMAIL, TAG_USER_ID, TAG_ANONYMOUS_ID];

/// Largest serialized event RudderStack (Segment-compatible) accepts.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;

/// The RudderStack call an action makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `identify`: traits of a user.
    Identify,
    /// `group`: traits of a group, and the user's membership.
    Group,
    /// `track`: an event with properties.
    Track,
}

impl Call {
    /// The event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Identify => "identify",
            Call::Group => "group",
            Call::Track => "track",
        }
    }

    fn bag(self) -> &'static str {
        match self {
            Call::Track => "properties",
            Call::Identify | Call::Group => "traits",
        }
    }
}

/// Why a result cannot be mapped at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// No field carries an identity tag.
    #[error("the query has no field tagged {0}: tag a dimension in LookML so RudderStack knows whom the rows describe")]
    NoIdentity(String),
}

/// Why one row is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Row position (1-based, as a person counts).
    pub row: u64,
    /// What is wrong with it.
    pub reason: RejectReason,
}

/// What makes a row unsendable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The event is over the size limit.
    TooLarge {
        /// Serialized size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A group call whose group id is empty.
    NoGroupId,
    /// The row itself is over the result reader's row limit (it was skipped unread).
    RowTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A value is a number no 64-bit float holds (`1e999999`): RudderStack reads JSON numbers
    /// as doubles, and would refuse the whole batch.
    NumberBeyondDouble {
        /// The field.
        field: String,
        /// The number as written (its first 40 characters).
        number: String,
    },
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::counts::group_digits as g;
        match &self.reason {
            RejectReason::TooLarge { bytes, limit } => write!(
                f,
                "row {} makes an event of {} bytes, over the {}-byte limit",
                g(self.row),
                g(*bytes as u64),
                g(*limit as u64)
            ),
            RejectReason::NoGroupId => write!(f, "row {} has no group id", g(self.row)),
            RejectReason::RowTooLarge { limit } => write!(
                f,
                "row {} is over the {}-byte row limit",
                g(self.row),
                g(*limit as u64)
            ),
            RejectReason::NumberBeyondDouble { field, number } => write!(
                f,
                "row {} has the number {number} in {field}, beyond a 64-bit float",
                g(self.row)
            ),
        }
    }
}

/// A field of the result and where it usually sits in a row.
#[derive(Debug, Clone)]
struct Field {
    /// Name in the row (`view.field`).
    name: String,
    /// Its position in the header (rows list fields in that order).
    hint: usize,
}

/// A field that becomes a trait / property.
#[derive(Debug, Clone)]
struct Prop {
    field: Field,
    /// `"name":` pre-escaped.
    key: Vec<u8>,
    /// The name as delivered.
    delivered: String,
}

/// What is the same for every event of one delivery.
#[derive(Debug, Clone)]
pub struct MapperInput<'a> {
    /// Which call.
    pub call: Call,
    /// The result's fields.
    pub header: &'a ResultHeader,
    /// `scheduled_plan.query.vis_config.hidden_fields`.
    pub hidden_fields: &'a [String],
    /// `event` of a track call.
    pub event: Option<&'a str>,
    /// What identifies this Looker delivery (webhook id / scheduled plan id).
    pub delivery_key: &'a str,
    /// `timestamp` of every event (RFC 3339, UTC, millis).
    pub timestamp: &'a str,
    /// `context.app` / `context.library` name and version.
    pub app: (&'a str, &'a str),
    /// Largest event to send.
    pub max_event_bytes: usize,
    /// How traits / properties are named.
    pub naming: super::naming::Naming,
}

/// Turns rows into events.
#[derive(Debug, Clone)]
pub struct Mapper {
    call: Call,
    /// The event of a track call.
    event_name: Option<String>,
    user_id: Option<Field>,
    anonymous_id: Option<Field>,
    group_id: Option<Field>,
    /// The email field and the position among the props where `email` goes.
    email: Option<(Field, usize)>,
    props: Vec<Prop>,
    /// Bytes before the messageId: `{"type":"…","messageId":"`.
    head: Vec<u8>,
    /// `"event":"…",` for track.
    event: Vec<u8>,
    /// Everything after the bag up to `"sentAt":"`: context, channel, timestamps.
    context_head: Vec<u8>,
    context_tail: Vec<u8>,
    /// Hash state after the delivery key, call and event name.
    seed: Sha256,
    max_event_bytes: usize,
    /// Which fields kept their `view.field` name because of a collision (for the answer).
    pub naming_note: Option<String>,
}

fn json_string(s: &str) -> Vec<u8> {
    // Serializing a str cannot fail.
    serde_json::to_vec(s).unwrap_or_default()
}

impl Mapper {
    /// Work out field roles; fails when no field identifies the rows.
    pub fn new(input: MapperInput<'_>) -> Result<Mapper, MappingError> {
        let h = input.header;
        let first = |tag: &str| {
            h.fields
                .iter()
                .position(|f| f.has_tag(tag))
                .map(|hint| Field {
                    name: h.fields[hint].name.clone(),
                    hint,
                })
        };
        let user_id = first(TAG_USER_ID);
        let anonymous_id = first(TAG_ANONYMOUS_ID);
        let group_id = first(TAG_GROUP_ID);
        let email_name = first(TAG_EMAIL);
        match input.call {
            Call::Group if group_id.is_none() => {
                return Err(MappingError::NoIdentity(TAG_GROUP_ID.into()))
            }
            Call::Identify | Call::Track
                if user_id.is_none() && anonymous_id.is_none() && email_name.is_none() =>
            {
                return Err(MappingError::NoIdentity(IDENTITY_TAGS.join(" or ")))
            }
            _ => {}
        }
        let is_id = |f: &FieldMeta| {
            f.tags
                .iter()
                .any(|t| IDENTITY_TAGS.contains(&t.as_str()) || t == TAG_GROUP_ID)
        };
        // A set: the request may list many hidden fields, the result thousands of fields.
        let hidden: std::collections::HashSet<&str> =
            input.hidden_fields.iter().map(String::as_str).collect();
        let mut props = Vec::new();
        let mut email = None;
        let mut named = Vec::new();
        for (hint, f) in h.fields.iter().enumerate() {
            if let Some(e) = email_name.as_ref().filter(|e| e.hint == hint) {
                email = Some((e.clone(), props.len()));
            }
            if is_id(f) || hidden.contains(f.name.as_str()) {
                continue;
            }
            named.push(f);
            props.push(Prop {
                field: Field {
                    name: f.name.clone(),
                    hint,
                },
                key: Vec::new(),
                delivered: String::new(),
            });
        }
        // The `email` trait is written whenever an email field exists: no property may take it.
        let reserved: &[&str] = if email_name.is_some() {
            &[TAG_EMAIL]
        } else {
            &[]
        };
        let (keys, naming_note) = input.naming.keys(&named, reserved);
        for (p, k) in props.iter_mut().zip(keys) {
            p.key = json_string(&k);
            p.key.push(b':');
            p.delivered = k;
        }
        let mut head = Vec::new();
        let _ = write!(
            head,
            "{{\"type\":\"{}\",\"messageId\":\"",
            input.call.as_str()
        );
        let mut event = Vec::new();
        if let (Call::Track, Some(name)) = (input.call, input.event) {
            event.extend_from_slice(b"\"event\":");
            event.extend_from_slice(&json_string(name));
            event.push(b',');
        }
        let (app_name, app_version) = (json_string(input.app.0), json_string(input.app.1));
        let mut context_head = Vec::new();
        context_head.extend_from_slice(b",\"context\":{\"app\":{\"name\":");
        context_head.extend_from_slice(&app_name);
        context_head.extend_from_slice(b",\"version\":");
        context_head.extend_from_slice(&app_version);
        context_head.extend_from_slice(b"},\"library\":{\"name\":");
        context_head.extend_from_slice(&app_name);
        context_head.extend_from_slice(b",\"version\":");
        context_head.extend_from_slice(&app_version);
        context_head.push(b'}');
        let ts = json_string(input.timestamp);
        let mut context_tail = Vec::new();
        context_tail.extend_from_slice(b"},\"channel\":\"server\",\"timestamp\":");
        context_tail.extend_from_slice(&ts);
        context_tail.extend_from_slice(b",\"originalTimestamp\":");
        context_tail.extend_from_slice(&ts);
        context_tail.extend_from_slice(b",\"sentAt\":\"");
        let mut seed = Sha256::new();
        for part in [
            input.delivery_key,
            input.call.as_str(),
            input.event.unwrap_or(""),
        ] {
            seed.update((part.len() as u64).to_le_bytes());
            seed.update(part.as_bytes());
        }
        Ok(Mapper {
            call: input.call,
            event_name: input
                .event
                .filter(|_| input.call == Call::Track)
                .map(str::to_string),
            user_id,
            anonymous_id,
            group_id,
            email,
            props,
            head,
            event,
            context_head,
            context_tail,
            seed,
            max_event_bytes: input.max_event_bytes,
            naming_note,
        })
    }

    /// The call.
    pub fn call(&self) -> Call {
        self.call
    }

    /// The event of a track call.
    pub fn event_name(&self) -> Option<&str> {
        self.event_name.as_deref()
    }

    /// Which of the user ids the result has a field for.
    pub(super) fn has_ids(&self) -> HasIds {
        HasIds {
            user: self.user_id.is_some(),
            anonymous: self.anonymous_id.is_some(),
        }
    }

    /// The traits' / properties' names as delivered, in the result's order (without `email`).
    pub(super) fn delivered_props(&self) -> impl Iterator<Item = &str> {
        self.props.iter().map(|p| p.delivered.as_str())
    }

    /// What identifies a row, in words (which fields, which values): when it differs from the
    /// last run's, keys cannot be compared.
    pub fn key_definition(&self) -> String {
        fn field(f: &Option<Field>) -> Option<&str> {
            f.as_ref().map(|f| f.name.as_str())
        }
        let ids = [
            ("user_id", field(&self.user_id)),
            ("anonymous id", field(&self.anonymous_id)),
        ];
        let ids: Vec<String> = ids
            .iter()
            .filter_map(|(what, name)| name.map(|n| format!("{what}: {n}")))
            .collect();
        match self.call {
            Call::Track => format!(
                "every delivered value of the event {:?}",
                self.event_name().unwrap_or("")
            ),
            Call::Identify if ids.is_empty() => match &self.email {
                Some((f, _)) => format!("email: {}", f.name),
                None => String::new(),
            },
            Call::Identify => ids.join(", "),
            Call::Group => {
                let group = format!("group id: {}", field(&self.group_id).unwrap_or(""));
                std::iter::once(group)
                    .chain(ids)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    }

    /// Every name the events deliver content under: the identity values with their fields, then
    /// the traits / properties (`email` included) as delivered.
    pub fn delivered_names(&self) -> Vec<String> {
        let ids = [
            ("userId", &self.user_id),
            ("anonymousId", &self.anonymous_id),
            ("groupId", &self.group_id),
        ];
        let mut names: Vec<String> = ids
            .iter()
            .filter_map(|(id, f)| f.as_ref().map(|f| format!("{id} ({})", f.name)))
            .collect();
        if let Some((f, _)) = &self.email {
            names.push(format!("email ({})", f.name));
        }
        names.extend(self.props.iter().map(|p| {
            if p.delivered == p.field.name {
                p.delivered.clone()
            } else {
                format!("{} ({})", p.delivered, p.field.name)
            }
        }));
        names
    }

    /// Write the event for row `index` (0-based) into `out` (cleared first).
    pub fn map(
        &self,
        index: u64,
        row: &RowCells<'_>,
        sent_at: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), Rejection> {
        self.map_with_id(index, row, sent_at, MessageId::OfDelivery, out)
    }

    /// [`Mapper::map`], with the messageId made as `id` says.
    pub fn map_with_id(
        &self,
        index: u64,
        row: &RowCells<'_>,
        sent_at: &str,
        id: MessageId,
        out: &mut Vec<u8>,
    ) -> Result<(), Rejection> {
        out.clear();
        self.open_event(out);
        let written = self.write_content(index, row, out, &mut Unheard)?;
        self.close_event(index, out, &written, sent_at, id)
    }

    /// Write row `index`'s content, what its event delivers (the identity values, then the
    /// traits / properties), at the end of `out`, telling `listener` each value as it is written;
    /// [`Mapper::event_of`] makes the event of it. `out` is as it was when the row cannot become
    /// an event.
    pub(super) fn write_content<L: Listener>(
        &self,
        index: u64,
        row: &RowCells<'_>,
        out: &mut Vec<u8>,
        listener: &mut L,
    ) -> Result<Written, Rejection> {
        let start = out.len();
        let mut writer = EventWriter {
            mapper: self,
            index,
            out,
            bag_at: 0,
            first: true,
            listener,
        };
        if let Err(rejection) = self.walk(index, row, &mut writer) {
            out.truncate(start);
            return Err(rejection);
        }
        let bag_at = writer.bag_at - start;
        Ok(Written {
            range: start..out.len(),
            bag_at,
        })
    }

    /// Write into `out` (cleared first) the event of row `index` whose content
    /// [`Mapper::write_content`] wrote into `contents` as `written`.
    pub fn event_of(
        &self,
        index: u64,
        contents: &[u8],
        written: &Written,
        sent_at: &str,
        id: MessageId,
        out: &mut Vec<u8>,
    ) -> Result<(), Rejection> {
        out.clear();
        self.open_event(out);
        let start = out.len();
        out.extend_from_slice(&contents[written.range.clone()]);
        let here = Written {
            range: start..out.len(),
            bag_at: written.bag_at,
        };
        self.close_event(index, out, &here, sent_at, id)
    }

    /// Begin an event: its type and a messageId to be filled in by [`Mapper::close_event`].
    fn open_event(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&[b'0'; UUID_LEN]);
        out.extend_from_slice(b"\",");
    }

    /// End the event whose content is `written` (the last bytes of `out`, right after
    /// [`Mapper::open_event`]'s): its context, times and messageId.
    fn close_event(
        &self,
        index: u64,
        out: &mut Vec<u8>,
        written: &Written,
        sent_at: &str,
        id: MessageId,
    ) -> Result<(), Rejection> {
        let content = written.range.clone();
        let bag_at = content.start + written.bag_at;
        out.extend_from_slice(&self.context_head);
        if self.call == Call::Identify {
            // RudderStack's SDKs repeat identify traits in context.traits; some destinations read them there.
            out.extend_from_slice(b",\"traits\":");
            out.extend_from_within(bag_at..content.end);
        }
        out.extend_from_slice(&self.context_tail);
        out.extend_from_slice(sent_at.as_bytes());
        out.extend_from_slice(b"\"}");
        let id = match id {
            MessageId::OfDelivery => self.uuid(b"messageId", index, &out[content.clone()]),
            MessageId::OfContent(content) => uuid_text(
                &Sha256::new_with_prefix(b"messageId of content")
                    .chain_update(content)
                    .finalize(),
            ),
        };
        let id_at = content.start - 2 - UUID_LEN;
        out[id_at..id_at + UUID_LEN].copy_from_slice(&id);
        if out.len() > self.max_event_bytes {
            let reason = RejectReason::TooLarge {
                bytes: out.len(),
                limit: self.max_event_bytes,
            };
            return Err(Rejection {
                row: index + 1,
                reason,
            });
        }
        Ok(())
    }

    /// Write what row `index` delivers through `content`, in the event's order: the identity
    /// values, then each trait / property with its value as delivered. The one description of a
    /// row's content: its fingerprint hears the very bytes the event carries.
    fn walk<L: Listener>(
        &self,
        index: u64,
        row: &RowCells<'_>,
        content: &mut EventWriter<'_, L>,
    ) -> Result<(), Rejection> {
        let cell = |f: &Field| row.cell(f.hint, &f.name);
        let user_id = self.user_id.as_ref().and_then(|f| id_text(cell(f)));
        content.id(Id::User, user_id.as_deref());
        match self.anonymous_id.as_ref().and_then(|f| id_text(cell(f))) {
            Some(anon) => content.id(Id::Anonymous, Some(&anon)),
            None if user_id.is_none() => content.made_anonymous_id(),
            None => content.id(Id::Anonymous, None),
        }
        // groupId rides along on every call when present (as the reference hub did); a group
        // call without one is meaningless.
        match self.group_id.as_ref().and_then(|f| id_text(cell(f))) {
            Some(gid) => content.id(Id::Group, Some(&gid)),
            None if self.call == Call::Group => {
                return Err(Rejection {
                    row: index + 1,
                    reason: RejectReason::NoGroupId,
                });
            }
            None => content.id(Id::Group, None),
        }
        content.open_bag();
        let email_at = |i: usize| self.email.as_ref().filter(|(_, at)| *at == i);
        for (i, p) in self.props.iter().enumerate() {
            if let Some((f, _)) = email_at(i) {
                content.value(Name::Email, |out| write_email(out, cell(f)));
            }
            let Some(raw) = cell(&p.field) else { continue };
            if let Some(number) = beyond_double(&raw) {
                let field = p.field.name.clone();
                let reason = RejectReason::NumberBeyondDouble { field, number };
                return Err(Rejection {
                    row: index + 1,
                    reason,
                });
            }
            content.value(Name::Prop(i), |out| write_cell(out, &raw));
        }
        if let Some((f, _)) = email_at(self.props.len()) {
            content.value(Name::Email, |out| write_email(out, cell(f)));
        }
        content.close_bag();
        Ok(())
    }

    /// Replace the `sentAt` of an event written by [`Mapper::map`] (it is the last value).
    pub fn restamp(&self, event: &mut [u8], sent_at: &str) {
        // The event ends with `"sentAt":"<stamp>"}`.
        let end = event.len().saturating_sub(2);
        let start = end.saturating_sub(sent_at.len());
        if event[..start].ends_with(b"\"sentAt\":\"") {
            event[start..end].copy_from_slice(sent_at.as_bytes());
        }
    }

    /// A UUID-shaped (version 8, RFC 4122 variant) hash of this delivery, a purpose, the row
    /// position and the row's content.
    fn uuid(&self, purpose: &[u8], index: u64, content: &[u8]) -> [u8; UUID_LEN] {
        let mut h = self.seed.clone();
        h.update(purpose);
        h.update(index.to_le_bytes());
        h.update(content);
        uuid_text(&h.finalize())
    }
}

/// How an event's `messageId` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageId {
    /// From this delivery (webhook id, or the schedule's run), the call, the event name, the row's
    /// position and content: a repeated Looker delivery repeats its ids, another delivery has its
    /// own.
    OfDelivery,
    /// From these bytes alone (a track event's key and fingerprint, hashed with its schedule's
    /// seed): the same event has the same id in every run of the schedule, so the copy a failed
    /// run may have delivered and the next run's are deduplicated by RudderStack.
    OfContent([u8; 16]),
}

impl MessageId {
    /// The id of a content whose key and fingerprint are these.
    pub fn of_content(key: KeyHash, fingerprint: Fingerprint) -> MessageId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&key.bits().to_le_bytes());
        bytes[8..].copy_from_slice(&fingerprint.bits().to_le_bytes());
        MessageId::OfContent(bytes)
    }
}

/// Which user ids a result has a field for.
#[derive(Debug, Clone, Copy)]
pub(super) struct HasIds {
    pub user: bool,
    pub anonymous: bool,
}

/// An identity value of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Id {
    User,
    Anonymous,
    Group,
}

impl Id {
    fn key(self) -> &'static [u8] {
        match self {
            Id::User => b"\"userId\":",
            Id::Anonymous => b"\"anonymousId\":",
            Id::Group => b"\"groupId\":",
        }
    }
}

/// A trait / property of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Name {
    /// The `email` trait (written whenever the result has an email field).
    Email,
    /// A field of the result, by its position among the mapper's properties.
    Prop(usize),
}

/// What hears a row's content as [`Mapper::write_content`] writes it (the row's hashes, for a
/// change-only send), so the content is walked once.
pub(super) trait Listener {
    /// An identity value as the event writes it; `None`: the event has none.
    fn id(&mut self, id: Id, value: Option<&str>);
    /// The event carries an anonymous id the hub makes.
    fn made_anonymous_id(&mut self);
    /// One trait / property and its value as written (JSON text).
    fn value(&mut self, name: Name, value: &[u8]);
}

/// Nobody listens: the content is only written.
pub(super) struct Unheard;

impl Listener for Unheard {
    fn id(&mut self, _: Id, _: Option<&str>) {}
    fn made_anonymous_id(&mut self) {}
    fn value(&mut self, _: Name, _: &[u8]) {}
}

/// A row's content written by [`Mapper::write_content`], ahead of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its bytes in the buffer it was written into.
    pub range: std::ops::Range<usize>,
    /// Where its traits / properties object starts, from the start of the content.
    bag_at: usize,
}

/// The content of an event, written as its JSON.
struct EventWriter<'a, L> {
    mapper: &'a Mapper,
    index: u64,
    out: &'a mut Vec<u8>,
    /// Where the bag's `{` is.
    bag_at: usize,
    /// No trait / property written yet.
    first: bool,
    listener: &'a mut L,
}

impl<L: Listener> EventWriter<'_, L> {
    /// An identity value as the event writes it; `None`: the event has none.
    fn id(&mut self, id: Id, value: Option<&str>) {
        if let Some(value) = value {
            self.out.extend_from_slice(id.key());
            write_str(self.out, value);
            self.out.push(b',');
        }
        self.listener.id(id, value);
    }

    /// The row has neither a user id nor an anonymous id: the event carries an anonymous id the
    /// hub makes (not the row's content).
    fn made_anonymous_id(&mut self) {
        self.out.extend_from_slice(b"\"anonymousId\":\"");
        let made = self.mapper.uuid(b"anonymousId", self.index, &[]);
        self.out.extend_from_slice(&made);
        self.out.extend_from_slice(b"\",");
        self.listener.made_anonymous_id();
    }

    /// The traits / properties begin.
    fn open_bag(&mut self) {
        self.out.extend_from_slice(&self.mapper.event);
        self.out.push(b'"');
        self.out
            .extend_from_slice(self.mapper.call.bag().as_bytes());
        self.out.extend_from_slice(b"\":");
        self.bag_at = self.out.len();
        self.out.push(b'{');
    }

    /// One trait / property: `write` writes its value as delivered (JSON text).
    fn value(&mut self, name: Name, write: impl FnOnce(&mut Vec<u8>)) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        match name {
            Name::Email => self.out.extend_from_slice(b"\"email\":"),
            Name::Prop(i) => self.out.extend_from_slice(&self.mapper.props[i].key),
        }
        let at = self.out.len();
        write(self.out);
        self.listener.value(name, &self.out[at..]);
    }

    /// The traits / properties end.
    fn close_bag(&mut self) {
        self.out.push(b'}');
    }
}

/// A SHA-256 digest as a UUID (version 8, RFC 4122 variant).
fn uuid_text(d: &[u8]) -> [u8; UUID_LEN] {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = [0u8; UUID_LEN];
    let mut o = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[usize::from(byte >> 4)];
        out[o + 1] = HEX[usize::from(byte & 0x0f)];
        o += 2;
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Characters of a UUID's text.
const UUID_LEN: usize = 36;

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A cell as a trait value: its `value`'s JSON text as Looker wrote it (so 0, false, "" and null
/// stay what they are), or for a pivoted measure the list `[{pivot_key: value}, …]`.
fn write_cell(out: &mut Vec<u8>, cell: &RawCell<'_>) {
    match cell {
        RawCell::Value(v) | RawCell::Other(v) => out.extend_from_slice(v.as_bytes()),
        RawCell::Pivot(entries) => {
            out.push(b'[');
            for (i, (k, sub)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                write_str(out, &k.0);
                out.push(b':');
                out.extend_from_slice(pivot_value(sub).as_bytes());
                out.push(b'}');
            }
            out.push(b']');
        }
    }
}

/// A pivot's cell is `{value, …}`; anything else goes through as it is.
fn pivot_value(sub: &RawValue) -> &str {
    RawCell::parse(sub).value().unwrap_or(sub.get())
}

/// The first number of a cell (its value, or a pivoted measure's values) that no 64-bit float
/// holds, as written (its first 40 characters).
fn beyond_double(cell: &RawCell<'_>) -> Option<String> {
    let beyond = |t: &str| {
        let b = t.as_bytes();
        let number = matches!(b.first(), Some(b'-' | b'0'..=b'9'));
        // Without an exponent, a number of at most 300 characters is below 10^300. (Every cell
        // of every row passes here: bytes are compared, `e` and `E` at once.)
        let may_overflow = number && (b.len() > 300 || b.iter().any(|&c| c | 0x20 == b'e'));
        (may_overflow && t.parse::<f64>().is_ok_and(f64::is_infinite))
            .then(|| t.chars().take(40).collect())
    };
    match cell {
        RawCell::Value(v) | RawCell::Other(v) => beyond(v),
        RawCell::Pivot(entries) => entries.iter().find_map(|(_, sub)| beyond(pivot_value(sub))),
    }
}

/// The `email` trait's value: the cell's value as written, `null` when absent or pivoted.
fn write_email(out: &mut Vec<u8>, cell: Option<RawCell<'_>>) {
    match cell.as_ref().and_then(RawCell::value) {
        Some(v) => out.extend_from_slice(v.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// An identity cell as the string RudderStack expects: strings as they are; numbers, booleans
/// (and anything else) in their JSON text (`42` → `"42"`); null, empty or pivoted → none.
fn id_text<'a>(cell: Option<RawCell<'a>>) -> Option<Cow<'a, str>> {
    let v = cell?.value()?;
    let text = if v.starts_with('"') {
        // Borrowed unless it holds an escape.
        match serde_json::from_str::<&str>(v) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(serde_json::from_str::<String>(v).ok()?),
        }
    } else if v == "null" {
        return None;
    } else {
        Cow::Borrowed(v)
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RawRow;
    use serde_json::{json, Value};

    /// Map a row given as a JSON value (serialized, then read back raw as the pipeline does).
    fn try_map(m: &Mapper, i: u64, row: &Value, out: &mut Vec<u8>) -> Result<(), Rejection> {
        let text = serde_json::to_vec(row).unwrap();
        let raw = RowCells::from(RawRow::parse(&text).unwrap());
        m.map(i, &raw, "2024-01-01T00:00:00.000Z", out)
    }

    fn header(fields: Value) -> ResultHeader {
        ResultHeader {
            ran_at: None,
            fields: serde_json::from_value(fields).unwrap(),
            pivots: vec![],
        }
    }

    fn mapper(
        call: Call,
        h: &ResultHeader,
        hidden: &[String],
        event: Option<&str>,
    ) -> Result<Mapper, MappingError> {
        Mapper::new(MapperInput {
            call,
            header: h,
            hidden_fields: hidden,
            event,
            delivery_key: "webhook-1",
            timestamp: "2017-07-28T02:25:19.000Z",
            app: ("hub", "1.0"),
            max_event_bytes: MAX_EVENT_BYTES,
            naming: Default::default(),
        })
    }

    fn event(m: &Mapper, i: u64, row: Value) -> Value {
        let mut out = vec![];
        try_map(m, i, &row, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn identify_keeps_types_hides_hidden_and_generates_anonymous_ids() {
        let h = header(json!([
            {"name": "u.id", "tags": ["user_id"]},
            {"name": "u.email", "tags": ["email"]},
            {"name": "u.zero"}, {"name": "u.false"}, {"name": "u.empty"}, {"name": "u.null"},
            {"name": "u.secret"},
            {"name": "o.count"}
        ]));
        let m = mapper(Call::Identify, &h, &["u.secret".to_string()], None).unwrap();
        let row = json!({
            "u.id": {"value": 42}, "u.email": {"value": "a@b.c"},
            "u.zero": {"value": 0}, "u.false": {"value": false}, "u.empty": {"value": ""}, "u.null": {"value": null},
            "u.secret": {"value": "x"},
            "o.count": {"f": {"value": 1}, "z": {"value": 3}}
        });
        let e = event(&m, 0, row.clone());
        let traits = json!({"email": "a@b.c", "u.zero": 0, "u.false": false, "u.empty": "", "u.null": null,
                            "o.count": [{"f": 1}, {"z": 3}]});
        assert_eq!(e["type"], "identify");
        assert_eq!(e["userId"], "42");
        assert!(e.get("anonymousId").is_none());
        assert_eq!(e["traits"], traits);
        assert_eq!(e["context"]["traits"], traits);
        assert_eq!(
            e["context"]["app"],
            json!({"name": "hub", "version": "1.0"})
        );
        assert_eq!(
            e["context"]["library"],
            json!({"name": "hub", "version": "1.0"})
        );
        assert_eq!(e["timestamp"], "2017-07-28T02:25:19.000Z");
        assert_eq!(e["originalTimestamp"], "2017-07-28T02:25:19.000Z");
        assert_eq!(e["sentAt"], "2024-01-01T00:00:00.000Z");
        assert_eq!(e["channel"], "server");
        // key order as documented
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "type",
                "messageId",
                "userId",
                "traits",
                "context",
                "channel",
                "timestamp",
                "originalTimestamp",
                "sentAt"
            ]
        );

        // messageId: deterministic, UUID-shaped v8, changes with position and content
        let id = e["messageId"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(event(&m, 0, row.clone())["messageId"], id.as_str());
        assert_ne!(event(&m, 1, row.clone())["messageId"], id.as_str());
        let mut other = row.clone();
        other["u.zero"]["value"] = json!(1);
        assert_ne!(event(&m, 0, other)["messageId"], id.as_str());

        // restamping touches only sentAt
        let mut out = vec![];
        try_map(&m, 0, &row, &mut out).unwrap();
        m.restamp(&mut out, "2030-01-01T00:00:00.000Z");
        let re: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(re["sentAt"], "2030-01-01T00:00:00.000Z");
        assert_eq!(re["messageId"], e["messageId"]);

        // no user id: a stable generated anonymous id
        let mut anon = row.clone();
        anon["u.id"]["value"] = json!(null);
        let a = event(&m, 7, anon.clone());
        assert!(a.get("userId").is_none());
        assert_eq!(a["anonymousId"].as_str().unwrap().len(), 36);
        assert_eq!(event(&m, 7, anon.clone())["anonymousId"], a["anonymousId"]);
        assert_ne!(event(&m, 8, anon)["anonymousId"], a["anonymousId"]);
    }

    /// The bytes of an event, pinned: the change-only fingerprint walks the same content as
    /// `map`, and `map` writes it exactly as before.
    #[test]
    fn an_event_byte_for_byte() {
        let h = header(json!([
            {"name": "u.id", "tags": ["user_id"]}, {"name": "g.id", "tags": ["rudder_group_id"]},
            {"name": "u.name"}, {"name": "u.email", "tags": ["email"]}, {"name": "o.n"}
        ]));
        let m = mapper(Call::Identify, &h, &[], None).unwrap();
        let row = json!({"u.id": {"value": 1.0}, "g.id": {"value": "g"}, "u.name": {"value": "Ana \"A\""},
                         "u.email": {"value": null}, "o.n": {"b": {"value": 2}, "a": {"value": null}}});
        let mut out = vec![];
        try_map(&m, 4, &row, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"type":"identify","messageId":"bb6f096d-d78e-8e7f-b13b-d27a9ad22cd6","userId":"1.0","groupId":"g","#,
                r#""traits":{"u.name":"Ana \"A\"","email":null,"o.n":[{"b":2},{"a":null}]},"#,
                r#""context":{"app":{"name":"hub","version":"1.0"},"library":{"name":"hub","version":"1.0"},"#,
                r#""traits":{"u.name":"Ana \"A\"","email":null,"o.n":[{"b":2},{"a":null}]}},"#,
                r#""channel":"server","timestamp":"2017-07-28T02:25:19.000Z","#,
                r#""originalTimestamp":"2017-07-28T02:25:19.000Z","sentAt":"2024-01-01T00:00:00.000Z"}"#
            )
        );
    }

    #[test]
    fn track_and_group_shapes() {
        let h = header(json!([
            {"name": "u.anon", "tags": ["rudder_anonymous_id"]},
            {"name": "g.id", "tags": ["rudder_group_id"]},
            {"name": "u.plan"}
        ]));
        let t = mapper(Call::Track, &h, &[], Some("Looker \"Sync\"")).unwrap();
        let e = event(
            &t,
            0,
            json!({"u.anon": {"value": "a1"}, "g.id": {"value": 7}, "u.plan": {"value": "pro"}}),
        );
        assert_eq!(e["type"], "track");
        assert_eq!(e["event"], "Looker \"Sync\"");
        assert_eq!(e["anonymousId"], "a1");
        assert_eq!(e["groupId"], "7");
        assert_eq!(e["properties"], json!({"u.plan": "pro"}));
        assert!(e["context"].get("traits").is_none());

        let g = mapper(Call::Group, &h, &[], None).unwrap();
        let e = event(
            &g,
            0,
            json!({"u.anon": {"value": "a1"}, "g.id": {"value": "acme"}, "u.plan": {"value": "pro"}}),
        );
        assert_eq!(e["type"], "group");
        assert_eq!(e["groupId"], "acme");
        assert_eq!(e["traits"], json!({"u.plan": "pro"}));
        let mut out = vec![];
        let r = try_map(
            &g,
            4,
            &json!({"u.anon": {"value": "a"}, "g.id": {"value": ""}, "u.plan": {"value": 1}}),
            &mut out,
        );
        assert_eq!(r.unwrap_err().to_string(), "row 5 has no group id");
    }

    #[test]
    fn missing_identity_and_oversized_events() {
        let h = header(json!([{"name": "u.plan", "tags": ["other"]}]));
        let e = mapper(Call::Identify, &h, &[], None).unwrap_err();
        assert!(
            e.to_string()
                .contains("email or user_id or rudder_anonymous_id"),
            "{e}"
        );
        assert!(mapper(
            Call::Group,
            &header(json!([{"name": "u", "tags": ["user_id"]}])),
            &[],
            None
        )
        .is_err());

        let h = header(json!([{"name": "u.id", "tags": ["user_id"]}, {"name": "u.blob"}]));
        let m = mapper(Call::Track, &h, &[], Some("e")).unwrap();
        let big = "x".repeat(40_000);
        let mut out = vec![];
        let r = try_map(
            &m,
            0,
            &json!({"u.id": {"value": "1"}, "u.blob": {"value": big}}),
            &mut out,
        );
        let err = r.unwrap_err();
        assert!(
            matches!(err.reason, RejectReason::TooLarge { limit: 32_768, .. }),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("row 1 makes an event of 40 "),
            "{err}"
        );
    }

    #[test]
    fn a_number_no_double_holds_rejects_its_row_naming_field_and_number() {
        let h = header(json!([{"name": "u.id", "tags": ["user_id"]}, {"name": "u.n"}]));
        let m = mapper(Call::Track, &h, &[], Some("e")).unwrap();
        let mut out = vec![];
        for (n, shown) in [
            ("1e999999".to_string(), "1e999999".to_string()),
            ("9".repeat(10_000), "9".repeat(40)),
        ] {
            let text = format!(r#"{{"u.id": {{"value": "7"}}, "u.n": {{"value": {n}}}}}"#);
            let raw = RowCells::from(RawRow::parse(text.as_bytes()).unwrap());
            let err = m
                .map(2, &raw, "2024-01-01T00:00:00.000Z", &mut out)
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("row 3 has the number {shown} in u.n, beyond a 64-bit float")
            );
        }
        // Within a double (even rounded to 0), and in a pivoted measure.
        let text = r#"{"u.id": {"value": "7"}, "u.n": {"value": 1e-999999}}"#;
        let raw = RowCells::from(RawRow::parse(text.as_bytes()).unwrap());
        assert!(m.map(0, &raw, "2024-01-01T00:00:00.000Z", &mut out).is_ok());
        let text =
            r#"{"u.id": {"value": "7"}, "u.n": {"2024": {"value": 1}, "2025": {"value": -1E400}}}"#;
        let raw = RowCells::from(RawRow::parse(text.as_bytes()).unwrap());
        let err = m
            .map(0, &raw, "2024-01-01T00:00:00.000Z", &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("-1E400 in u.n"), "{err}");
    }
}
