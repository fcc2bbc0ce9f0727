"""Sparse block elimination for crossed random intercepts (the engine behind ``linalg.Factor``).

A = Lambda Z' W Z Lambda + I is split by structure, not by size:

- E ("eliminated"): a *root* term and every term nested in it (each of their levels belongs to
  exactly one root level; e.g. ``case`` with ``case:arm``). Ordered by root level, A_EE is block
  diagonal with one small dense block per root level (size b = 1 + nested levels per root level),
  factored in one batched call.
- R ("rest"): the other terms (e.g. ``reader`` and ``reader:arm``). Their Schur complement
  S = A_RR - C'C (C = L_E^-1 A_ER) is dense and factored with LAPACK.

A_ER is stored block-row-wise: the rows of root level c share the columns R_c of the R levels
that appear with it, so C_c = L_c^-1 A_ER[c] keeps the pattern and S, the solves and the selected
inverse touch only sum_c |R_c|^2 entries. The pattern (every index array) is computed once per
model; each (theta, W) only refills the numbers, in place. The root is chosen to minimise the
dense part: for ``(1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)`` on 1,000 readers x
5,000 cases the dense block is 3,000 wide instead of 8,000 (the previous one-term elimination).

This is what CHOLMOD's supernodal factor does on this structure (the E blocks are its
supernodes; crossed designs fill the R block in anyway), with the one part lme4 does not need -
the selected inverse for the analytic gradient - computed from the same blocks.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg.lapack import dpotrf, dtrtri

MAX_DENSE_LEVELS = 12_000  # width of the dense Schur block (12,000^2 doubles = 1.1 GB)
DENSE_C_ENTRIES = 25_000_000  # largest dense E x R block (200 MB)
DENSE_C_RATIO = 100.0  # BLAS flops per scattered entry at which the dense C pays (measured here)
BATCH_ENTRIES = 4_000_000  # entries of the per-block products processed at once (memory bound)


def cholesky_inverse(lower: np.ndarray) -> np.ndarray:
    """(L L')^-1 from the lower Cholesky factor, as L^-T L^-1.

    Not LAPACK's dpotri: OpenBLAS's dpotri/dlauum took ~100 ms of CPU for a 90 x 90 matrix inside
    fits here (1 ms standalone), dtrtri plus one matrix product takes ~0.3 ms.
    """
    inverse, info = dtrtri(lower, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"triangular factor is singular (dtrtri info {info})")
    inverse = np.tril(inverse)
    return inverse.T @ inverse


def nested_in(codes_s: np.ndarray, n_s: int, codes_t: np.ndarray, n_t: int) -> bool:
    """Every level of term s occurs with exactly one level of term t."""
    pairs = np.unique(codes_s.astype(np.int64) * n_t + codes_t)
    return len(pairs) == n_s


class BlockPlan:
    """Index arrays of the E/R split for one set of level codes (independent of theta and W)."""

    def __init__(self, codes: tuple[np.ndarray, ...], n_levels: tuple[int, ...], offsets: np.ndarray) -> None:
        self.codes, self.n_levels, self.offsets = codes, n_levels, offsets
        n_terms = len(codes)
        self.n = len(codes[0])
        self.root, self.e_terms = self._choose_root()
        self.r_terms = [k for k in range(n_terms) if k not in self.e_terms]
        root_codes = codes[self.root]
        self.nb = n_levels[self.root]
        self.obs_block = root_codes
        # slots inside each block: 0 for the root level, then nested levels in order of term, level
        self.e_slot_of_level: dict[int, np.ndarray] = {self.root: np.zeros(self.nb, np.intp)}
        fill = np.ones(self.nb, np.intp)
        for k in self.e_terms[1:]:
            block_of_level = np.empty(n_levels[k], np.intp)
            block_of_level[codes[k]] = root_codes
            slots = np.empty(n_levels[k], np.intp)
            order = np.argsort(block_of_level, kind="stable")
            blocks_sorted = block_of_level[order]
            starts = np.searchsorted(blocks_sorted, np.arange(self.nb))
            rank = np.arange(n_levels[k]) - starts[blocks_sorted]
            slots[order] = fill[blocks_sorted] + rank
            fill += np.bincount(block_of_level, minlength=self.nb)
            self.e_slot_of_level[k] = slots
        self.b = int(fill.max())
        self.q_e = self.nb * self.b  # padded: unused slots are identity rows
        # position of every q-index in the padded E layout or in the R layout
        self.e_pos = {k: self._level_block(k) * self.b + self.e_slot_of_level[k] for k in self.e_terms}
        r_sizes = [n_levels[k] for k in self.r_terms]
        r_starts = np.concatenate([[0], np.cumsum(r_sizes)]).astype(np.intp)
        self.q_r = int(r_starts[-1])
        if self.q_r > MAX_DENSE_LEVELS:
            raise ValueError(
                f"the random terms outside the largest nested group have {self.q_r} levels in total; "
                f"the sparse engine keeps them in a dense block of at most {MAX_DENSE_LEVELS}"
            )
        self.r_pos = {k: r_starts[i] + np.arange(n_levels[k]) for i, k in enumerate(self.r_terms)}
        self.obs_slot = {k: self.e_slot_of_level[k][codes[k]] for k in self.e_terms}
        self.obs_r = {k: self.r_pos[k][codes[k]] for k in self.r_terms}
        b = self.b
        self.ee_flat = {
            (k, m): self.obs_block * (b * b) + self.obs_slot[k] * b + self.obs_slot[m]
            for k in self.e_terms
            for m in self.e_terms
        }
        self._er_pattern()
        # scatter maps between the q layout (term offsets) and the E/R layouts
        self.q = int(offsets[-1])
        self.q_to_e = np.concatenate([offsets[k] + np.arange(n_levels[k]) for k in self.e_terms])
        self.e_of_q = np.concatenate([self.e_pos[k] for k in self.e_terms])
        if self.r_terms:
            self.q_to_r = np.concatenate([offsets[k] + np.arange(n_levels[k]) for k in self.r_terms])
            self.r_of_q = np.concatenate([self.r_pos[k] for k in self.r_terms])

    def _level_block(self, k: int) -> np.ndarray:
        block = np.empty(self.n_levels[k], np.intp)
        block[self.codes[k]] = self.obs_block
        return block

    def _choose_root(self) -> tuple[int, list[int]]:
        """The root whose nested group leaves the smallest dense block (ties: more levels in E)."""
        codes, n_levels = self.codes, self.n_levels
        best = None
        for t in range(len(codes)):
            group = [t] + [
                s
                for s in range(len(codes))
                if s != t and nested_in(codes[s], n_levels[s], codes[t], n_levels[t])
            ]
            q_rest = sum(n_levels[s] for s in range(len(codes)) if s not in group)
            key = (q_rest, -n_levels[t])
            if best is None or key < best[0]:
                best = (key, t, group)
        return best[1], best[2]

    def _er_pattern(self) -> None:
        """Columns R_c per block and the data index of each observation's (E term, R term) entry."""
        nb, b, q_r = self.nb, self.b, self.q_r
        if not self.r_terms:
            self.m = np.zeros(nb, np.intp)
            self.cols = np.empty(0, np.intp)
            self.col_start = np.zeros(nb + 1, np.intp)
            self.er_entry = {}
            self.nnz = 0
            return
        keys = np.concatenate([self.obs_block.astype(np.int64) * q_r + self.obs_r[m] for m in self.r_terms])
        unique, inverse = np.unique(keys, return_inverse=True)
        block_of = unique // q_r
        self.cols = (unique % q_r).astype(np.intp)
        self.m = np.bincount(block_of, minlength=nb).astype(np.intp)
        self.col_start = np.concatenate([[0], np.cumsum(self.m)]).astype(np.intp)
        j = np.arange(len(unique)) - self.col_start[block_of]
        j_obs = {m: j[inverse[i * self.n : (i + 1) * self.n]] for i, m in enumerate(self.r_terms)}
        base = b * self.col_start[self.obs_block]
        m_obs = self.m[self.obs_block]
        self.er_entry = {
            (k, m): base + self.obs_slot[k] * m_obs + j_obs[m] for k in self.e_terms for m in self.r_terms
        }
        self.nnz = int(b * self.col_start[-1])
        # dense C (BLAS on a q_e x q_r array) beats the per-block products when the blocks see
        # most of R (fully crossed designs); the per-block form when each sees a few (platforms)
        block_products = float(b * np.sum(self.m.astype(float) ** 2))
        self.dense_c = (
            self.q_e * q_r <= DENSE_C_ENTRIES and self.q_e * float(q_r) ** 2 < DENSE_C_RATIO * block_products
        )
        if self.dense_c:
            self.er_dense = {
                (k, m): (self.obs_block * b + self.obs_slot[k]) * q_r + self.obs_r[m]
                for k in self.e_terms
                for m in self.r_terms
            }
        # CSR of the padded (q_e x q_r) block: row (c, s) holds the columns R_c
        row_lengths = np.repeat(self.m, b)
        self.indptr = np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64)
        self.indices = self._tiled_indices()
        # per-entry block, slot and column position (for the batched C = L^-1 A_ER)
        self.entry_block = np.repeat(np.arange(nb), b * self.m)
        within = np.arange(self.nnz) - b * self.col_start[self.entry_block]
        m_entry = self.m[self.entry_block]
        self.entry_slot = within // np.maximum(m_entry, 1)
        self.entry_j = within % np.maximum(m_entry, 1)
        self.entry_base = b * self.col_start[self.entry_block]
        self.batches = self._batches()

    def _tiled_indices(self) -> np.ndarray:
        b = self.b
        block = np.repeat(np.arange(self.nb), b * self.m)
        within = np.arange(int(b * self.col_start[-1])) - b * self.col_start[block]
        j = within % np.maximum(self.m[block], 1)
        return self.cols[self.col_start[block] + j]

    def _batches(self) -> list[tuple[np.ndarray, int]]:
        """Blocks grouped by |R_c|, in chunks of at most BATCH_ENTRIES products."""
        out = []
        for size in np.unique(self.m):
            if size == 0:
                continue
            blocks = np.flatnonzero(self.m == size)
            per = max(1, BATCH_ENTRIES // int(size * size))
            for start in range(0, len(blocks), per):
                out.append((blocks[start : start + per], int(size)))
        return out


class BlockFactor:
    """Factor of A for one (theta, w) on a BlockPlan; same interface as the dense engine."""

    def __init__(self, plan: BlockPlan, theta: np.ndarray, w: np.ndarray) -> None:
        self.p = p = plan
        self.theta = theta
        nb, b = p.nb, p.b
        blocks = np.zeros(nb * b * b)
        for (k, m), flat in p.ee_flat.items():
            blocks += np.bincount(flat, w * (theta[k] * theta[m]), nb * b * b)
        blocks = blocks.reshape(nb, b, b)
        blocks[:, np.arange(b), np.arange(b)] += 1.0
        self.lower = np.linalg.cholesky(blocks)
        self.linv = np.linalg.inv(self.lower)  # batched; b is small
        self.logdet_e = 2.0 * float(np.sum(np.log(self.lower[:, np.arange(b), np.arange(b)])))
        if not p.r_terms:
            self.chol = None
            return
        if p.dense_c:
            self._dense_schur(w)
            return
        er = np.zeros(p.nnz)
        for (k, m), entry in p.er_entry.items():
            er += np.bincount(entry, w * (theta[k] * theta[m]), p.nnz)
        # C = L^-1 A_ER, block by block on the shared pattern
        c = np.zeros(p.nnz)
        for t in range(b):
            c += (
                self.linv[p.entry_block, p.entry_slot, t]
                * er[p.entry_base + t * p.m[p.entry_block] + p.entry_j]
            )
        self.c = c
        schur = self._rest_block(w)
        for blocks_, size in p.batches:
            cc = self._block_values(c, blocks_, size)  # (g, b, m)
            cols = self._block_cols(blocks_, size)  # (g, m)
            prod = np.einsum("gsi,gsj->gij", cc, cc)  # numpy's matmul is slower for inner size b
            if size >= 64:  # large blocks: scatter one at a time (contiguous runs of S)
                for i in range(len(blocks_)):
                    schur[np.ix_(cols[i], cols[i])] -= prod[i]
                continue
            flat = cols[:, :, None] * p.q_r + cols[:, None, :]
            schur -= np.bincount(flat.ravel(), prod.ravel(), p.q_r * p.q_r).reshape(p.q_r, p.q_r)
        self._factor_schur(schur)

    def _factor_schur(self, schur: np.ndarray) -> None:
        factor, info = dpotrf(schur, lower=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not positive definite (dpotrf info {info})")
        self.chol = (factor, True)

    def _dense_schur(self, w: np.ndarray) -> None:
        p, theta = self.p, self.theta
        size = p.q_e * p.q_r
        er = np.zeros(size)
        for (k, m), flat in p.er_dense.items():
            er += np.bincount(flat, w * (theta[k] * theta[m]), size)
        self.c = np.einsum("cst,ctj->csj", self.linv, er.reshape(p.nb, p.b, p.q_r)).reshape(p.q_e, p.q_r)
        # numpy's product, not scipy's dsyrk: OpenBLAS level-3 calls through scipy's copy cost
        # 10x more CPU than their flops inside fits here (see cholesky_inverse)
        schur = self._rest_block(w) - self.c.T @ self.c
        self._factor_schur(schur)

    def _block_values(self, values: np.ndarray, blocks: np.ndarray, size: int) -> np.ndarray:
        p = self.p
        base = (p.b * p.col_start[blocks])[:, None, None]
        index = base + np.arange(p.b)[None, :, None] * size + np.arange(size)[None, None, :]
        return values[index]

    def _block_cols(self, blocks: np.ndarray, size: int) -> np.ndarray:
        p = self.p
        return p.cols[p.col_start[blocks][:, None] + np.arange(size)[None, :]]

    def _rest_block(self, w: np.ndarray) -> np.ndarray:
        p, theta, q_r = self.p, self.theta, self.p.q_r
        block = np.zeros(q_r * q_r)
        for k in p.r_terms:
            for m in p.r_terms:
                block += np.bincount(p.obs_r[k] * q_r + p.obs_r[m], w * (theta[k] * theta[m]), q_r * q_r)
        block = block.reshape(q_r, q_r)
        block[np.diag_indices(q_r)] += 1.0
        return block

    def _csr(self, data: np.ndarray):
        from scipy.sparse import csr_matrix

        p = self.p
        return csr_matrix((data, p.indices, p.indptr), shape=(p.q_e, p.q_r))

    def logdet(self) -> float:
        value = self.logdet_e
        if self.chol is not None:
            value += 2.0 * float(np.sum(np.log(np.diag(self.chol[0]))))
        return value

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        p = self.p
        vector = rhs.ndim == 1
        r = rhs[:, None] if vector else rhs
        width = r.shape[1]
        b_e = np.zeros((p.q_e, width))
        b_e[p.e_of_q] = r[p.q_to_e]
        y_e = np.einsum("cst,ctm->csm", self.linv, b_e.reshape(p.nb, p.b, width)).reshape(p.q_e, width)
        out = np.empty((p.q, width))
        if self.chol is not None:
            c = self.c if p.dense_c else self._csr(self.c)
            x_r = cho_solve(self.chol, r[p.q_to_r] - c.T @ y_e, check_finite=False)
            y_e = y_e - c @ x_r
            out[p.q_to_r] = x_r[p.r_of_q]
        x_e = np.einsum("cts,ctm->csm", self.linv, y_e.reshape(p.nb, p.b, width)).reshape(p.q_e, width)
        out[p.q_to_e] = x_e[p.e_of_q]
        return out[:, 0] if vector else out

    def inverse_gathers(self) -> list[np.ndarray]:
        """g_k[i] = sum_l theta_l (A^-1)[level_k(i), level_l(i)], from the selected inverse.

        A^-1_RR = S^-1; A^-1_ER = -K S^-1 with K = A_EE^-1 A_ER (row block c nonzero only on
        R_c, so only S^-1[R_c, R_c] is read); diagonal blocks of A^-1_EE = A_EE,c^-1 + (K S^-1 K')_c.
        """
        p, theta = self.p, self.theta
        a_inv = np.einsum("cts,ctu->csu", self.linv, self.linv)  # A_EE,c^-1 = L^-T L^-1
        g = {k: np.zeros(p.n) for k in range(len(p.codes))}
        if self.chol is not None:
            s_inv = cholesky_inverse(self.chol[0])
            q_r = p.q_r
            s_flat = s_inv.ravel()
            for k in p.r_terms:
                for m in p.r_terms:
                    g[k] += theta[m] * s_flat[p.obs_r[k] * q_r + p.obs_r[m]]
            if p.dense_c:
                kk = np.einsum("cts,ctj->csj", self.linv, self.c.reshape(p.nb, p.b, q_r))
                q_full = (kk.reshape(p.q_e, q_r) @ s_inv).reshape(p.nb, p.b, q_r)
                a_inv += np.einsum("csj,ctj->cst", q_full, kk)
                q_flat = q_full.ravel()
                for k in p.e_terms:
                    for m in p.r_terms:
                        cross = -q_flat[p.er_dense[(k, m)]]
                        g[k] += theta[m] * cross
                        g[m] += theta[k] * cross
                return self._gather_e(a_inv, g)
            # K = L^-T C on the shared pattern
            kk = np.zeros(p.nnz)
            for t in range(p.b):
                kk += (
                    self.linv[p.entry_block, t, p.entry_slot]
                    * self.c[p.entry_base + t * p.m[p.entry_block] + p.entry_j]
                )
            q_sel = np.zeros(p.nnz)  # (K S^-1) on the pattern
            for blocks_, size in p.batches:
                kc = self._block_values(kk, blocks_, size)
                cols = self._block_cols(blocks_, size)
                sub = s_inv[cols[:, :, None], cols[:, None, :]]
                qc = np.einsum("gsi,gij->gsj", kc, sub)
                base = (p.b * p.col_start[blocks_])[:, None, None]
                index = base + np.arange(p.b)[None, :, None] * size + np.arange(size)[None, None, :]
                q_sel[index] = qc
                a_inv[blocks_] += np.einsum("gsj,gtj->gst", qc, kc)
            for k in p.e_terms:
                for m in p.r_terms:
                    cross = -q_sel[p.er_entry[(k, m)]]
                    g[k] += theta[m] * cross
                    g[m] += theta[k] * cross
        return self._gather_e(a_inv, g)

    def _gather_e(self, a_inv: np.ndarray, g: dict[int, np.ndarray]) -> list[np.ndarray]:
        p, theta = self.p, self.theta
        flat = a_inv.ravel()
        for k in p.e_terms:
            for m in p.e_terms:
                g[k] += theta[m] * flat[p.ee_flat[(k, m)]]
        return [g[k] for k in range(len(p.codes))]
