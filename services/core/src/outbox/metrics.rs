//! Prometheus metrics of the outbox relay and consumers.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct OutboxMetrics {
    /// Publishes sent to the broker, by exchange.
    pub published: IntCounterVec,
    /// Publishes the broker acked cleanly (row marked sent), by exchange.
    pub confirmed: IntCounterVec,
    /// Publishes nacked, returned unroutable or lost with the channel.
    pub publish_failed: IntCounterVec,
    /// Rows made due again by the check-back sweep.
    pub checked_back: IntCounterVec,
    /// Deliveries by consumer and outcome (handled, duplicate, failed).
    pub consumed: IntCounterVec,
    /// Deliveries the broker flagged as redelivered, by consumer.
    pub redelivered: IntCounterVec,
    /// Deliveries nacked for the last time (the queue dead-letters them).
    pub dead_lettered: IntCounterVec,
    /// Age in ms of the oldest due row the relay saw in its last poll.
    pub relay_lag_ms: IntGaugeVec,
}

impl OutboxMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<OutboxMetrics, prometheus::Error> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let m = OutboxMetrics {
            published: counter("outbox_published_total", "outbox publishes", &["exchange"])?,
            confirmed: counter(
                "outbox_confirmed_total",
                "outbox publishes acked",
                &["exchange"],
            )?,
            publish_failed: counter(
                "outbox_publish_failed_total",
                "outbox publishes nacked, unroutable or lost",
                &["exchange"],
            )?,
            checked_back: counter(
                "outbox_checked_back_total",
                "pending rows made due by the check-back",
                &["province"],
            )?,
            consumed: counter(
                "mq_consumed_total",
                "deliveries by consumer and outcome",
                &["consumer", "outcome"],
            )?,
            redelivered: counter("mq_redelivered_total", "redeliveries", &["consumer"])?,
            dead_lettered: counter("mq_dead_lettered_total", "dead-lettered", &["consumer"])?,
            relay_lag_ms: IntGaugeVec::new(
                Opts::new("outbox_relay_lag_ms", "age of the oldest due outbox row"),
                &["province"],
            )?,
        };
        registry.register(Box::new(m.relay_lag_ms.clone()))?;
        Ok(m)
    }

    /// Metrics in a private registry (tests, tools).
    pub fn unregistered() -> OutboxMetrics {
        OutboxMetrics::register(&Registry::new()).expect("fresh registry")
    }
}
