import pytest

from synfaith.data import Instance
from synfaith.models import ChoiceLetter, RegexAnswer, UnparseableAnswerError, YesNo, answer_format_for


@pytest.mark.parametrize(
    "response, answer, span",
    [("Yes.", "yes", (0, 3)), ("No", "no", (0, 2)), ("  yes, there is one", "yes", (2, 5)), ("I think no.", "no", (8, 10))],
)
def test_yes_no(response, answer, span):
    parsed = YesNo().parse(response)
    assert (parsed.answer, (parsed.start, parsed.end)) == (answer, span)


@pytest.mark.parametrize(
    "response, answer",
    [("(B)", "B"), ("B. 3", "B"), ("The answer is C", "C"), ("C", "C"), ("Answer: (D)", "D"), ("answer: A", "A"), ("A)", "A")],
)
def test_choice_letter(response, answer):
    parsed = ChoiceLetter("ABCD").parse(response)
    assert parsed.answer == answer and response[parsed.start : parsed.end] == answer


@pytest.mark.parametrize("response", ["A cat is on the mat", "I cannot tell", "", "(E)", "Nope"])
def test_unparseable_choices_are_typed_errors(response):
    with pytest.raises(UnparseableAnswerError, match="choice letter"):
        ChoiceLetter("ABCD").parse(response)


def test_yes_no_rejects_other_words():
    with pytest.raises(UnparseableAnswerError) as info:
        YesNo().parse("Nothing here, yesterday")
    assert info.value.response == "Nothing here, yesterday"


def test_regex_and_format_selection():
    assert RegexAnswer(r"count: (\d+)").parse("count: 12").answer == "12"
    with pytest.raises(ValueError, match="capturing group"):
        RegexAnswer(r"\d+")
    assert isinstance(answer_format_for(Instance("a", "x.png", "Is it?")), YesNo)
    choice = answer_format_for(Instance("b", "x.png", "Which?", choices=("x", "y", "z")))
    assert isinstance(choice, ChoiceLetter) and choice.description.endswith("(A, B, C)")
    custom = answer_format_for(Instance("c", "x.png", "How many?", meta={"answer_pattern": r"(\d)"}))
    assert custom.parse("3 things").answer == "3"
