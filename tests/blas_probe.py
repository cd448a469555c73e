"""A thread inside numpy matrix products while the main thread forks: does it keep going?

OpenBLAS stops its thread pool before every ``fork`` (an at-fork handler); a thread inside a
matrix product at that moment waits for the pool forever.  :func:`survives` runs ``setup``, starts
such a thread and runs ``action`` 20 times in a fresh interpreter (``OPENBLAS_NUM_THREADS``
unset), checking after each that the thread still finishes products.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_PROBE = """
import os, threading, time
import numpy as np
_rng = np.random.default_rng(0)
_a, _w, _count = _rng.random((360, 64)), _rng.random((256, 64)), [0]
def _work():
    while True:
        (_a @ _w.T).sum(); _count[0] += 1
threading.Thread(target=_work, daemon=True).start()
for _ in range(20):
{action}
    _c, _t0 = _count[0], time.monotonic()
    while _count[0] == _c:
        if time.monotonic() - _t0 > 10:
            print('hung'); os._exit(1)
        time.sleep(0.001)
print('ok'); os._exit(0)
"""


def survives(setup: str, action: str) -> str:
    """``"ok"`` if the thread kept going, else what the interpreter printed."""
    code = textwrap.dedent(setup) + _PROBE.format(action=textwrap.indent(textwrap.dedent(action), "    "))
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    return out.stdout.strip() if out.stdout.strip() == "ok" else out.stdout + out.stderr
