"""Start, wait for, and stop one local service process, with its log kept to a file."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A service could not be started; the message says why and what to do."""


def require_binary(name: str, install_hint: str) -> str:
    """The path of an executable, or a ServiceError naming the command that installs it."""
    path = shutil.which(name)
    if not path:
        raise ServiceError(f"'{name}' is not installed: run `{install_hint}` (tools/setup.sh does it all)")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ensure_port_free(port: int, service: str, host: str = "127.0.0.1") -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServiceError(
                f"{service}: port {port} on {host} is already in use ({exc.strerror}). "
                f"Stop what holds it (`ss -ltnp 'sport = :{port}'`) or choose another port."
            ) from None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _reset_signals() -> None:
    """Child-side: default SIGINT/SIGTERM handling, even if our parent ignored them (e.g. started with `&`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _die_with_parent() -> None:
    """Child-side: get SIGTERM if the process that started us dies (fixtures, not `up`)."""
    _reset_signals()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServiceRecord:
    """What `flywheel services status|down` needs to find a detached service again."""

    name: str
    pid: int
    urls: dict[str, str]
    log: str
    workdir: str
    extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    """The port it listens on (a later `up` reuses it for the stack's environment)."""

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / f"{self.name}.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load_all(cls, state_dir: Path) -> list[ServiceRecord]:
        return [cls(**json.loads(p.read_text())) for p in sorted(state_dir.glob("*.json"))]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group led by pid, then SIGKILL what is left after timeout."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll instead
                finished = 0 if pid_alive(pid) else pid
            if finished == pid or not pid_alive(pid):
                return
            time.sleep(0.1)


class ManagedProcess:
    """One service process in its own process group, logging to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        detach: bool = False,
    ):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.detach = detach
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_reset_signals if self.detach else _die_with_parent,
            )
        return self

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        """Polls probe until it is true; on timeout or early exit, stops the process and raises with the log tail."""
        deadline = time.monotonic() + timeout
        last_error = "the probe never succeeded"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} while starting.\n"
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if probe():
                    return
            except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
                last_error = f"last probe error: {type(exc).__name__}: {exc}"

            time.sleep(0.25)
        self.stop()
        raise ServiceError(
            f"{self.name} did not become ready within {timeout:.0f} s and was stopped "
            f"({last_error}).\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate_group(self.proc.pid)
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def repository_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, with the repository root first on PYTHONPATH (for `-m` services)."""
    env = dict(os.environ, **(extra or {}))
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
