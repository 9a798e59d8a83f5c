"""The local stack's pager: the webhook receiver Alertmanager's receivers point at, keeping every notification.

Alertmanager posts each notification (its webhook JSON: status, receiver, alerts with labels and times) to
`/alerts/<receiver>`; the pager appends it, with the time it arrived, as one line of `notifications.jsonl`. A
deployment points the receivers of monitoring/alertmanager/alertmanager.yml at its real pager and ticket systems; on
one machine this file is where a page lands, and what the main job and its test read.

Run `python -m tools.services.pager --port 9095 --out DIR`.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

NOTIFICATIONS = "notifications.jsonl"
MAX_BODY_BYTES = 4 << 20


def read_notifications(out_dir: Path) -> list[dict]:
    """Every notification the pager kept, oldest first ([] before the first)."""
    path = Path(out_dir) / NOTIFICATIONS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pager_server(out_dir: Path, port: int, address: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) that appends each POST to /alerts/<receiver> to the notifications file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/-/ready":
                self._answer(HTTPStatus.OK, {"ready": True})
            else:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}; POST to /alerts/<receiver>"})

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            receiver = self.path.removeprefix("/alerts/")
            if not self.path.startswith("/alerts/") or not receiver or "/" in receiver:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}; POST to /alerts/<receiver>"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY_BYTES} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError as error:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": f"the body is not JSON: {error}"})
                return
            if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
                self._answer(HTTPStatus.BAD_REQUEST, {"error": "expected Alertmanager's webhook JSON with 'alerts'"})
                return
            line = json.dumps({"path_receiver": receiver, "received_at": time.time(), **body})
            with lock, (out_dir / NOTIFICATIONS).open("a") as notifications:
                notifications.write(line + "\n")
            self._answer(HTTPStatus.OK, {"kept": len(body["alerts"])})

        def _answer(self, status: HTTPStatus, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the http.server API
            print(f"{self.address_string()} {format % args}", flush=True)

    return ThreadingHTTPServer((address, port), Handler)


def main(argv: list[str] | None = None) -> None:
    """Serves until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help=f"folder of {NOTIFICATIONS}")
    parser.add_argument("--port", type=int, default=9095, help="port Alertmanager's webhooks post to (default 9095)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)
    server = pager_server(args.out, args.port, args.address)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"keeping Alertmanager's notifications in {args.out / NOTIFICATIONS}; listening on {args.port}", flush=True)
    stop.wait()
    server.shutdown()
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
