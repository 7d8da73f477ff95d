"""A black-box model behind an OpenAI-compatible chat endpoint that returns log-probabilities.

For models without weights access (a vLLM server, a hosted API): model-agnostic explainers
(Random, MultiSHAP) and every metric run through the game alone. Everything model-specific
happens client-side:

* **Visual units** are the cells of a ``grid`` over the original image; a masked cell takes
  the pixels of a Gaussian-blurred copy (the same zero-state as the local adapters), and each
  variant is sent as a PNG data URL.
* **Text units** are the query's tokens as the server's tokenizer sees them (vLLM's
  ``/tokenize`` and ``/detokenize``), or its words (``text_units="words"``) for endpoints
  without them. A masked unit's characters are replaced by ``mask_text`` (default: the
  server's pad token, ``"<pad>"``), which the server's tokenizer reads as that special token.
* **Scores**: ``scoring="top_logprobs"`` (any OpenAI-compatible endpoint) reads the first
  answer token's log-probability from ``top_logprobs`` (single-token answers, no generated
  prefix; a token outside the top list fails loudly); ``"prompt_logprobs"`` (vLLM's
  ``prompt_logprobs`` + ``continue_final_message``) teacher-forces the whole answer, any length.

Variants of one game batch are sent concurrently (``max_concurrency``) and cached by the game.
Connection failures, timeouts and HTTP 429/502/503/504 are retried with bounded exponential
backoff; the API key and any credentials in the URL are registered with
:mod:`synfaith.secrets`, so no error message, row or log line shows them.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from synfaith.contracts import DEFAULT_ZERO_STATE, GAME, Prepared, Target, TokenLayout, ZeroState
from synfaith.data.instance import Instance
from synfaith.games.base import Game
from synfaith.models.answers import AnswerFormat, OpenAnswer, answer_format_for, answer_token_span, is_correct
from synfaith.models.ground_truth import UnitMapping
from synfaith.models.pixels import PixelViews, blurred_copy
from synfaith.models.prompts import build_user_text
from synfaith.secrets import MASK, redact, register_secret, url_credentials

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF = 8.0  # seconds: the longest wait between two attempts
OPEN_ANSWERS_REFUSED = "open answers need their generated tokens teacher-forced, and an endpoint's scoring reads one top_logprobs token or re-tokenises the answer text"


class RemoteModelError(RuntimeError):
    """The endpoint failed or answered something the adapter cannot use (the message is redacted)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(str(message)))


class _Secret:
    """A header value that never shows itself in a repr, a str or an attribute dump (its secrets are registered on unpickling too)."""

    def __init__(self, value: str, *secrets: str) -> None:
        self.value, self._secrets = value, secrets
        for secret in secrets:
            register_secret(secret)

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __reduce__(self):
        return (_Secret, (self.value, *self._secrets))


def _authorization(api_key: str | None, user: str | None, password: str | None) -> _Secret | None:
    """The ``Authorization`` header: Bearer for a key or a lone token, Basic for ``user:password``."""
    if api_key:
        return _Secret(f"Bearer {api_key}", api_key)
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return _Secret(f"Basic {token}", password, token)
    if user or password:
        return _Secret(f"Bearer {user or password}", user or password)
    return None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return " ".join(error.read().decode(errors="replace").split())[:500]
    except (OSError, http.client.HTTPException):
        return "(the body could not be read)"


@dataclass(frozen=True)
class RemoteTarget(Target):
    """A target whose tokens are known by their text (the API returns no ids)."""

    answer_tokens: tuple[str, ...] = ()
    prefix_text: str = ""
    answer_text: str = ""


class RemoteChatAdapter(UnitMapping):
    """A model behind ``{base_url}/v1/chat/completions`` as a synfaith game.

    Args:
        base_url: the server root, e.g. ``"http://localhost:8000"``. Credentials in it
            (``http://user:password@host:port``) are removed from :attr:`base_url` and sent as an
            ``Authorization`` header instead: Basic for ``user:password``, Bearer for a lone token
            (``http://TOKEN@host`` or ``http://:TOKEN@host``).
        model: the model name the server expects.
        grid: (rows, cols) of visual units over the image.
        text_units: ``"tokens"`` (server tokenizer) or ``"words"``.
        mask_text: the string that replaces a masked text unit.
        scoring: ``"top_logprobs"`` or ``"prompt_logprobs"`` (see the module docstring).
        answer_cue: text appended to every user message (not a query unit), e.g. ``"Answer:"``.
        max_new_tokens: tokens generated for the clean input's answer.
        top_logprobs: how many alternatives ``scoring="top_logprobs"`` asks for (the answer token
            must be among them).
        max_concurrency: requests in flight at once while a game batch is scored.
        timeout: seconds one HTTP request may take.
        batch_size: the game's batch size (variants per call of the scoring loop).
        api_key: a key sent as ``Authorization: Bearer …``; it wins over the URL's credentials
            and over ``api_key_env``.
        api_key_env: the environment variable read for the key when ``api_key`` is not given and
            the URL carries no credentials (default ``"OPENAI_API_KEY"``; None: never read one).
        retries: further attempts after a connection error (refused, reset, the server hanging
            up), a timeout or HTTP 429/502/503/504; other 4xx/5xx answers are not retried.
        backoff: seconds before the first retry, doubling each time (capped at 8 s, with jitter;
            a ``Retry-After`` header is honoured up to the cap).

    Whatever key is used is registered with :func:`synfaith.secrets.register_secret`: it is
    masked in every message, and never part of an exception message or an attribute's repr.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({GAME})  # a black box: no gradients, no attention

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        grid: tuple[int, int] = (8, 8),
        text_units: str = "tokens",
        mask_text: str = "<pad>",
        scoring: str = "top_logprobs",
        answer_cue: str | None = None,
        max_new_tokens: int = 10,
        top_logprobs: int = 20,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        batch_size: int | str = 64,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if text_units not in ("tokens", "words"):
            raise ValueError(f"text_units must be 'tokens' or 'words', got {text_units!r}")
        if scoring not in ("top_logprobs", "prompt_logprobs"):
            raise ValueError(f"scoring must be 'top_logprobs' or 'prompt_logprobs', got {scoring!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0 or not backoff >= 0:
            raise ValueError(f"retries must be an integer >= 0 and backoff a number >= 0, got {retries!r} and {backoff!r}")
        base_url, user, password = url_credentials(str(base_url))
        register_secret(password or user)  # the URL's secret (a lone user is a token), whichever header is sent
        if not (api_key or user or password) and api_key_env:
            api_key = os.environ.get(api_key_env) or None
        self._authorization = _authorization(api_key, user, password)
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.grid = tuple(grid)
        self.text_units = text_units
        self.mask_text = mask_text
        self.scoring = scoring
        self.answer_cue = answer_cue
        self.max_new_tokens = max_new_tokens
        self.top_logprobs = top_logprobs
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.batch_size = 64 if batch_size == "auto" else batch_size  # memory is the server's: auto is the default
        self.api_key_env = api_key_env
        self.retries, self.backoff = retries, float(backoff)
        self.requests = 0  # HTTP requests sent (pool threads count under a lock)
        self._count_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, model={self.name!r})"

    # -- HTTP ------------------------------------------------------------------------------
    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential with jitter, or the server's Retry-After."""
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), MAX_BACKOFF)
        return min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)

    def _post(self, path: str, body: dict) -> dict:
        url = self.base_url + path
        headers = {"Content-Type": "application/json"} | ({"Authorization": self._authorization.value} if self._authorization else {})
        data = json.dumps(body).encode()
        attempts, last = self.retries + 1, ""
        for attempt in range(1, attempts + 1):
            with self._count_lock:
                self.requests += 1
            retry_after = None
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=self.timeout) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as error:
                detail = _detail(error)
                if error.code not in RETRY_STATUSES:
                    raise RemoteModelError(f"{url} answered {error.code}: {detail}") from None
                last, retry_after = f"HTTP {error.code}: {detail}", error.headers.get("Retry-After")
            except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
                reason = error.reason if isinstance(error, urllib.error.URLError) else error
                last = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else f"URLError: {reason}"
                # refused, reset, the server hanging up (RemoteDisconnected), a timeout: worth another attempt
                if not isinstance(reason, (ConnectionError, TimeoutError, http.client.IncompleteRead)):
                    raise RemoteModelError(f"cannot reach {url}: {last}") from None
            if attempt < attempts:
                time.sleep(self._delay(attempt, retry_after))
        else:
            raise RemoteModelError(f"cannot get an answer from {url} after {attempts} attempt{'s' * (attempts > 1)}; last error: {last}")
        try:
            return json.loads(raw)
        except ValueError:
            raise RemoteModelError(f"{url} answered something that is not JSON: {raw[:200]!r}") from None

    # -- preparing an instance ---------------------------------------------------------------
    @staticmethod
    def pixel_tensor(image: Image.Image) -> torch.Tensor:
        """The image as float [1, H, W, 3] in [0, 1] (the client-side pixel space)."""
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]

    def _query_units(self, query: str) -> list[tuple[int, int]]:
        if self.text_units == "words":
            return [m.span() for m in re.finditer(r"\S+", query)]
        ids = self._post("/tokenize", {"model": self.name, "prompt": query, "add_special_tokens": False})["tokens"]
        spans, previous = [], 0
        for i in range(1, len(ids) + 1):
            decoded = self._post("/detokenize", {"model": self.name, "tokens": ids[:i]})["prompt"]
            end = len(decoded)
            if decoded != query[:end]:
                raise RemoteModelError("the server's detokenized prefixes do not match the query; use text_units='words'")
            spans.append((previous, end))
            previous = end
        return [(a, b) for a, b in spans if b > a]

    def prepare(self, instance: Instance, zero_state: ZeroState = DEFAULT_ZERO_STATE) -> Prepared:
        """Unit grid over the image, query units, and the clean/zero-state images."""
        image = instance.load_image()
        user_text, (start, end) = build_user_text(instance, self.answer_cue)
        query = user_text[start:end]
        spans = self._query_units(query)
        if not spans:
            raise ValueError(f"instance {instance.id!r}: the question has no query units")
        width, height = image.size
        rows, cols = self.grid
        y = np.minimum(np.arange(height) * rows // height, rows - 1)
        x = np.minimum(np.arange(width) * cols // width, cols - 1)
        unit_index = torch.from_numpy((y[:, None] * cols + x[None, :]).astype(np.int64))[None, :, :, None]
        clean = self.pixel_tensor(image)
        blurred = self.pixel_tensor(blurred_copy(image, zero_state.blur_radius(image.size)))
        n_units = rows * cols
        layout = TokenLayout(
            input_ids=torch.zeros(0, dtype=torch.long),
            visual_positions=torch.zeros(0, dtype=torch.long),
            query_positions=torch.arange(len(spans)),
            query_spans=tuple(spans),
        )
        return Prepared(
            instance=instance,
            prompt=user_text,
            query_text=query,
            layout=layout,
            pixels=PixelViews(clean=clean, blurred=blurred, unit_index=unit_index, n_units=n_units),
            unit_grid=np.arange(n_units).reshape(rows, cols),
            token_units=torch.eye(n_units),
            image_size=image.size,
            zero_state=zero_state,
        )

    # -- requests for one variant ----------------------------------------------------------
    def _user_text(self, prepared: Prepared, text_keep: np.ndarray) -> str:
        query = prepared.query_text
        pieces, cursor = [], 0
        for keep, (a, b) in zip(text_keep, prepared.layout.query_spans):
            pieces.append(query[cursor:a])
            pieces.append(query[a:b] if keep else self.mask_text)
            cursor = b
        pieces.append(query[cursor:])
        return "".join(pieces) + prepared.prompt[len(query) :]

    @staticmethod
    def _data_url(pixels: torch.Tensor) -> str:
        array = np.clip(np.rint(pixels[0].numpy() * 255.0), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    def _messages(self, prepared: Prepared, image_keep: np.ndarray, text_keep: np.ndarray) -> list[dict]:
        pixels = prepared.pixels.masked(np.asarray(image_keep, dtype=bool)[None])
        return [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": self._data_url(pixels)}},
                    {"type": "text", "text": self._user_text(prepared, text_keep)},
                ],
            }
        ]

    def generate_target(self, prepared: Prepared, answer_format: AnswerFormat | None = None) -> RemoteTarget:
        """Greedy decoding on the clean input, cut to the answer token(s) by regex."""
        answer_format = answer_format or answer_format_for(prepared.instance)
        if isinstance(answer_format, OpenAnswer):
            raise RemoteModelError(f"instance {prepared.instance.id!r} has answer_type open, which this endpoint cannot serve: {OPEN_ANSWERS_REFUSED}")
        everything = (np.ones(prepared.n_image_units, bool), np.ones(prepared.n_text_units, bool))
        response = self._post(
            "/v1/chat/completions",
            {"model": self.name, "messages": self._messages(prepared, *everything), "max_tokens": self.max_new_tokens,
             "temperature": 0, "logprobs": True, "top_logprobs": 1},
        )
        choice = response["choices"][0]
        text = choice["message"]["content"] or ""
        tokens = [t["token"] for t in (choice.get("logprobs") or {}).get("content") or []]
        parsed, first, last = answer_token_span(np.cumsum([len(t) for t in tokens]).tolist(), text, answer_format)
        correct = is_correct(prepared.instance, parsed.answer, answer_format)
        empty = torch.zeros(0, dtype=torch.long)
        return RemoteTarget(
            response=text,
            answer=parsed.answer,
            prefix_ids=empty,
            answer_ids=torch.zeros(last - first + 1, dtype=torch.long),
            correct=correct,
            answer_tokens=tuple(tokens[first : last + 1]),
            prefix_text="".join(tokens[:first]),
            answer_text="".join(tokens[first : last + 1]),
        )

    def _probability(self, prepared: Prepared, target: RemoteTarget, image_keep, text_keep) -> float:
        messages = self._messages(prepared, image_keep, text_keep)
        if self.scoring == "top_logprobs":
            if len(target.answer_tokens) != 1 or target.prefix_text:
                raise RemoteModelError("top_logprobs scoring needs a one-token answer without a generated prefix; use scoring='prompt_logprobs'")
            response = self._post(
                "/v1/chat/completions",
                {"model": self.name, "messages": messages, "max_tokens": 1, "temperature": 0, "logprobs": True,
                 "top_logprobs": self.top_logprobs},
            )
            top = response["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            for entry in top:
                if entry["token"] == target.answer_tokens[0]:
                    return float(np.exp(entry["logprob"]))
            raise RemoteModelError(
                f"the answer token {target.answer_tokens[0]!r} is not among the top {self.top_logprobs} log-probabilities; "
                "raise top_logprobs or use scoring='prompt_logprobs'"
            )
        messages = messages + [{"role": "assistant", "content": target.prefix_text + target.answer_text}]
        response = self._post(
            "/v1/chat/completions",
            {"model": self.name, "messages": messages, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0,
             "continue_final_message": True, "add_generation_prompt": False},
        )
        entries = response["prompt_logprobs"][-len(target.answer_tokens) :]
        return float(np.exp(sum(next(iter(e.values()))["logprob"] for e in entries)))

    def target_probabilities(self, prepared: Prepared, target: RemoteTarget, image_keep: np.ndarray, text_keep: np.ndarray) -> np.ndarray:
        """The target's probability for each variant (rows of the keep-masks), requested concurrently."""
        image_keep, text_keep = np.atleast_2d(image_keep), np.atleast_2d(text_keep)
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            values = pool.map(lambda i: self._probability(prepared, target, image_keep[i], text_keep[i]), range(len(image_keep)))
            return np.fromiter(values, dtype=np.float64, count=len(image_keep))

    def game(self, prepared: Prepared, target: RemoteTarget, *, batch_size: int | None = None) -> RemoteGame:
        """The game ``v(A, B)`` through the endpoint."""
        return RemoteGame(self, prepared, target, batch_size=batch_size or self.batch_size)


class RemoteGame(Game):
    """A synfaith game whose values come from a remote endpoint."""

    def __init__(self, adapter: RemoteChatAdapter, prepared: Prepared, target: RemoteTarget, **options) -> None:
        super().__init__(prepared.n_image_units, prepared.n_text_units, **options)
        self.adapter, self.prepared, self.target = adapter, prepared, target

    def _evaluate(self, image_keep: np.ndarray, text_keep: np.ndarray) -> np.ndarray:
        return self.adapter.target_probabilities(self.prepared, self.target, image_keep, text_keep)
