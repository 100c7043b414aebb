"""Moved to `edgesnn.export.micropython_memory` (the exporter checks a model's fit with it and must not import
`edgesnn.runtime`); this name stays for existing imports."""

from edgesnn.export.micropython_memory import (  # noqa: F401
    CORES_64,
    FS_BLOCK,
    RUNTIME_DIR,
    flash_bytes,
    heap_bytes,
    model_heap_bytes,
    runtime_files,
    word_bytes,
)
