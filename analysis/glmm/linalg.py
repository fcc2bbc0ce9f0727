"""Linear algebra for crossed random intercepts without ever forming Z.

With intercept-only terms each observation hits exactly one level per term, so
``A = Lambda Z' W Z Lambda + I`` has diagonal blocks on its block diagonal. We eliminate the term
with the most levels through its diagonal block (cheap) and factor the dense Schur complement of
the remaining terms with LAPACK. For two crossed factors this is a dense Cholesky of the smaller
factor's size, which beats a general sparse Cholesky because crossed designs fill in anyway.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

# Largest dense Schur complement we allow (levels outside the largest term); 8000^2 doubles is 0.5 GB.
MAX_DENSE_LEVELS = 8000


class ReStructure:
    """Level codes of the random terms plus index arrays reused by every factorisation."""

    def __init__(self, codes: tuple[np.ndarray, ...], n_levels: tuple[int, ...]) -> None:
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
        if self.q_rest > MAX_DENSE_LEVELS:
            raise ValueError(
                f"random terms other than the largest have {self.q_rest} levels in total; "
                f"the dense engine supports up to {MAX_DENSE_LEVELS}"
            )
        # positions of each observation inside the Schur block, per remaining term
        self.rest_pos = {k: self.rest_offsets[k] + codes[k] for k in self.rest}
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


class Factor:
    """Cholesky-type factorisation of A = Lambda Z' W Z Lambda + I for one (theta, w)."""

    def __init__(self, s: ReStructure, theta: np.ndarray, w: np.ndarray) -> None:
        self.s = s
        self.theta = theta
        lead = s.lead
        self.d1 = 1.0 + theta[lead] ** 2 * np.bincount(s.codes[lead], w, s.n_levels[lead])
        qr = s.q_rest
        if qr == 0:
            self.cross = np.zeros((s.n_levels[lead], 0))
            self.chol = None
            return
        q1 = s.n_levels[lead]
        cross = np.zeros(q1 * qr)
        for k in s.rest:
            flat = s.codes[lead] * qr + s.rest_pos[k]
            cross += np.bincount(flat, w * (theta[lead] * theta[k]), q1 * qr)
        self.cross = cross.reshape(q1, qr)
        schur = self._rest_block(w)
        scaled = self.cross / np.sqrt(self.d1)[:, None]
        schur -= scaled.T @ scaled
        self.chol = cho_factor(schur, lower=True, check_finite=False)

    def _rest_block(self, w: np.ndarray) -> np.ndarray:
        s, theta, qr = self.s, self.theta, self.s.q_rest
        block = np.zeros(qr * qr)
        for i, k in enumerate(s.rest):
            diagonal = s.rest_pos[k] * (qr + 1)
            block += np.bincount(diagonal, w * theta[k] ** 2, qr * qr)
            for m in s.rest[i + 1 :]:
                flat = s.rest_pos[k] * qr + s.rest_pos[m]
                block += np.bincount(flat, w * (theta[k] * theta[m]), qr * qr)
        block = block.reshape(qr, qr)
        block = block + np.triu(block, 1).T  # the loops above filled the upper triangle only
        block[np.diag_indices(qr)] += 1.0
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
        d1 = self.d1 if b.ndim == 1 else self.d1[:, None]
        b1 = b[s.lead_index]
        out = np.empty_like(b, dtype=float)
        if self.chol is None:
            out[s.lead_index] = b1 / d1
            return out
        b2 = b[s.rest_index]
        x2 = cho_solve(self.chol, b2 - self.cross.T @ (b1 / d1), check_finite=False)
        out[s.rest_index] = x2
        out[s.lead_index] = (b1 - self.cross @ x2) / d1
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
        qr = s.q_rest
        s_inv = cho_solve(self.chol, np.eye(qr), check_finite=False)
        m = (self.cross / self.d1[:, None]) @ s_inv  # A^{-1} lead-rest block is -m
        diag_lead = 1.0 / self.d1 + np.einsum("ij,ij->i", m, self.cross / self.d1[:, None])
        m_flat, s_flat = m.ravel(), s_inv.ravel()
        cross_at = {k: m_flat[codes * qr + s.rest_pos[k]] for k in s.rest}
        g = {lead: theta[lead] * diag_lead[codes] - sum(theta[k] * cross_at[k] for k in s.rest)}
        for k in s.rest:
            total = -theta[lead] * cross_at[k]
            for m_term in s.rest:
                total = total + theta[m_term] * s_flat[s.rest_pos[k] * qr + s.rest_pos[m_term]]
            g[k] = total
        return [g[k] for k in range(s.n_terms)]
