"""Data: the :class:`Instance` every dataset yields, and the datasets themselves.

Loaders return a :class:`DatasetSource` (known length, rows built on demand; rows that cannot
be used come back as :class:`InvalidRow` with the reason). :func:`open_dataset` builds one by
registry name: ``synthetic``, ``jsonl``, ``repope``, ``cvbench``, ``mmstar``.
"""

from synfaith.data.instance import Box, GroundTruth, Instance
from synfaith.data.registry import DATASETS, open_dataset, register_dataset
from synfaith.data.source import DatasetSource, InvalidRow

__all__ = ["DATASETS", "Box", "DatasetSource", "GroundTruth", "Instance", "InvalidRow", "open_dataset", "register_dataset"]
