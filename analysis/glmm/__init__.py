"""Crossed random-intercept mixed models: logit GLMM (Laplace, as lme4::glmer) and LMM (as lmer).

    >>> result = fit_glmm(readings, "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm)")
    >>> result.fixed("arm").estimate, result.odds_ratio("arm")

How it works (pure numpy/scipy, no Django):
- ``analysis.formula`` parses lme4 syntax; ``design`` builds X with R's names and coding.
- ``binomial``: glmer's Laplace deviance (nAGQ = 1) over (theta, beta) with conditional modes
  from penalised IRLS, and its analytic gradient; ``fit`` minimises it (L-BFGS, then Newton)
  and takes standard errors from the Hessian over (theta, beta), as lme4's default vcov() does.
- ``gaussian``: lmer's profiled deviance (ML or REML) over theta.
- ``linalg`` / ``sparse``: Z is never formed. The sparse engine eliminates a term and the terms
  nested in it in small dense blocks (one per level) and factors the dense Schur complement of
  the rest; the dense engine eliminates only the largest term. Chosen by structure; same numbers.
- ``fit_glmm(..., profile=("arm",))`` adds profile-likelihood CIs; ``start=`` warm-starts from a
  previous fit; ``laplace_deviance_fit`` is the Hessian-free inner loop that power simulations use.

Agreement with lme4 1.1.31 (tests/fixtures/lme4): ~1e-5 relative on estimates, SEs, variances and
logLik when glmer's PIRLS runs to convergence. Plain glmer() stops PIRLS early (tolPwrss = 1e-7),
which shifts its Hessian SEs by up to ~1 %; this engine evaluates the Laplace approximation exactly.
"""

from analysis.glmm.fit import fit_glmm
from analysis.glmm.result import FixedEffect, GlmmResult, RandomEffect, likelihood_ratio_test

__all__ = ["FixedEffect", "GlmmResult", "RandomEffect", "fit_glmm", "likelihood_ratio_test"]
