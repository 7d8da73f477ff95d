"""Cutting the answer out of a generated response (docs/design.md §2).

The target of an instance is the answer the model generates greedily for the clean input,
cut to its answer token(s) by a regular expression: ``Yes``/``No`` or a choice letter — or, for
``answer_type: open``, the whole answer (:class:`OpenAnswer`, docs/open-answers.md). Each
:class:`AnswerFormat` returns the normalised answer and its character span in the response,
so the adapter can find the generated tokens that carry it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

from synfaith.data.answer_types import ANSWER_TYPES, DEFAULT_MAX_ANSWER_TOKENS, OPEN
from synfaith.data.instance import Instance


class UnparseableAnswerError(ValueError):
    """The model's response contains no answer of the expected format."""

    def __init__(self, response: str, expected: str) -> None:
        super().__init__(f"cannot find {expected} in the model's response {response!r}")
        self.response = response
        self.expected = expected


@dataclass(frozen=True)
class ParsedAnswer:
    """The normalised answer and its ``[start, end)`` character span in the response."""

    answer: str
    start: int
    end: int


class AnswerFormat:
    """A list of patterns tried in order; the first match's group 1 is the answer."""

    description = "an answer"

    def __init__(self, patterns: list[str], flags: int = re.IGNORECASE) -> None:
        self.patterns = [re.compile(p, flags) for p in patterns]

    def normalise(self, raw: str) -> str:
        return raw

    def parse(self, response: str) -> ParsedAnswer:
        """The first answer in ``response``; raises :class:`UnparseableAnswerError` if none."""
        for pattern in self.patterns:
            match = pattern.search(response)
            if match:
                return ParsedAnswer(self.normalise(match.group(1)), match.start(1), match.end(1))
        raise UnparseableAnswerError(response, self.description)


class YesNo(AnswerFormat):
    """``Yes`` or ``No`` as a whole word, anywhere in the response; normalised to lower case."""

    description = "'Yes' or 'No'"

    def __init__(self) -> None:
        super().__init__([r"\b(yes|no)\b"])

    def normalise(self, raw: str) -> str:
        return raw.lower()


class ChoiceLetter(AnswerFormat):
    """A choice letter, in the shapes models answer with: ``(B)``, ``B. 3``, ``The answer is C``."""

    def __init__(self, letters: str | tuple[str, ...] = "ABCD") -> None:
        letters = "".join(letters).upper()
        if not letters or not letters.isalpha():
            raise ValueError(f"choice letters must be letters, got {letters!r}")
        self.description = f"a choice letter ({', '.join(letters)})"
        cls = f"[{letters}]"
        super().__init__(
            [
                rf"\(({cls})\)",  # (B)
                rf"^\s*({cls})(?:[.):,]|\s*$)",  # B / B. 3 / B) — not the article in "A cat"
                rf"answer\s*(?:is|:)?\s*:?\s*\(?({cls})(?![A-Za-z])",  # The answer is C / Answer: C
            ],
            flags=0,
        )
        # only the "answer is" phrase is case-insensitive; letters stay upper case
        self.patterns[2] = re.compile(self.patterns[2].pattern.replace("answer", "[Aa]nswer"))


class RegexAnswer(AnswerFormat):
    """A dataset's own pattern; group 1 is the answer (compared case-insensitively)."""

    def __init__(self, pattern: str) -> None:
        compiled = re.compile(pattern)
        if compiled.groups < 1:
            raise ValueError(f"an answer pattern needs one capturing group, got {pattern!r}")
        self.description = f"a match of {pattern!r}"
        super().__init__([pattern])


class OpenAnswer(AnswerFormat):
    """A free-form answer: the whole generated response up to the end of turn, stripped.

    ``max_tokens`` bounds its greedy decoding (instead of the adapter's ``max_new_tokens``);
    see :mod:`synfaith.models.open_answers` for how the target is generated and scored.
    """

    description = "a free-form answer (the response was empty)"

    def __init__(self, max_tokens: int = DEFAULT_MAX_ANSWER_TOKENS) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_answer_tokens must be a positive integer, got {max_tokens!r}")
        self.max_tokens = max_tokens
        super().__init__([r"^\s*(\S(?:.*\S)?)\s*$"], flags=re.DOTALL)

    def generate_target(self, adapter, prepared):
        """The adapter's target for this format (:func:`synfaith.models.open_answers.generate_open_target`)."""
        from synfaith.models.open_answers import generate_open_target

        return generate_open_target(adapter, prepared, self)


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, punctuation and articles removed, whitespace collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", text).split())


def references_of(instance: Instance) -> tuple[str, ...]:
    """An open instance's acceptable answers: ``meta["answers"]`` (a string or a list), else ``answer``."""
    listed = instance.meta.get("answers")
    if isinstance(listed, str):
        listed = [listed]
    if listed:
        return tuple(str(r) for r in listed)
    return () if instance.answer is None else (instance.answer,)


def match_open(answer: str, references) -> tuple[bool | None, str | None]:
    """``(correct, correct_by)`` of an open answer: normalised exact match with any reference
    (``"exact"``), else a reference contained in it as whole words (``"contains"``), else
    ``(False, None)``; ``(None, None)`` without references. A reference that normalises to
    nothing (``"the"``) matches nothing."""
    references = [references] if isinstance(references, str) else list(references or ())
    if not references:
        return None, None
    said = normalise_answer(answer)
    wanted = [n for n in (normalise_answer(r) for r in references) if n]
    if said and any(said == n for n in wanted):
        return True, "exact"
    if any(f" {n} " in f" {said} " for n in wanted):
        return True, "contains"
    return False, None


def answer_format_for(instance: Instance) -> AnswerFormat:
    """The answer format of an instance: open when ``meta["answer_type"]`` says so, else
    ``meta["answer_pattern"]`` if set, else by its shape (a set ``yes_no``/``choice`` agrees
    with the shape: loaders refuse one that does not)."""
    answer_type = instance.meta.get("answer_type")
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise ValueError(f"instance {instance.id!r}: answer_type must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}")
    if answer_type == OPEN:
        bound = instance.meta.get("max_answer_tokens")
        return OpenAnswer(DEFAULT_MAX_ANSWER_TOKENS if bound is None else bound)
    pattern = instance.meta.get("answer_pattern")
    if pattern:
        return RegexAnswer(pattern)
    if instance.choices:
        return ChoiceLetter(instance.choice_letters)
    return YesNo()


def answer_token_span(token_ends: list[int], response: str, answer_format: AnswerFormat) -> tuple[ParsedAnswer, int, int]:
    """The parsed answer and the first and last generated tokens that carry it.

    Args:
        token_ends: the character offset in ``response`` where each generated token ends.
        response: the generated text.
        answer_format: how to cut the answer.

    Raises:
        UnparseableAnswerError: no answer of the format, or no token covers it.
    """
    parsed = answer_format.parse(response)
    starts = [0, *token_ends[:-1]]
    covering = [i for i, (a, b) in enumerate(zip(starts, token_ends)) if a < parsed.end and b > parsed.start]
    if not covering:
        raise UnparseableAnswerError(response, answer_format.description)
    return parsed, covering[0], covering[-1]


def is_correct(instance: Instance, answer: str, answer_format: AnswerFormat) -> bool | None:
    """Whether ``answer`` matches the instance's reference (None when it has none).

    The reference is cut by the same format when it parses (``"(B) three"`` → ``B``), else
    compared as written; the comparison ignores case. An open answer is compared by
    :func:`match_open` against :func:`references_of` the instance.
    """
    if isinstance(answer_format, OpenAnswer):
        return match_open(answer, references_of(instance))[0]
    if instance.answer is None:
        return None
    try:
        reference = answer_format.parse(instance.answer).answer
    except UnparseableAnswerError:
        reference = instance.answer.strip()
    return answer.lower() == reference.lower()
