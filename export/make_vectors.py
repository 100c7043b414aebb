"""Regenerate the conformance vectors in export/vectors/v1/ from the Python integer reference.

    python export/make_vectors.py            # refuses to overwrite existing goldens
    python export/make_vectors.py --force    # regenerate (review the diff: goldens are a contract)

The vectors are deterministic (seeded integers, no floats): tests/export/test_vectors.py regenerates
them in a temporary folder and compares every byte with the committed files. `invalid/` holds blobs every
runtime must refuse, with the status and field (edgesnn/export/invalid_vectors.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgesnn.export.invalid_vectors import write_invalid
from edgesnn.export.vectors import FORMAT_DIR, write_vectors

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "vectors" / FORMAT_DIR))
    ap.add_argument("--force", action="store_true", help="overwrite existing vectors")
    args = ap.parse_args()
    for folder in write_vectors(args.out, force=args.force):
        print(f"wrote {folder}")
    for path in write_invalid(Path(args.out), force=args.force):  # corruptions of the vectors just written
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
