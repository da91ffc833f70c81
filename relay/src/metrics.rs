//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! What an operator needs to see the relay is healthy and keeping up: AMI links up,
//! events in per server, model rebuilds, browsers connected, deltas published and
//! the snapshots sent to browsers that fell behind, and audit records written or lost.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

/// What became of an audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Written,
    /// The writer's queue was full.
    Dropped,
    /// The database refused the write.
    Failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Cheap to clone: every clone counts into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    link_up: Family<ServerLabel, Gauge>,
    events_in: Family<ServerLabel, Counter>,
    resyncs: Family<ServerLabel, Counter>,
    deltas: Counter,
    browsers: Gauge,
    lag_snapshots: Counter,
    logins: Counter,
    failed_logins: Counter,
    audit_records: Family<OutcomeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("astpanel");
        let inner = Inner {
            link_up: Family::default(),
            events_in: Family::default(),
            resyncs: Family::default(),
            deltas: Counter::default(),
            browsers: Gauge::default(),
            lag_snapshots: Counter::default(),
            logins: Counter::default(),
            failed_logins: Counter::default(),
            audit_records: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "ami_link_up",
            "1 while the AMI link to the server is up and its model live",
            inner.link_up.clone(),
        );
        registry.register("ami_events", "AMI events received", inner.events_in.clone());
        registry.register(
            "model_resyncs",
            "Rebuilds of a server's model from its status lists",
            inner.resyncs.clone(),
        );
        registry.register(
            "deltas_published",
            "Deltas published to browsers (one per tick with changes)",
            inner.deltas.clone(),
        );
        registry.register(
            "browsers",
            "Browser WebSockets open",
            inner.browsers.clone(),
        );
        registry.register(
            "lag_snapshots",
            "Snapshots sent to browsers that fell behind",
            inner.lag_snapshots.clone(),
        );
        registry.register("logins", "Successful logins", inner.logins.clone());
        registry.register(
            "failed_logins",
            "Refused logins",
            inner.failed_logins.clone(),
        );
        registry.register(
            "audit_records",
            "Audit records by outcome: written; dropped (the writer's queue was full); failed (the database refused the write: full disk, read-only file)",
            inner.audit_records.clone(),
        );
        Metrics {
            inner: Arc::new(Inner { registry, ..inner }),
        }
    }

    fn label(server: &str) -> ServerLabel {
        ServerLabel {
            server: server.to_owned(),
        }
    }

    /// The events-in counter of one server, looked up once: the per-event path then
    /// only increments it, with no label to build.
    pub fn events_in(&self, server: &str) -> Counter {
        self.inner
            .events_in
            .get_or_create(&Self::label(server))
            .clone()
    }

    pub fn resync(&self, server: &str) {
        self.inner.resyncs.get_or_create(&Self::label(server)).inc();
    }

    pub fn link(&self, server: &str, up: bool) {
        self.inner
            .link_up
            .get_or_create(&Self::label(server))
            .set(i64::from(up));
    }

    pub fn delta_published(&self) {
        self.inner.deltas.inc();
    }

    /// Counts an open browser socket until the returned guard is dropped.
    pub fn browser_opened(&self) -> BrowserGauge {
        self.inner.browsers.inc();
        BrowserGauge(self.inner.browsers.clone())
    }

    pub fn lag_snapshot(&self) {
        self.inner.lag_snapshots.inc();
    }

    pub fn login(&self, ok: bool) {
        if ok {
            self.inner.logins.inc();
        } else {
            self.inner.failed_logins.inc();
        }
    }

    /// Counts `records` audit records that ended as `outcome`.
    pub fn audit_records(&self, outcome: AuditOutcome, records: u64) {
        self.inner
            .audit_records
            .get_or_create(&OutcomeLabel {
                outcome: match outcome {
                    AuditOutcome::Written => "written",
                    AuditOutcome::Dropped => "dropped",
                    AuditOutcome::Failed => "failed",
                },
            })
            .inc_by(records);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

/// Decrements the browser gauge when the socket ends.
pub struct BrowserGauge(Gauge);

impl Drop for BrowserGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}
