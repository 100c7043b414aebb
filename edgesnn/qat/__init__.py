"""Quantization-aware fine-tuning: a torch forward pass that computes the exact integers of the model's
``.esnn`` export (attention-free OR/AND/IAND spiking ResNets, pruned or not)."""

from edgesnn.qat.errors import QATError
from edgesnn.qat.model import IntOutput, QATNet

__all__ = ["IntOutput", "QATError", "QATNet"]
