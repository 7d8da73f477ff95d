"""Data: the :class:`Instance` every dataset yields, and the datasets themselves."""

from synfaith.data.instance import Box, GroundTruth, Instance

__all__ = ["Box", "GroundTruth", "Instance"]
