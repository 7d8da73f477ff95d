"""``synfaith serve``: a local model behind a small OpenAI-compatible API."""

from __future__ import annotations

import argparse

from synfaith.cli.commands import command


@command
def _serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a local model behind a small OpenAI-compatible chat API (for testing black-box runs)",
        description="Starts /v1/chat/completions (logprobs, top_logprobs; vLLM's prompt_logprobs and "
        "continue_final_message), /tokenize and /detokenize for a local checkpoint. One request at a time.",
    )
    parser.add_argument("--model", default="toy", help="checkpoint path or hub id ('toy' = the shipped toy VLM)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.models import load_model
        from synfaith.server import make_server
        server = make_server(load_model(args.model, device=args.device), args.host, args.port, name=args.model)
        print(f"serving {args.model} at http://{args.host}:{server.server_port}/v1 (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.shutdown()
        return 0

    parser.set_defaults(handler=handler)
