import os

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DEVICE = os.environ.get("PHNET_TEST_DEVICE", "cpu")
"""One variable picks the device, so the same suite runs on the CPU and on a GPU."""


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def portrait_mask(h: int, w: int) -> torch.Tensor:
    """(1, 1, h, w) binary mask of a head-and-shoulders blob covering ~half of the frame."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    head = ((yy - 0.35 * h) / (0.2 * h)) ** 2 + ((xx - 0.5 * w) / (0.15 * w)) ** 2 < 1
    body = (yy > 0.5 * h) & ((xx - 0.5 * w).abs() < 0.3 * w)
    return (head | body).float()[None, None]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: a second intra-op thread only adds overhead (and noise on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def virtual_backends():
    """Registers the stand-in virtual camera backends (tests/standins.py), clearing records."""
    from standins import FakeBackend, register_stand_ins

    register_stand_ins()
    FakeBackend.instances.clear()
    yield
    FakeBackend.instances.clear()
