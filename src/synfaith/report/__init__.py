"""The HTML report of a run directory (:func:`write_report`)."""

from synfaith.report.build import write_report

__all__ = ["write_report"]
