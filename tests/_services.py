"""Private RabbitMQ and Prometheus instances for the tests: Debian's packages,
started as root-free processes on loopback ports with their data in a temporary
folder, stopped afterwards, every wait bounded.

Without the packages a test is skipped with the command that installs them; under
CI (``CI`` set) it fails, so a missing service never passes unseen.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
INSTALL = "apt-get install -y rabbitmq-server prometheus"
START_TIMEOUT = 90


def need(path, what):
    if shutil.which(path) or os.path.exists(path):
        return
    message = f"{what} is not installed ({path}); install it with: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need_module(name, extra):
    try:
        __import__(name)
    except ImportError:
        message = f"{name} is not installed: pip install isoforest[{extra}]"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout, what, log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    tail = "" if log is None or not Path(log).exists() else Path(log).read_text()[-2000:]
    raise RuntimeError(f"{what} did not start within {timeout} s\n{tail}")


class RabbitMQ:
    """A private RabbitMQ node: ``url`` is its guest account on loopback."""

    def __init__(self, root):
        self.root = Path(root)
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.node = f"isoforest{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self.env = dict(
            os.environ, HOME=str(self.root), RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "plugins"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(self.root / "feature_flags"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq"),
            ERL_EPMD_PORT=str(self.epmd_port))
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "plugins").write_text("[].\n")
        self.log = self.root / "server.out"
        self.proc = None

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([RABBITMQ_SERVER], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self.accepts, START_TIMEOUT, "rabbitmq-server", self.log)
        return self

    def accepts(self):
        if b"Starting broker... completed" not in self.log.read_bytes():
            return False
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def ctl(self, *args, timeout=60):
        return subprocess.run([RABBITMQCTL, "-n", self.node, *args], env=self.env,
                              capture_output=True, timeout=timeout, check=True)

    def restart_app(self):
        """Stop and start the broker inside its node: every connection is dropped."""
        self.ctl("stop_app")
        self.ctl("start_app")
        _wait(lambda: socket.socket().connect_ex(("127.0.0.1", self.port)) == 0, 60,
              "rabbitmq app")

    def stop(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # epmd daemonises out of the node's process group
        subprocess.run(["epmd", "-kill"], env=self.env, capture_output=True, timeout=10)


class Prometheus:
    """A private Prometheus scraping ``targets`` every second."""

    def __init__(self, root, targets):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.root / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: isoforest\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        self.log = self.root / "prometheus.out"
        self.proc = None

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.root / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self.ready, START_TIMEOUT, "prometheus", self.log)
        return self

    def ready(self):
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
