"""A generated corpus of bad requests gets 4xx answers only (never a 5xx or a dead server)."""

import copy
import json
import random
import socket

import pytest

from tests.serving.serving_harness import ServerProcess, add_version, infer_body

WEIRD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    1.5,
    -1e308,
    "",
    "x",
    "NaN",
    [],
    {},
    [[]],
    [None],
    {"a": 1},
    "\u0000\ud7ff",
]


def mutations(seed: int = 1234, count: int = 400):
    """Deterministic mutations of a valid request: every field replaced, dropped or reshaped, bodies cut and garbled."""
    rng = random.Random(seed)
    valid = json.loads(infer_body(rows=2))
    paths = [("inputs",), ("inputs", 0), ("inputs", 1)] + [
        ("inputs", i, key) for i in (0, 1) for key in ("name", "shape", "datatype", "data")
    ]
    corpus: list[bytes] = []
    for path in paths:
        for value in WEIRD_VALUES:
            document = copy.deepcopy(valid)
            target = document
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            corpus.append(json.dumps(document).encode())
        document = copy.deepcopy(valid)
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        corpus.append(json.dumps(document).encode())
    text = infer_body(rows=2).decode()
    while len(corpus) < count:
        kind = rng.randrange(6)
        if kind == 0:
            corpus.append(text[: rng.randrange(len(text))].encode())
        elif kind == 1:
            position = rng.randrange(len(text))
            replacement = rng.choice([c for c in '{}[],:"\\' if c != text[position]])
            corpus.append((text[:position] + replacement + text[position + 1 :]).encode())
        elif kind == 2:
            corpus.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif kind == 3:
            document = copy.deepcopy(valid)
            document["inputs"][rng.randrange(2)]["shape"] = [rng.randrange(-3, 300) for _ in range(rng.randrange(0, 4))]
            corpus.append(json.dumps(document).encode())
        elif kind == 4:
            document = copy.deepcopy(valid)
            data = document["inputs"][rng.randrange(2)]["data"]
            not_a_number = [
                v for v in WEIRD_VALUES if not isinstance(v, int | float) or isinstance(v, bool) or v == 2**64
            ]
            data[rng.randrange(len(data))] = rng.choice(not_a_number + [float("nan"), float("inf")])
            corpus.append(json.dumps(document).encode())
        else:
            depth = rng.choice([10, 1000, 100_000])
            corpus.append(b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}")
    return corpus


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo") / "models"
    add_version(root, 1)
    with ServerProcess(root, tmp_path_factory.mktemp("logs"), "--max-body-bytes", "65536") as running:
        yield running


def test_generated_bad_infer_bodies_get_4xx(server):
    connection = server.connection()
    failures = []
    corpus = mutations()
    for body in corpus:
        connection.request("POST", "/v2/models/fraud/infer", body=body)
        response = connection.getresponse()
        payload = response.read()
        if not 400 <= response.status < 500 or "error" not in json.loads(payload):
            failures.append((response.status, body[:120], payload[:200]))
    connection.close()
    assert failures == [], f"{len(failures)} of {len(corpus)} bad requests were not answered 4xx with an error"
    assert server.alive()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/nope", None, 404),
        ("DELETE", "/v2/models/fraud", None, 405),
        ("POST", "/v2/models/missing/infer", infer_body(), 404),
        ("POST", "/v2/models/fraud/versions/x/infer", infer_body(), 404),
        ("POST", "/v2/models/fraud/infer", b"x" * 70_000, 413),
        ("POST", "/models/fraud/score", b"{}", 404),
        ("PUT", "/v2/health/live", None, 405),
        ("GET", "/v2/models/fraud/infer/extra", None, 404),
    ],
)
def test_bad_routes_methods_and_sizes(server, method, path, body, status):
    got, payload, _ = server.request(method, path, body)
    assert got == status and payload["error"]


RAW = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"POST /v2/models/fraud/infer HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /v2/models/fraud/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v2/models/fraud/infer HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    b"GET /v2/health/live HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /%zz HTTP/1.1\r\n\r\n",
    b"GET /v2/health/live HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
]


@pytest.mark.parametrize("raw", RAW, ids=range(len(RAW)))
def test_malformed_http_gets_4xx_or_a_closed_connection(server, raw):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        try:
            sock.shutdown(socket.SHUT_WR)
            reply = sock.recv(65536)
        except OSError:
            reply = b""
    if reply:
        status = int(reply.split(b" ", 2)[1])
        assert 400 <= status < 500, reply[:200]
    assert server.alive()


def test_chunked_body_within_limit_is_served(server):
    body = infer_body()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:50], body[50:])) + b"0\r\n\r\n"
    head = b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head + chunked)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")


def test_pipelined_requests_are_answered_in_order(server):
    one = infer_body(id="first")
    two = infer_body(id="second")
    request = b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            request % (len(one), one)
            + request % (len(two), two)
            + b"GET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.count(b"HTTP/1.1 200") == 3
    assert reply.index(b'"id":"first"') < reply.index(b'"id":"second"') < reply.index(b'"live"')


@pytest.mark.parametrize("size", [2_000_000, 20_000_000])
def test_a_body_far_over_the_limit_gets_a_413_with_a_message_not_a_reset(server, size):
    """The client is still sending when the server refuses: the server reads and drops the rest, then answers."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST", "/v2/models/fraud/infer", body=b"x" * size, headers={"content-type": "application/json"}
        )
        reply = connection.getresponse()
        payload = json.loads(reply.read())
    finally:
        connection.close()
    assert reply.status == 413 and f"request body of {size} bytes exceeds the limit" in payload["error"]
    assert server.alive()
