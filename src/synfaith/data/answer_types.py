"""How an instance's answer is read: ``yes_no``, ``choice`` or ``open`` (docs/open-answers.md).

An instance carries its answer type in ``meta["answer_type"]``; without one it is read by its
shape, as before (choices: a choice letter, else Yes/No). ``open`` makes the target the whole
generated answer, bounded by ``meta["max_answer_tokens"]`` (default
:data:`DEFAULT_MAX_ANSWER_TOKENS`), and its reference may be a list of acceptable strings
(``meta["answers"]``; :attr:`Instance.answer` holds the first).

Where the type comes from:

* a JSONL line's ``answer_type`` field (:mod:`synfaith.data.jsonl`);
* a run config's dataset entry (``answer_type: open``, ``max_answer_tokens: 96``), applied to
  every instance of that dataset by :func:`with_answer_settings` — the entry wins over what a
  line says, since it is the run's decision about how the dataset is read;
* a dataset's own loader (the synthetic ``caption`` family).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from synfaith.data.json_lines import describe
from synfaith.data.source import DatasetSource, InvalidRow, Row

ANSWER_TYPES = ("yes_no", "choice", "open")
OPEN = "open"
DEFAULT_MAX_ANSWER_TOKENS = 128  # a sentence or a short paragraph; the toy's longest captions are ≈ 85 tokens


def answer_type_problem(answer_type: Any, choices: Any, where: str = "answer_type") -> str | None:
    """Why ``answer_type`` does not fit an instance with ``choices`` (None when it does)."""
    if answer_type is None:
        return None
    if answer_type not in ANSWER_TYPES:
        return f"field {where!r} must be one of {', '.join(ANSWER_TYPES)}, got {describe(answer_type)}"
    if answer_type == "choice" and not choices:
        return f"field {where!r} is 'choice' but there are no 'choices'"
    if answer_type == "yes_no" and choices:
        return f"field {where!r} is 'yes_no' but there are 'choices' (lettered answers: use 'choice')"
    return None


def with_answer_settings(source: DatasetSource, answer_type: str | None = None, max_answer_tokens: int | None = None) -> DatasetSource:
    """``source`` with ``meta["answer_type"]`` / ``meta["max_answer_tokens"]`` set on every instance.

    Returns ``source`` itself when neither is given (nothing changes for existing configs). An
    instance the type does not fit (``choice`` without choices) becomes an
    :class:`~synfaith.data.InvalidRow` saying so.
    """
    if answer_type is None and max_answer_tokens is None:
        return source
    settings = {k: v for k, v in (("answer_type", answer_type), ("max_answer_tokens", max_answer_tokens)) if v is not None}

    def build(index: int) -> Row:
        row = source.row(index)
        if isinstance(row, InvalidRow):
            return row
        meta = {**row.meta, **settings}
        problem = answer_type_problem(meta.get("answer_type"), row.choices, "datasets[].answer_type")
        if problem:
            return InvalidRow(row.id, f"instance {row.id!r}: {problem}")
        return dataclasses.replace(row, meta=meta)

    return DatasetSource(source.name, len(source), build, [source.row_id(i) for i in range(len(source))])
