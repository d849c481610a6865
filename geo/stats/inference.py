"""Permutation inference for Gi*, and Local Moran's I cluster / outlier classes (esda).

The analytical Gi* of :mod:`geo.stats.hotspots` assumes the counts are close to normal;
with many empty cells and a few heavy ones they are not. Conditional permutations (esda's
``G_Local(..., permutations=999)``: each cell's value stays, its neighbours' values are
drawn at random among the other cells) give a pseudo p-value that does not rest on that
assumption. esda's ``p_sim`` is one-sided (the share of permutations at least as extreme
on the observed side); :func:`gi_permutation_p` doubles it, capped at 1, so that it is
comparable with the two-sided analytical p-value.

:func:`local_moran` gives Anselin's Local Moran's I classes: « haut-haut » (HH, a high
cell among high cells: cluster), « bas-bas » (LL), « haut-bas » (HL, a high cell among
low ones: outlier) and « bas-haut » (LH), for the cells whose permutation p-value passes
the test (Benjamini–Hochberg by default), « non significatif » otherwise.

Every function takes the binary weights with their diagonal (as :func:`geo.stats.hotspots.
distance_weights` builds them) and the bins: libpysal's ``W`` is built with the bins'
``bin_id`` as ids, so that a cell left out of the grid (masked) is absent from it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import AnalysisError
from geo.stats.hotspots import fdr_adjust

logger = logging.getLogger(__name__)

__all__ = ["MORAN_CLASSES", "gi_permutation_p", "libpysal_weights", "local_moran"]

#: esda's quadrant codes of Local Moran's I → French class labels.
MORAN_CLASSES: dict[int, str] = {
    1: "haut-haut (agrégat de valeurs fortes)",
    2: "bas-haut (valeur faible entourée de fortes)",
    3: "bas-bas (agrégat de valeurs faibles)",
    4: "haut-bas (valeur forte isolée)",
}
NOT_SIGNIFICANT = "non significatif"


def libpysal_weights(bins: gpd.GeoDataFrame, weights: sparse.spmatrix) -> libpysal.weights.W:
    """Libpysal ``W`` of ``weights`` without its diagonal, ids = the bins' ``bin_id`` (or positions).

    Parameters
    ----------
    bins : geopandas.GeoDataFrame
        The cells, in the order of ``weights``.
    weights : scipy.sparse matrix
        n × n binary weights (the diagonal is dropped: esda adds the cell itself for Gi*).

    Returns
    -------
    libpysal.weights.W
        Binary weights (transform "B").

    Raises
    ------
    AnalysisError
        When the sizes disagree.
    """
    n = len(bins)
    if weights.shape != (n, n):
        raise AnalysisError("La matrice de voisinage ne correspond pas au nombre de mailles.")
    ids = [int(i) for i in bins["bin_id"]] if "bin_id" in bins.columns else list(range(n))
    off = sparse.csr_matrix(weights, dtype=float).tolil()
    off.setdiag(0.0)
    coo = sparse.coo_matrix(off.tocsr())
    neighbours: dict[Any, list[Any]] = {i: [] for i in ids}
    for r, c, v in zip(coo.row, coo.col, coo.data, strict=True):
        if v:
            neighbours[ids[r]].append(ids[c])
    with warnings.catch_warnings():  # islands (a cell with no neighbour) are legitimate here
        warnings.simplefilter("ignore")
        w = libpysal.weights.W(neighbours, id_order=ids, silence_warnings=True)
        w.transform = "B"
    return w


def gi_permutation_p(
    values: np.ndarray, bins: gpd.GeoDataFrame, weights: sparse.spmatrix, *, permutations: int = 999,
    seed: int = 2025,
) -> np.ndarray:
    """Two-sided permutation p-values of Gi* (esda ``G_Local(star=True, transform="B")``).

    Parameters
    ----------
    values : numpy.ndarray
        The cells' counts, shape (n,).
    bins : geopandas.GeoDataFrame
        The cells, in the same order.
    weights : scipy.sparse matrix
        Binary weights with diagonal.
    permutations : int
        Number of conditional permutations (99 at least).
    seed : int
        Random seed (the same seed gives the same p-values).

    Returns
    -------
    numpy.ndarray
        ``min(1, 2 · p_sim)``; the smallest attainable value is ``2 / (permutations + 1)``.

    Raises
    ------
    AnalysisError
        With fewer than 99 permutations or fewer than 3 cells.
    """
    if permutations < 99:
        raise AnalysisError("Au moins 99 permutations sont nécessaires.")
    if len(bins) < 3:
        raise AnalysisError("Il faut au moins 3 mailles pour l'inférence par permutations.")
    w = libpysal_weights(bins, weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = esda.G_Local(np.asarray(values, dtype=float), w, transform="B", star=True,
                         permutations=permutations, seed=seed, n_jobs=1, keep_simulations=False)
    return np.minimum(1.0, 2.0 * np.asarray(g.p_sim, dtype=float))


def local_moran(
    values: np.ndarray, bins: gpd.GeoDataFrame, weights: sparse.spmatrix, *, permutations: int = 999,
    seed: int = 2025, alpha: float = 0.05, fdr: bool = True,
) -> pd.DataFrame:
    """Local Moran's I classes of the cells (esda ``Moran_Local``, row-standardised weights).

    Parameters
    ----------
    values : numpy.ndarray
        The cells' counts.
    bins : geopandas.GeoDataFrame
        The cells, in the same order.
    weights : scipy.sparse matrix
        Binary weights with diagonal (the diagonal is dropped: Local Moran compares a cell
        with its neighbours).
    permutations, seed : int
        Conditional permutations and random seed.
    alpha : float
        Significance level.
    fdr : bool
        Benjamini–Hochberg correction of the permutation p-values.

    Returns
    -------
    pandas.DataFrame
        ``moran_i``, ``moran_p`` (two-sided permutation p), ``moran_q`` (the p tested),
        ``moran_quadrant`` (1 HH, 2 LH, 3 LL, 4 HL) and ``moran_class`` (French label, or
        « non significatif »), indexed like ``bins``.

    Raises
    ------
    AnalysisError
        With fewer than 99 permutations or 3 cells, or ``alpha`` outside (0, 1).
    """
    if permutations < 99:
        raise AnalysisError("Au moins 99 permutations sont nécessaires.")
    if len(bins) < 3:
        raise AnalysisError("Il faut au moins 3 mailles pour le I de Moran local.")
    if not 0 < alpha < 1:
        raise AnalysisError("Le seuil de significativité doit être compris entre 0 et 1.")
    w = libpysal_weights(bins, weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w.transform = "R"
        m = esda.Moran_Local(np.asarray(values, dtype=float), w, transformation="r",
                             permutations=permutations, seed=seed, n_jobs=1, keep_simulations=False)
    p = np.minimum(1.0, 2.0 * np.asarray(m.p_sim, dtype=float))
    q = fdr_adjust(p) if fdr else p
    quad = np.asarray(m.q, dtype=int)
    label = np.where(q <= alpha, pd.Series(quad).map(MORAN_CLASSES).to_numpy(), NOT_SIGNIFICANT)
    return pd.DataFrame({"moran_i": np.asarray(m.Is, dtype=float), "moran_p": p, "moran_q": q,
                         "moran_quadrant": quad, "moran_class": pd.array(label, dtype=np.object_)},
                        index=bins.index)
