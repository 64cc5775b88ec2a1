"""LatestWorker: newest offer wins, stale results are dropped, errors reach the caller."""
import threading

import pytest

from phnet.latest_worker import LatestWorker


def test_newest_offer_wins_and_older_ones_are_dropped():
    gate = threading.Event()
    seen = []

    def fn(generation, x):
        gate.wait(5)
        seen.append(x)
        return x

    w = LatestWorker(fn)
    try:
        w.offer(1)  # taken at once, blocks on the gate
        for x in (2, 3, 4):
            w.offer(x)  # each replaces the pending one
        gate.set()
        assert w.result(wait=True, timeout=5) in (1, 4)
        w.offer(5)
        while w.result() != 5:
            w.result(wait=True, timeout=0.1)
        assert 2 not in seen and 3 not in seen
    finally:
        w.close()


def test_clear_drops_the_result_and_stale_work():
    gate = threading.Event()
    w = LatestWorker(lambda generation, x: (gate.wait(5), x)[1])
    try:
        w.offer("old")
        w.clear()  # "old" is under way or pending: its result must land nowhere
        gate.set()
        assert w.result(wait=True, timeout=0.3) is None
        w.offer("new")
        assert w.result(wait=True, timeout=5) == "new"
    finally:
        w.close()


def test_an_error_is_raised_by_the_next_result_call():
    w = LatestWorker(lambda generation: 1 / 0)
    try:
        w.offer()
        with pytest.raises(ZeroDivisionError):
            w.result(wait=True, timeout=5)
    finally:
        w.close()
        w.close()
