"""The one error type of the format: a blob or model that breaks export/FORMAT.md."""

from __future__ import annotations


class BlobError(ValueError):
    """An `.esnn` blob (or a model about to be written as one) is malformed; the message names the field."""
