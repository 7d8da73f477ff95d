"""A small OpenAI-compatible chat server in front of a local synfaith adapter.

It answers the subset of the API that synfaith's black-box adapter uses, with vLLM's request and
response shapes: ``POST /v1/chat/completions`` (greedy decoding with ``logprobs``/``top_logprobs``;
with vLLM's ``prompt_logprobs`` and ``continue_final_message`` it scores a given assistant message
by teacher forcing instead), ``POST /tokenize`` and ``POST /detokenize``. Images arrive as
``data:image/png;base64,…`` URLs.

It exists to test black-box flows end to end (``synfaith serve --model toy``), not to serve
production traffic, but it stays up under hostile use. A bounded pool of ``concurrency`` workers
reads and parses requests (a deep listen backlog queues the connections beyond them instead of
resetting them); the model still runs one request at a time, under a lock. A connection silent for
``timeout`` seconds, or without its whole request after ``4 × timeout``, is closed. The body size is
checked from ``Content-Length`` before anything is read (413); a missing or malformed
``Content-Length`` is a 411/400, malformed JSON or fields a 400, an image over the pixel budget a
400 naming its size (checked from its header, before decoding), an internal error a 500 with a
one-line message. Errors are JSON: ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import sys
import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch
from PIL import Image

from synfaith.data.images import DEFAULT_PIXEL_BUDGET, open_image

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 256
MAX_TOP_LOGPROBS = 20
MAX_REQUEST_BYTES = 64 * 1024 * 1024
REQUEST_QUEUE_SIZE = 512  # the listen backlog: connections beyond the workers wait here
READ_DEADLINE_FACTOR = 4  # a whole request must arrive within this many timeouts
ROLES = ("system", "user", "assistant")


class BadRequest(ValueError):
    """A request the server refuses: answered 400 with this message."""


def _one_line(error: BaseException | str, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value, limit: int = 60) -> str:
    return _one_line(repr(value), limit)


def decode_data_url(url: str, budget: int | None = DEFAULT_PIXEL_BUDGET, what: str = "image") -> Image.Image:
    """A ``data:image/…;base64,…`` URL as an RGB image, refused from its header when over ``budget`` pixels."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url[:200]:
        raise BadRequest(f"{what}: only base64 data URLs (data:image/png;base64,…) are supported, got {_show(url, 40)}")
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1])
    except ValueError as error:  # binascii.Error
        raise BadRequest(f"{what}: invalid base64 ({error})") from None
    try:
        return open_image(data, budget=budget, what=what)
    except ValueError as error:  # ImageTooLargeError names the size and the budget
        raise BadRequest(str(error)) from None


def _int_field(request: dict, key: str, default: int | None, low: int, high: int, *, cap: bool = False) -> int | None:
    if (value := request.get(key)) is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer, got {_show(value)}")
    if value < low or (value > high and not cap):
        raise BadRequest(f"{key} must be {'at least ' + str(low) if cap else f'{low}..{high}'}, got {value}")
    return min(value, high)


def _bool_field(request: dict, key: str, default: bool) -> bool:
    if (value := request.get(key)) is not None and not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false, got {_show(value)}")
    return default if value is None else value


# a validated chat request: converted messages, decoded images and the generation settings
_Chat = namedtuple("_Chat", "messages images continue_final add_generation_prompt max_tokens top_n logprobs prompt_logprobs")


class ChatBackend:
    """Turns chat requests into forward passes of a local adapter's model, one at a time (validation
    and image decoding happen before the lock; every refusal is a :class:`BadRequest`)."""

    def __init__(self, adapter, name: str = "synfaith-local", *, pixel_budget: int | None = DEFAULT_PIXEL_BUDGET) -> None:
        self.adapter = adapter
        self.name = name
        self.pixel_budget = pixel_budget
        self.lock = threading.Lock()
        self.context = adapter.context_length() if hasattr(adapter, "context_length") else None
        self.vocab = len(adapter.tokenizer)

    # -- parsing (no lock) -------------------------------------------------------------------
    def _parse_content(self, content, where: str, images: list) -> list[dict]:
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise BadRequest(f"{where}.content must be a string or a list of parts, got {_show(content)}")
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise BadRequest(f"{where}.content[{j}].text must be a string")
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                images.append(decode_data_url(url, self.pixel_budget, f"{where}.content[{j}] (image {len(images) + 1})"))
                parts.append({"type": "image"})
            else:
                raise BadRequest(f"{where}.content[{j}]: unknown part type {_show(kind)} (expected 'text' or 'image_url')")
        return parts

    def _parse_chat(self, request: dict) -> _Chat:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages must be a non-empty list")
        images: list[Image.Image] = []
        converted = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise BadRequest(f"messages[{i}] must be an object")
            if message.get("role") not in ROLES:
                raise BadRequest(f"messages[{i}].role must be one of {', '.join(ROLES)}, got {_show(message.get('role'))}")
            converted.append({"role": message["role"], "content": self._parse_content(message.get("content"), f"messages[{i}]", images)})
        continue_final = _bool_field(request, "continue_final_message", False)
        return _Chat(
            converted, images, continue_final, _bool_field(request, "add_generation_prompt", not continue_final),
            max_tokens=_int_field(request, "max_tokens", 16, 1, MAX_NEW_TOKENS, cap=True),
            top_n=_int_field(request, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS),
            logprobs=_bool_field(request, "logprobs", False),
            prompt_logprobs=_int_field(request, "prompt_logprobs", None, 0, MAX_TOP_LOGPROBS),
        )

    # -- the model (under the lock) ------------------------------------------------------------
    def _encode(self, chat: _Chat):
        try:
            text = self.adapter.processor.apply_chat_template(chat.messages, add_generation_prompt=chat.add_generation_prompt,
                                                              continue_final_message=chat.continue_final, tokenize=False)
        except Exception as error:  # noqa: BLE001 - the template refusing the messages is the client's error
            raise BadRequest(f"the chat template refuses these messages: {_one_line(error)}") from None
        try:
            return self.adapter.processor(images=chat.images or None, text=text, return_tensors="pt", **self.adapter.image_processor_kwargs())
        except ValueError as error:  # e.g. images that do not match the prompt's image tokens
            raise BadRequest(f"the processor refuses this input: {_one_line(error)}") from None

    def _token(self, token_id: int) -> str:
        return self.adapter.tokenizer.decode([token_id])

    def chat(self, request: dict) -> dict:
        chat = self._parse_chat(request)
        with self.lock:
            return self._complete(chat)

    @torch.inference_mode()
    def _complete(self, chat: _Chat) -> dict:
        encoded = self._encode(chat)
        model = self.adapter.model
        inputs = {k: v.to(self.adapter.device) for k, v in encoded.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        n_prompt = int(inputs["input_ids"].shape[-1])
        room = 0 if chat.prompt_logprobs is not None else 1  # generating needs room for one more token
        if self.context is not None and n_prompt + room > self.context:
            raise BadRequest(f"the prompt has {n_prompt} tokens: too many for the model's context of {self.context} tokens")
        result = {"id": "chatcmpl-synfaith", "object": "chat.completion", "model": self.name}
        if chat.prompt_logprobs is not None:
            logits = model(**inputs).logits[0].double()
            log_probs = torch.log_softmax(logits, dim=-1)
            ids = inputs["input_ids"][0]
            prompt_logprobs = [None]
            for position in range(1, ids.numel()):
                token = int(ids[position])
                entry = {"logprob": float(log_probs[position - 1, token]), "decoded_token": self._token(token)}
                prompt_logprobs.append({str(token): entry})
            result["prompt_logprobs"] = prompt_logprobs
            result["prompt_token_ids"] = ids.tolist()
            result["choices"] = [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}]
            return result
        max_tokens = chat.max_tokens if self.context is None else min(chat.max_tokens, self.context - n_prompt)
        top_n, ids = chat.top_n, inputs.pop("input_ids")
        generated, content = [], []
        for _ in range(max_tokens):
            logits = model(input_ids=ids, **inputs).logits[0, -1].double()
            log_probs = torch.log_softmax(logits, dim=-1)
            token = int(log_probs.argmax())
            top = torch.topk(log_probs, max(top_n, 1))
            top_list = [{"token": self._token(int(t)), "logprob": float(v)} for v, t in zip(top.values[:top_n], top.indices[:top_n])]
            content.append({"token": self._token(token), "logprob": float(log_probs[token]), "top_logprobs": top_list})
            if token == self.adapter.tokenizer.eos_token_id:
                break
            generated.append(token)
            ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
            inputs["attention_mask"] = torch.ones_like(ids)
        message = {"role": "assistant", "content": self.adapter.tokenizer.decode(generated, skip_special_tokens=True)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        if chat.logprobs:
            choice["logprobs"] = {"content": content}
        result["choices"] = [choice]
        return result

    def tokenize(self, request: dict) -> dict:
        prompt = request.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequest(f"prompt must be a string, got {_show(prompt)}")
        add_special = _bool_field(request, "add_special_tokens", False)
        with self.lock:  # one tokenizer, shared with chat()
            ids = self.adapter.tokenizer(prompt, add_special_tokens=add_special)["input_ids"]
        return {"tokens": ids, "count": len(ids)}

    def detokenize(self, request: dict) -> dict:
        tokens = request.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise BadRequest("tokens must be a list of integers")
        if wrong := [t for t in tokens if not 0 <= t < self.vocab]:
            raise BadRequest(f"token ids must be 0..{self.vocab - 1}, got {_show(wrong[:5])}")
        with self.lock:
            return {"prompt": self.adapter.tokenizer.decode(tokens)}


class ChatServer(HTTPServer):
    """An HTTP server whose connections are handled by a bounded pool of ``concurrency`` workers."""

    def __init__(self, address, handler, backend: ChatBackend, *, concurrency: int, timeout: float,
                 max_request_bytes: int, backlog: int = REQUEST_QUEUE_SIZE) -> None:
        self.backend = backend
        self.routes = {"/v1/chat/completions": backend.chat, "/tokenize": backend.tokenize, "/detokenize": backend.detokenize}
        self.concurrency, self.connection_timeout, self.max_request_bytes = concurrency, timeout, max_request_bytes
        self.request_queue_size = backlog  # read by server_activate's listen()
        self._slots = threading.Semaphore(concurrency + backlog)  # accepted connections not yet finished
        self._closing = threading.Event()
        super().__init__(address, handler)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"synfaith-serve-{self.server_port}")

    def process_request(self, request, client_address) -> None:
        while not self._slots.acquire(timeout=0.5):  # all busy and queued: the rest wait in the listen backlog
            if self._closing.is_set():
                return self.shutdown_request(request)
        try:
            self.pool.submit(self._work, request, client_address)
        except RuntimeError:  # the pool was shut down
            self._slots.release()
            self.shutdown_request(request)

    def _work(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one connection's failure never reaches the others
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # timeouts and vanished clients are routine
            logger.exception("request from %s failed", client_address)

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)  # wakes the worker blocked on it
    except OSError:
        pass


class ChatHandler(BaseHTTPRequestHandler):
    """One connection: checks the headers, reads the body under the deadlines, answers JSON."""

    server: ChatServer
    server_version = "synfaith-serve"
    protocol_version = "HTTP/1.0"  # one request per connection: the deadlines and early errors rely on it

    def setup(self) -> None:
        self.timeout = self.server.connection_timeout  # StreamRequestHandler sets it on the socket
        super().setup()
        # per-read timeouts do not stop a slow trickle: the whole request has a deadline too
        self._deadline = threading.Timer(READ_DEADLINE_FACTOR * self.timeout, _close, (self.connection,))
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def do_POST(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0].rstrip("/"))
        if route is None:
            return self._error(404, f"no route {self.path[:100]}")
        if (length := self._content_length()) is None or (body := self._read_body(length)) is None:
            return None  # answered already
        self._deadline.cancel()  # the request is in: no deadline while the model works on it
        try:
            request = json.loads(body)
        except (ValueError, RecursionError) as error:
            return self._error(400, f"the body is not valid JSON: {_one_line(error, 200)}")
        if not isinstance(request, dict):
            return self._error(400, "the body must be a JSON object")
        try:
            answer = route(request)
        except BadRequest as error:
            return self._error(400, _one_line(error, 1000))
        except Exception as error:  # logged here, one line to the client
            logger.exception("%s failed", self.path)
            return self._error(500, f"internal error: {type(error).__name__}: {_one_line(error)}")
        return self._send(200, answer)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            return self._send(200, {"object": "list", "data": [{"id": self.server.backend.name, "object": "model"}]})
        return self._error(404, f"no route {self.path[:100]}")

    def _content_length(self) -> int | None:
        if self.headers.get("Transfer-Encoding"):
            return self._error(411, "chunked request bodies are not supported: send a Content-Length")
        if not (values := self.headers.get_all("Content-Length")):
            return self._error(411, "a Content-Length header is required")
        value = values[0].strip()
        if len({v.strip() for v in values}) > 1 or not re.fullmatch(r"[0-9]{1,19}", value):
            return self._error(400, f"malformed Content-Length: {_show(', '.join(values), 40)}")
        length, limit = int(value), self.server.max_request_bytes
        if length == 0:
            return self._error(400, "the request body is empty")
        if length > limit:
            return self._error(413, f"the request body is {length} bytes, over the limit of {limit} bytes")
        return length

    def _read_body(self, length: int) -> bytes | None:
        chunks, remaining = [], length
        try:
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:  # the client closed, or the deadline closed it
                    return self._error(400, f"the body ended after {length - remaining} of {length} bytes")
                chunks.append(chunk)
                remaining -= len(chunk)
        except TimeoutError:
            return self._error(408, f"no data for {self.server.connection_timeout:g} s: the request timed out")
        return b"".join(chunks)

    def _error(self, status: int, message: str) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


def make_server(
    adapter, host: str = "127.0.0.1", port: int = 0, name: str = "synfaith-local", *, concurrency: int = 8, timeout: float = 30.0,
    max_request_bytes: int = MAX_REQUEST_BYTES, pixel_budget: int | None = DEFAULT_PIXEL_BUDGET, backlog: int = REQUEST_QUEUE_SIZE,
) -> ChatServer:
    """An HTTP server (not yet serving) for ``adapter``; ``port=0`` picks a free port (``server.server_port``).
    It has no authentication: keep it on the loopback interface (the default host).

    Args:
        concurrency: workers that read and parse requests (the model runs one at a time).
        timeout: seconds a connection may stay silent; its whole request must arrive in ``4 × timeout``.
        max_request_bytes: the largest request body (413 above it, refused before reading).
        pixel_budget: the most pixels an image may declare (None: no limit).
        backlog: the listen queue for connections beyond the busy workers.
    """
    if not (concurrency >= 1 and timeout > 0 and max_request_bytes >= 1):
        raise ValueError(f"concurrency, timeout and max_request_bytes must be positive, got {concurrency}, {timeout}, {max_request_bytes}")
    return ChatServer((host, port), ChatHandler, ChatBackend(adapter, name, pixel_budget=pixel_budget), concurrency=int(concurrency),
                      timeout=float(timeout), max_request_bytes=int(max_request_bytes), backlog=backlog)
