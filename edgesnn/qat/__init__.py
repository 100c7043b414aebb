"""Quantization-aware fine-tuning: a torch forward pass that computes the exact integers of the model's
``.esnn`` export (OR/AND/IAND spiking ResNets with or without SynA attention, pruned or not)."""

from edgesnn.qat.errors import QATError
from edgesnn.qat.model import IntOutput, QATNet, int_net_for_export, qat_model_of

__all__ = ["IntOutput", "QATError", "QATNet", "int_net_for_export", "qat_model_of"]
