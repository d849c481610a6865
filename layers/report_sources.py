"""The « Sources et couverture » of a report: which data set feeds which figure, and how far.

For each data set behind a report (dumping events, constats, diagnostics, actions) the
section says whether its records are real or simulated, whether it is a declared sample
(:mod:`layers.samples`) or taken as complete, the dates it covers in the store, the
quartiers where it holds records and the figures and tables it feeds. The same look-ups
give the report builders what they need to be honest row by row: the data sets declared
samples (« échantillon » flags), the first date each data set covers (N-1 columns « n.d. »
before it) and the extraction date (open cases censored there).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import pandas as pd

from geo.stats.report import ReportSection
from geo.stats.report.flags import data_flag
from layers.schema import DISTINCT_CONSTATS
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["DatasetSpan", "ReportInputs", "dataset_spans", "report_inputs", "sources_section"]

#: What each kind of records feeds in a quartier or territory report.
FEEDS = {
    # the camera section (restricted) is not named here: this table goes to every reader
    "events": "chiffres clés des événements, cartes des points chauds, indicateurs mensuels, sites "
              "récurrents",
    "territory": "comparaison des quartiers, graphique des densités et carte des points chauds du territoire",
    "observations": "délais de traitement, dysfonctionnements identifiés et traités, constats par pilote, "
                    "partenaire et domanialité, constats par thème",
    "diagnostics": "diagnostics en marchant par an",
}


@dataclass(frozen=True)
class DatasetSpan:
    """One data set behind a report.

    Attributes
    ----------
    dataset, layer : str
        ``source_dataset`` of its records and the layer holding them.
    first, last : pandas.Timestamp or None
        Earliest and latest dates of its records in the store.
    latest : pandas.Timestamp or None
        Latest date of any kind (report, resolution, clean-up): its extraction was later.
    records : int
        Records in the store.
    flag : str
        « réelles », « simulées », « en partie simulées » or « échantillon ».
    sample : str or None
        Description of the sample when the data set is declared one.
    quartiers : tuple of str
        Codes of the report's perimeters where it holds records.
    """

    dataset: str
    layer: str
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    latest: pd.Timestamp | None
    records: int
    flag: str
    sample: str | None
    quartiers: tuple[str, ...]


@dataclass(frozen=True)
class ReportInputs:
    """What the report builders need from the store to flag rows and censor delays."""

    sample_datasets: tuple[str, ...]
    covered_since: tuple[tuple[str, str], ...]
    observations_since: tuple[tuple[str, str], ...]
    as_of: pd.Timestamp | None


def _frame_span(frame: pd.DataFrame, column: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if not len(frame):
        return None, None
    when = pd.to_datetime(frame[column], errors="coerce", utc=True).dt.tz_localize(None)
    if when.isna().all():
        return None, None
    return pd.Timestamp(when.min()), pd.Timestamp(when.max())


def _child_events(store: LayerStore) -> gpd.GeoDataFrame:
    """Every dumping event of the points noirs, placed at its site (for the spans and quartiers)."""
    sites = store.read("points_noirs")
    if sites.empty:
        return gpd.GeoDataFrame()
    events = store.read_children("points_noirs", "evenements")
    placed = events.merge(sites[["uid", "geometry"]], left_on="parent_uid", right_on="uid",
                          suffixes=("", "_site"))
    return gpd.GeoDataFrame(placed, geometry="geometry", crs=sites.crs)


def dataset_spans(
    store: LayerStore, layer: str, perimeters: gpd.GeoDataFrame, *, samples: dict[str, str]
) -> list[DatasetSpan]:
    """Return the data sets of ``layer`` (``points_noirs``: their events) with their coverage.

    Parameters
    ----------
    store : LayerStore
        The store.
    layer : str
        ``observations``, ``points_noirs`` or ``diagnostics``.
    perimeters : geopandas.GeoDataFrame
        The report's perimeters (``code``): the quartiers covered are among them.
    samples : dict
        :func:`layers.samples.sampled_datasets` of the store.

    Returns
    -------
    list of DatasetSpan
    """
    time_field = "walk_date" if layer == "diagnostics" else "observed_at"
    if layer == "points_noirs":
        frame: gpd.GeoDataFrame = _child_events(store)
    else:  # a merged duplicate's closing date is the merge's, neither an event nor an extraction
        frame = store.read(layer, where=DISTINCT_CONSTATS if layer == "observations" else None)
    if frame.empty or "source_dataset" not in frame.columns:
        return []
    if frame.crs is not None and perimeters.crs is not None:
        frame = frame.to_crs(perimeters.crs)
    spans = []
    for dataset, records in frame.groupby(frame["source_dataset"].astype(str), sort=True):
        first, last = _frame_span(records, time_field)
        ends = [_frame_span(records, c)[1] for c in ("resolved_at", "cleaned_at") if c in records.columns]
        latest = max([d for d in (last, *ends) if d is not None], default=None)
        hit = gpd.sjoin(records[[records.geometry.name]], perimeters[["code", perimeters.geometry.name]],
                        how="inner", predicate="intersects")
        flag = data_flag(records, tuple(samples)) or "n.d."
        spans.append(DatasetSpan(dataset=str(dataset), layer=layer, first=first, last=last, latest=latest,
                                 records=len(records), flag=flag, sample=samples.get(str(dataset)),
                                 quartiers=tuple(sorted(set(hit["code"].astype(str))))))
    return spans


def _firsts(spans: list[DatasetSpan]) -> tuple[tuple[str, str], ...]:
    return tuple((s.dataset, s.first.isoformat()) for s in spans if s.first is not None)


def report_inputs(spans: dict[str, list[DatasetSpan]], *, quartier: str | None = None) -> ReportInputs:
    """Return the samples, first covered dates and extraction date for the report builders.

    The extraction date is the latest date (report, resolution or clean-up) of the data
    sets holding records in ``quartier`` (of every data set when None or none does):
    records that do not state their extraction were extracted after it.
    """
    events = spans.get("events", spans.get("territory", []))
    constats = spans.get("observations", events)
    every = [s for items in spans.values() for s in items]
    local = [s for s in every if quartier is not None and quartier in s.quartiers] or every
    latest = [s.latest for s in local if s.latest is not None]
    return ReportInputs(
        sample_datasets=tuple(sorted({s.dataset for s in every if s.sample})),
        covered_since=_firsts(events), observations_since=_firsts(constats),
        as_of=max(latest) if latest else None,
    )


def _coverage(span: DatasetSpan, start: date, end: date) -> str:
    """Whether the data set covers the report's period: « oui », « en partie (…) » or « non »."""
    if span.first is None or span.last is None:
        return "n.d."
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1)
    if span.last < t0 or span.first >= t1:
        return "non"
    if span.first <= t0 and span.last >= t1 - pd.Timedelta(days=1):
        return "oui"
    return f"en partie (du {max(span.first, t0):%d/%m/%Y} au {min(span.last, t1):%d/%m/%Y})"


def _completeness(span: DatasetSpan) -> str:
    if span.sample:
        return f"échantillon : {span.sample}"
    if span.flag == "simulées":
        return "simulation (démonstration), sans valeur de constat"
    return "non déclaré échantillon (import complet du fichier reçu)"


def sources_section(
    spans: dict[str, list[DatasetSpan]], *, start: date, end: date, quartiers: list[str] | None = None,
) -> ReportSection:
    """Return the « Sources et couverture » section of a report.

    Parameters
    ----------
    spans : dict
        Kind of records (``events``, ``observations``, ``diagnostics``) → its data sets.
    start, end : date
        The report's period.
    quartiers : list of str, optional
        Codes of the report's quartiers: a source holding no record in one is said not to
        cover it.

    Returns
    -------
    ReportSection
        Its table has one column per data set and one row per property (« Couche »,
        « Données », « Échantillon ou complet », « Du », « Au »…).
    """
    rows = []
    for kind, items in spans.items():
        for span in items:
            covered = [q for q in (quartiers or span.quartiers) if q in span.quartiers]
            rows.append({
                "Source (jeu de données)": span.dataset, "Couche": span.layer, "Données": span.flag,
                "Échantillon ou complet": _completeness(span),
                "Du": span.first, "Au": span.last, "Période du rapport couverte": _coverage(span, start, end),
                "Enregistrements dans l'entrepôt (tous thèmes)": span.records,
                "Quartiers couverts": ", ".join(covered) if covered else "aucun quartier du rapport",
                "Alimente": FEEDS[kind],
            })
    notes = ["Chaque ligne de tableau qui compte des enregistrements porte sa propre colonne « Données » "
             "(réelles, simulées, échantillon) : un tableau peut mêler des données réelles et simulées."]
    if any(s.sample for items in spans.values() for s in items):
        notes.append("Un échantillon donne des comptes partiels : ni total, ni évolution ne peuvent en être "
                     "tirés comme s'il était complet.")
    if not rows:
        notes.insert(0, "Aucune source de données datées ne nourrit ce rapport.")
    # a data set feeding two layers (events and constats) gets one column per layer
    names = pd.Series([r["Source (jeu de données)"] for r in rows], dtype=object)
    for row, repeated in zip(rows, names.duplicated(keep=False), strict=True):
        if repeated:
            row["Source (jeu de données)"] = f"{row['Source (jeu de données)']} ({row['Couche']})"
    # one column per data set, one row per property: a page holds it whatever the number of sources
    table = (pd.DataFrame(rows).set_index("Source (jeu de données)").T.rename_axis("Jeu de données")
             .reset_index() if rows else pd.DataFrame({"Jeu de données": []}))
    return ReportSection(title="Sources et couverture", tables={"Sources des chiffres du rapport": table},
                         notes=notes)
