"""Crossed random-intercept mixed models: logit GLMM (Laplace, as lme4::glmer) and LMM (as lmer).

    >>> result = fit_glmm(readings, "correct_top1 ~ arm + (1|reader) + (1|case)")
    >>> result.fixed("arm").estimate

Pure numpy/scipy; no Django. Formulas use lme4 syntax (see analysis.formula).
"""

from analysis.glmm.fit import fit_glmm
from analysis.glmm.result import FixedEffect, GlmmResult, RandomEffect, likelihood_ratio_test

__all__ = ["FixedEffect", "GlmmResult", "RandomEffect", "fit_glmm", "likelihood_ratio_test"]
