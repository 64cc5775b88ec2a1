"""Where the bundled models are: package data of ``phnet_camera_models``, found through Python.

The repository keeps them in ``models/`` at its top; the build installs that folder as the
package ``phnet_camera_models`` (``pyproject.toml``: ``package-dir``), so a wheel installed with
``pip install .`` and an editable install find the same files through ``importlib.resources``,
wherever the repository is or is not.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGE = "phnet_camera_models"
"""The installed name of the repository's ``models/`` folder."""


def models_dir() -> Path:
    """The folder of the bundled models.

    Raises:
        FileNotFoundError: the package is not installed (a checkout that was never
            ``pip install``-ed, or an editable install made before ``models/`` was a package),
            or it is not a folder on disk (imported from a zip file).
    """
    try:
        root = resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"the bundled models are not installed (no package {PACKAGE!r}): install PHNet "
            "Camera with pip (pip install . or, in a checkout, pip install -e .)"
        ) from None
    if not isinstance(root, os.PathLike):
        raise FileNotFoundError(f"the bundled models ({PACKAGE}) are not files on disk: {root}")
    return Path(root)


def model_path(name: str) -> Path:
    """The bundled file ``name`` (it may not exist: callers check, and name what they looked
    for). Raises FileNotFoundError as ``models_dir()`` does."""
    return models_dir() / name
