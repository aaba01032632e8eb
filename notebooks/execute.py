"""Execute notebooks in place with Jupyter, storing their outputs: ``make notebooks``, or
``python notebooks/execute.py notebooks/02_gradient_estimators.ipynb``."""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.pop("MNJ_NOTEBOOK_QUICK", None)  # the stored outputs are those of a full run
paths = [Path(p) for p in sys.argv[1:]] or sorted(Path(__file__).parent.glob("*.ipynb"))
for path in paths:
    start = time.perf_counter()
    print(f"executing {path.name} ...", flush=True)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=3600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    nbformat.write(notebook, path)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
