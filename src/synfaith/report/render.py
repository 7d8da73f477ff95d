"""The report's HTML: the page around the sections, its summary, and the boxes saying what could not be computed
and where the sample is small."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from synfaith.analysis.rows import successful
from synfaith.analysis.sample_size import SMALL_SAMPLE
from synfaith.analysis.sentences import SCALE, Sentence, unimodal_title
from synfaith.report.page import ReportBuilder

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.summary { background: #f5f7fa; border-left: 4px solid #3a6ea5; padding: 0.6em 1.2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; } th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; text-align: right; }
th { background: #fafafa; } figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; } img { max-width: 100%; }
.warning { color: #8a4b00; background: #fff6e5; padding: 0.3em 0.6em; } .note { color: #444; }
div.warning { margin: 0.8em 0; padding: 0.2em 1em; border-left: 4px solid #d08a00; } div.warning li { margin: 0.2em 0; }
.tokens td { text-align: left; } .tokens span { padding: 0 1px; border-radius: 2px; }
nav a { margin-right: 1em; font-size: 0.9em; }
figure.table, .tokens { max-width: 100%; overflow-x: auto; } figure.table table { white-space: nowrap; }
"""

CHECK_SCRIPT = """
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', loaded + '/' + images.length);
  document.body.setAttribute('data-errors', String(window.__errors.length));
});
"""



def summary_span(key: str, value: str) -> str:
    return f'<b data-summary="{key}">{html.escape(value)}</b>'


def _caveats(builder: ReportBuilder, small: list[str], threshold: int) -> str:
    """The boxes under the summary: small samples (threshold stated) and every analysis that was not computed."""
    boxes = []
    if small:
        items = "".join(f"<li>{html.escape(s[0].upper() + s[1:])}.</li>" for s in small)
        boxes.append(
            f'<div class="warning" id="small-sample"><p><b>Small sample.</b> The report warns wherever a leaderboard cell or a '
            f"test rests on fewer than {threshold} instances; means, ranks and p-values from so few instances are not "
            f"reliable results:</p><ul>{items}</ul></div>"
        )
    if builder.skipped:
        items = "".join(
            f'<li><a href="#{s.section.anchor}">{html.escape(s.section.title)}</a>: <b>{html.escape(s.what)}</b> — {html.escape(s.why)}.</li>'
            for s in builder.skipped
        )
        boxes.append(f'<div class="warning" id="not-computed"><p><b>Not computed on this run</b>, and why:</p><ul>{items}</ul></div>')
    return "".join(boxes)


def _point(title: str, body: str) -> str:
    return f"<li><b>{html.escape(title)}.</b> {body}</li>"


def summary_points(summary: dict[str, str], sentences: list[Sentence]) -> list[str]:
    """The summary's list items: the headline (synergistic stratum), the redundant stratum, the pooled result, the unimodal
    agreement and the F_syn–SII correlation — each generated from its numbers (:mod:`synfaith.analysis.sentences`)."""
    s = lambda key: summary_span(key, summary.get(key, "—"))  # noqa: E731
    by_key = {sentence.key: sentence for sentence in sentences}
    points = [_point(by_key[key].title, by_key[key].html()) for key in ("headline", "redundant", "pooled") if key in by_key]
    pooled = by_key.get("pooled")
    if "lmm_best" in summary and not (pooled is not None and any(q.name == "lmm_coefficient" for q in pooled.quotes)):
        reference = html.escape(summary.get("lmm_reference", "Random"))
        points.append(_point("Mixed model, all instances pooled", f"Largest coefficient over {reference}: {s('lmm_best')} "
                             f"({s('lmm_best_coefficient')}, p = {s('lmm_best_p')})."))
    taus = [by_key[f"tau_{c}"] for c in ("deletion", "insertion", "srg") if f"tau_{c}" in by_key]
    if taus:
        body = " ".join(t.html() for t in taus)
        points.append(_point(unimodal_title(taus), f"{body} (Kendall τ {html.escape(SCALE)}; 1 = same order, −1 = reversed.)"))
    if "fsyn_sii" in by_key:
        points.append(_point(by_key["fsyn_sii"].title, f"{by_key['fsyn_sii'].html()} (Spearman ρ {html.escape(SCALE)}.)"))
    return points


def render(run_dir: Path, rows: pd.DataFrame, builder: ReportBuilder, summary: dict[str, str], small: list[str],
           threshold: int = SMALL_SAMPLE, sentences: list[Sentence] | None = None) -> str:
    """The whole page: header, summary (sentences generated from the tables' values), caveats, the sections."""
    ok = successful(rows)
    models, datasets, explainers = (sorted(rows[c].dropna().unique()) for c in ("model", "dataset", "explainer"))
    s = lambda key: summary_span(key, summary.get(key, "—"))  # noqa: E731
    points = summary_points(summary, sentences or [])
    points.append(f"<li><b>Failures.</b> {s('failure_rows')} failure rows (see <a href='#failures'>Failures</a>).</li>")
    nav = " ".join(f'<a href="#{sec.anchor}">{html.escape(sec.title)}</a>' for sec in builder.sections)
    body = []
    for sec in builder.sections:
        body.append(f'<section id="{sec.anchor}"><h2>{html.escape(sec.title)}</h2>')
        if sec.intro:
            body.append(f"<p>{html.escape(sec.intro)}</p>")
        body.extend(sec.parts)
        body.append("</section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>synfaith report — {html.escape(run_dir.name)}</title>
<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head>
<body>
<h1>synfaith report</h1>
<p>Run <code>{html.escape(str(run_dir))}</code>: {len(rows):,} rows ({len(ok):,} ok) — models {html.escape(', '.join(models))};
datasets {html.escape(', '.join(datasets))}; {len(explainers)} explainer{'s' if len(explainers) != 1 else ''}.</p>
<div class="summary"><h2 style="border:0;margin-top:0.3em">Summary</h2><ul>{''.join(points)}</ul></div>
{_caveats(builder, small, threshold)}
<nav>{nav}</nav>
{''.join(body)}
<footer><p class="note">Written by <code>synfaith report</code>. Tables as CSV in <code>tables/</code>, figures as PNG in <code>figures/</code>.</p></footer>
</body></html>
"""
