"""The one error type of the exporter: a model or device the exporter cannot handle; the message says why."""

from __future__ import annotations


class ExportError(ValueError):
    """Raised with a message naming the module path, layer or profile field at fault."""
