"""Real processes for the operations tests, self-contained on purpose (the shared test kits are
being moved): a private Mosquitto, `pes-collector serve` on SQLite, `pes-agent run` with its
metrics port, and a Prometheus with its own storage, each on a free loopback port in tmp_path.
Never the system broker, never a system Prometheus."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROM_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
RULES = PROM_DIR / "rules" / "pes-alerts.yml"
RULE_TESTS = PROM_DIR / "tests" / "pes-alerts.test.yml"
SCRAPE_CONFIG = PROM_DIR / "prometheus.yml"
DASHBOARD = GRAFANA_DIR / "dashboards" / "pes-telemetry.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool(name: str, *fallbacks: str) -> str | None:
    for cand in (shutil.which(name), *fallbacks):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def console_script(name: str) -> str:
    """The console script (`pes-collector`, `pes-agent`) of this interpreter's environment,
    else the one on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if os.access(here, os.X_OK) else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not installed: pip install -e '.[dev]'")
    return found


class Proc:
    """A child process in its own session, output to a log file; stopped with SIGTERM, then
    SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, **kw: Any) -> None:
        self.name, self.log = name, log
        self._terminated = False
        with log.open("ab") as fh:
            self.popen = subprocess.Popen(
                list(argv),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                **kw,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def terminate(self) -> None:
        """SIGTERM, once (a second one may cut a graceful shutdown short)."""
        if self.popen.poll() is None and not self._terminated:
            self._terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10) -> int:
        p = self.popen
        if p.poll() is None:
            self.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        return p.returncode


def wait_until(what: str, check: Callable[[], bool], timeout: float, *procs: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited ({p.popen.returncode}): {p.log_tail()}")
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in procs)
    raise TimeoutError(f"{what} after {timeout}s\n{logs}")


def started(proc: Proc, what: str, check: Callable[[], bool], timeout: float) -> None:
    """Wait for a process just started to be ready; stop it if it never is."""
    try:
        wait_until(what, check, timeout, proc)
    except BaseException:
        proc.stop()
        raise


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def start_mosquitto(dir: Path) -> tuple[Proc, int]:
    exe = tool("mosquitto", "/usr/sbin/mosquitto")
    if exe is None:
        raise RuntimeError("mosquitto not installed (scripts/bootstrap.sh installs it)")
    port = free_port()
    conf = dir / "mosquitto.conf"
    # Stock queue limits drop QoS 1 messages for a slow subscriber (docs/wire.md).
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nmax_packet_size 2097152\nlog_dest stderr\n"
        "log_type error\nlog_type warning\n"
    )
    proc = Proc("mosquitto", [exe, "-c", str(conf)], dir / "mosquitto.log")
    started(proc, "mosquitto listening", lambda: listening(port), 10)
    return proc, port


def start_collector(dir: Path, mqtt_port: int) -> tuple[Proc, int]:
    http = free_port()
    conf = dir / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{dir}/collector.db"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_max_s = 1.0\n'
        f'[api]\nhost = "127.0.0.1"\nport = {http}\ntokens = ["ops-token"]\n'
        f'[ingest]\nclient_id = "ops-collector-{http}"\n'
    )
    argv = [console_script("pes-collector"), "serve", "--config", str(conf)]
    proc = Proc("pes-collector", argv, dir / "collector.log")
    ready = f"http://127.0.0.1:{http}/readyz"
    started(proc, "collector ready", lambda: httpx.get(ready).status_code == 200, 60)
    return proc, http


def start_agent(dir: Path, mqtt_port: int, device_id: str) -> tuple[Proc, int, Path]:
    metrics = free_port()
    conf = dir / f"{device_id}.toml"
    sock = dir / f"{device_id}.sock"
    conf.write_text(
        f'device_id = "{device_id}"\ndevice_type = "gateway-x1"\nfirmware_version = "4.2.1"\n'
        f'account_id = "acme"\nbuffer_path = "{dir}/{device_id}.db"\nsocket_path = "{sock}"\n'
        f"linger_ms = 20\nstatus_interval_s = 2\nmetrics_port = {metrics}\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_max_s = 0.5\n'
    )
    argv = [console_script("pes-agent"), "run", "--config", str(conf)]
    proc = Proc(f"pes-agent {device_id}", argv, dir / f"{device_id}.log")
    url = f"http://127.0.0.1:{metrics}/metrics"
    started(
        proc,
        "agent metrics and socket",
        lambda: "pes_agent_up" in httpx.get(url).text and sock.exists(),
        30,
    )
    return proc, metrics, sock


def emit(sock: Path, lines: Sequence[bytes]) -> list[bytes]:
    """Send events to an agent's Unix socket, one JSON per line; its replies, one per line."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(b"".join(lines))
        buf = b""
        while buf.count(b"\n") < len(lines):
            data = s.recv(65536)
            if not data:
                break
            buf += data
    return buf.splitlines()


def publish_raw(mqtt_port: int, topic: str, payload: bytes) -> None:
    """One QoS 1 message from a bare MQTT 5 client (what a broken device would send)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", mqtt_port)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def prometheus_config(dir: Path, collectors: list[str], agents: list[str]) -> Path:
    """The shipped deploy/prometheus/prometheus.yml, with its file_sd target files and rule
    files pointed at this test's and scrapes every second; jobs, paths and relabelling stay."""
    conf = yaml.safe_load(SCRAPE_CONFIG.read_text())
    conf["global"]["scrape_interval"] = "1s"
    conf["global"]["evaluation_interval"] = "1s"
    conf["rule_files"] = [str(RULES)]
    conf.pop("alerting", None)  # no Alertmanager here
    targets = {"pes-collector": collectors, "pes-agent": agents}
    for job in conf["scrape_configs"]:
        name = job["job_name"]
        path = dir / f"{name}.targets.yml"
        path.write_text(yaml.safe_dump([{"targets": targets[name]}]))
        job["file_sd_configs"] = [{"files": [str(path)], "refresh_interval": "1s"}]
        job["scrape_interval"] = "1s"
        job["scrape_timeout"] = "1s"
    out = dir / "prometheus.yml"
    out.write_text(yaml.safe_dump(conf))
    return out


def start_prometheus(dir: Path, config: Path) -> tuple[Proc, int]:
    exe = tool("prometheus", "/usr/bin/prometheus")
    if exe is None:
        raise RuntimeError("prometheus not installed (scripts/bootstrap.sh installs it)")
    port = free_port()
    argv = [
        exe,
        f"--config.file={config}",
        f"--storage.tsdb.path={dir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = Proc("prometheus", argv, dir / "prometheus.log")
    ready = f"http://127.0.0.1:{port}/-/ready"
    started(proc, "prometheus ready", lambda: httpx.get(ready).status_code == 200, 60)
    return proc, port


class PromApi:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.base}/{path}", params=params, timeout=10)
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.get("targets", state="active")["activeTargets"])


def promtool() -> str | None:
    return tool("promtool", "/usr/bin/promtool")
