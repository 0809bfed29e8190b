"""Decision trees as flat node arrays, every tree walked at once: the kernel the tree families compile to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TreeNodes:
    """One tree's nodes in its library's own order; `left` / `right` are -1 at leaves."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray  # where a NaN feature value goes


class FlatTrees:
    """All trees' nodes in flat arrays, walked together one level per numpy step.

    scikit-learn calls each tree in turn: tens of microseconds apiece for random forests, and an OpenMP
    region per tree for HistGradientBoosting (about a millisecond each for one row). Walking every tree
    together costs the depth of the trees instead. For small batches only: the (rows x trees) node
    matrix grows with both.
    """

    MAX_CELLS = 200_000  # rows x trees
    MAX_NODES = 2_000_000  # about 60 MB of flat arrays; bigger forests keep their library's own predict

    def __init__(self, trees: list[TreeNodes], *, float32: bool) -> None:
        sizes = np.array([len(t.left) for t in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        # tree-local child ids -> flat ids; leaves stay -1
        self.left = np.concatenate([np.where(t.left >= 0, t.left + o, -1) for t, o in zip(trees, self.roots,
                                                                                           strict=True)])
        self.right = np.concatenate([np.where(t.right >= 0, t.right + o, -1) for t, o in zip(trees, self.roots,
                                                                                              strict=True)])
        self.feature = np.concatenate([np.maximum(t.feature, 0) for t in trees]).astype(np.intp)
        self.threshold = np.concatenate([t.threshold for t in trees])
        self.missing_left = np.concatenate([t.missing_left for t in trees]).astype(bool)
        self.float32 = float32  # scikit-learn's classic trees compare float32 features
        self.n_trees = len(trees)

    def fits(self, n_rows: int) -> bool:
        return n_rows * self.n_trees <= self.MAX_CELLS

    def leaves(self, A: np.ndarray) -> np.ndarray:
        """(rows, trees) flat ids of the leaf each row reaches in each tree."""
        X = np.asarray(A, dtype=np.float32 if self.float32 else np.float64)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), self.n_trees)).copy()
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                return node
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
