//! Log lines as JSON for production: one object per line with `timestamp`, `level`, `target`,
//! the event's fields (`message` among them), the innermost span's name and fields, and the
//! OpenTelemetry `trace_id` and `span_id` of the span the line was written in, so a log search
//! leads straight to the trace in Jaeger (and a trace's spans to their log lines).
//!
//! The ids come from the OpenTelemetry layer, which [`crate::telemetry::init`] installs whenever
//! logs are JSON, exporting or not: a request that arrives with a `traceparent` logs under the
//! caller's trace id even where this deployment exports no spans.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter; pair it with [`JsonFields`] for the span fields, and add its
/// [`JsonWithTrace::dispatch_layer`] to the same subscriber (the ids are looked up through it).
#[derive(Debug, Default, Clone)]
pub struct JsonWithTrace {
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl JsonWithTrace {
    /// The layer that hands the subscriber to the formatter when it is installed: inside an
    /// event, `Span::current()` sees no subscriber (tracing guards against re-entry), so the
    /// formatter asks the subscriber it was registered with.
    pub fn dispatch_layer(&self) -> DispatchLayer {
        DispatchLayer { dispatch: self.dispatch.clone() }
    }

    fn ids(&self, span: &tracing::span::Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
        let span = cx.span();
        let ids = span.span_context();
        ids.is_valid().then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    }
}

/// See [`JsonWithTrace::dispatch_layer`].
#[derive(Debug)]
pub struct DispatchLayer {
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for DispatchLayer {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        line.extend(fields);
        let current_id = ctx.lookup_current().map(|span| span.id());
        if let Some(span) = ctx.lookup_current() {
            let mut current = Map::new();
            current.insert("name".into(), span.name().into());
            // The span's fields as `JsonFields` formatted them when the span was made.
            let formatted = span
                .extensions()
                .get::<FormattedFields<N>>()
                .and_then(|f| serde_json::from_str::<Map<String, Value>>(f.as_str()).ok());
            if let Some(formatted) = formatted {
                current.extend(formatted);
            }
            line.insert("span".into(), Value::Object(current));
        }
        // Asked only after every lock on the span's extensions above was released.
        if let Some((trace_id, span_id)) = current_id.and_then(|id| self.ids(&id)) {
            line.insert("trace_id".into(), trace_id.into());
            line.insert("span_id".into(), span_id.into());
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The span fields' formatter that goes with [`JsonWithTrace`].
pub fn fields() -> JsonFields {
    JsonFields::new()
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_in_a_span_carries_its_trace_and_span_ids() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let format = JsonWithTrace::default();
        let subscriber = tracing_subscriber::registry()
            .with(format.dispatch_layer())
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(format.clone())
                    .fmt_fields(fields())
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", http.path = "/v1/hotline/orders", case_count = 1);
            let _entered = span.enter();
            tracing::info!(case_id = "c-1", matters = 2, "case taken in");
            let cx = span.context();
            let ids = cx.span().span_context().clone();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonWithTrace::default())
                    .fmt_fields(fields())
                    .with_writer({
                        let writer = buffer.clone();
                        move || writer.clone()
                    }),
            ),
            || tracing::warn!("outside any span"),
        );
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("UTF-8");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let line = &lines[0];
        assert_eq!(line["message"], "case taken in");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["case_id"], "c-1");
        assert_eq!(line["matters"], 2);
        assert_eq!(line["span"]["name"], "request");
        assert_eq!(line["span"]["http.path"], "/v1/hotline/orders");
        assert_eq!(line["trace_id"], trace_id.as_str());
        assert_eq!(line["span_id"], span_id.as_str());
        assert_eq!(trace_id.len(), 32);
        assert_eq!(span_id.len(), 16);
        assert_ne!(trace_id, "0".repeat(32));
        // Outside any span there is no trace to lead to, and the line says nothing false.
        assert_eq!(lines[1]["message"], "outside any span");
        assert!(lines[1].get("trace_id").is_none());
        let _ = std::io::stderr().flush();
    }
}
