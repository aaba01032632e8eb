"""The head, a KL loss and a sharded Monte Carlo gradient on 4 simulated CPU devices.

JAX fixes the number of host devices when it starts, so ``multidevice_check.py`` runs in its own
process with ``--xla_force_host_platform_device_count=4``: ``pmap`` (head + balanced KL, values,
gradients and states), ``shard_map`` over a mesh with ``NamedSharding`` (a Gamma Monte Carlo
gradient) and ``jit`` with shardings, each against the one-device result. Its output lists every
comparison with its largest error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import float32_only

SCRIPT = Path(__file__).with_name("multidevice_check.py")


@float32_only
def test_multidevice_matches_single_device():
    env = dict(os.environ)  # JAX_ENABLE_X64 passes through: the script follows the precision
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=SCRIPT.parents[1],
        check=False,
    )
    assert result.returncode == 0, (
        f"{SCRIPT.name} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    assert "all multi-device checks passed" in result.stdout, result.stdout
