"""compare --arms on an outcome that never varies: not estimable, said so (not "p < 0.001" for 0)."""

from __future__ import annotations

import pandas as pd

from analysis.multi_arm import compare_arms


def test_a_constant_outcome_has_no_mixed_model_and_says_why():
    # 6 readers x 8 cases x 3 arms, confidence 3 everywhere: the difference is exactly 0 with no spread,
    # which a Gaussian fit turned into se 0, p 0 and "estimable" before this check.
    rows = [{"reader": f"r{r}", "case": f"c{c}", "arm": arm, "confidence": 3.0}
            for r in range(6) for c in range(8) for arm in ("unaided", "top1", "top3")]
    result = compare_arms(pd.DataFrame(rows), outcome="confidence", arms=["unaided", "top1", "top3"])
    assert result.glmm is not None and result.glmm.contrasts == () and result.glmm.lrt is None
    assert result.glmm.error == "'confidence' has the same value in every reading: nothing to compare"
    assert [a.summary.mean for a in result.per_arm] == [3.0, 3.0, 3.0]
    assert result.to_dict()["multi_arm"]["glmm"]["error"] == result.glmm.error
