"""From a data frame and a parsed formula to the arrays a mixed model needs.

Fixed-effect columns are named and coded as R's ``model.matrix`` does (treatment contrasts with
the first sorted level as reference, ``column`` + level names, ``a:b`` interactions with the first
factor varying fastest) so results read the same as lme4 output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.formula import ParsedFormula


@dataclass(frozen=True)
class Design:
    y: np.ndarray
    X: np.ndarray
    column_names: tuple[str, ...]
    groups: tuple[str, ...]  # random-term names as written in the formula
    codes: tuple[np.ndarray, ...]  # level index (0..q_k-1) of each observation, per term
    n_levels: tuple[int, ...]
    n_dropped: int  # rows removed for missing values
    dropped_columns: tuple[str, ...]  # rank-deficient fixed-effect columns removed
    # per random term: names and n x p_k values of its model-matrix columns ("(Intercept)", "arm");
    # empty for intercept-only designs built by hand
    re_names: tuple[tuple[str, ...], ...] = ()
    re_values: tuple[np.ndarray, ...] = ()

    @property
    def has_slopes(self) -> bool:
        return any(len(names) > 1 or names != ("(Intercept)",) for names in self.re_names)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _levels(series: pd.Series) -> list:
    """Levels present in the data: categorical order if categorical, else sorted (R's factor())."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.unique())
        return [level for level in series.cat.categories if level in present]
    return sorted(series.unique())


def _level_label(level: object) -> str:
    if isinstance(level, bool | np.bool_):
        return "TRUE" if level else "FALSE"  # R names logical dummies colTRUE
    return str(level)


def _variable_columns(frame: pd.DataFrame, variable: str, contrasts: bool) -> list[tuple[str, np.ndarray]]:
    series = frame[variable]
    if _is_numeric(series):
        return [(variable, series.to_numpy(dtype=float))]
    levels = _levels(series)
    if contrasts:
        levels = levels[1:]  # treatment coding: the first level is the reference
    return [(variable + _level_label(lv), (series == lv).to_numpy(dtype=float)) for lv in levels]


def _term_columns(
    frame: pd.DataFrame, term: tuple[str, ...], parsed: ParsedFormula
) -> list[tuple[str, np.ndarray]]:
    """Columns of one term; a factor gets contrasts only when its margin is already in the model.

    This is R's rule: in ``y ~ 0 + g`` or ``y ~ a + a:g`` the factor g is coded by full dummies.
    """
    present = {frozenset(t) for t in parsed.fixed_terms}
    columns: list[tuple[str, np.ndarray]] = [("", np.ones(len(frame)))]
    for variable in term:
        margin = frozenset(term) - {variable}
        contrasts = (margin in present) if margin else parsed.intercept
        expanded = []
        # R lets the first variable vary fastest: outer loop over the later variable's columns
        for name, values in _variable_columns(frame, variable, contrasts):
            for prefix, base in columns:
                expanded.append((f"{prefix}:{name}" if prefix else name, base * values))
        columns = expanded
    return columns


def _drop_rank_deficient(X: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Keep columns in order while each adds rank, as lme4 does (with a warning) for aliased terms."""
    if np.linalg.matrix_rank(X) == X.shape[1]:
        return X, names, []
    keep: list[int] = []
    for j in range(X.shape[1]):
        trial = keep + [j]
        if np.linalg.matrix_rank(X[:, trial]) == len(trial):
            keep.append(j)
    dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
    return X[:, keep], [names[j] for j in keep], dropped


def _check_columns(data: pd.DataFrame, parsed: ParsedFormula) -> None:
    missing = [v for v in parsed.variables if v not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in the data: {', '.join(repr(m) for m in missing)}")


def _outcome(frame: pd.DataFrame, column: str, family: str) -> np.ndarray:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(int)
    if not _is_numeric(series):
        raise ValueError(f"outcome column {column!r} must be numeric, found dtype {series.dtype}")
    y = series.to_numpy(dtype=float)
    if family == "binomial" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"outcome column {column!r} must be 0/1 for the binomial family")
    if family == "binomial" and np.unique(y).size < 2:
        raise ValueError(f"outcome column {column!r} is constant: nothing to model")
    return y


def _group_codes(frame: pd.DataFrame, factors: tuple[str, ...]) -> tuple[np.ndarray, int]:
    codes = frame.groupby(list(factors), sort=True, observed=True).ngroup().to_numpy()
    return codes.astype(np.intp), int(codes.max()) + 1


def _random_columns(frame: pd.DataFrame, term) -> tuple[tuple[str, ...], np.ndarray]:
    """Columns of the left side of ``(1 + x|g)`` as model.matrix(~ 1 + x) codes them."""
    named = [("(Intercept)", np.ones(len(frame)))] if term.intercept else []
    for variable in term.slopes:
        named.extend(_variable_columns(frame, variable, contrasts=bool(named)))
    return tuple(name for name, _ in named), np.column_stack([values for _, values in named])


def build_design(data: pd.DataFrame, parsed: ParsedFormula, family: str) -> Design:
    """Rows with a missing value in any used column are dropped, as R's na.omit does."""
    _check_columns(data, parsed)
    frame = data[list(parsed.variables)].dropna()
    if frame.empty:
        raise ValueError("no complete rows for the columns in the formula")
    y = _outcome(frame, parsed.response, family)
    named: list[tuple[str, np.ndarray]] = [("(Intercept)", np.ones(len(frame)))] if parsed.intercept else []
    for term in parsed.fixed_terms:
        named.extend(_term_columns(frame, term, parsed))
    names = [name for name, _ in named]
    X = np.column_stack([values for _, values in named]) if named else np.empty((len(frame), 0))
    X, names, dropped = _drop_rank_deficient(X, names)
    codes, n_levels = (
        zip(*(_group_codes(frame, t.factors) for t in parsed.random_terms), strict=True)
        if parsed.random_terms
        else ((), ())
    )
    columns = [_random_columns(frame, t) for t in parsed.random_terms]
    return Design(
        y=y,
        X=X,
        column_names=tuple(names),
        groups=tuple(t.group for t in parsed.random_terms),
        codes=tuple(codes),
        n_levels=tuple(n_levels),
        n_dropped=len(data) - len(frame),
        dropped_columns=tuple(dropped),
        re_names=tuple(names for names, _ in columns),
        re_values=tuple(values for _, values in columns),
    )
