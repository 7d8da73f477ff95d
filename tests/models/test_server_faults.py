"""`synfaith serve` under hostile use: many clients, oversized, malformed and stalled requests.

Loopback only. Every raw socket has a client-side timeout, so a server that never answers fails
the test instead of hanging it; after each fault a normal request must still succeed.
"""

import base64
import json
import select
import socket
import struct
import threading
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from synfaith.data.images import megapixels
from synfaith.data.synthetic import synthetic_instances
from synfaith.models import load_model
from synfaith.models.remote import RemoteChatAdapter, RemoteModelError
from synfaith.server import MAX_REQUEST_BYTES, make_server

CLIENT_TIMEOUT = 10.0  # seconds any single client read may wait before the test fails


@contextmanager
def serving(adapter, **options):
    server = make_server(adapter, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=CLIENT_TIMEOUT)


@pytest.fixture(scope="module")
def toy():
    return load_model("toy")


@pytest.fixture(scope="module")
def server(toy):
    with serving(toy, timeout=1.0, concurrency=8) as running:
        yield running


def raw(port: int, data: bytes) -> tuple[int | None, dict | None]:
    """Send ``data`` on a fresh connection and read until the server closes it: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    if not received:
        return None, None
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else None


def post(port: int, path: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw(port, b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(data), data))


def assert_healthy(port: int) -> None:
    status, body = post(port, "/v1/chat/completions", {"messages": [{"role": "user", "content": "Is it red?"}], "max_tokens": 1})
    assert status == 200 and body["choices"][0]["message"]["role"] == "assistant", body


def png_data_url(width: int, height: int) -> str:
    """A 1-bit PNG that declares width×height pixels but is a few KB (all-zero rows compress well)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = (b"\0" + b"\0" * ((width + 7) // 8)) * height
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_200_concurrent_clients_are_all_answered(server):
    remote = RemoteChatAdapter(f"http://127.0.0.1:{server.server_port}", retries=0, api_key_env=None)  # any reset would fail
    chat = {"messages": [{"role": "user", "content": "Is it red?"}], "max_tokens": 1, "logprobs": True, "top_logprobs": 2}
    start = threading.Barrier(200, timeout=CLIENT_TIMEOUT)

    def client(i: int) -> dict:
        start.wait()  # all 200 connect at once
        return remote._post("/v1/chat/completions", chat) if i % 2 else remote._post("/tokenize", {"prompt": "Is it red?"})

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(client, range(200)))
    assert remote.requests == 200
    assert all(a == answers[1] for a in answers[1::2]) and "choices" in answers[1]
    assert all(a == answers[0] for a in answers[0::2]) and answers[0]["count"] > 0
    workers = [t for t in threading.enumerate() if t.name.startswith(f"synfaith-serve-{server.server_port}_")]
    assert 1 <= len(workers) <= 8  # the pool is bounded
    assert_healthy(server.server_port)


def test_a_body_over_the_cap_is_refused_before_it_is_read(server):
    # no body follows: a server that tried to read it would time out (408) instead of answering 413
    status, body = raw(server.server_port, b"POST /tokenize HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_REQUEST_BYTES + 1))
    assert status == 413 and str(MAX_REQUEST_BYTES) in body["error"]["message"]
    with serving(server.backend.adapter, max_request_bytes=100) as small:
        status, body = post(small.server_port, "/tokenize", {"prompt": "x" * 200})
        assert status == 413 and "over the limit of 100 bytes" in body["error"]["message"]
    assert_healthy(server.server_port)


@pytest.mark.parametrize(
    "headers, expected",
    [(b"Content-Length: abc\r\n", 400), (b"Content-Length: -5\r\n", 400), (b"", 411), (b"Transfer-Encoding: chunked\r\n", 411),
     (b"Content-Length: 0\r\n", 400)],
)
def test_a_missing_or_malformed_content_length_is_answered_not_dropped(server, headers, expected):
    status, body = raw(server.server_port, b"POST /tokenize HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status == expected and body["error"]["message"]
    assert_healthy(server.server_port)


CHAT = {"messages": [{"role": "user", "content": "Is it red?"}]}


@pytest.mark.parametrize(
    "path, body, says",
    [
        ("/v1/chat/completions", b"{not json", "not valid JSON"),
        ("/v1/chat/completions", b"[1, 2]", "JSON object"),
        ("/v1/chat/completions", b"[" * 100_000, "not valid JSON"),
        ("/v1/chat/completions", CHAT | {"max_tokens": -5}, "max_tokens"),
        ("/v1/chat/completions", CHAT | {"max_tokens": "5"}, "max_tokens"),
        ("/v1/chat/completions", CHAT | {"max_tokens": True}, "max_tokens"),
        ("/v1/chat/completions", CHAT | {"top_logprobs": 21}, "top_logprobs"),
        ("/v1/chat/completions", CHAT | {"top_logprobs": -1}, "top_logprobs"),
        ("/v1/chat/completions", CHAT | {"logprobs": "yes"}, "logprobs"),
        ("/v1/chat/completions", {"messages": []}, "messages"),
        ("/v1/chat/completions", {"messages": "hi"}, "messages"),
        ("/v1/chat/completions", {}, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "hi"}]}, "role"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "unknown part type"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}, "text must be"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]},
         "data URLs"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
         "cannot read"),
        ("/tokenize", {"prompt": 5}, "prompt must be a string"),
        ("/tokenize", {"prompt": "hi", "add_special_tokens": "no"}, "add_special_tokens"),
        ("/detokenize", {"tokens": "abc"}, "list of integers"),
        ("/detokenize", {"tokens": [1.5]}, "list of integers"),
        ("/detokenize", {"tokens": [-1]}, "token ids must be"),
    ],
)
def test_malformed_requests_are_400_with_a_reason(server, path, body, says):
    status, answer = post(server.server_port, path, body)
    assert status == 400 and says in answer["error"]["message"], answer
    assert_healthy(server.server_port)


def test_an_image_over_the_pixel_budget_is_refused_from_its_header(server):
    url = png_data_url(12000, 12000)  # 144 megapixels declared in a few KB
    assert len(url) < 100_000
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Is it red?"}]
    status, body = post(server.server_port, "/v1/chat/completions", {"messages": [{"role": "user", "content": content}]})
    assert status == 400 and "12000×12000" in body["error"]["message"] and "pixel budget" in body["error"]["message"]
    assert_healthy(server.server_port)


def test_a_small_pixel_budget_reaches_the_remote_adapter_as_a_clear_error(toy):
    with serving(toy, pixel_budget=megapixels(0.001)) as small:
        remote = RemoteChatAdapter(f"http://127.0.0.1:{small.server_port}", grid=(2, 2), retries=0, api_key_env=None)
        prepared = remote.prepare(synthetic_instances(1, split="test")[0])
        with pytest.raises(RemoteModelError, match=r"answered 400: .*over the pixel budget of 0.001 megapixels"):
            remote.generate_target(prepared)


def test_a_stalled_upload_is_closed_after_the_timeout(server):
    # headers promise 1000 bytes, 10 arrive, then nothing: the server gives up after its 1 s timeout
    status, body = raw(server.server_port, b"POST /tokenize HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789")
    assert status == 408 and "timed out" in body["error"]["message"]
    assert_healthy(server.server_port)


def test_stalled_clients_hold_workers_only_until_their_timeout(server):
    stalled = [socket.create_connection(("127.0.0.1", server.server_port), timeout=CLIENT_TIMEOUT) for _ in range(12)]
    try:
        for sock in stalled:  # more stalled uploads than workers
            sock.sendall(b"POST /tokenize HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789")
        assert_healthy(server.server_port)  # answered once the stalled ones time out
        for sock in stalled:
            assert sock.recv(65536).startswith(b"HTTP/1.0 408")
    finally:
        for sock in stalled:
            sock.close()


def test_a_slow_trickle_is_closed_at_the_request_deadline(toy):
    with serving(toy, timeout=0.25) as quick:  # a byte every 0.1 s beats the 0.25 s read timeout, not the 1 s deadline
        with socket.create_connection(("127.0.0.1", quick.server_port), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"POST /tokenize HTTP/1.1\r\n")
            closed = False
            for _ in range(100):  # at most ~10 s
                try:
                    sock.sendall(b"X")
                except OSError:
                    closed = True
                    break
                if select.select([sock], [], [], 0.1)[0]:  # the server closed it (or answered an error as it did)
                    closed = True
                    break
            assert closed, "the server kept a trickling connection open"
        assert_healthy(quick.server_port)


def test_an_internal_error_is_a_one_line_500(server, monkeypatch):
    def broken(chat):
        raise RuntimeError("the model broke\nsecond line")

    monkeypatch.setattr(server.backend, "_complete", broken)
    status, body = post(server.server_port, "/v1/chat/completions", CHAT)
    assert status == 500 and body["error"]["message"] == "internal error: RuntimeError: the model broke second line"
    monkeypatch.undo()
    assert_healthy(server.server_port)


def test_models_endpoint_and_unknown_routes(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/v1/models", timeout=CLIENT_TIMEOUT) as response:
        assert json.loads(response.read())["data"][0]["id"] == "synfaith-local"
    status, body = post(server.server_port, "/v2/nothing", CHAT)
    assert status == 404 and "no route" in body["error"]["message"]


def test_serve_documents_its_limits(capsys):
    from synfaith.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "--concurrency" in text and "--timeout" in text and "--max-megapixels" in text


def test_make_server_refuses_bad_limits(toy):
    with pytest.raises(ValueError, match="must be positive"):
        make_server(toy, concurrency=0)
