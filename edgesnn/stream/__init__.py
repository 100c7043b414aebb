"""Streaming samples to a board and checking every answer (`edgesnn stream`, `edgesnn demo`):
samples (event files, datasets, a camera; binned as in training), the checking loop, reports."""

from edgesnn.stream.report import (
    Progress,
    fresh_folder,
    plot_confusion,
    report_json,
    save_outcome,
    summary_table,
    write_json,
)
from edgesnn.stream.runner import (
    Outcome,
    Streamer,
    StreamInterrupted,
    StreamReport,
    first_difference,
    stream,
)
from edgesnn.stream.samples import (
    ModelInput,
    Sample,
    StreamInputError,
    camera_samples,
    dataset_samples,
    event_file_samples,
    event_files,
    resolve_binning,
    resolve_contract,
    to_device_u8,
)

__all__ = [
    "ModelInput",
    "Outcome",
    "Progress",
    "Sample",
    "StreamInputError",
    "StreamInterrupted",
    "StreamReport",
    "Streamer",
    "camera_samples",
    "dataset_samples",
    "event_file_samples",
    "event_files",
    "first_difference",
    "fresh_folder",
    "plot_confusion",
    "report_json",
    "resolve_binning",
    "resolve_contract",
    "save_outcome",
    "stream",
    "summary_table",
    "to_device_u8",
    "write_json",
]
