"""edgesnn: spiking ResNets with OR residuals and SynA attention, from PyTorch to microcontrollers."""

__version__ = "0.1.0"


def load(path):
    """Load a checkpoint and return a ready model (see ``edgesnn.checkpoint.load``)."""
    from edgesnn.checkpoint import load as _load

    return _load(path)
