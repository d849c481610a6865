"""Data sets that are samples: their counts are partial, never totals.

An administrator (or the demo manifest) declares that an imported data set is a sample
(« 10 000 signalements tirés de l'export de Dans Ma Rue ») with :func:`declare_sample`;
the declaration is kept in the store's settings (``echantillon:<data set>``). Analyses
then ask :func:`sample_note` whether the events behind a figure come from a sample, and
say so next to the figure instead of showing a partial count as the whole.
"""

from __future__ import annotations

import logging

import pandas as pd

from layers.errors import RecordError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["META_PREFIX", "clean_sample_note", "declare_sample", "sample_note", "sampled_datasets"]

#: prefix of the store settings that declare a sample (``echantillon:dansmarue-paris``)
META_PREFIX = "echantillon:"
#: longest description of a sample
MAX_NOTE = 300


def clean_sample_note(note: str | None) -> str:
    """Return the description of a sample, spaces normalised; check it before an import.

    Raises
    ------
    RecordError
        When it is empty or too long (French message naming « echantillon »).
    """
    text = " ".join(str(note or "").split())
    if not text or len(text) > MAX_NOTE:
        raise RecordError(f"« echantillon » : description de l'échantillon attendue (1 à {MAX_NOTE} "
                          "caractères), par exemple « 10 000 signalements tirés de l'export 2023-2024 ».")
    return text


def declare_sample(store: LayerStore, dataset: str, note: str) -> None:
    """Declare the data set ``dataset`` of ``store`` a sample described by ``note``.

    Parameters
    ----------
    store : LayerStore
        The store holding the data set.
    dataset : str
        ``source_dataset`` of its records (the mapping's ``dataset``).
    note : str
        What the sample is, in French (« 10 000 signalements tirés de … »).

    Raises
    ------
    RecordError
        When the description is empty or too long (French message naming « echantillon »).
    """
    store.set_meta(META_PREFIX + dataset, clean_sample_note(note))
    logger.info("data set %s declared a sample", dataset)


def sampled_datasets(store: LayerStore) -> dict[str, str]:
    """Return the data sets declared samples in ``store`` and their descriptions."""
    try:
        meta = store.meta()
    except NotImplementedError:
        return {}
    return {key.removeprefix(META_PREFIX): value for key, value in meta.items()
            if key.startswith(META_PREFIX)}


def sample_note(events: pd.DataFrame, samples: dict[str, str]) -> str | None:
    """Return the French warning for figures computed on ``events`` when some come from a sample.

    Parameters
    ----------
    events : pandas.DataFrame
        Records with a ``source_dataset`` column.
    samples : dict
        :func:`sampled_datasets` of their store.

    Returns
    -------
    str or None
        « Échantillon : … ; les comptes sont partiels, pas des totaux. », or None when no
        record comes from a sample.
    """
    if not samples or events.empty or "source_dataset" not in events.columns:
        return None
    found = sorted(set(events["source_dataset"].dropna().astype(str)) & set(samples))
    if not found:
        return None
    described = " ; ".join(f"{samples[name]} ({name})" for name in found)
    return f"Échantillon : {described} — les comptes sont partiels, pas des totaux."
