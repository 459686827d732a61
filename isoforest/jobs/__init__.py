"""The command line's jobs as Python functions: :func:`detect`, :func:`fit`,
:func:`score` and :func:`stream`.

Each does a whole job over files or streams, with the options the command line
offers (named as its flags, with ``-`` as ``_``), and returns what it did: the
command line only parses its arguments, calls these and prints their summaries.

    >>> from isoforest import jobs
    >>> jobs.detect("metrics.csv", "flagged.csv", contamination=0.01)   # doctest: +SKIP
    {'rows': 10000, 'written': 10000, 'incomplete': 0, 'anomalies': 100, ...}

Tables are CSV (``"-"``: standard input/output), TSV, Parquet or Arrow/Feather,
chosen by their names (:mod:`isoforest.io._tabular`); files go through in chunks.
The table jobs live in ``_tables.py``, the streams' set-up in ``_stream.py``, and
the learning stream (forest, online scaling, checkpoints) in ``_learner.py``.
Bad data (an unreadable table, no usable column, an invalid model file) raises
:class:`DataError`; options out of range raise ``ValueError``.
"""

from ..io._tabular import DataError
from ._stream import StreamOptions, stream
from ._tables import METHODS, ModelOptions, detect, fit, load_cli_model, score

__all__ = ["detect", "fit", "score", "stream", "ModelOptions", "StreamOptions",
           "DataError", "load_cli_model", "METHODS"]
