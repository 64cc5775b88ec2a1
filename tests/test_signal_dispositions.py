"""The tests that start processes and threads end within a bound whatever signal dispositions
the test run inherited (issue 21): a run started with SIGINT ignored (``python -m pytest &``
from a script) or SIGHUP ignored (``nohup``) passes that on, and a test that stops a command
with a signal must neither wait forever nor leave the command running."""

from __future__ import annotations

import signal
import sys

import pytest
from children import REPO, environment, run

# The tests that stop something with a signal (or Ctrl-C), one of each kind.
SIGNAL_TESTS = [
    "tests/test_cli.py::test_run_stops_cleanly_on_ctrl_c",
    "tests/test_cli.py::test_a_stop_signal_prints_the_final_table_once_even_with_v[SIGINT]",
    "tests/test_cli.py::test_a_stop_signal_during_process_keeps_the_old_output_and_says_so"
    "[SIGHUP-129-stopped by SIGHUP]",
    "tests/test_commands_without_torch.py::test_panel_without_torch",
]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal dispositions")
def test_the_signal_tests_pass_in_a_run_started_with_the_stop_signals_ignored(tmp_path):
    # Failed before: test_run_stops_cleanly_on_ctrl_c never ended (interrupt_main does
    # nothing where SIGINT is ignored), and children ignored the SIGINT a test sent them.
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--basetemp", str(tmp_path / "inner"), *SIGNAL_TESTS],
               cwd=REPO, env=environment(), timeout=600, disposition=signal.SIG_IGN)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"{len(SIGNAL_TESTS)} passed" in proc.stdout


def test_a_test_that_never_ends_ends_the_run(tmp_path):
    # pyproject.toml's faulthandler_timeout with faulthandler_exit_on_timeout: every thread's
    # stack on stderr, exit status 1 (here after 2 s instead of the suite's 15 minutes).
    (tmp_path / "test_hang.py").write_text("import time\n\n\ndef test_hang():\n"
                                           "    time.sleep(600)\n")
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
                "-o", "faulthandler_timeout=2", str(tmp_path / "test_hang.py")],
               cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Timeout (0:00:02)!" in proc.stderr and "test_hang" in proc.stderr
