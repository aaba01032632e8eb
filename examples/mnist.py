"""5,000 MNIST digits from ``examples/data/mnist_5k.csv.gz`` (licence and source beside it).

NumPy only, no download: ``load()`` returns grey levels in ``[0, 1]`` as float32 ``(N, 784)`` and
the labels (the file is sorted by digit, 500 of each); ``split()`` binarizes at 0.5 and holds out
100 digits of each class as a test set, the same ones on every call.

Example:
    >>> import mnist
    >>> (train, _), (test, test_labels) = mnist.split()
    >>> train.shape, test.shape, test_labels[:5].tolist()
    ((4000, 784), (1000, 784), [4, 2, 0, 9, 6])
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import numpy as np

PATH = Path(__file__).with_name("data") / "mnist_5k.csv.gz"
SIDE = 28


@cache
def load() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images, ``(5000, 784)`` float32 in ``[0, 1]``, and their int labels."""
    with gzip.open(PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :-1].astype(np.float32) / 255.0, table[:, -1].astype(np.int64)


def split(n_test_per_digit: int = 100) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``(train_x, train_y), (test_x, test_y)``: binarized pixels (``grey > 0.5``) as float32, each
    set in a fixed shuffled order, the test set ``n_test_per_digit`` images of each digit."""
    images, labels = load()
    order = np.random.default_rng(0).permutation(len(labels))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    test = np.zeros(len(labels), bool)
    for digit in range(10):  # the first n of each digit in the shuffled order
        members = np.flatnonzero(labels == digit)
        test[members[np.argsort(rank[members])[:n_test_per_digit]]] = True
    binary = (images > 0.5).astype(np.float32)
    train_idx, test_idx = order[~test[order]], order[test[order]]
    return (binary[train_idx], labels[train_idx]), (binary[test_idx], labels[test_idx])
