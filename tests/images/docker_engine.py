"""A private Docker engine for tests: dockerd with its own data root, exec root and socket, stopped afterwards.

No bridge and no iptables rules (containers use --network host), so nothing is left
behind on the machine. When the engine cannot run here (not installed, not root, the
kernel refuses it), `DockerUnavailable` says why; the requires-docker tests skip with
that reason, or fail when FLYWHEEL_REQUIRE_DOCKER=1 (CI, where Docker must work).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tools.services.process import ManagedProcess, ServiceError

INSTALL_HINT = "tools/images/setup_docker.sh (apt-get install docker.io)"
# Bazel's strict action environment leaves /usr/sbin (where Debian puts dockerd) off PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


def _which(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


class DockerUnavailable(RuntimeError):
    """Docker cannot run on this machine; the message says why and what to do."""


@dataclass
class DockerEngine:
    """A running private dockerd and the client command that talks to it."""

    socket: Path
    """The daemon's unix socket."""
    process: ManagedProcess
    """The dockerd process."""
    client: str
    """Path of the docker CLI."""
    runtime: Path
    """Short-path folder for the socket, pid file and exec root (removed on stop)."""

    def docker(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `docker -H unix://<socket> args...`; raises with the output when check and it fails."""
        result = subprocess.run(
            [self.client, "-H", f"unix://{self.socket}", *args], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def load(self, tarball: Path) -> str:
        """Loads an image tarball (docker-save format) and returns the image reference docker reports."""
        output = self.docker("load", "-i", str(tarball)).stdout
        loaded = [line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith("Loaded image")]
        if not loaded:
            raise RuntimeError(f"docker load of {tarball} reported no image:\n{output}")
        return loaded[0]

    def inspect(self, reference: str) -> dict:
        return json.loads(self.docker("image", "inspect", reference).stdout)[0]

    def stop(self) -> None:
        """Removes every container, stops dockerd and deletes its runtime folder."""
        containers = self.docker("ps", "-aq", check=False).stdout.split()
        if containers:
            self.docker("rm", "-f", *containers, check=False)
        self.process.stop()
        shutil.rmtree(self.runtime, ignore_errors=True)


def unavailable_reason() -> str | None:
    """Why dockerd cannot be started here, checked before trying; None if it may work."""
    if _which("dockerd") is None:
        return f"dockerd is not installed: run {INSTALL_HINT}"
    if _which("docker") is None:
        return f"the docker CLI is not installed: run {INSTALL_HINT}"
    if os.geteuid() != 0:
        return f"dockerd needs root and this test runs as uid {os.geteuid()}: run the requires-docker tests as root"
    return None


def start_engine(workdir: Path, timeout: float = 60) -> DockerEngine:
    """Starts a private dockerd under workdir (short paths: unix sockets are limited to 108 bytes)."""
    reason = unavailable_reason()
    if reason:
        raise DockerUnavailable(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    runtime = Path(os.environ.get("FLYWHEEL_DOCKER_RUNTIME_DIR", "/tmp")) / f"fw-docker-{os.getpid()}"
    runtime.mkdir(parents=True, exist_ok=True)
    socket = runtime / "docker.sock"
    argv = [
        _which("dockerd") or "dockerd",
        f"--data-root={workdir / 'data'}",
        f"--exec-root={runtime / 'exec'}",
        f"--host=unix://{socket}",
        f"--pidfile={runtime / 'docker.pid'}",
        "--iptables=false",
        "--ip-forward=false",
        "--bridge=none",
        "--log-level=warn",
    ]
    env = {**os.environ, "PATH": SEARCH_PATH}
    process = ManagedProcess("dockerd", argv, workdir / "dockerd.log", env=env)
    process.start()
    client = _which("docker") or "docker"
    engine = DockerEngine(socket=socket, process=process, client=client, runtime=runtime)

    def ready() -> bool:
        return socket.exists() and engine.docker("version", timeout=10, check=False).returncode == 0

    try:
        process.wait_ready(ready, timeout)
    except ServiceError as exc:
        shutil.rmtree(runtime, ignore_errors=True)
        raise DockerUnavailable(f"dockerd did not start: {exc}") from None
    return engine


def run_detached(engine: DockerEngine, image: str, args: list[str], name: str, entrypoint: str | None = None) -> str:
    """Starts a container on the host network and returns its id."""
    command = ["run", "-d", "--network", "host", "--name", name]
    if entrypoint:
        command += ["--entrypoint", entrypoint]
    return engine.docker(*command, image, *args).stdout.strip()


def wait_for(check, timeout: float, what: str, logs) -> None:
    """Polls check() until true; raises with the container's logs on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout:.0f} s (last error: {last}); container logs:\n{logs()}")
