//! JSON log lines that name their request at the top level: every line
//! logged within a request, however deep in its spans (a refresh, an
//! outbound call), starts with `"request_id":"…"`, so a log pipeline can
//! index it as it is, without looking into the span list.

use std::fmt;
use tracing::{
    field::{Field, Visit},
    span, Event, Subscriber,
};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields},
    layer::Context,
    registry::LookupSpan,
    Layer,
};

/// The request id of a span that has one (the `http` span's field).
struct RequestId(String);

/// Keeps a new span's `request_id` field where log lines find it.
pub struct RequestIds;

impl<S> Layer<S> for RequestIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut found = FindRequestId(None);
        attrs.record(&mut found);
        if let (Some(request_id), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }
}

struct FindRequestId(Option<String>);

impl Visit for FindRequestId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `request_id = %id` arrives here, its Debug being the Display
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// Wraps the JSON event format: the line as it writes it, with the
/// request's id put first.
pub struct WithRequestId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let request_id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
        });
        let Some(request_id) = request_id else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // the JSON format always writes the timestamp and level: the
        // object is never empty
        match (line.strip_prefix('{'), serde_json::to_string(&request_id)) {
            (Some(rest), Ok(quoted)) => write!(writer, "{{\"request_id\":{quoted},{rest}"),
            _ => writer.write_str(&line),
        }
    }
}
