"""Bagged tree ensembles grown in chunks (warm start) so a fit can stop at its deadline."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import optuna
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from automl.engine.candidates.base import Candidate, Params, TaskContext, grow_in_chunks, register
from automl.engine.fastpath import FastPredict, FlatTrees, TreeNodes

_FIRST_CHUNK = 10  # trees fitted before the deadline is consulted (they time one tree)
_CHUNK = 50
ROWS_PER_LEAF_STEP = 10_000  # min_samples_leaf grows by one per this many rows a tree sees
MAX_TREE_ROWS = 50_000  # beyond this, each tree is grown on a bootstrap sample of this many rows


def tree_rows(n_rows: int) -> int:
    return min(n_rows, MAX_TREE_ROWS)


def leaf_floor(n_rows: int) -> int:
    """Smallest min_samples_leaf for `n_rows`: fully grown trees on big data cost memory without gain.

    A tree has about 2·n/min_samples_leaf nodes of ~80 bytes; with 1 per leaf, 300 trees on 400k rows
    would need ~19 GB (measured at 1M rows: +2.2 GB for 50 trees per fold). With each tree grown on at
    most MAX_TREE_ROWS rows and this floor, a tree stays under ~10k leaves.
    """
    return max(1, tree_rows(n_rows) // ROWS_PER_LEAF_STEP)


class _Forest(Candidate):
    style = "tree"
    rounds_param = "n_estimators"
    classes: tuple[type[Any], type[Any]]
    min_leaf: ClassVar[int]  # the default's smallest leaf, raised by leaf_floor on big data

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"n_estimators": 300, "max_features": "sqrt" if ctx.is_classification else 1.0,
                 "min_samples_leaf": max(self.min_leaf, leaf_floor(ctx.n_rows))}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "n_estimators": 300,
            "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
            "min_samples_leaf": trial.suggest_int(
                "min_samples_leaf", leaf_floor(ctx.n_rows), 20 * leaf_floor(ctx.n_rows), log=True
            ),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = self.classes[0] if ctx.is_classification else self.classes[1]
        extra: Params = {"class_weight": "balanced_subsample"} if ctx.is_classification and ctx.balanced else {}
        if ctx.n_rows > MAX_TREE_ROWS:  # single-threaded trees on 400k rows took 0.8 s each
            extra |= {"bootstrap": True, "max_samples": MAX_TREE_ROWS}
        # a portfolio configuration was chosen on smaller tables: the floor holds whatever it says
        leaf = max(int(params.get("min_samples_leaf", 1)), leaf_floor(ctx.n_rows))
        return cls(**{**params, "min_samples_leaf": leaf}, **extra, n_jobs=1, random_state=ctx.seed)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        """A few trees first to time one, then chunks sized to what is left before the deadline.

        A chunk cannot be interrupted: on big data one chunk of 50 trees took longer than the
        candidate's whole allowance (1M rows: 121 s against ~50 s).
        """
        return grow_in_chunks(est, X, y, param="n_estimators", grown=self.fitted_rounds, deadline=deadline,
                              first=_FIRST_CHUNK, chunk=_CHUNK)

    def fitted_rounds(self, est: Any) -> int | None:
        return len(est.estimators_)

    def compile(self, est: Any) -> FastPredict | None:
        """The mean of the trees' leaf values (class shares normalised per leaf, as the trees' own
        predict_proba), every tree walked at once; small batches only, forests under FlatTrees.MAX_NODES."""
        if not isinstance(est, self.classes) or est.n_outputs_ != 1:
            return None
        trees = [t.tree_ for t in est.estimators_]
        if sum(t.node_count for t in trees) > FlatTrees.MAX_NODES:
            return None
        flat = FlatTrees([TreeNodes(
            left=t.children_left, right=t.children_right, feature=t.feature, threshold=t.threshold,
            missing_left=getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8)),
        ) for t in trees], float32=True)
        values = np.concatenate([t.value[:, 0, :] for t in trees])
        classifier = is_classifier(est)
        if classifier:
            totals = values.sum(axis=1, keepdims=True)
            values = values / np.where(totals == 0, 1.0, totals)

        def predict(A: Any, threads: int) -> np.ndarray | None:
            if sp.issparse(A) or not flat.fits(A.shape[0]):
                return None
            out = values[flat.leaves(A)].mean(axis=1)
            return out if classifier else out[:, 0]

        return predict


@register
class RandomForest(_Forest):
    name = "random_forest"
    algorithm = "random_forest"
    cost = 1.5
    classes = (RandomForestClassifier, RandomForestRegressor)
    # fully grown, as in the tutorial: on data that repeats (panel rows split at random) memorising wins
    # (3-fold CV RMSE on DoctorContacts 3.685 against 3.749 with 3 rows a leaf)
    min_leaf = 1


@register
class ExtraTrees(_Forest):
    name = "extra_trees"
    algorithm = "extra_trees"
    cost = 0.8
    classes = (ExtraTreesClassifier, ExtraTreesRegressor)
    # fully grown extra trees fit the noise: with 3 rows a leaf, 3-fold CV of 100 trees went from 0.851
    # to 0.874 AUC on Ecdat/HI, 0.142 to 0.130 RMSE on BudgetFood and 3.854 to 3.675 on DoctorContacts;
    # 3 to 10 rows a leaf also beat 1 on five small tables (Salaries, Cowles, Housing, Bwages, Participation)
    min_leaf = 3
