//! Property tests (proptest) of what parses untrusted input or must never lose data: sealed state,
//! the hub-token check and the streaming json_detail reader. `PROPTEST_CASES=N` runs more cases.

use std::sync::LazyLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use hub_core::auth::{parse_token_header, reference_hub_token, AuthError, HubTokens};
use hub_core::oauth::seal::{Purpose, StateError, StateKeys};
use hub_core::rows::{FieldCategory, Row, RowSource, RowStream, RowsError};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Map, Value};

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
});

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        // No regression files in the source tree: a failure prints its minimal input, which goes
        // into a plain test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ sealed state

fn keys_from(raw: &[[u8; 32]]) -> StateKeys {
    StateKeys::parse(
        &raw.iter()
            .map(|k| SecretString::from(STANDARD.encode(k)))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn purpose() -> impl Strategy<Value = Purpose> {
    prop_oneof![
        Just(Purpose::Login),
        Just(Purpose::CodeHandoff),
        Just(Purpose::TokenBundle)
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// Whatever is sealed opens unchanged, for its purpose and action, with the sealing key among
    /// any set of keys, until its expiry; it never opens for another purpose or action, after its
    /// expiry, or with keys that do not include the sealing one.
    #[test]
    fn seal_then_open_round_trips(
        sealing in any::<[u8; 32]>(),
        others in prop::collection::vec(any::<[u8; 32]>(), 0..3),
        position in any::<prop::sample::Index>(),
        purpose in purpose(),
        other_purpose in purpose(),
        action in "[a-z_]{1,20}",
        other_action in "[a-z_]{1,20}",
        body in (any::<String>(), any::<Option<String>>(), any::<i64>()),
        ttl in proptest::option::of(1u64..100_000),
        now in 0i64..4_000_000_000,
    ) {
        let seal_keys = keys_from(&[sealing]);
        let ttl = ttl.map(std::time::Duration::from_secs);
        let sealed = seal_keys.seal(purpose, &action, ttl, now, &body).unwrap();
        // Rotation: the sealing key anywhere in a list of keys opens it.
        let mut list = others.clone();
        list.insert(position.index(list.len() + 1), sealing);
        let open_keys = keys_from(&list);
        prop_assert_eq!(open_keys.open(purpose, &action, &sealed, now), Ok(body.clone()));
        if let Some(ttl) = ttl {
            let last = now + ttl.as_secs() as i64 - 1;
            prop_assert_eq!(open_keys.open(purpose, &action, &sealed, last), Ok(body.clone()));
            prop_assert_eq!(
                open_keys.open::<(String, Option<String>, i64)>(purpose, &action, &sealed, last + 1),
                Err(StateError::Expired)
            );
        }
        if other_purpose != purpose {
            prop_assert_eq!(
                open_keys.open::<(String, Option<String>, i64)>(other_purpose, &action, &sealed, now),
                Err(StateError::Tampered)
            );
        }
        if other_action != action {
            prop_assert_eq!(
                open_keys.open::<(String, Option<String>, i64)>(purpose, &other_action, &sealed, now),
                Err(StateError::OtherAction)
            );
        }
        if !others.is_empty() && !others.contains(&sealing) {
            prop_assert_eq!(
                keys_from(&others).open::<(String, Option<String>, i64)>(purpose, &action, &sealed, now),
                Err(StateError::Tampered)
            );
        }
    }

    /// Whatever the hub seals, whatever its size, opens again: too large a value is refused when
    /// sealing, never produced unopenable (a fuzzing find: `fuzz/` sealed_state).
    #[test]
    fn whatever_seals_opens(key in any::<[u8; 32]>(), unit in ".{1,8}", repeat in 0usize..6000) {
        let keys = keys_from(&[key]);
        let body = unit.repeat(repeat);
        match keys.seal(Purpose::TokenBundle, "a", None, 0, &body) {
            Ok(sealed) => prop_assert_eq!(keys.open(Purpose::TokenBundle, "a", &sealed, 0), Ok(body)),
            Err(e) => {
                prop_assert_eq!(e, StateError::TooLarge);
                // Refused only beyond what fits in Looker's 32 KB of state.
                let json = serde_json::to_string(&body).unwrap().len();
                prop_assert!(json > 24_000, "{}", json);
            }
        }
    }

    /// Any single-bit change of a sealed value is refused: every bit of its bytes, and every bit of
    /// every character of its text.
    #[test]
    fn any_single_bit_change_is_refused(
        key in any::<[u8; 32]>(),
        purpose in purpose(),
        body in any::<String>(),
    ) {
        let keys = keys_from(&[key]);
        let sealed = keys.seal(purpose, "a", None, 0, &body).unwrap();
        prop_assert_eq!(keys.open(purpose, "a", &sealed, 0), Ok(body.clone()));
        let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for bit in 0..raw.len() * 8 {
            let mut t = raw.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            let r = keys.open::<String>(purpose, "a", &URL_SAFE_NO_PAD.encode(&t), 0);
            prop_assert!(
                matches!(r, Err(StateError::Tampered | StateError::Malformed)),
                "byte bit {} opened: {:?}", bit, r
            );
        }
        for bit in 0..sealed.len() * 8 {
            let mut t = sealed.clone().into_bytes();
            t[bit / 8] ^= 1 << (bit % 8);
            let Ok(text) = String::from_utf8(t) else { continue };
            let r = keys.open::<String>(purpose, "a", &text, 0);
            prop_assert!(r.is_err(), "text bit {} opened", bit);
        }
    }
}

// ------------------------------------------------------------------ hub token

fn tokens(secrets: &[String]) -> HubTokens {
    HubTokens::new(
        secrets
            .iter()
            .map(|s| SecretString::from(s.clone()))
            .collect(),
    )
}

/// A secret an admin could configure (and put between the quotes of the header).
fn secret() -> impl Strategy<Value = String> {
    "[!#-~]{1,64}"
}

/// A header around a token value, in the spellings Looker and proxies produce.
fn header_for(value: &str, style: u8) -> String {
    match style % 4 {
        0 => format!("Token token=\"{value}\""),
        1 => format!("token TOKEN = \"{value}\""),
        2 => format!("  Token   token={value}  "),
        _ => format!("TOKEN token=\"{value}\"\t"),
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// No byte string makes the parser or the check panic, and the check's verdict agrees with the
    /// parser's.
    #[test]
    fn the_token_parser_never_panics(raw in prop::collection::vec(any::<u8>(), 0..200), s in secret()) {
        let t = tokens(&[s]);
        let parsed = parse_token_header(&raw);
        match t.check_header(Some(&raw)) {
            Ok(()) => prop_assert!(parsed.is_ok()),
            Err(AuthError::Malformed) => prop_assert!(parsed.is_err()),
            Err(AuthError::Invalid) => prop_assert!(parsed.is_ok()),
            Err(AuthError::Missing) => prop_assert!(false, "present header reported missing"),
        }
    }

    /// Exactly the configured secrets are accepted — as themselves or signed in the reference
    /// hub's `nonce/hex(HMAC-SHA512)` form — whatever the header's spelling.
    #[test]
    fn exactly_the_configured_secrets_are_accepted(
        secrets in prop::collection::vec(secret(), 1..4),
        candidate in secret(),
        nonce in "[0-9a-zA-Z/+=._-]{1,40}",
        style in any::<u8>(),
    ) {
        let t = tokens(&secrets);
        for s in &secrets {
            prop_assert_eq!(t.check_header(Some(header_for(s, style).as_bytes())), Ok(()));
            let signed = reference_hub_token(s, &nonce);
            prop_assert_eq!(t.check_header(Some(header_for(&signed, style).as_bytes())), Ok(()));
            prop_assert_eq!(
                t.check_header(Some(header_for(&signed.to_uppercase(), style).as_bytes())).is_ok(),
                nonce.to_uppercase() == nonce,
                "only the hex digits are case-insensitive"
            );
        }
        let expected = if secrets.contains(&candidate) { Ok(()) } else { Err(AuthError::Invalid) };
        prop_assert_eq!(t.check_header(Some(header_for(&candidate, style).as_bytes())), expected);
        let signed = reference_hub_token(&candidate, &nonce);
        let expected = if secrets.contains(&candidate) || secrets.contains(&signed) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        };
        prop_assert_eq!(t.check_header(Some(header_for(&signed, style).as_bytes())), expected);
    }
}

// ------------------------------------------------------------------ json_detail rows

/// A JSON value of any shape (floats only of exactly representable, short values, so that the
/// expected rows compare equal without depending on the parser's float rounding).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (any::<i32>(), 0u32..8).prop_map(|(m, e)| json!(m as f64 / (1u64 << e) as f64)),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A cell as Looker writes it: `{value, rendered?, links?}` or pivoted `{pivot_key: {value}}`.
fn cell() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => json_value().prop_map(|v| json!({"value": v})),
        1 => (json_value(), any::<String>())
            .prop_map(|(v, r)| json!({"value": v, "rendered": r, "links": [{"url": "x", "label": "y"}]})),
        1 => prop::collection::vec(("[a-z0-9 |]{0,12}", json_value()), 0..4).prop_map(|p| {
            Value::Object(p.into_iter().map(|(k, v)| (k, json!({"value": v}))).collect())
        }),
    ]
}

#[derive(Debug, Clone)]
struct Doc {
    dims: Vec<(String, Vec<String>)>,
    measures: Vec<(String, Vec<String>)>,
    ran_at: Option<String>,
    rows: Vec<Row>,
    data_first: bool,
    pretty: bool,
    encoding: u8,
}

fn field_list() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    prop::collection::vec(
        (
            "[a-z_]{1,8}\\.[a-z_]{1,8}",
            prop::collection::vec("[a-z_-]{1,12}", 0..3),
        ),
        0..4,
    )
}

fn doc() -> impl Strategy<Value = Doc> {
    let names = prop::collection::vec("[a-z_]{1,6}\\.[a-zA-Z_ é\"\\\\]{1,8}", 1..6);
    (
        field_list(),
        field_list(),
        proptest::option::of("[0-9T:Z-]{1,25}"),
        names,
        0usize..700,
        any::<(bool, bool, u8)>(),
    )
        .prop_flat_map(
            |(dims, measures, ran_at, names, n, (data_first, pretty, encoding))| {
                let row = prop::collection::vec(cell(), names.len())
                    .prop_map(move |cells| names.iter().cloned().zip(cells).collect::<Row>());
                // Long results repeat a few generated rows, so that 700 rows stay cheap to generate.
                let rows = prop::collection::vec(row, 1..8).prop_map(move |distinct| {
                    (0..n)
                        .map(|i| distinct[i % distinct.len()].clone())
                        .collect::<Vec<Row>>()
                });
                rows.prop_map(move |rows| Doc {
                    dims: dims.clone(),
                    measures: measures.clone(),
                    ran_at: ran_at.clone(),
                    rows,
                    data_first,
                    pretty,
                    encoding,
                })
            },
        )
}

fn fields_json(list: &[(String, Vec<String>)]) -> Value {
    list.iter()
        .map(|(name, tags)| json!({"name": name, "label": name.to_uppercase(), "tags": tags}))
        .collect()
}

impl Doc {
    fn text(&self) -> Vec<u8> {
        let fields = json!({
            "dimensions": fields_json(&self.dims),
            "measures": fields_json(&self.measures),
            "table_calculations": [],
            "pivots": [],
        });
        let data = Value::Array(self.rows.iter().cloned().map(Value::Object).collect());
        let mut top = Map::new();
        top.insert("ran_at".into(), json!(self.ran_at));
        top.insert("other".into(), json!({"data": [1], "fields": "no"}));
        if self.data_first {
            top.insert("data".into(), data);
            top.insert("fields".into(), fields);
        } else {
            top.insert("fields".into(), fields);
            top.insert("data".into(), data);
        }
        let top = Value::Object(top);
        if self.pretty {
            serde_json::to_vec_pretty(&top).unwrap()
        } else {
            serde_json::to_vec(&top).unwrap()
        }
    }

    fn source(&self) -> RowSource {
        let text = self.text();
        match self.encoding % 3 {
            0 => RowSource::Bytes(text.into()),
            1 => RowSource::Base64(STANDARD.encode(&text).into()),
            _ => {
                // Base64 wrapped in lines, as some producers write it.
                let b64 = STANDARD.encode(&text);
                let wrapped: Vec<u8> = b64
                    .as_bytes()
                    .chunks(76)
                    .flat_map(|l| l.iter().copied().chain(*b"\n"))
                    .collect();
                RowSource::Base64(Bytes::from(wrapped))
            }
        }
    }
}

async fn read_all(
    source: RowSource,
) -> (hub_core::rows::ResultHeader, Vec<Row>, Option<RowsError>) {
    let mut s = RowStream::open(source).await.expect("the result opens");
    let mut rows = vec![];
    while let Some(r) = s.next_row().await {
        match r {
            Ok(r) => rows.push(r),
            Err(e) => return (s.header().clone(), rows, Some(e)),
        }
    }
    assert_eq!(s.rows_read(), rows.len() as u64);
    (s.header().clone(), rows, None)
}

proptest! {
    #![proptest_config(config(48))]

    /// The reader yields exactly the rows of any json_detail document, in order, with its header:
    /// fields before or after the data, pushed as JSON or as base64 (wrapped or not).
    #[test]
    fn the_reader_yields_exactly_the_rows(d in doc()) {
        let (header, rows, err) = RT.block_on(read_all(d.source()));
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(header.ran_at.as_deref(), d.ran_at.as_deref());
        let names: Vec<(&str, FieldCategory)> =
            header.fields.iter().map(|f| (f.name.as_str(), f.category)).collect();
        let want: Vec<(&str, FieldCategory)> = d
            .dims
            .iter()
            .map(|f| (f.0.as_str(), FieldCategory::Dimension))
            .chain(d.measures.iter().map(|f| (f.0.as_str(), FieldCategory::Measure)))
            .collect();
        prop_assert_eq!(names, want);
        for (f, (_, tags)) in header.fields.iter().zip(d.dims.iter().chain(&d.measures)) {
            prop_assert_eq!(&f.tags, tags);
        }
        prop_assert_eq!(rows.len(), d.rows.len());
        prop_assert!(rows == d.rows, "rows differ");
    }

    /// A document cut anywhere yields a prefix of its rows and then an error, never a short
    /// result that looks complete.
    #[test]
    fn a_cut_document_is_reported_not_shortened(d in doc(), cut in any::<prop::sample::Index>()) {
        let text = d.text();
        let at = cut.index(text.len());
        let source = RowSource::Bytes(Bytes::copy_from_slice(&text[..at]));
        let rows = RT.block_on(async {
            let mut s = match RowStream::open(source).await {
                Ok(s) => s,
                Err(_) => return None,
            };
            let mut rows = vec![];
            while let Some(r) = s.next_row().await {
                match r {
                    Ok(r) => rows.push(r),
                    Err(_) => return Some(rows),
                }
            }
            panic!("a document cut at {at} of {} read as complete", text.len());
        });
        if let Some(rows) = rows {
            prop_assert!(rows.len() <= d.rows.len());
            prop_assert!(rows[..] == d.rows[..rows.len()], "the rows read are a prefix");
        }
    }
}

// ------------------------------------------------------------------ RudderStack delivery

/// A generated "users" result for the RudderStack pipeline: `users.id` (user_id, the row's
/// position), extra fields of any JSON value, some hidden, some rows with a value too large for
/// an event.
#[derive(Debug, Clone)]
struct UsersDoc {
    extra: Vec<String>,
    hidden: Vec<String>,
    rows: Vec<Vec<Value>>,
    /// Rows whose last extra field holds a value over 32 KB.
    huge: Vec<bool>,
}

fn users_doc() -> impl Strategy<Value = UsersDoc> {
    (1usize..5, 0usize..400).prop_flat_map(|(k, n)| {
        let extra: Vec<String> = (0..k).map(|i| format!("users.f{i}")).collect();
        (
            Just(extra.clone()),
            prop::sample::subsequence(extra, 0..k),
            prop::collection::vec(prop::collection::vec(json_value(), k), n),
            prop::collection::vec(prop::bool::weighted(0.02), n),
        )
            .prop_map(|(extra, hidden, rows, huge)| UsersDoc {
                extra,
                hidden,
                rows,
                huge,
            })
    })
}

impl UsersDoc {
    fn text(&self) -> Vec<u8> {
        let mut dims = vec![json!({"name": "users.id", "tags": ["user_id"]})];
        dims.extend(self.extra.iter().map(|n| json!({"name": n, "tags": []})));
        let data: Vec<Value> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, values)| {
                let mut row = Map::new();
                row.insert("users.id".into(), json!({"value": i}));
                for (j, (name, v)) in self.extra.iter().zip(values).enumerate() {
                    let v = if self.huge[i] && j + 1 == self.extra.len() {
                        json!("x".repeat(40_000))
                    } else {
                        v.clone()
                    };
                    row.insert(name.clone(), json!({"value": v}));
                }
                Value::Object(row)
            })
            .collect();
        serde_json::to_vec(&json!({
            "ran_at": "2024-05-01T10:00:00+00:00",
            "fields": {"dimensions": dims, "measures": [], "table_calculations": [], "pivots": []},
            "data": data,
        }))
        .unwrap()
    }

    /// Rows that cannot become an event (their huge field is sent).
    fn oversized(&self) -> HashSet<usize> {
        let last_hidden = self.extra.last().is_some_and(|l| self.hidden.contains(l));
        (0..self.rows.len())
            .filter(|&i| self.huge[i] && !last_hidden)
            .collect()
    }
}

/// Deliver `doc` through the real pipeline to a fresh local data plane; the report and the plane.
async fn deliver(
    doc: &UsersDoc,
    key: &str,
    settings: &hub_core::rudder::RudderSettings,
) -> (hub_core::rudder::DeliveryReport, crate::receiver::Receiver) {
    use crate::receiver::{Keep, Receiver};
    use hub_core::rudder::pipeline::{run, Job};
    let plane = Receiver::start("prop-key", Keep::Bodies).await;
    let stream = RowStream::open(RowSource::Bytes(doc.text().into()))
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let job = Job {
        call: hub_core::rudder::Call::Track,
        event: Some("Prop"),
        hidden_fields: &doc.hidden,
        delivery_key: key,
        naming: Default::default(),
        plane: hub_core::rudder::DataPlane::new(&plane.url, "prop-key").unwrap(),
        client: hub_core::net::Http::new(
            hub_core::net::OutboundPolicy::loopback(),
            std::time::Duration::from_secs(10),
        )
        .unwrap(),
        settings,
        stop: &stop,
        stopped_because: &|| "never stopped".to_string(),
        keep_rejections: 100,
    };
    let report = run(job, stream).await.expect("the rows have a user id");
    (report, plane)
}

use std::collections::{HashMap, HashSet};

proptest! {
    #![proptest_config(config(16))]

    /// Through the real pipeline and a real local data plane: every row becomes exactly one event
    /// (or is counted as rejected with its reason), no batch passes the byte or event limit, the
    /// report's counts are exact, and messageIds are distinct across rows, identical when the same
    /// Looker delivery is sent again and different for another delivery.
    #[test]
    fn every_row_is_one_event_in_bounded_batches_with_stable_ids(
        doc in users_doc(),
        max_events in 1usize..300,
        max_bytes in 40_000usize..600_000,
    ) {
        let settings = hub_core::rudder::RudderSettings {
            max_batch_bytes: max_bytes,
            max_batch_events: max_events,
            ..Default::default()
        };
        let n = doc.rows.len();
        let oversized = doc.oversized();
        let ids_of = |plane: &crate::receiver::Receiver| -> HashMap<String, String> {
            plane
                .events()
                .iter()
                .map(|e| (e["userId"].as_str().unwrap().to_string(), e["messageId"].as_str().unwrap().to_string()))
                .collect()
        };
        let (report, plane) = RT.block_on(deliver(&doc, "webhook-1", &settings));
        prop_assert_eq!(report.rows, n as u64);
        prop_assert_eq!(report.rejected, oversized.len() as u64);
        prop_assert_eq!(report.tally.sent, (n - oversized.len()) as u64);
        prop_assert_eq!(report.success(), oversized.is_empty());
        for r in plane.requests() {
            prop_assert!(r.json_bytes <= max_bytes, "{} > {}", r.json_bytes, max_bytes);
            prop_assert!(r.events <= max_events && r.events > 0);
        }
        // One event per row that fits, each accepted once, under one messageId.
        let accepted = plane.accepted_ids();
        prop_assert!(accepted.values().all(|&copies| copies == 1));
        let first = ids_of(&plane);
        let expected: HashSet<String> =
            (0..n).filter(|i| !oversized.contains(i)).map(|i| i.to_string()).collect();
        prop_assert_eq!(first.keys().cloned().collect::<HashSet<_>>(), expected);
        prop_assert_eq!(first.values().collect::<HashSet<_>>().len(), first.len());
        // Looker retries the same delivery: the same ids. Another delivery: other ids.
        let (_, again) = RT.block_on(deliver(&doc, "webhook-1", &settings));
        prop_assert_eq!(&ids_of(&again), &first);
        let (_, other) = RT.block_on(deliver(&doc, "webhook-2", &settings));
        let other = ids_of(&other);
        prop_assert!(first.iter().all(|(user, id)| other.get(user) != Some(id)));
    }
}

// ------------------------------------------------------------------ outgoing address policy

use hub_core::net::OutboundPolicy;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every non-public IPv4 range the policy knows, as (network, prefix length).
const NON_PUBLIC_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

fn non_public_v4() -> impl Strategy<Value = Ipv4Addr> {
    (prop::sample::select(NON_PUBLIC_V4), any::<u32>()).prop_map(|((net, len), host)| {
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        Ipv4Addr::from((u32::from_be_bytes(net) & mask) | (host & !mask))
    })
}

/// Every way an IPv6 address carries an IPv4 address to where a connection ends up.
#[derive(Debug, Clone, Copy)]
enum Embedding {
    Mapped,
    Translated,
    Compatible,
    Nat64,
    SixToFour,
    TeredoServer,
    TeredoClient,
    Isatap,
}

fn embedding() -> impl Strategy<Value = Embedding> {
    use Embedding::*;
    prop::sample::select(vec![
        Mapped,
        Translated,
        Compatible,
        Nat64,
        SixToFour,
        TeredoServer,
        TeredoClient,
        Isatap,
    ])
}

/// `v4` embedded the `how` way; `noise` fills the bits the embedding leaves free; the other
/// IPv4 address of a Teredo address is public.
fn embed(v4: Ipv4Addr, how: Embedding, noise: u64) -> IpAddr {
    let b = u32::from(v4);
    let (hi, lo) = ((b >> 16) as u16, b as u16);
    let n = |i: u32| (noise >> (16 * i)) as u16;
    let public = u32::from(Ipv4Addr::new(8, 8, 4, 4));
    let s: [u16; 8] = match how {
        Embedding::Mapped => [0, 0, 0, 0, 0, 0xffff, hi, lo],
        Embedding::Translated => [0, 0, 0, 0, 0xffff, 0, hi, lo],
        Embedding::Compatible => [0, 0, 0, 0, 0, 0, hi, lo],
        Embedding::Nat64 => [0x64, 0xff9b, 0, 0, 0, 0, hi, lo],
        Embedding::SixToFour => [0x2002, hi, lo, n(0), n(1), n(2), n(3), n(0) ^ 1],
        Embedding::TeredoServer => {
            let c = !public;
            [0x2001, 0, hi, lo, n(0), n(1), (c >> 16) as u16, c as u16]
        }
        Embedding::TeredoClient => {
            let c = !b;
            let p = public;
            [
                0x2001,
                0,
                (p >> 16) as u16,
                p as u16,
                n(0),
                n(1),
                (c >> 16) as u16,
                c as u16,
            ]
        }
        Embedding::Isatap => [0x2a00, 0x1450, n(0), n(1), n(2) & 0x0300, 0x5efe, hi, lo],
    };
    IpAddr::V6(Ipv6Addr::from(s))
}

proptest! {
    #![proptest_config(config(512))]

    /// For every non-public IPv4 address, each IPv6 form that embeds it is refused as that kind
    /// of address, unless the policy allows it: local mode allows exactly the loopback ones, an
    /// allowlist naming the IPv4 address allows all its forms.
    #[test]
    fn every_embedding_of_a_non_public_ipv4_address_is_refused_unless_allowed(
        v4 in non_public_v4(),
        how in embedding(),
        noise in any::<u64>(),
    ) {
        // ::0.0.0.0 and ::0.0.0.1 are IPv6's own unspecified and loopback addresses.
        prop_assume!(!(matches!(how, Embedding::Compatible) && u32::from(v4) < 2));
        let v6 = embed(v4, how, noise);
        let public_only = OutboundPolicy::public_only();
        let kind = public_only.check_ip(IpAddr::V4(v4));
        prop_assert!(kind.is_err(), "{} is not public", v4);
        prop_assert_eq!(public_only.check_ip(v6), kind, "{} ({:?} of {})", v6, how, v4);
        let local = OutboundPolicy::loopback().check_ip(v6);
        prop_assert_eq!(local.is_ok(), v4.is_loopback(), "{} ({:?} of {}): {:?}", v6, how, v4, local);
        let named = OutboundPolicy::parse(&v4.to_string()).unwrap();
        prop_assert_eq!(named.check_ip(v6), Ok(()), "{} ({:?} of {})", v6, how, v4);
    }

    /// A public IPv4 address is allowed in every form.
    #[test]
    fn every_embedding_of_a_public_ipv4_address_is_allowed(
        v4 in any::<u32>().prop_map(Ipv4Addr::from),
        how in embedding(),
        noise in any::<u64>(),
    ) {
        let public_only = OutboundPolicy::public_only();
        prop_assume!(public_only.check_ip(IpAddr::V4(v4)).is_ok());
        let v6 = embed(v4, how, noise);
        prop_assert_eq!(public_only.check_ip(v6), Ok(()), "{} ({:?} of {})", v6, how, v4);
    }
}
