"""Process-wide settings: malloc thresholds, OpenMP's wait policy, the thread split."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest

from vcam import runtime


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_kept_on_linux():
    assert runtime.keep_freed_memory() is True
    assert runtime.keep_freed_memory() is True  # once per process, then a no-op


def test_thread_waits_are_passive_unless_the_user_chose():
    code = ("import os, vcam.runtime as r; ok = r.passive_thread_waits(); "
            "import torch; print(ok, os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["True", "PASSIVE"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["True", "ACTIVE"]


def test_split_threads_gives_the_network_one_core_and_restores(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(runtime, "_defaults", {})  # whatever earlier tests left
    before = (torch.get_num_threads(), cv2.getNumThreads())
    try:
        assert runtime.split_threads(True) == (1, 1)
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        assert runtime.split_threads(False) == before
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
