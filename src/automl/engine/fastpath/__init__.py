"""The fitted pipelines compiled to plain array code, for fast serving of small and large batches.

A scikit-learn ColumnTransformer plus pandas cost about 4 ms per call whatever the row count, and
the sklearn LightGBM wrapper another 1.6 ms: a REST prediction of one row must cost well under a
millisecond. A FittedModel's members are compiled once, when an artifact is loaded:
- input coercion: `kinds.coerce_arrays`, the training rules on numpy arrays;
- transforms (`transforms.py`): each fitted ColumnTransformer step as array code or a lookup table
  read off the fitted encoder;
- final models (`members.py`): each candidate family compiles its own fitted models
  (`Candidate.compile` in engine/candidates/); `trees.py` is the flat tree walker the tree families share;
- verification (`verify.py`): the compiled form is used only after it reproduced the regular path.
The compiled form is derived state: never pickled, rebuilt and re-verified on every load.
"""

from automl.engine.fastpath.members import SMALL_BATCH, CompileModel, FastModel, FastPredict
from automl.engine.fastpath.transforms import Unsupported
from automl.engine.fastpath.trees import FlatTrees, TreeNodes
from automl.engine.fastpath.verify import compile_verified, probe_rows, synthetic_rows

__all__ = [
    "SMALL_BATCH", "CompileModel", "FastModel", "FastPredict", "FlatTrees", "TreeNodes", "Unsupported",
    "compile_verified", "probe_rows", "synthetic_rows",
]
