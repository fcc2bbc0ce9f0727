"""Linear algebra for crossed random intercepts without ever forming Z.

Two engines with one interface (``Factor(structure, theta, w)``: ``logdet``, ``solve``,
``inverse_gathers``): the dense one below, and the sparse block elimination in
``analysis.glmm.sparse``, chosen by structure (see ``ReStructure.engine``).

With intercept-only terms each observation hits exactly one level per term, so
``A = Lambda Z' W Z Lambda + I`` has diagonal blocks on its block diagonal. We eliminate the term
with the most levels through its diagonal block (cheap) and factor the dense Schur complement of
the remaining terms with LAPACK. For two crossed factors this is a dense Cholesky of the smaller
factor's size, which beats a general sparse Cholesky because crossed designs fill in anyway.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf

from analysis.glmm.sparse import BlockFactor, BlockPlan, cholesky_inverse

# Largest dense Schur complement we allow (levels outside the largest term); 8000^2 doubles is 0.5 GB.
MAX_DENSE_LEVELS = 8000
MAX_CROSS_ENTRIES = 60_000_000  # the dense lead x rest block: 480 MB


class ReStructure:
    """Level codes of the random terms plus index arrays reused by every factorisation."""

    def __init__(
        self, codes: tuple[np.ndarray, ...], n_levels: tuple[int, ...], engine: str = "auto"
    ) -> None:
        if engine not in ("auto", "dense", "sparse"):
            raise ValueError(f"engine must be 'auto', 'dense' or 'sparse', not {engine!r}")
        self.codes = codes
        self.n_levels = n_levels
        self.n_terms = len(codes)
        self.offsets = np.concatenate([[0], np.cumsum(n_levels)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        self.lead = int(np.argmax(n_levels)) if n_levels else -1
        self.rest = [k for k in range(self.n_terms) if k != self.lead]
        sizes = [n_levels[k] for k in self.rest]
        self.rest_offsets = dict(zip(self.rest, np.concatenate([[0], np.cumsum(sizes)])[:-1], strict=True))
        self.q_rest = int(sum(sizes))
        lead_levels = n_levels[self.lead] if n_levels else 0
        dense_fits = self.q_rest <= MAX_DENSE_LEVELS and lead_levels * self.q_rest <= MAX_CROSS_ENTRIES
        self.plan = None
        if engine != "dense" and self.n_terms:
            try:
                self.plan = BlockPlan(codes, n_levels, self.offsets)
            except ValueError:
                if engine == "sparse" or not dense_fits:
                    raise
            # the block engine wins when nesting shrinks the dense part, or when the dense one cannot run
            if self.plan is not None and (
                engine == "sparse" or not dense_fits or self.plan.q_r < self.q_rest
            ):
                self.engine = "sparse"
                return
        self.engine = "dense"
        if not dense_fits:
            raise ValueError(
                f"random terms other than the largest have {self.q_rest} levels in total "
                f"(the largest has {lead_levels}); the dense engine supports up to {MAX_DENSE_LEVELS} "
                f"and {MAX_CROSS_ENTRIES:,} cross entries"
            )
        # positions of each observation inside the Schur block, per remaining term, and flat
        # indices into the dense lead x rest cross block and the rest x rest block
        self.rest_pos = {k: self.rest_offsets[k] + codes[k] for k in self.rest}
        if self.n_terms:
            self.cross_flat = {k: codes[self.lead] * self.q_rest + self.rest_pos[k] for k in self.rest}
        self.pair_flat = {
            (k, m): self.rest_pos[k] * self.q_rest + self.rest_pos[m]
            for i, k in enumerate(self.rest)
            for m in self.rest[i + 1 :]
        }
        if self.n_terms:
            self.lead_index = self.offsets[self.lead] + np.arange(n_levels[self.lead])
            rest_blocks = [self.offsets[k] + np.arange(n_levels[k]) for k in self.rest]
            self.rest_index = np.concatenate(rest_blocks) if rest_blocks else np.empty(0, np.intp)

    def gather(self, vector: np.ndarray, term: int) -> np.ndarray:
        """Value of each observation's level of ``term`` in a length-q vector."""
        return vector[self.offsets[term] + self.codes[term]]

    def z_lambda(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Z Lambda u, an n-vector."""
        out = np.zeros(len(self.codes[0])) if self.codes else np.zeros(0)
        for k in range(self.n_terms):
            out += theta[k] * self.gather(u, k)
        return out

    def z_lambda_t(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Lambda Z' v for an n-vector v, a q-vector."""
        parts = [theta[k] * np.bincount(self.codes[k], v, self.n_levels[k]) for k in range(self.n_terms)]
        return np.concatenate(parts) if parts else np.zeros(0)


def Factor(s: ReStructure, theta: np.ndarray, w: np.ndarray) -> DenseFactor | BlockFactor:  # noqa: N802
    """Factor A = Lambda Z' W Z Lambda + I with the engine the structure chose."""
    if s.engine == "general":  # random slopes: analysis.glmm.slopes.SlopeStructure
        return s.factor(theta, w)
    if s.engine == "sparse":
        return BlockFactor(s.plan, theta, w)
    return DenseFactor(s, theta, w)


class DenseFactor:
    """Cholesky-type factorisation of A = Lambda Z' W Z Lambda + I for one (theta, w).

    Blocks: D (diagonal, lead term), C (lead x rest), S = A22 - C' D^-1 C = L L'. We keep
    cs = D^-1/2 C rather than C, which saves a pass over the largest array.
    """

    def __init__(self, s: ReStructure, theta: np.ndarray, w: np.ndarray) -> None:
        self.s = s
        self.theta = theta
        lead = s.lead
        self.d1 = 1.0 + theta[lead] ** 2 * np.bincount(s.codes[lead], w, s.n_levels[lead])
        self.sd = np.sqrt(self.d1)
        qr = s.q_rest
        if qr == 0:
            self.cs = np.zeros((s.n_levels[lead], 0))
            self.chol = None
            return
        q1 = s.n_levels[lead]
        w_scaled = w / self.sd[s.codes[lead]]
        cs = np.zeros(q1 * qr)
        for k in s.rest:
            cs += np.bincount(s.cross_flat[k], w_scaled * (theta[lead] * theta[k]), q1 * qr)
        self.cs = cs.reshape(q1, qr)
        # S = A22 - cs' cs; only the lower triangle is formed and read
        schur = dsyrk(-1.0, self.cs, beta=1.0, c=self._rest_block(w), trans=1, lower=1, overwrite_c=1)
        factor, info = dpotrf(schur, lower=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not positive definite (dpotrf info {info})")
        self.chol = (factor, True)

    def _rest_block(self, w: np.ndarray) -> np.ndarray:
        """A22 = I + Lambda Z'WZ Lambda on the non-lead terms, Fortran order, lower triangle."""
        s, theta, qr = self.s, self.theta, self.s.q_rest
        diagonal = np.ones(qr)
        for k in s.rest:
            diagonal[s.rest_offsets[k] : s.rest_offsets[k] + s.n_levels[k]] += theta[k] ** 2 * np.bincount(
                s.codes[k], w, s.n_levels[k]
            )
        upper = np.zeros(qr * qr)  # C order: pairs (k < m) land in the upper triangle
        for (k, m), flat in s.pair_flat.items():
            upper += np.bincount(flat, w * (theta[k] * theta[m]), qr * qr)
        # the upper triangle in C order is the lower triangle in Fortran order
        block = upper.reshape(qr, qr, order="F")
        block[np.diag_indices(qr)] = diagonal
        return block

    def logdet(self) -> float:
        """log |A| (lme4's ldL2)."""
        value = float(np.sum(np.log(self.d1)))
        if self.chol is not None:
            value += 2.0 * float(np.sum(np.log(np.diag(self.chol[0]))))
        return value

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^{-1} b for b of shape (q,) or (q, m), by block elimination of the lead term."""
        s = self.s
        sd = self.sd if b.ndim == 1 else self.sd[:, None]
        b1 = b[s.lead_index] / sd
        out = np.empty_like(b, dtype=float)
        if self.chol is None:
            out[s.lead_index] = b1 / sd
            return out
        x2 = cho_solve(self.chol, b[s.rest_index] - self.cs.T @ b1, check_finite=False)
        out[s.rest_index] = x2
        out[s.lead_index] = (b1 - self.cs @ x2) / sd
        return out

    def inverse_gathers(self) -> list[np.ndarray]:
        """Per term k, g_k[i] = sum_l theta_l (A^{-1})[level_k(i), level_l(i)].

        These n-vectors give the leverages h = sum_k theta_k g_k and the traces the Laplace
        gradient needs, using only the entries of A^{-1} that observations touch.
        """
        s, theta, lead = self.s, self.theta, self.s.lead
        codes = s.codes[lead]
        if self.chol is None:
            return [theta[lead] / self.d1[codes]]
        s_inv = cholesky_inverse(self.chol[0])
        cs_s_inv = self.cs @ s_inv
        diag_lead = (1.0 + np.einsum("ij,ij->i", cs_s_inv, self.cs)) / self.d1
        qr, s_flat, inv_sd = s.q_rest, s_inv.ravel(), 1.0 / self.sd[codes]
        # the lead-rest block of A^{-1} is -D^-1/2 cs S^-1
        cross_at = {k: cs_s_inv.ravel()[s.cross_flat[k]] * inv_sd for k in s.rest}
        g = {lead: theta[lead] * diag_lead[codes] - sum(theta[k] * cross_at[k] for k in s.rest)}
        for k in s.rest:
            total = -theta[lead] * cross_at[k]
            for m_term in s.rest:
                total = total + theta[m_term] * s_flat[s.rest_pos[k] * qr + s.rest_pos[m_term]]
            g[k] = total
        return [g[k] for k in range(s.n_terms)]
