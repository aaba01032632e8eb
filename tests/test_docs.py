"""The README's code and every docstring example run as written."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil
import re

import jax
import pytest

import ml_networks_jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(ml_networks_jax.__path__, "ml_networks_jax.")
)


@pytest.mark.skipif(jax.config.jax_enable_x64, reason="the README runs in the default float32")
def test_readme_code_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README


@pytest.mark.skipif(jax.config.jax_enable_x64, reason="doctest outputs show float32 dtypes")
@pytest.mark.parametrize("name", ["ml_networks_jax", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest failures in {name}"
