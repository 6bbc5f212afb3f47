import KirokuProtocol
import Prometheus
import Synchronization

/// The hub's Prometheus metrics (`GET /metrics`). Kept in one registry owned by the hub rather than the
/// process-wide metrics system, so several hubs (tests) can live in one process.
public final class HubMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let eventsIngested: Counter
    let duplicates: Counter
    let batchesAccepted: Counter
    /// Time from a batch's body being read to its receipt being signed (verify, durable commit, sign).
    let batchDuration: DurationHistogram
    /// 1 while the revocation list is good, 0 while every certificate is refused for want of one.
    let revocationListUsable: Gauge
    /// TLS clients refused as revoked, or because the revocation list could not be used.
    let revocationRefusals: Counter
    private let lagGauges = Mutex<[String: Gauge]>([:])

    init() {
        eventsIngested = registry.makeCounter(
            descriptor: Self.name("kiroku_events_ingested_total", "Events added to the record"))
        duplicates = registry.makeCounter(
            descriptor: Self.name("kiroku_events_duplicate_total", "Events received again (no-op)"))
        batchesAccepted = registry.makeCounter(
            descriptor: Self.name("kiroku_batches_total", "Batches by result"), labels: [("result", "accepted")])
        batchDuration = registry.makeDurationHistogram(
            descriptor: Self.name(
                "kiroku_batch_duration_seconds", "Accepted batches: verify, durable commit and receipt"),
            buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { Duration.milliseconds($0) })
        revocationListUsable = registry.makeGauge(
            descriptor: Self.name(
                "kiroku_revocation_list_usable_bool", "1 while the revocation list is good; 0 refuses every client"))
        revocationRefusals = registry.makeCounter(
            descriptor: Self.name(
                "kiroku_revocation_refusals_total", "Clients refused as revoked or for want of a good revocation list"))
    }

    /// `kiroku_<name>_<unit>`, e.g. `kiroku_events_ingested_total`.
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        let parts = name.split(separator: "_")
        return MetricNameDescriptor(
            namespace: "kiroku", metricName: parts.dropFirst().dropLast().joined(separator: "_"),
            unitName: String(parts.last!), helpText: help)
    }

    func refused(_ code: ErrorCode) {
        registry.makeCounter(
            descriptor: Self.name("kiroku_refusals_total", "Refused requests by error code"),
            labels: [("code", code.rawValue)]
        ).increment()
    }

    func lag(agent: String, events: Int64) {
        let gauge = lagGauges.withLock { gauges in
            if let gauge = gauges[agent] { return gauge }
            let gauge = registry.makeGauge(
                descriptor: Self.name(
                    "kiroku_agent_lag_events", "Events the agent reported that the hub does not hold yet"),
                labels: [("agent", agent)])
            gauges[agent] = gauge
            return gauge
        }
        gauge.set(Double(events))
    }

    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
