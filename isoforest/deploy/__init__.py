"""Files for running ``isoforest stream`` in production, shipped with the package.

* ``grafana-dashboard.json``: a Grafana dashboard of the stream's Prometheus metrics
  (``--metrics-port``): records and anomalies per second, the share flagged,
  malformed input by reason, latency and batch-size quantiles, broker redeliveries
  and reconnects, the model. Import it in Grafana and pick the Prometheus data source.
* ``isoforest-stream.service``: a systemd unit running a learning stream between
  RabbitMQ queues, restarted when it stops, its state kept across restarts.

``path(name)`` gives a file's location.
"""

from pathlib import Path


def path(name):
    """The installed location of the deployment file ``name``."""
    return Path(__file__).with_name(name)
