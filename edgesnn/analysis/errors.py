"""The one error type of ``edgesnn.analysis``: bad input to an analysis, with a message that says why."""

from __future__ import annotations


class AnalysisError(ValueError):
    """An analysis that cannot run on what it was given (no calibration data, no training log, ...)."""
