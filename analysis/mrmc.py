"""Multi-reader multi-case analysis: Obuchowski-Rockette-Hillis (ORH) and Dorfman-Berbaum-Metz (DBM).

References
- Obuchowski NA, Rockette HE. Commun Stat Simul Comput 1995;24:285-308.
- Hillis SL. Stat Med 2007;26:596-619 (ORH = DBM); Acad Radiol 2008;15:647-61 (denominator df);
  Hillis SL et al. Acad Radiol 2005;12:1534-41 (fixed-reader and fixed-case analyses).
- Dorfman DD, Berbaum KS, Metz CE. Invest Radiol 1992;27:723-31.
The difference is always treatment - control. Reproduces OR-DBM MRMC 2.51 and MRMCaov on the
Van Dyke (1993) data (tests/fixtures/vandyke).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.dbm import DbmResult, dbm
from analysis.fom import FomValues, RocCurve, ScoreArray, figure_of_merit, roc_curves, score_array
from analysis.orh import (
    DifferenceTest,
    ORVarianceComponents,
    SingleTreatment,
    or_variance_components,
    orh_frrc,
    orh_rrfc,
    orh_rrrc,
    single_treatment,
)

__all__ = [
    "DbmResult",
    "DifferenceTest",
    "FomAnalysis",
    "MrmcResult",
    "ORVarianceComponents",
    "SingleTreatment",
    "analyse_fom",
    "mrmc",
]


@dataclass(frozen=True)
class FomAnalysis:
    """ORH (and DBM) analysis of one figure of merit."""

    fom: str
    covariance: str
    treatments: tuple[str, str]
    readers: tuple[str, ...]
    values: np.ndarray  # (2, readers)
    rrrc: DifferenceTest
    frrc: DifferenceTest
    rrfc: DifferenceTest
    single_treatment: dict[str, dict[str, SingleTreatment]]
    variance_components: ORVarianceComponents
    dbm: DbmResult | None

    def mean(self, arm: str) -> float:
        return float(self.values[self.treatments.index(arm)].mean())

    def by_arm(self) -> dict:
        return {
            arm: {
                "mean": float(self.values[i].mean()),
                "per_reader": {r: float(v) for r, v in zip(self.readers, self.values[i], strict=True)},
            }
            for i, arm in enumerate(self.treatments)
        }

    def to_dict(self) -> dict:
        out = {
            "by_arm": self.by_arm(),
            "covariance": self.covariance,
            "rrrc": self.rrrc.to_dict(),
            "frrc": self.frrc.to_dict(),
            "rrfc": self.rrfc.to_dict(),
            "variance_components": self.variance_components.to_dict(),
            "single_treatment": {
                arm: {k: v.to_dict() for k, v in blocks.items()}
                for arm, blocks in self.single_treatment.items()
            },
        }
        if self.dbm is not None:
            out["dbm"] = self.dbm.to_dict()
        return out


@dataclass(frozen=True)
class MrmcResult:
    score: str
    truth: str
    control: str
    treatment: str
    n_readers: int
    n_cases: int
    n_positive: int
    n_negative: int
    auc: FomAnalysis
    sensitivity: FomAnalysis | None
    specificity: FomAnalysis | None
    threshold: float | None
    roc: tuple[RocCurve, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        out = {
            "score": self.score,
            "truth": self.truth,
            "control": self.control,
            "treatment": self.treatment,
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "covariance": self.auc.covariance,
            "auc": self.auc.by_arm(),
            "rrrc": self.auc.rrrc.to_dict(),
            "frrc": self.auc.frrc.to_dict(),
            "rrfc": self.auc.rrfc.to_dict(),
            "variance_components": self.auc.variance_components.to_dict(),
            "single_treatment": self.auc.to_dict()["single_treatment"],
            "dbm": self.auc.dbm.to_dict() if self.auc.dbm else None,
            "threshold": self.threshold,
            "roc": [curve.to_dict() for curve in self.roc],
            "warnings": list(self.warnings),
        }
        for name in ("sensitivity", "specificity"):
            analysis = getattr(self, name)
            out[name] = analysis.to_dict() if analysis is not None else None
        return out


# --- entry point -------------------------------------------------------------------------------


def mrmc(
    data: pd.DataFrame,
    *,
    score: str,
    truth: str,
    control: str,
    treatment: str,
    covariance: str = "jackknife",
    threshold: float | None = None,
) -> MrmcResult:
    """ORH/DBM analysis of the empirical AUC (and sensitivity/specificity at `threshold`).

    `data` has columns reader, case, arm (text) and numeric `score` and `truth` (0/1); use
    `analysis.readings.prepare` to get there from a readings table.
    """
    scores = score_array(data, score, truth, (control, treatment))

    def analyse(name: str) -> FomAnalysis:
        return analyse_fom(figure_of_merit(scores, name, threshold), scores, covariance)

    auc = analyse("auc")
    return MrmcResult(
        score=score,
        truth=truth,
        control=control,
        treatment=treatment,
        n_readers=len(scores.readers),
        n_cases=len(scores.cases),
        n_positive=scores.n_positive,
        n_negative=scores.n_negative,
        auc=auc,
        sensitivity=analyse("sensitivity") if threshold is not None else None,
        specificity=analyse("specificity") if threshold is not None else None,
        threshold=threshold,
        roc=roc_curves(scores, figure_of_merit(scores, "auc")),
        warnings=scores.warnings,
    )


def analyse_fom(fom: FomValues, scores: ScoreArray, covariance: str) -> FomAnalysis:
    theta = fom.values
    cov = fom.covariance(covariance)
    components = or_variance_components(theta, cov)
    return FomAnalysis(
        fom=fom.name,
        covariance=covariance,
        treatments=scores.treatments,
        readers=scores.readers,
        values=theta,
        rrrc=orh_rrrc(theta, components),
        frrc=orh_frrc(theta, components),
        rrfc=orh_rrfc(theta, components),
        single_treatment=single_treatment(theta, cov, scores.treatments),
        variance_components=components,
        dbm=dbm(fom) if covariance == "jackknife" else None,
    )


# --- split-plot ORH ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlotResult:
    """Split-plot ORH of each figure of merit (Obuchowski, Gallas & Hillis 2012)."""

    control: str
    treatment: str
    design: dict
    foms: dict[str, dict]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"method": "splitplot", "control": self.control, "treatment": self.treatment,
                "design": self.design, **self.foms, "warnings": list(self.warnings)}


def split_plot_mrmc(
    data: pd.DataFrame,
    *,
    score: str,
    truth: str,
    control: str,
    treatment: str,
    design,
    covariance: str = "jackknife",
    threshold: float | None = None,
) -> SplitPlotResult:
    """ORH for a split-plot design: each block's FOMs and covariances, pooled by `orh_split_plot`."""
    from analysis.orh import orh_split_plot

    names = ("auc",) + (("sensitivity", "specificity") if threshold is not None else ())
    per_block = []
    warnings: list[str] = []
    for readers, cases in design.groups:
        block = data[data["reader"].isin(readers) & data["case"].isin(cases)]
        try:
            scores = score_array(block, score, truth, (control, treatment))
        except Exception as exc:
            raise type(exc)(f"block of readers {', '.join(readers)}: {exc}") from exc
        warnings += scores.warnings
        per_block.append(scores)
    foms = {}
    for name in names:
        values = [figure_of_merit(s, name, threshold) for s in per_block]
        thetas = [v.values for v in values]
        test, detail = orh_split_plot(thetas, [v.covariance(covariance) for v in values])
        means = {arm: float(np.concatenate([t[i] for t in thetas]).mean()) for i, arm in enumerate((control, treatment))}
        foms[name] = {"by_arm": means, "rrrc": test.to_dict(), **detail}
    return SplitPlotResult(control, treatment, design.to_dict(), foms, tuple(warnings))
