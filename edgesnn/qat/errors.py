"""QAT errors."""


class QATError(ValueError):
    """A model or input that quantization-aware fine-tuning cannot handle; the message says why."""
