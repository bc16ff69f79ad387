"""Child processes (engines, `ollama serve` under its wrapper) that never outlive their parent."""

from __future__ import annotations

import contextlib
import signal
import sys


def die_with_parent() -> None:
    """Run in the child before it starts (Popen's preexec_fn): on Linux it gets SIGTERM
    when its parent dies, even by SIGKILL, so no orphaned engine keeps a GPU or a port."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
