//! What identifies a row and what it delivers, hashed with its schedule's seed, for change-only
//! sends. Both are heard from [`Mapper::write_content`] as it writes the row's content, so they
//! see exactly the values and forms the event carries, and the row is walked once:
//!
//! - Identify: the `userId` and `anonymousId` the event writes (the first fields tagged `user_id`
//!   and `rudder_anonymous_id`); a result with neither tag is identified by its email field's
//!   value. A row whose `anonymousId` the hub makes (both ids empty) has no key: it is always
//!   sent.
//! - Group: the `groupId`, with the member's `userId` / `anonymousId` when the result has such
//!   fields (a group call states a membership).
//! - Track: everything the event delivers is its key. An event is a fact RudderStack appends, never
//!   updates: an edited row is another event, an identical one a duplicate.
//!
//! The fingerprint covers what the event delivers as content: the event name, the identity values
//! and every trait / property (its name as delivered and its value as delivered, in any order).
//! The messageId, timestamps, `sentAt`, `context` (the hub's name and version: an upgrade must not
//! resend everything) and an anonymous id the hub makes are not content.

use super::mapping::{Call, Id, Listener, Mapper, Name, Rejection, Written};
use crate::changes::hash::{ContentHasher, Fingerprint, KeyBuilder, KeyHash, NameHash, Seed};
use crate::rows::RowCells;

/// A row's key (`None`: it has none, it is always sent) and fingerprint.
pub type Identified = (Option<KeyHash>, Fingerprint);

/// Which identity values make a row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyRule {
    /// These ids, as the event writes them.
    Ids {
        user: bool,
        anonymous: bool,
        group: bool,
    },
    /// The email field's value (an Identify whose result has no id field).
    Email,
    /// Everything delivered (Track).
    Content,
}

/// Hashes rows' keys and contents for one result, seeded by its schedule.
#[derive(Debug)]
pub struct Identity<'m> {
    mapper: &'m Mapper,
    seed: Seed,
    rule: KeyRule,
    /// The content hashed before any row: the event name.
    start: ContentHasher,
    /// The hash of each property's delivered name, by position.
    names: Vec<NameHash>,
    email: NameHash,
    key: KeyBuilder,
    scratch: Vec<u8>,
}

impl<'m> Identity<'m> {
    /// The hashes of `mapper`'s rows under `seed`; the names are hashed here, once.
    pub fn new(mapper: &'m Mapper, seed: Seed) -> Identity<'m> {
        let has = mapper.has_ids();
        let rule = match mapper.call() {
            Call::Track => KeyRule::Content,
            Call::Identify if !has.user && !has.anonymous => KeyRule::Email,
            Call::Identify => KeyRule::Ids {
                user: true,
                anonymous: true,
                group: false,
            },
            Call::Group => KeyRule::Ids {
                user: has.user || has.anonymous,
                anonymous: has.user || has.anonymous,
                group: true,
            },
        };
        let mut start = ContentHasher::new(seed);
        start.part(mapper.event_name().unwrap_or("").as_bytes());
        Identity {
            mapper,
            seed,
            rule,
            start,
            names: mapper
                .delivered_props()
                .map(|name| NameHash::of(seed, name.as_bytes()))
                .collect(),
            email: NameHash::of(seed, b"email"),
            key: KeyBuilder::new(),
            scratch: Vec::new(),
        }
    }

    /// Write row `index`'s content at the end of `out` ([`Mapper::write_content`]) and hash it:
    /// where it was written, and its key and fingerprint; `Err` when the row cannot become an
    /// event (the same rejection `map` gives).
    pub fn write(
        &mut self,
        index: u64,
        row: &RowCells<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(Written, Identified), Rejection> {
        self.key.clear();
        let mut walk = Walk {
            rule: self.rule,
            content: self.start,
            names: &self.names,
            email: self.email,
            key: &mut self.key,
            scratch: &mut self.scratch,
        };
        let written = self.mapper.write_content(index, row, out, &mut walk)?;
        let content = walk.content;
        let key = match self.rule {
            KeyRule::Content => Some(content.key()),
            KeyRule::Ids { .. } | KeyRule::Email => self.key.finish(self.seed),
        };
        Ok((written, (key, content.finish())))
    }
}

/// One row's walk: the key's parts and the content's hash.
struct Walk<'a> {
    rule: KeyRule,
    content: ContentHasher,
    names: &'a [NameHash],
    email: NameHash,
    key: &'a mut KeyBuilder,
    scratch: &'a mut Vec<u8>,
}

impl Walk<'_> {
    fn in_key(&self, id: Id) -> bool {
        match self.rule {
            KeyRule::Ids {
                user,
                anonymous,
                group,
            } => match id {
                Id::User => user,
                Id::Anonymous => anonymous,
                Id::Group => group,
            },
            KeyRule::Email | KeyRule::Content => false,
        }
    }
}

impl Listener for Walk<'_> {
    fn id(&mut self, id: Id, value: Option<&str>) {
        if self.in_key(id) {
            self.key.part(value.map(str::as_bytes));
        }
        // Present values are marked so that an absent one differs from every present one.
        self.scratch.clear();
        if let Some(v) = value {
            self.scratch.push(1);
            self.scratch.extend_from_slice(v.as_bytes());
        }
        self.content.part(self.scratch);
    }

    fn made_anonymous_id(&mut self) {
        // Made anew by every run: not content, and not a key.
        self.id(Id::Anonymous, None);
    }

    fn value(&mut self, name: Name, value: &[u8]) {
        let hash = match name {
            Name::Email => {
                if self.rule == KeyRule::Email {
                    let absent = value == b"null" || value == b"\"\"";
                    self.key.part((!absent).then_some(value));
                }
                self.email
            }
            Name::Prop(i) => self.names[i],
        };
        self.content.pair(hash, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{RawRow, ResultHeader};
    use crate::rudder::mapping::{MapperInput, MessageId, MAX_EVENT_BYTES};
    use proptest::prelude::*;

    const SEED: Seed = Seed(7);

    fn header(fields: serde_json::Value) -> ResultHeader {
        ResultHeader {
            ran_at: None,
            fields: serde_json::from_value(fields).unwrap(),
            pivots: vec![],
        }
    }

    /// The mapper of most tests: event "Synced", delivery "webhook-1".
    fn input<'a>(call: Call, h: &'a ResultHeader, hidden: &'a [String]) -> MapperInput<'a> {
        MapperInput {
            call,
            header: h,
            hidden_fields: hidden,
            event: Some("Synced"),
            delivery_key: "webhook-1",
            timestamp: "2017-07-28T02:25:19.000Z",
            app: ("hub", "1.0"),
            max_event_bytes: MAX_EVENT_BYTES,
            naming: Default::default(),
        }
    }

    fn mapper(call: Call, h: &ResultHeader, hidden: &[String]) -> Mapper {
        Mapper::new(input(call, h, hidden)).unwrap()
    }

    /// Every field role, and a hidden field.
    fn full_header() -> ResultHeader {
        header(serde_json::json!([
            {"name": "u.id", "tags": ["user_id"]},
            {"name": "u.anon", "tags": ["rudder_anonymous_id"]},
            {"name": "u.email", "tags": ["email"]},
            {"name": "g.id", "tags": ["rudder_group_id"]},
            {"name": "p.a"}, {"name": "p.b"}, {"name": "p.hidden"}
        ]))
    }

    const FIELDS: [&str; 7] = [
        "u.id", "u.anon", "u.email", "g.id", "p.a", "p.b", "p.hidden",
    ];

    /// A row's cells as raw JSON texts (`None`: the field is absent from the row).
    type Cells = Vec<Option<&'static str>>;

    /// Row text with the cells in `order`, each a json_detail cell with a rendered text that is
    /// not delivered.
    fn row_text(cells: &Cells, order: &[usize]) -> Vec<u8> {
        let parts: Vec<String> = order
            .iter()
            .filter_map(|&i| {
                cells[i].map(|v| format!(r#""{}":{{"value":{v},"rendered":"r{i}"}}"#, FIELDS[i]))
            })
            .collect();
        format!("{{{}}}", parts.join(",")).into_bytes()
    }

    /// Values that deliver the same number or text in different forms, pivots, absences.
    fn value() -> impl Strategy<Value = Option<&'static str>> {
        prop::sample::select(vec![
            None,
            Some("null"),
            Some("\"\""),
            Some("1"),
            Some("1.0"),
            Some("\"1\""),
            Some("true"),
            Some("\"a@b.c\""),
            Some(r#"{"x":{"value":1},"y":{"value":2}}"#),
            Some(r#"{"y":{"value":2},"x":{"value":1}}"#),
        ])
    }

    fn cells() -> impl Strategy<Value = Cells> {
        prop::collection::vec(value(), FIELDS.len())
    }

    /// The event of a row without its messageId (the only part made from something else than the
    /// delivered content besides the made anonymous id, the same for one position).
    fn delivered(m: &Mapper, row: &[u8]) -> Option<Vec<u8>> {
        let raw = RowCells::from(RawRow::parse(row).unwrap());
        let mut out = Vec::new();
        m.map(0, &raw, "2024-01-01T00:00:00.000Z", &mut out).ok()?;
        let at = out.windows(13).position(|w| w == b"\"messageId\":\"")? + 13;
        out.drain(at..at + 36);
        Some(out)
    }

    fn identity(m: &Mapper, row: &[u8]) -> Option<(Option<KeyHash>, Fingerprint)> {
        let raw = RowCells::from(RawRow::parse(row).unwrap());
        let (_, (key, fingerprint)) = Identity::new(m, SEED)
            .write(0, &raw, &mut Vec::new())
            .ok()?;
        Some((key, fingerprint))
    }

    fn calls() -> impl Strategy<Value = Call> {
        prop::sample::select(vec![Call::Identify, Call::Group, Call::Track])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Two rows get one fingerprint exactly when their events deliver the same content; the
        /// order of the row's cells and what is not delivered (rendered texts, hidden fields) do
        /// not count. A row that cannot become an event has no identity either.
        #[test]
        fn the_fingerprint_is_the_delivered_content(
            call in calls(),
            a in cells(),
            b in cells(),
            one_change in any::<bool>(),
            at in 0..FIELDS.len(),
            to in value(),
            order in Just((0..FIELDS.len()).collect::<Vec<_>>()).prop_shuffle(),
        ) {
            let h = full_header();
            let m = mapper(call, &h, &["p.hidden".to_string()]);
            let b = if one_change {
                let mut b = a.clone();
                b[at] = to;
                b
            } else {
                b
            };
            let natural: Vec<usize> = (0..FIELDS.len()).collect();
            let (ra, rb) = (row_text(&a, &natural), row_text(&b, &order));
            let (ea, eb) = (delivered(&m, &ra), delivered(&m, &rb));
            let (ia, ib) = (identity(&m, &ra), identity(&m, &rb));
            prop_assert_eq!(ea.is_some(), ia.is_some());
            prop_assert_eq!(eb.is_some(), ib.is_some());
            if let (Some(ea), Some(eb), Some((ka, fa)), Some((kb, fb))) = (ea, eb, ia, ib) {
                prop_assert_eq!(ea == eb, fa == fb, "{} / {}", String::from_utf8_lossy(&ra), String::from_utf8_lossy(&rb));
                if ea == eb {
                    prop_assert_eq!(ka, kb);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// A change-only send builds a row's event around the content written when the row was
        /// read: byte for byte the event mapped straight from the row, wherever in the chunk's
        /// contents it was written. A row that cannot become an event leaves the contents as
        /// they were and is refused for the same reason.
        #[test]
        fn an_event_around_its_written_content_is_the_event_of_its_row(
            call in calls(),
            cells in cells(),
            before in prop::collection::vec(any::<u8>(), 0..64),
            index in 0u64..1_000_000,
            of_content in any::<bool>(),
        ) {
            let h = full_header();
            let m = mapper(call, &h, &["p.hidden".to_string()]);
            let text = row_text(&cells, &(0..FIELDS.len()).collect::<Vec<_>>());
            let raw = RowCells::from(RawRow::parse(&text).unwrap());
            let id = if of_content { MessageId::OfContent([7; 16]) } else { MessageId::OfDelivery };
            let at = "2024-01-01T00:00:00.000Z";
            let mut mapped = Vec::new();
            let direct = m.map_with_id(index, &raw, at, id, &mut mapped);
            let mut contents = before.clone();
            match Identity::new(&m, SEED).write(index, &raw, &mut contents) {
                Ok((written, _)) => {
                    prop_assert_eq!(written.range.start, before.len());
                    let mut around = Vec::new();
                    let made = m.event_of(index, &contents, &written, at, id, &mut around);
                    prop_assert_eq!(made, direct);
                    prop_assert_eq!(around, mapped);
                }
                Err(rejection) => {
                    prop_assert_eq!(Err(rejection), direct);
                    prop_assert_eq!(contents, before);
                }
            }
        }
    }

    fn key_of(call: Call, h: &ResultHeader, row: &str) -> Option<KeyHash> {
        let m = mapper(call, h, &[]);
        identity(&m, row.as_bytes()).unwrap().0
    }

    #[test]
    fn identify_is_keyed_by_its_ids_or_else_its_email() {
        let h = full_header();
        let k = |row: &str| key_of(Call::Identify, &h, row);
        let base = k(r#"{"u.id":{"value":1},"u.anon":{"value":"a"},"p.a":{"value":1}}"#);
        assert!(base.is_some());
        // The same ids as the event writes them (1 and "1" are both "1"), other traits.
        assert_eq!(
            base,
            k(r#"{"u.id":{"value":"1"},"u.anon":{"value":"a"},"p.a":{"value":2}}"#)
        );
        assert_ne!(base, k(r#"{"u.id":{"value":1},"u.anon":{"value":"b"}}"#));
        // No id at all: the hub makes an anonymous id, so the row has no key.
        assert_eq!(
            k(r#"{"u.id":{"value":null},"u.email":{"value":"a@b.c"}}"#),
            None
        );

        let by_email = header(serde_json::json!([
            {"name": "u.email", "tags": ["email"]}, {"name": "p.a"}
        ]));
        let k = |row: &str| key_of(Call::Identify, &by_email, row);
        let ana = k(r#"{"u.email":{"value":"ana@x.io"},"p.a":{"value":1}}"#);
        assert!(ana.is_some());
        assert_eq!(
            ana,
            k(r#"{"u.email":{"value":"ana@x.io"},"p.a":{"value":2}}"#)
        );
        assert_ne!(ana, k(r#"{"u.email":{"value":"bo@x.io"}}"#));
        assert_eq!(k(r#"{"u.email":{"value":null}}"#), None);
        assert_eq!(k(r#"{"u.email":{"value":""}}"#), None);
    }

    #[test]
    fn group_is_keyed_by_group_and_member_track_by_everything() {
        let h = full_header();
        let g = |row: &str| key_of(Call::Group, &h, row);
        let acme_1 = g(r#"{"g.id":{"value":"acme"},"u.id":{"value":1},"p.a":{"value":1}}"#);
        assert_eq!(
            acme_1,
            g(r#"{"g.id":{"value":"acme"},"u.id":{"value":1},"p.a":{"value":9}}"#)
        );
        assert_ne!(acme_1, g(r#"{"g.id":{"value":"acme"},"u.id":{"value":2}}"#));
        assert!(g(r#"{"g.id":{"value":"acme"}}"#).is_some());
        let groups_only = header(serde_json::json!([
            {"name": "g.id", "tags": ["rudder_group_id"]}, {"name": "p.a"}
        ]));
        assert_eq!(
            key_of(
                Call::Group,
                &groups_only,
                r#"{"g.id":{"value":"acme"},"p.a":{"value":1}}"#
            ),
            key_of(
                Call::Group,
                &groups_only,
                r#"{"g.id":{"value":"acme"},"p.a":{"value":2}}"#
            )
        );

        let t = |row: &str| key_of(Call::Track, &h, row);
        let one = t(r#"{"u.id":{"value":1},"p.a":{"value":1}}"#);
        assert!(one.is_some());
        assert_eq!(one, t(r#"{"p.a":{"value":1},"u.id":{"value":1}}"#));
        assert_ne!(one, t(r#"{"u.id":{"value":1},"p.a":{"value":2}}"#));
        // Without any id the event still has its content as its key.
        assert!(t(r#"{"p.a":{"value":1}}"#).is_some());
    }

    #[test]
    fn the_event_name_and_the_property_names_are_content() {
        let h = full_header();
        let row = br#"{"u.id":{"value":1},"p.a":{"value":1}}"#;
        let raw = RowCells::from(RawRow::parse(row).unwrap());
        let of = |m: &Mapper| {
            let (_, (key, fingerprint)) = Identity::new(m, SEED)
                .write(0, &raw, &mut Vec::new())
                .unwrap();
            (key, fingerprint)
        };
        let synced = of(&mapper(Call::Track, &h, &[]));
        let track = input(Call::Track, &h, &[]);
        let other = Mapper::new(MapperInput {
            event: Some("Other"),
            ..track.clone()
        })
        .unwrap();
        assert_ne!(of(&other), synced);
        // What is not content: the delivery, its time, the hub's version.
        let later = MapperInput {
            delivery_key: "another delivery, another hub version",
            timestamp: "2030-01-01T00:00:00.000Z",
            app: ("hub", "9.9"),
            ..track
        };
        let field_names = Mapper::new(MapperInput {
            naming: crate::rudder::naming::Naming::Field,
            ..later.clone()
        })
        .unwrap();
        assert_ne!(of(&field_names), synced);
        let later = Mapper::new(later).unwrap();
        assert_eq!(of(&later), synced);
    }
}
