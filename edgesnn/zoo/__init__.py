"""Small trained models shipped with the package (the demo models), with the scripts that made them."""

from pathlib import Path

ZOO_DIR = Path(__file__).resolve().parent
DEMO_MODEL = ZOO_DIR / "fashion_mnist_synac_w8_t4.pt"
DEMO_LOG = ZOO_DIR / "fashion_mnist_synac_w8_t4.log.jsonl"
