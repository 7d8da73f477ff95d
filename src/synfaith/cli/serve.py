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
        "continue_final_message), /tokenize and /detokenize for a local checkpoint. A bounded pool of workers "
        "reads and checks requests (size, fields, image pixel budget, timeouts); the model runs one request at a "
        "time. No authentication: keep it on the loopback interface.",
    )
    parser.add_argument("--model", default="toy", help="checkpoint path or hub id ('toy' = the shipped toy VLM)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--concurrency", type=int, default=8,
        help="workers reading and parsing requests at once; more connections wait in the listen queue (default: 8)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0,
        help="seconds a connection may stay silent before it is closed; a whole request must arrive within "
        "4× this (default: 30)",
    )
    parser.add_argument(
        "--max-megapixels", type=float, default=64.0,
        help="refuse images that declare more pixels than this, from their header, before decoding (default: 64)",
    )

    def handler(args: argparse.Namespace) -> int:
        from synfaith.data.images import megapixels
        from synfaith.models import load_model
        from synfaith.server import make_server

        if args.concurrency < 1 or not args.timeout > 0:
            parser.error("--concurrency and --timeout must be positive")
        try:
            budget = megapixels(args.max_megapixels)
        except ValueError as error:
            parser.error(f"--max-megapixels: {error}")
        server = make_server(
            load_model(args.model, device=args.device), args.host, args.port, name=args.model,
            concurrency=args.concurrency, timeout=args.timeout, pixel_budget=budget,
        )
        print(
            f"serving {args.model} at http://{args.host}:{server.server_port}/v1 "
            f"({args.concurrency} workers, {args.timeout:g} s timeout, {args.max_megapixels:g} MP images; Ctrl-C stops)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return 0

    parser.set_defaults(handler=handler)
