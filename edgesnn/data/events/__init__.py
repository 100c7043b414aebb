"""Event-camera file readers and writers. Every reader gives x, y, t (µs), p (0/1) and the sensor size."""

from edgesnn.data.events.dispatch import (
    OPENERS,
    WRITERS,
    detect_format,
    open_events,
    read_events,
    write_events,
)
from edgesnn.data.events.errors import EventFormatError, MissingDependencyError
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, make_events

__all__ = [
    "EVENT_DTYPE",
    "OPENERS",
    "WRITERS",
    "EventFormatError",
    "EventRecording",
    "EventStream",
    "MissingDependencyError",
    "detect_format",
    "make_events",
    "open_events",
    "read_events",
    "write_events",
]
