"""The plan of a (simulated) reader study: sizes, design, accuracies and variance components.

Kept free of heavy imports so the command line can build its options quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

DESIGNS = ("sequential", "crossover", "blocks", "parallel")


@dataclass(frozen=True)
class StudySpec:
    """A planned or simulated study. Variances are of the logit-scale random intercepts."""

    n_readers: int = 20
    n_cases: int = 60
    design: str = "sequential"
    control: str = "unaided"
    treatment: str = "ai"
    control_accuracy: float = 0.55
    treatment_accuracy: float = 0.68
    var_reader: float = 0.3
    var_case: float = 1.5
    var_reader_arm: float = 0.05
    var_case_arm: float = 0.1
    malignant_fraction: float = 0.3
    block_size: int = 10

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design '{self.design}' (use one of {', '.join(DESIGNS)})")
        for name in ("control_accuracy", "treatment_accuracy"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.n_readers < 2 or self.n_cases < 2:
            raise ValueError("need at least 2 readers and 2 cases")

    @property
    def total_variance(self) -> float:
        return self.var_reader + self.var_case + self.var_reader_arm + self.var_case_arm

    def intercepts(self) -> tuple[float, float]:
        """Conditional logits (control, treatment) that give the requested marginal accuracies."""
        from analysis.mixed import logit_for_marginal

        v = self.total_variance
        return (logit_for_marginal(self.control_accuracy, v), logit_for_marginal(self.treatment_accuracy, v))
