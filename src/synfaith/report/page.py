"""The report page's building blocks: sections, tables written as CSV, figures as PNG, atomic writes."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import field
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from synfaith.report import figures


@dataclass
class Section:
    title: str
    anchor: str
    intro: str = ""
    parts: list[str] = field(default_factory=list)


class ReportBuilder:
    """Collects tables (written as CSV) and figures (PNG) and renders the page."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        (out_dir / "tables").mkdir(parents=True, exist_ok=True)
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        self.sections: list[Section] = []
        self.figures: list[str] = []
        self.tables: list[str] = []

    def section(self, title: str, anchor: str, intro: str = "") -> Section:
        self.sections.append(Section(title, anchor, intro))
        return self.sections[-1]

    def table(self, section: Section, name: str, frame: pd.DataFrame, caption: str, index: bool = True, digits: int = 3) -> None:
        frame.to_csv(self.out_dir / "tables" / f"{name}.csv", index=index)
        self.tables.append(name)
        shown = frame.copy()
        for column in shown.columns:
            if pd.api.types.is_float_dtype(shown[column]):
                shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}")
        section.parts.append(
            f'<figure class="table" id="table-{name}"><figcaption>{html.escape(caption)} '
            f'<a href="tables/{name}.csv">CSV</a></figcaption>{shown.to_html(index=index, border=0, na_rep="—", escape=True)}</figure>'
        )

    def figure(self, section: Section, name: str, fig, caption: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        figures.plt.close(fig)
        data = buffer.getvalue()
        (self.out_dir / "figures" / f"{name}.png").write_bytes(data)
        self.figures.append(name)
        encoded = base64.b64encode(data).decode("ascii")
        section.parts.append(
            f'<figure id="figure-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def note(self, section: Section, text: str, kind: str = "note") -> None:
        section.parts.append(f'<p class="{kind}">{text}</p>')



def _write_atomically(path: Path, text: str) -> Path:
    """Write to a temporary name beside ``path``, then rename: readers never see half a page."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path
