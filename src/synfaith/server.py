"""A small OpenAI-compatible chat server in front of a local synfaith adapter.

It answers the subset of the API that synfaith's black-box adapter uses, with the same
request and response shapes as vLLM's OpenAI server:

* ``POST /v1/chat/completions`` — greedy decoding with ``logprobs``/``top_logprobs``; with
  vLLM's extensions ``prompt_logprobs`` and ``continue_final_message`` it scores a given
  assistant message (teacher forcing) instead;
* ``POST /tokenize`` and ``POST /detokenize`` (vLLM's endpoints).

Images arrive as ``data:image/png;base64,…`` URLs. It exists to test black-box flows end to
end (``synfaith serve --model toy``), not to serve production traffic: one request at a time.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from PIL import Image


def decode_data_url(url: str) -> Image.Image:
    """A ``data:image/…;base64,…`` URL as an RGB image."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ValueError("only base64 data URLs are supported for images")
    with Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))) as image:
        return image.convert("RGB")


MAX_NEW_TOKENS = 256
MAX_REQUEST_BYTES = 64 * 1024 * 1024


class ChatBackend:
    """Turns chat requests into forward passes of a local adapter's model."""

    def __init__(self, adapter, name: str = "synfaith-local") -> None:
        self.adapter = adapter
        self.name = name
        self.lock = threading.Lock()

    def _prompt(self, messages: list[dict], continue_final: bool, add_generation_prompt: bool):
        images, converted = [], []
        for message in messages:
            content = message["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            parts = []
            for part in content:
                if part["type"] == "image_url":
                    images.append(decode_data_url(part["image_url"]["url"]))
                    parts.append({"type": "image"})
                elif part["type"] == "text":
                    parts.append({"type": "text", "text": part["text"]})
            converted.append({"role": message["role"], "content": parts})
        text = self.adapter.processor.apply_chat_template(
            converted, add_generation_prompt=add_generation_prompt, continue_final_message=continue_final, tokenize=False
        )
        encoded = self.adapter.processor(
            images=images or None, text=text, return_tensors="pt", **self.adapter.image_processor_kwargs()
        )
        return encoded

    def _token(self, token_id: int) -> str:
        return self.adapter.tokenizer.decode([token_id])

    @torch.inference_mode()
    def chat(self, request: dict) -> dict:
        with self.lock:
            continue_final = bool(request.get("continue_final_message", False))
            add_generation_prompt = bool(request.get("add_generation_prompt", not continue_final))
            encoded = self._prompt(request["messages"], continue_final, add_generation_prompt)
            model = self.adapter.model
            inputs = {k: v.to(self.adapter.device) for k, v in encoded.items()}
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            top_n = int(request.get("top_logprobs") or 0)
            result = {"id": "chatcmpl-synfaith", "object": "chat.completion", "model": self.name}
            if request.get("prompt_logprobs") is not None:
                logits = model(**inputs).logits[0].double()
                log_probs = torch.log_softmax(logits, dim=-1)
                ids = inputs["input_ids"][0]
                prompt_logprobs = [None]
                for position in range(1, ids.numel()):
                    token = int(ids[position])
                    prompt_logprobs.append(
                        {str(token): {"logprob": float(log_probs[position - 1, token]), "decoded_token": self._token(token)}}
                    )
                result["prompt_logprobs"] = prompt_logprobs
                result["prompt_token_ids"] = ids.tolist()
                result["choices"] = [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}]
                return result
            max_tokens = min(int(request.get("max_tokens") or 16), MAX_NEW_TOKENS)
            ids = inputs.pop("input_ids")
            generated, content = [], []
            for _ in range(max_tokens):
                logits = model(input_ids=ids, **inputs).logits[0, -1].double()
                log_probs = torch.log_softmax(logits, dim=-1)
                token = int(log_probs.argmax())
                top = torch.topk(log_probs, max(top_n, 1))
                content.append(
                    {
                        "token": self._token(token),
                        "logprob": float(log_probs[token]),
                        "top_logprobs": [
                            {"token": self._token(int(t)), "logprob": float(v)} for v, t in zip(top.values[:top_n], top.indices[:top_n])
                        ],
                    }
                )
                if token == self.adapter.tokenizer.eos_token_id:
                    break
                generated.append(token)
                ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
                inputs["attention_mask"] = torch.ones_like(ids)
            message = {"role": "assistant", "content": self.adapter.tokenizer.decode(generated, skip_special_tokens=True)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            if request.get("logprobs"):
                choice["logprobs"] = {"content": content}
            result["choices"] = [choice]
            return result

    def tokenize(self, request: dict) -> dict:
        with self.lock:  # one tokenizer, shared with chat()
            ids = self.adapter.tokenizer(request["prompt"], add_special_tokens=bool(request.get("add_special_tokens", False)))["input_ids"]
        return {"tokens": ids, "count": len(ids)}

    def detokenize(self, request: dict) -> dict:
        with self.lock:
            return {"prompt": self.adapter.tokenizer.decode(request["tokens"])}


def make_server(adapter, host: str = "127.0.0.1", port: int = 0, name: str = "synfaith-local") -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) for ``adapter``; ``port=0`` picks a free port (``server.server_port``).

    It has no authentication: keep it on the loopback interface (the default host).
    """
    backend = ChatBackend(adapter, name)
    routes = {"/v1/chat/completions": backend.chat, "/tokenize": backend.tokenize, "/detokenize": backend.detokenize}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            route = routes.get(self.path.rstrip("/"))
            if route is None:
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_REQUEST_BYTES:
                return self._send(413, {"error": {"message": f"request body must be 1 byte to {MAX_REQUEST_BYTES} bytes"}})
            try:
                request = json.loads(self.rfile.read(length))
                return self._send(200, route(request))
            except Exception as error:  # noqa: BLE001 - reported to the client as a 400
                return self._send(400, {"error": {"message": f"{type(error).__name__}: {error}"}})

        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            return self._send(404, {"error": {"message": f"no route {self.path}"}})

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    return ThreadingHTTPServer((host, port), Handler)
