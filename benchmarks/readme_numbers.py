"""Write the README's demo numbers from the demo report's summary.json (run after `make demo`).

Replaces the README block between the demo-numbers markers with the summary's sentences and keeps
a copy of the summary in docs/demo-summary.json; tests/report/test_report.py checks that the README
block is exactly what this script writes from that copy, so the README cannot drift from a report.

    python benchmarks/readme_numbers.py [runs/demo/report/summary.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synfaith.report.readme import current_block, demo_numbers, replace_block

ROOT = Path(__file__).resolve().parents[1]
COPY = ROOT / "docs" / "demo-summary.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", nargs="?", default=str(ROOT / "runs" / "demo" / "report" / "summary.json"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--check", action="store_true", help="only check that the README matches docs/demo-summary.json (exit 1 if not)")
    args = parser.parse_args()
    readme = Path(args.readme)
    if args.check:
        expected = demo_numbers(json.loads(COPY.read_text(encoding="utf-8")))
        if current_block(readme.read_text(encoding="utf-8")) != expected:
            print(f"{readme}: the demo numbers differ from {COPY}; run `python benchmarks/readme_numbers.py`", file=sys.stderr)
            return 1
        return 0
    source = Path(args.summary)
    if not source.is_file():
        print(f"{source}: no summary.json; run `make demo` (or `synfaith report RUN_DIR`) first", file=sys.stderr)
        return 2
    summary = json.loads(source.read_text(encoding="utf-8"))
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"), demo_numbers(summary)), encoding="utf-8")
    COPY.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote the demo numbers of {source} into {readme} and {COPY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
