"""Street rules compiled into integer keys and evaluated with numpy (helper of :mod:`geo.perimeters.lookup`).

:func:`compile_rules` turns the rule table of an index (:func:`geo.perimeters.rules.rules_frame`)
into arrays once, when the index is built: one integer id per ruled street key, the rules of
each street as a contiguous slice, their QPV as a position in the index's codes, their
commune as a small integer, their kind, bounds and parity as numbers. :func:`evaluate_compiled`
then answers for many rows without a pandas merge or a Python object per row: the rows are
reduced to their distinct (street, commune, number) triples, each triple is tested against the
rules of its street, and the answers are spread back. The answers are those of
:func:`geo.perimeters.rules.evaluate_rules` (same « first QPV » when several take an address).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.perimeters.addressmatch import commune_matches

#: Kind codes of the compiled rules.
_KINDS = {"whole": 0, "partial": 1, "range": 2, "except": 3}


@dataclass(frozen=True)
class CompiledRules:
    """Rules as arrays, grouped by street (built by :func:`compile_rules`).

    Attributes
    ----------
    street_ids : dict
        Street key → street id (0 … n_streets − 1).
    starts, counts : numpy.ndarray
        Per street id: first position and number of its rules in the arrays below.
    qpv : numpy.ndarray
        Per rule (street order, then table order): position of its QPV in the index's codes.
    commune : numpy.ndarray
        Per rule: position of its commune key in ``commune_keys``.
    kind, parity : numpy.ndarray
        Per rule: :data:`_KINDS` code and parity (0 all, 1 odd, 2 even).
    lo, hi : numpy.ndarray
        Per rule: number bounds (±inf when open).
    commune_keys : tuple of str
        Distinct commune keys of the rules.
    """

    street_ids: dict[str, int]
    starts: np.ndarray
    counts: np.ndarray
    qpv: np.ndarray
    commune: np.ndarray
    kind: np.ndarray
    parity: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    commune_keys: tuple[str, ...]


def compile_rules(table: pd.DataFrame, codes: Sequence[str]) -> CompiledRules:
    """Compile a :func:`geo.perimeters.rules.rules_frame` table into :class:`CompiledRules`.

    Parameters
    ----------
    table : pandas.DataFrame
        The rules of the index.
    codes : sequence of str
        The index's QPV codes (a rule's QPV becomes its position there).

    Returns
    -------
    CompiledRules
    """
    street_col = table["street_key"].astype(object).to_numpy()
    sid_codes, sid_names = pd.factorize(street_col, sort=False)
    order = np.argsort(sid_codes, kind="stable")
    counts = np.bincount(sid_codes, minlength=len(sid_names)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    position = {c: i for i, c in enumerate(codes)}
    ccodes, cnames = pd.factorize(table["commune_key"].astype(object).to_numpy(), sort=False)
    return CompiledRules(
        street_ids={str(k): i for i, k in enumerate(sid_names.tolist())},
        starts=starts,
        counts=counts,
        qpv=np.array([position.get(str(q), -1) for q in table["qpv"].tolist()], dtype=np.int64)[order],
        commune=np.asarray(ccodes, dtype=np.int64)[order],
        kind=np.array([_KINDS[str(k)] for k in table["kind"].tolist()], dtype=np.int8)[order],
        parity=table["parity"].to_numpy(dtype=np.int8)[order],
        lo=table["lo"].to_numpy(dtype=float)[order],
        hi=table["hi"].to_numpy(dtype=float)[order],
        commune_keys=tuple(str(c) for c in cnames.tolist()),
    )


@dataclass(frozen=True)
class RuleRows:
    """The rows to evaluate: street id, commune code and number of each row.

    Attributes
    ----------
    street : numpy.ndarray
        Street id per row (:attr:`CompiledRules.street_ids`; every row has one).
    commune : numpy.ndarray
        Position of the row's commune key in ``commune_keys``.
    commune_keys : sequence of str
        Distinct commune keys of the rows.
    numbers : numpy.ndarray
        House number per row (NaN when unknown).
    """

    street: np.ndarray
    commune: np.ndarray
    commune_keys: Sequence[str]
    numbers: np.ndarray


def evaluate_compiled(rules: CompiledRules, rows: RuleRows) -> tuple[np.ndarray, ...]:
    """Rule verdict of each row → (QPV position or -1, street has rules, decided, ambiguous).

    Parameters
    ----------
    rules : CompiledRules
    rows : RuleRows

    Returns
    -------
    tuple of numpy.ndarray
        As :func:`geo.perimeters.rules.evaluate_rules`: the QPV of the first rule set that
        takes the row (``-1``: none), whether rules of the row's street apply in its
        commune, ``False`` when only number rules apply and the row has no number, and
        whether rules of several QPV take it.
    """
    n = len(rows.street)
    out = (np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool), np.ones(n, dtype=bool),
           np.zeros(n, dtype=bool))
    if not n:
        return out
    # distinct (street, commune, number) triples: the verdict depends on nothing else
    num_values, num_codes = np.unique(rows.numbers, return_inverse=True)
    n_communes = max(len(rows.commune_keys), 1)
    key = (rows.street.astype(np.int64) * n_communes + rows.commune) * (len(num_values) + 1) + num_codes
    _, first_row, inverse = np.unique(key, return_index=True, return_inverse=True)
    verdict = _evaluate_triples(rules, rows.street[first_row], rows.commune[first_row],
                                rows.numbers[first_row], rows.commune_keys)
    return tuple(v[inverse.reshape(-1)] for v in verdict)


def _pairs(rules: CompiledRules, street: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, rule) pairs of each row with every rule of its street, rules in table order."""
    count = rules.counts[street]
    total = int(count.sum())
    pair_row = np.repeat(np.arange(len(street)), count)
    offsets = np.concatenate([[0], np.cumsum(count)[:-1]])
    within = np.arange(total) - np.repeat(offsets, count)
    return pair_row, rules.starts[street][pair_row] + within


def _evaluate_triples(rules: CompiledRules, street: np.ndarray, commune: np.ndarray, numbers: np.ndarray,
                      commune_keys: Sequence[str]) -> tuple[np.ndarray, ...]:
    """:func:`evaluate_compiled` on distinct triples (few: streets × numbers)."""
    n = len(street)
    qpv_out = np.full(n, -1, dtype=np.int64)
    street_out = np.zeros(n, dtype=bool)
    decided = np.ones(n, dtype=bool)
    amb = np.zeros(n, dtype=bool)
    fits = np.array([[commune_matches(w, a) for w in rules.commune_keys] for a in commune_keys],
                    dtype=bool).reshape(len(commune_keys), len(rules.commune_keys))
    pair_row, pair_rule = _pairs(rules, street)
    keep = fits[commune[pair_row], rules.commune[pair_rule]] if len(fits) else np.zeros(0, dtype=bool)
    pair_row, pair_rule = pair_row[keep], pair_rule[keep]
    if not len(pair_row):
        return qpv_out, street_out, decided, amb
    num = numbers[pair_row]
    kind, par = rules.kind[pair_rule], rules.parity[pair_rule]
    known = ~np.isnan(num)
    safe = np.where(known, num, 0.0)
    parity_ok = (par == 0) | ((par == 1) & (safe % 2 == 1)) | ((par == 2) & (safe % 2 == 0))
    in_range = known & parity_ok & (safe >= rules.lo[pair_rule]) & (safe <= rules.hi[pair_rule])
    broad = (kind == _KINDS["whole"]) | (kind == _KINDS["partial"])
    positive = broad | ((kind == _KINDS["range"]) & in_range)
    negative = (kind == _KINDS["except"]) & in_range
    # groups (row, QPV): any positive, any negative, any broad; first pair position
    qpv = rules.qpv[pair_rule]
    n_qpv = int(max(qpv.max(), 0)) + 2
    group_key = pair_row * n_qpv + (qpv + 1)
    groups, first, inverse = np.unique(group_key, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    m = len(groups)
    g_pos = np.bincount(inverse, weights=positive, minlength=m) > 0
    g_neg = np.bincount(inverse, weights=negative, minlength=m) > 0
    g_broad = np.bincount(inverse, weights=broad, minlength=m) > 0
    g_row = groups // n_qpv
    g_qpv = groups % n_qpv - 1
    street_out[g_row] = True
    decided[g_row[~known[first] & ~g_broad]] = False
    taken = g_pos & ~g_neg
    t_row, t_qpv, t_first = g_row[taken], g_qpv[taken], first[taken]
    amb[:] = np.bincount(t_row, minlength=n) > 1
    # the QPV whose first rule comes first in table order (pairs are in that order per row)
    order = np.lexsort((t_first, t_row))
    head = np.ones(len(order), dtype=bool)
    head[1:] = t_row[order][1:] != t_row[order][:-1]
    qpv_out[t_row[order][head]] = t_qpv[order][head]
    return qpv_out, street_out, decided, amb
