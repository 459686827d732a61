"""Prometheus metrics of a running ``isoforest stream`` (the ``metrics`` extra).

One :class:`StreamMetrics` per stream, on a registry of its own, served over HTTP
in Prometheus's text exposition format by ``prometheus_client``. The stdin and the
broker paths report the same series:

==========================================  ==========  =================================
series                                      type        what
==========================================  ==========  =================================
``isoforest_records_total``                 counter     records scored
``isoforest_anomalies_total``               counter     records flagged
``isoforest_malformed_total{reason}``       counter     lines or messages refused
``isoforest_batch_records``                 histogram   records scored per kernel call
``isoforest_latency_seconds``               histogram   arrival of a batch to its results
                                                        written (stdin) or confirmed by
                                                        the broker
``isoforest_model_info{kind,features}``     info        the model and its columns
``isoforest_redelivered_total``             counter     messages the broker delivered
                                                        again (after a crash)
``isoforest_reconnects_total``              counter     connections to the broker
                                                        opened again
==========================================  ==========  =================================
"""

#: The ``reason`` labels of ``isoforest_malformed_total`` (``stream.Malformed.reason``).
MALFORMED_REASONS = ("fields", "not_a_number", "missing_value", "json", "columns",
                     "oversized", "encoding", "empty")


class StreamMetrics:
    """The stream's series on a private registry, served at ``port`` on ``addr``.

    Parameters
    ----------
    port : int
        TCP port of the HTTP server (0: any free port, see :attr:`port`).
    kind : str
        The model's kind (``IsolationForest``, ``hst``, ...), for the info metric.
    features : list of str
        The model's columns, for the info metric.
    addr : str, default="0.0.0.0"
        Address the server listens on.
    """

    def __init__(self, port, kind, features, addr="0.0.0.0"):
        try:
            import prometheus_client as pc
        except ImportError:
            raise ImportError("--metrics-port needs prometheus_client: "
                              "pip install isoforest[metrics]") from None
        reg = pc.CollectorRegistry()
        self.registry = reg
        self.records = pc.Counter("isoforest_records", "records scored", registry=reg)
        self.anomalies = pc.Counter("isoforest_anomalies", "records flagged as anomalies",
                                    registry=reg)
        self.malformed_by = pc.Counter("isoforest_malformed",
                                       "lines or messages refused, by reason",
                                       ["reason"], registry=reg)
        for reason in MALFORMED_REASONS:
            self.malformed_by.labels(reason)
        self.batch = pc.Histogram("isoforest_batch_records", "records per kernel call",
                                  buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536),
                                  registry=reg)
        self.latency = pc.Histogram(
            "isoforest_latency_seconds",
            "arrival of a batch to its results written or confirmed",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                     0.1, 0.25, 0.5, 1.0, 2.5), registry=reg)
        info = pc.Info("isoforest_model", "the model the stream scores with", registry=reg)
        info.info({"kind": str(kind), "features": ",".join(map(str, features))})
        self.redelivered = pc.Counter("isoforest_redelivered",
                                      "messages the broker delivered again", registry=reg)
        self.reconnects = pc.Counter("isoforest_reconnects",
                                     "connections to the broker opened again", registry=reg)
        self.server, self.thread = pc.start_http_server(port, addr=addr, registry=reg)
        self.port = self.server.server_port

    def scored(self, n, n_anomalies, latency):
        """A batch of ``n`` records written, ``latency`` seconds after it arrived."""
        if n:
            self.records.inc(n)
            self.batch.observe(n)
            self.latency.observe(latency)
        if n_anomalies:
            self.anomalies.inc(n_anomalies)

    def malformed(self, reason):
        """One line or message refused, for ``reason`` (a ``MALFORMED_REASONS`` label)."""
        self.malformed_by.labels(reason).inc()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
