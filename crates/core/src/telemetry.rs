//! Logging: JSON lines in the Cloud Logging shape (`severity`, `message`, trace) or plain text.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, Settings};

/// Install the global subscriber (once; later calls are ignored).
pub fn init(settings: &Settings) {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let project = std::env::var("GOOGLE_CLOUD_PROJECT")
        .ok()
        .filter(|p| !p.is_empty());
    let _ = match settings.log_format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(CloudLoggingLayer::new(project, std::io::stdout))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init(),
    };
}

/// A layer writing one JSON object per event in the shape Cloud Logging parses from stdout.
pub struct CloudLoggingLayer<W> {
    project: Option<String>,
    make_writer: W,
}

impl<W> CloudLoggingLayer<W> {
    /// `project` turns a `trace_id` field into `projects/P/traces/ID`.
    pub fn new(project: Option<String>, make_writer: W) -> Self {
        CloudLoggingLayer {
            project,
            make_writer,
        }
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

/// Fields recorded on a span, kept in its extensions.
struct SpanFields(Map<String, Value>);

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

impl<S, W> Layer<S> for CloudLoggingLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            if let Some(f) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(&mut f.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &f.0 {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        let mut out = Map::with_capacity(fields.len() + 5);
        out.insert("severity".into(), severity(event.metadata().level()).into());
        out.insert("message".into(), message);
        out.insert(
            "time".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        out.insert("target".into(), event.metadata().target().into());
        if let Some(Value::String(trace)) = fields.remove("trace_id") {
            if !trace.is_empty() {
                let trace = match &self.project {
                    Some(p) => format!("projects/{p}/traces/{trace}"),
                    None => trace,
                };
                out.insert("logging.googleapis.com/trace".into(), trace.into());
            }
        }
        if let Some(Value::String(span)) = fields.remove("span_id") {
            if !span.is_empty() {
                out.insert("logging.googleapis.com/spanId".into(), span.into());
            }
        }
        for (k, v) in fields {
            out.entry(k).or_insert(v);
        }
        let mut line = serde_json::to_vec(&out).unwrap_or_default();
        line.push(b'\n');
        let _ = self.make_writer.make_writer().write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[test]
    fn events_are_cloud_logging_json_lines_with_span_fields_and_trace() {
        let buf = Buf::default();
        let sub = tracing_subscriber::registry()
            .with(CloudLoggingLayer::new(Some("proj".into()), buf.clone()));
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!(
                "req",
                trace_id = "abc123",
                span_id = "000000000000007b",
                action = "mark_suspicious"
            );
            let _g = span.enter();
            tracing::warn!(status = 403u64, "refused {}", "call");
            tracing::error!(trace_id = "", "no trace");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["severity"], "WARNING");
        assert_eq!(lines[0]["message"], "refused call");
        assert_eq!(lines[0]["status"], 403);
        assert_eq!(lines[0]["action"], "mark_suspicious");
        assert_eq!(
            lines[0]["logging.googleapis.com/trace"],
            "projects/proj/traces/abc123"
        );
        assert_eq!(
            lines[0]["logging.googleapis.com/spanId"],
            "000000000000007b"
        );
        assert_eq!(lines[1]["severity"], "ERROR");
        assert!(lines[1].get("logging.googleapis.com/trace").is_none());
    }
}
