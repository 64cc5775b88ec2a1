"""Fetching the corpus's packages, and reading the licence notes that come with them.

- :func:`fetch_deb`: ``apt-get download`` + ``dpkg -x`` of a Debian package into a temporary
  folder (once per build: a second call for the same package reuses the unpacked tree).
- :func:`fetch_sdist`: ``pip download --no-deps --no-binary :all:`` of a PyPI source archive,
  unpacked likewise.
- :func:`copyright_stanzas` / :func:`licence_for`: per-file licence of a DEP-5 ``copyright``.
- :func:`credit_stanzas` / :func:`credits_by_file`: GCompris's per-folder ``README`` credits.
- :func:`desktop_credit`: the author / licence / source keys of a KDE ``.desktop`` file.
"""
from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from train.corpus.photo import SourceUnavailable

__all__ = ["Package", "fetch_deb", "fetch_sdist", "copyright_stanzas", "licence_for",
           "credit_stanzas", "credits_by_file", "desktop_credit"]

TIMEOUT_S = 600


@dataclass(frozen=True)
class Package:
    """An unpacked package: its root folder, version and copyright text ("" if none)."""

    root: Path
    version: str
    copyright: str


def _run(cmd: list[str], cwd: Path | None, what: str) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [str(exc)]
        raise SourceUnavailable(f"{what} failed: {last[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceUnavailable(f"{what} timed out after {TIMEOUT_S} s") from exc
    except OSError as exc:
        raise SourceUnavailable(f"{what} could not run: {exc}") from exc


def fetch_deb(package: str, tmp: Path) -> Package:
    """``apt-get download`` + ``dpkg -x`` of ``package`` under ``tmp`` (reused if done already).

    Raises:
        SourceUnavailable: no apt-get / dpkg, or the download or unpacking failed.
    """
    workdir = tmp / "deb" / package
    unpacked = workdir / "root"
    debs = sorted(workdir.glob(f"{package}_*.deb")) if workdir.is_dir() else []
    if not (debs and unpacked.is_dir()):
        for tool in ("apt-get", "dpkg"):
            if shutil.which(tool) is None:
                raise SourceUnavailable(f"{tool} not found (a Debian or Ubuntu system is needed)")
        workdir.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", package], workdir, f"apt-get download {package}")
        debs = sorted(workdir.glob(f"{package}_*.deb"))
        if not debs:
            raise SourceUnavailable(f"apt-get download {package} produced no .deb")
        shutil.rmtree(unpacked, ignore_errors=True)
        _run(["dpkg", "-x", str(debs[-1]), str(unpacked)], None, f"dpkg -x {debs[-1].name}")
    # apt-get writes an epoch's colon as %3a in the file name.
    version = urllib.parse.unquote(debs[-1].name[len(package) + 1:].rsplit("_", 1)[0])
    copyright_file = unpacked / "usr/share/doc" / package / "copyright"
    text = copyright_file.read_text(encoding="utf-8", errors="replace") \
        if copyright_file.is_file() else ""
    return Package(unpacked, version, text)


def fetch_sdist(requirement: str, tmp: Path) -> Package:
    """``pip download`` of the source archive of ``name==version``, unpacked under ``tmp``.

    ``root`` is the archive's top folder; ``copyright`` is its LICENSE file (or "").

    Raises:
        SourceUnavailable: pip failed (no network, no such version) or the archive is unusable.
    """
    name, sep, version = requirement.partition("==")
    if not sep:
        raise ValueError(f"pin the version as name==version, got {requirement!r}")
    workdir = tmp / "sdist" / name
    archives = sorted(workdir.glob("*.tar.gz")) if workdir.is_dir() else []
    if not archives:
        workdir.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              "--disable-pip-version-check", "-d", str(workdir), requirement], None,
             f"pip download {requirement}")
        archives = sorted(workdir.glob("*.tar.gz"))
        if not archives:
            raise SourceUnavailable(f"pip download {requirement} gave no .tar.gz source archive")
    unpacked = workdir / "root"
    if not unpacked.is_dir():
        try:
            with tarfile.open(archives[0]) as tar:
                _extract(tar, unpacked)
        except (tarfile.TarError, OSError) as exc:
            raise SourceUnavailable(f"cannot unpack {archives[0].name}: {exc}") from exc
    tops = [p for p in sorted(unpacked.iterdir()) if p.is_dir()]
    if len(tops) != 1:
        raise SourceUnavailable(f"{archives[0].name} does not hold one top folder")
    licence = next((p for p in sorted(tops[0].iterdir())
                    if p.name.upper().startswith(("LICENSE", "COPYING"))), None)
    text = licence.read_text(encoding="utf-8", errors="replace") if licence else ""
    return Package(tops[0], version, text)


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    # Older Pythons: the same refusal of absolute paths, ".." and links, by hand.
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or member.issym() or member.islnk():
            raise tarfile.TarError(f"unsafe member {member.name!r}")
    tar.extractall(dest)  # noqa: S202 - members checked above


# --------------------------------------------------------------------------- Debian copyright

def copyright_stanzas(text: str) -> list[tuple[list[str], str, str]]:
    """(file globs, copyright, licence name) of each ``Files:`` stanza of a DEP-5 file."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            globs = fields["Files"].split()
            names = [ln.strip() for ln in fields.get("Copyright", "").splitlines() if ln.strip()]
            # Long holder lists (OpenCV names eight companies) are cut; the full text is copied
            # to licences/.
            holders = " / ".join(names[:2]) + (" et al." if len(names) > 2 else "")
            stanzas.append((globs, holders, fields["License"].splitlines()[0].strip()))
    return stanzas


def licence_for(stanzas: list[tuple[list[str], str, str]], path: str) -> str:
    """DEP-5 rule: the last stanza whose glob matches wins."""
    note = "licence not stated"
    for globs, holders, licence in stanzas:
        if any(fnmatch.fnmatchcase(path, g) for g in globs):
            note = f"{licence}; (c) {holders}" if holders else licence
    return note


# --------------------------------------------------------------------------- GCompris READMEs

_CREDIT_KEYS = {"copyright", "license", "licence", "source", "comment", "comments", "files",
                "author"}
_FILE_NAME = re.compile(r"^[\w.+-]+(/[\w.+-]+)*\.\w+$")


def credit_stanzas(text: str) -> list[dict[str, str | list[str]]]:
    """The stanzas of a GCompris ``README``: ``{"copyright", "license", "source", "comment",
    "files": [names]}``.

    Stanzas are separated by blank lines; ``Key: value`` lines give the fields, and the file
    names follow ``Files:`` (on its line or the next ones; some stanzas list them with no
    ``Files:`` at all).
    """
    stanzas = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields: dict[str, str | list[str]] = {"files": []}
        for raw in block.splitlines():
            line = raw.strip()
            if not line:
                continue
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and key in _CREDIT_KEYS:
                key = {"licence": "license", "comments": "comment", "author": "copyright"}.get(
                    key, key)
                if key == "files":
                    fields["files"] += value.split()
                else:
                    fields[key] = value.strip()
            elif _FILE_NAME.match(line):
                fields["files"].append(line)
        if fields["files"]:
            stanzas.append(fields)
    return stanzas


def credits_by_file(text: str) -> dict[str, str]:
    """``{file: "licence; (c) holder; source; comment"}`` from a GCompris ``README``; files are
    named as the README names them, relative to its folder (``wonders/petra.webp``)."""
    out = {}
    for st in credit_stanzas(text):
        parts = [str(st.get("license", "licence not stated"))]
        if st.get("copyright"):
            parts.append(f"(c) {st['copyright']}")
        for key in ("source", "comment"):
            if st.get(key):
                parts.append(str(st[key]))
        for name in st["files"]:
            out[name] = "; ".join(parts)
    return out


def desktop_credit(text: str) -> str:
    """``"licence; (c) author; website"`` from a KDE ``.desktop`` file's plugin-info keys."""
    keys = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("X-KDE-PluginInfo-"):
            keys[key[len("X-KDE-PluginInfo-"):]] = value.strip()
    parts = [keys.get("License") or "licence not stated"]
    if keys.get("Author"):
        parts.append(f"(c) {keys['Author']}")
    if keys.get("Website"):
        parts.append(keys["Website"])
    return "; ".join(parts)
