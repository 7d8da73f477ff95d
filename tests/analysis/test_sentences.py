"""Sentences generated from numbers: the stated thresholds, blank values, small samples, and the quotes they carry."""

import json
import math
import re

import pytest

from synfaith.analysis.sample_size import SMALL_SAMPLE
from synfaith.analysis.sentences import (
    Quote,
    Sentence,
    agreement,
    correlation_sentence,
    format_value,
    rank_agreement_sentence,
    redundant_sentence,
    stratum_sentence,
    unimodal_title,
)


@pytest.mark.parametrize("r, word", [(1.0, "agree"), (0.7, "agree"), (0.69, "partly agree"), (0.3, "partly agree"), (0.29, "disagree"),
                                     (0.0, "disagree"), (-0.3, "disagree"), (-0.31, "contradict each other"), (-1.0, "contradict each other"),
                                     (None, None), (math.nan, None)])
def test_agreement_words_follow_the_stated_thresholds(r, word):
    assert agreement(r) == word


def test_a_perfect_tau_is_called_agreement_not_disagreement():
    sentences = [rank_agreement_sentence(c, 1.0, 11, 54) for c in ("deletion", "insertion", "srg")]
    assert unimodal_title(sentences) == "Unimodal metrics agree"
    assert sentences[0].text == "Visual and textual deletion rankings agree (Kendall τ = 1.00 over 11 explainers)."
    mixed = [rank_agreement_sentence("deletion", 0.42, 11, 54), rank_agreement_sentence("insertion", 0.8, 11, 54)]
    assert unimodal_title(mixed) == "Unimodal metrics partly agree" and "partly agree (Kendall τ = 0.42" in mixed[0].text
    assert unimodal_title([*mixed, rank_agreement_sentence("srg", -0.6, 11, 54)]) == "Unimodal metrics disagree"
    assert "contradict each other (Kendall τ = -0.60" in rank_agreement_sentence("srg", -0.6, 11, 54).text


def test_a_blank_tau_says_why_it_is_not_computable():
    blank = rank_agreement_sentence("insertion", None, 2, 54, "τ between two rankings needs at least 3 explainers and this run has 2")
    assert blank.text == ("Kendall τ between the visual and the textual insertion ranking is not computable because τ between two "
                          "rankings needs at least 3 explainers and this run has 2.")
    assert blank.quotes == () and not re.search(r"\d\.\d", blank.text)
    assert unimodal_title([blank]) == "Unimodal rankings: agreement not computable"
    assert "not computable because one of the two has the same value" in correlation_sentence(None, None, 5, 12.0).text


def test_small_samples_are_warned_below_the_threshold_only():
    small = rank_agreement_sentence("deletion", 0.5, 11, 4)
    assert small.warnings == (f"Small sample: 4 instances behind the deletion rankings' means (fewer than {SMALL_SAMPLE}); not a reliable result.",)
    assert rank_agreement_sentence("deletion", 0.5, 11, SMALL_SAMPLE).warnings == ()
    assert "Small sample" in small.html() and 'class="warning"' in small.html()


def _line(**changes):
    line = {"stratum": "synergistic", "rule": "Δ > 0.05", "instances": 18, "all_instances": 54, "explainers": 3, "negative_means": 0,
            "basis": "paired", "paired_instances": 18,
            "leader": "oracle", "leader_mean": 0.5512, "leader_ci_low": 0.49, "leader_ci_high": 0.61,
            "runner_up": "multishap", "runner_up_mean": 0.5201, "runner_up_ci_low": 0.46, "runner_up_ci_high": 0.58,
            "lowest": "random", "lowest_mean": 0.3712, "lowest_ci_low": 0.3, "lowest_ci_high": 0.44, "ci_overlap": True}
    return line | changes


def test_the_headline_quotes_its_numbers_with_where_they_are():
    lmm = {"explainer": "oracle", "coefficient": 0.18, "p_value": 0.00012, "reference": "random"}
    sentence = stratum_sentence(_line(), lmm=lmm)
    assert sentence.text == ("Synergistic stratum (Δ > 0.05; 18 of 54 instances): oracle leads with mean F_syn 0.551 (95% CI 0.490 to 0.610), "
                             "ahead of multishap at 0.520 (0.460 to 0.580); the two intervals overlap, so the lead is within the uncertainty; "
                             "the mixed model on this stratum gives oracle the largest coefficient over random (0.180, p = 0.00012).")
    quotes = {q.name: q for q in sentence.quotes}
    assert quotes["leader_mean"].table == "strata_overview" and dict(quotes["leader_mean"].row) == {"stratum": "synergistic"}
    assert quotes["lmm_p"].row == {"stratum": "synergistic", "explainer": "oracle"} and quotes["lmm_p"].shown == "0.00012"
    # every quoted number is in the text, and the HTML marks each one with its table, line and column
    page = sentence.html()
    marked = re.findall(r'<b data-quote="([a-z_]+)" data-table="([a-z_]+)" data-column="[^"]+" data-spec="[^"]+" data-row="[^"]+">([^<]*)</b>', page)
    assert {(name, shown) for name, _, shown in marked} == {(q.name, q.shown) for q in sentence.quotes}
    assert json.loads(json.dumps(sentence.as_dict()))["numbers"][0]["shown"] == "18"
    assert "do not overlap" in stratum_sentence(_line(ci_overlap=False)).text
    fallback = stratum_sentence(_line(), lmm=lmm | {"source": "instance-clustered robust OLS (CR1 standard errors, t with 17 df)"})
    assert "; the instance-clustered robust OLS (CR1 standard errors, t with 17 df) fallback on this stratum gives oracle" in fallback.text
    assert stratum_sentence(_line(instances=4, paired_instances=4)).warnings[0].startswith("Small sample: 4 instances behind the synergistic stratum")
    # explainers failing on different instances: the means compared are those on the instances every explainer completed
    paired = stratum_sentence(_line(paired_instances=7))
    assert "(Δ > 0.05; 18 of 54 instances): on the 7 instances every explainer completed, oracle leads" in paired.text
    assert paired.warnings[0].startswith("Small sample: 7 instances behind")
    own = stratum_sentence(_line(basis="own", paired_instances=0))
    assert "each explainer on the instances it completed (none was completed by every explainer), oracle leads" in own.text


def test_the_pooled_line_says_it_is_not_the_headline_and_an_empty_stratum_has_no_leader():
    pooled = stratum_sentence(_line(stratum="all", rule="every instance", instances=54, paired_instances=54))
    assert pooled.text.startswith("All instances (pooled), 54 instances: oracle leads") and "so this is not the headline." in pooled.text
    empty = stratum_sentence(_line(instances=0, leader=None, runner_up=None, explainers=0))
    assert empty.text == "Synergistic stratum (Δ > 0.05; 0 of 54 instances): no explainer has an F_syn value here, so there is no leader."


def test_the_redundant_sentence_counts_negative_means_and_gives_the_reason():
    line = _line(stratum="redundant", rule="Δ < −0.05", instances=24, paired_instances=24, negative_means=3, leader="random", leader_mean=-0.012,
                 lowest="oracle", lowest_mean=-0.31)
    sentence = redundant_sentence(line)
    assert sentence.text.startswith("Redundant stratum (Δ < −0.05; 24 of 54 instances): every explainer is negative — 3 of 3 explainers "
                                    "have a negative mean F_syn (highest random at -0.012, lowest oracle at -0.310).")
    assert "F_syn rewards finding synergy, not redundancy" in sentence.text and "Harsanyi dividend of the evidence pair is negative" in sentence.text
    assert {q.name: q.column for q in sentence.quotes}["negative"] == "negative_means"
    some = redundant_sentence(line | {"negative_means": 1})
    assert "every explainer" not in some.text and "1 of 3 explainers" in some.text
    assert "rewards finding synergy" not in redundant_sentence(line | {"negative_means": 0}).text


def test_a_sentence_whose_template_and_quotes_differ_is_refused():
    with pytest.raises(ValueError, match=r"the template names \['a', 'b'\] but the quotes are \['a'\]"):
        Sentence("k", "t", "{a} and {b}", (Quote("a", 1.0, "t", {}, "c"),))
    assert format_value(float("nan"), ".3f") == "—" and format_value(3, "d") == "3" and format_value(0.000123, ".2g") == "0.00012"
