"""The report page's building blocks: sections, tables written as CSV, figures as PNG, atomic writes.

Every file of a report (CSV, PNG, the HTML page, the summary) goes through :func:`write_atomically`:
a temporary file beside the target, then a rename, so a reader (or a report killed half-way)
never leaves half a file behind.
"""

from __future__ import annotations

import base64
import html
import io
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synfaith.report import figures


def write_atomically(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a temporary name beside ``path``, then rename it over ``path`` (``os.replace``)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only left behind when the write or the rename failed
    return path


@dataclass
class Section:
    title: str
    anchor: str
    intro: str = ""
    parts: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    """An analysis the report could not compute, and why (shown in its section and at the top of the page)."""

    section: Section
    what: str
    why: str


class ReportBuilder:
    """Collects tables (written as CSV) and figures (PNG), notes what could not be computed, and renders the page."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        (out_dir / "tables").mkdir(parents=True, exist_ok=True)
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        self.sections: list[Section] = []
        self.figures: list[str] = []
        self.tables: list[str] = []
        self.skipped: list[Skipped] = []

    def section(self, title: str, anchor: str, intro: str = "") -> Section:
        self.sections.append(Section(title, anchor, intro))
        return self.sections[-1]

    def table(
        self, section: Section, name: str, frame: pd.DataFrame, caption: str, index: bool = True, digits: int = 3, csv: pd.DataFrame | None = None
    ) -> None:
        """Show ``frame`` in the section and write ``tables/NAME.csv`` — ``csv`` instead when given
        (the numbers behind a table the page shows as formatted text)."""
        write_atomically(self.out_dir / "tables" / f"{name}.csv", (frame if csv is None else csv).to_csv(index=index))
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
        try:
            fig.savefig(buffer, format="png", bbox_inches="tight")
        finally:
            figures.plt.close(fig)
        data = buffer.getvalue()
        write_atomically(self.out_dir / "figures" / f"{name}.png", data)
        self.figures.append(name)
        encoded = base64.b64encode(data).decode("ascii")
        section.parts.append(
            f'<figure id="figure-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def note(self, section: Section, text: str, kind: str = "note") -> None:
        section.parts.append(f'<p class="{kind}">{text}</p>')

    def skip(self, section: Section, what: str, why: str) -> None:
        """Record that ``what`` was not computed because ``why`` (plain text), with a warning in ``section``."""
        self.skipped.append(Skipped(section, what, why))
        self.note(section, f"<b>Not computed: {html.escape(what)}</b> — {html.escape(why)}", "warning skipped")

    def attempt(self, section: Section, what: str, function, *args, **kwargs):
        """``function(*args, **kwargs)``, or ``None`` with a :meth:`skip` note when it raises: the page still renders."""
        try:
            return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - one analysis failing must not lose the report
            reason = str(error).splitlines()[0] if str(error) else ""
            self.skip(section, what, reason if isinstance(error, ValueError) else f"it raised {type(error).__name__}: {reason}")
            return None
