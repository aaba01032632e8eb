"""The notebooks' code keeps running as the library changes: each one's code cells, in order,
in a fresh process, in its reduced mode (``MNJ_NOTEBOOK_QUICK=1``: fewer epochs, samples,
parameter values, latents in the VAE notebook and families in the estimators notebook).

``make notebooks`` executes them in full with Jupyter and stores the outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import float32_only

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_listed_and_executed():
    assert [p.name for p in NOTEBOOKS] == [
        "01_vae_mnist.ipynb",
        "02_gradient_estimators.ipynb",
        "03_tour.ipynb",
    ]
    for path in NOTEBOOKS:  # committed with the outputs of a full run, in order
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        counts = [c["execution_count"] for c in cells]
        assert counts == list(range(1, len(cells) + 1)), (path.name, counts)
        assert not any(o["output_type"] == "error" for c in cells for o in c["outputs"]), path.name


@float32_only
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_reduced_mode(path, tmp_path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    script = tmp_path / f"{path.stem}.py"
    script.write_text("\n\n".join("".join(c["source"]) for c in cells))
    env = {**os.environ, "MNJ_NOTEBOOK_QUICK": "1", "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_ENABLE_X64", None)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # a hang guard: about 160 s on 2 idle cores, several times that under load
        check=False,
    )
    assert result.returncode == 0, f"{path.name}\n{result.stdout}\n{result.stderr}"
