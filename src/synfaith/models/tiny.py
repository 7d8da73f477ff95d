"""Deprecated alias of :mod:`synfaith.testing.twins` (kept until every import has moved)."""
from synfaith.testing.twins import *  # noqa
build = build_twin  # noqa: F405
