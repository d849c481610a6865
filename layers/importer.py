"""Import pipeline: read → map → check coordinates → validate → store, in one transaction.

Every input row ends up either stored (new, or already present from an earlier import
of the same data) or listed in the reject report with its row number and reason.
Re-importing the same file adds nothing: each record's ``uid`` derives from the
dataset and the source id, or from the record's content when the source has no id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import QPVError
from geo.walks.streets import LEVEL_COLUMNS, LEVEL_TAGS
from layers._csv_stream import iter_csv_chunks, scan_csv
from layers._import_stages import (
    ImportTally,
    _apply_rules,
    _check_geography,
    _check_source_ids,
    _filter_rows,
    _keep_near_territory,
    _locate,
    _repair,
    _street_levels,
    _uids,
)
from layers.errors import MappingError, SourceFileError, StoreError
from layers.layouts import recognise
from layers.mapping import Mapping_, column_renames, identity_mapping, load_mapping
from layers.schema import get_schema
from layers.sources import CSV_SUFFIXES, SourceTable, read_source
from layers.store.base import LayerStore, iter_chunks
from layers.validate import REJECT_COLUMNS, fold, validate_frame

logger = logging.getLogger(__name__)

#: Records per store write during an import (all in one transaction): the importer logs
#: its progress after each block.
WRITE_BLOCK = 10_000
#: Runs of the write transaction when the database aborts it to break a deadlock.
WRITE_ATTEMPTS = 5
#: Reject lines kept in the import log, so that a re-import of the same file is answered
#: without reading it (beyond, a file with rejects is read again).
KEPT_REJECTS = 2_000
#: Rows read per block from a CSV file the columnar reader streams: the memory an import
#: takes follows this, not the size of the file.
READ_BLOCK = 5_000


@dataclass
class ImportReport:
    """Summary and reject list of one import.

    ``n_read == n_inserted + n_existing + n_rejected`` always holds.
    """

    layer: str
    file_name: str
    dataset: str
    sha256: str
    n_read: int = 0
    n_inserted: int = 0
    n_existing: int = 0
    n_rejected: int = 0
    n_repaired: int = 0
    encoding: str | None = None
    separator: str | None = None
    seconds: float = 0.0
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    repaired_rows: list[int] = field(default_factory=list)
    report_path: Path | None = None
    summary_path: Path | None = None
    unused_columns: list[str] = field(default_factory=list)
    layout: str | None = None
    already_imported: str | None = None

    @property
    def message(self) -> str | None:
        """French sentence for a file recognised as already imported (None otherwise)."""
        if self.already_imported is None:
            return None
        return (f"{self.file_name} déjà importé le {self.already_imported} (même contenu) : "
                f"{self.n_existing} ligne(s) déjà présente(s), 0 ajoutée, {self.n_rejected} rejetée(s) "
                "alors (voir le rapport de ce premier import) ; --forcer pour le relire.")

    @property
    def nothing_imported(self) -> bool:
        """Every row read was rejected: nothing stored, nothing already there."""
        return self.n_read > 0 and self.n_inserted + self.n_existing == 0

    def top_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        """Return the ``n`` most frequent reject reasons with their number of rows."""
        if self.rejects.empty:
            return []
        counts = self.rejects.drop_duplicates(["row", "reason"])["reason"].value_counts()
        return [(str(reason), int(count)) for reason, count in counts.head(n).items()]

    def summary(self) -> dict[str, Any]:
        """Return the counts as a plain dictionary (French keys)."""
        return {
            "couche": self.layer,
            "fichier": self.file_name,
            "jeu_de_donnees": self.dataset,
            "lues": self.n_read,
            "ajoutees": self.n_inserted,
            "deja_presentes": self.n_existing,
            "rejetees": self.n_rejected,
            "reparees": self.n_repaired,
            "encodage": self.encoding,
            "separateur": self.separator,
            "format_reconnu": self.layout,
            "colonnes_inutilisees": self.unused_columns,
            "secondes": round(self.seconds, 2),
        }

    def write(self, folder: Path) -> Path:
        """Write the reject CSV and the summary JSON of this run in ``folder``; return the CSV path.

        Names carry the time of the run (``<file>.<layer>.rejets-20261205T201500.csv`` and
        ``….resume-….json``): a later import of the same file never overwrites them.
        """
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{Path(self.file_name).name}.{self.layer}"
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        run = stamp
        for n in range(2, 1000):
            if not (folder / f"{stem}.rejets-{run}.csv").exists():
                break
            run = f"{stamp}-{n}"
        csv_path = folder / f"{stem}.rejets-{run}.csv"
        json_path = folder / f"{stem}.resume-{run}.json"
        self.rejects.sort_values("row", kind="stable").to_csv(csv_path, index=False, sep=";",
                                                               encoding="utf-8")
        summary = self.summary() | {"lignes_reparees": self.repaired_rows, "rejets": csv_path.name}
        if self.already_imported is not None:
            summary |= {"deja_importe": self.already_imported, "message": self.message}
        json_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        self.report_path = csv_path
        self.summary_path = json_path
        return csv_path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_key(store: LayerStore, path: Path, layer: str | None, opts: ImportOptions) -> str | None:
    """Return a key of what, besides the file's bytes, decides what an import stores and rejects.

    The mapping (its whole parsed content), the layer, the territory margin and, when that
    margin applies, the perimeters it is measured from (their count and last import).
    None when the layer is not known before reading (the file is then always parsed).
    """
    mapping = _resolve_mapping(opts.mapping, layer)
    target = layer if layer is not None else (mapping.layer if mapping is not None else None)
    if target is None:
        return None
    try:
        name = get_schema(target).name
    except QPVError:
        return None  # an unknown layer: the import itself says so, as for any file
    parts: list[Any] = [name, repr(mapping), opts.territory_margin_m]
    if opts.territory_margin_m is not None and name != "perimetres":
        log = store.imports()
        ids = [int(i) for i in log.loc[log["layer"] == "perimetres", "id"]] if len(log) else []
        parts += [store.count("perimetres"), max(ids) if ids else None]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def already_imported(store: LayerStore, path: Path, *, sha256: str, key: str,
                     strict: bool = False) -> ImportReport | None:
    """Return the report of a re-import of a file already imported with the same key, or None.

    None as well when the rows that import accounted for are no longer all in the layer
    (deleted since): the file must then be read again. Rows are accounted as present; the
    rejects of the first import are in its own report.
    """
    log = store.imports()
    if log.empty:
        return None
    same = log[(log["sha256"] == sha256)]
    same = same[[_summary_of(r).get("cle_import") == key for r in same["report"]]]
    if same.empty:
        return None
    first, last = same.iloc[0], same.iloc[-1]
    n_read, n_rejected = int(last["n_read"]), int(last["n_rejected"])
    if strict and n_rejected:
        return None  # strict refuses that file: let the import say so
    present = store.count(str(last["layer"]), where={"source_dataset": str(last["mapping"])})
    if present < int(last["n_inserted"]) + int(last["n_existing"]):
        logger.info("import %s: same file as import %s but rows were deleted since: read again",
                    path.name, first["id"])
        return None
    summary = _summary_of(last)
    lines = summary.get("rejets_lignes")
    if not isinstance(lines, list) or not isinstance(summary.get("lignes_reparees"), list):
        return None  # too many rejects to keep: the file is read again for its reject report
    return ImportReport(
        rejects=pd.DataFrame(lines, columns=REJECT_COLUMNS).astype({"row": "int64"}),
        repaired_rows=[int(r) for r in summary["lignes_reparees"]],
        layer=str(last["layer"]), file_name=path.name, dataset=str(last["mapping"]), sha256=sha256,
        n_read=n_read, n_inserted=0, n_existing=n_read - n_rejected, n_rejected=n_rejected,
        n_repaired=int(last["n_repaired"]), encoding=summary.get("encodage"),
        separator=summary.get("separateur"), layout=summary.get("format_reconnu"),
        unused_columns=list(summary.get("colonnes_inutilisees") or []),
        already_imported=str(first["finished_at"] or first["started_at"]),
    )


def _summary_of(entry: Any) -> dict[str, Any]:
    """Return the summary JSON of an import log entry (or a row of it); {} when absent or unreadable."""
    text = entry["report"] if isinstance(entry, pd.Series) else entry
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_deadlock(exc: BaseException) -> bool:
    """Tell whether a store error comes from the database breaking a deadlock (PostGIS).

    Two imports inserting the same uids in different orders lock each other; the
    database aborts one of them, which can simply run again.
    """
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ in ("DeadlockDetected", "SerializationFailure")


def _record(store: LayerStore, report: ImportReport, *, path: Path, actor: str | None,
            key: str | None, extra: dict[str, Any] | None = None) -> None:
    """Append the import log entry of ``report`` (with the key a re-import is recognised by)."""
    now = datetime.now().isoformat(timespec="seconds")
    summary = report.summary() | ({"cle_import": key} if key else {}) | (extra or {})
    if key and len(report.rejects) <= KEPT_REJECTS and len(report.repaired_rows) <= KEPT_REJECTS:
        # what a re-import recognised by its hash answers without reading the file again
        summary["rejets_lignes"] = [[int(r), str(f), str(v), str(m)] for r, f, v, m in zip(
            report.rejects["row"].tolist(), report.rejects["field"].tolist(),
            report.rejects["value"].tolist(), report.rejects["reason"].tolist(), strict=True)]
        summary["lignes_reparees"] = [int(r) for r in report.repaired_rows]
    store.record_import({
        "layer": report.layer, "file_name": path.name, "sha256": report.sha256,
        "mapping": report.dataset, "started_at": now, "finished_at": now, "actor": actor,
        "n_read": report.n_read, "n_inserted": report.n_inserted,
        "n_existing": report.n_existing, "n_rejected": report.n_rejected,
        "n_repaired": report.n_repaired, "report": json.dumps(summary, ensure_ascii=False),
    })


def _store_valid(store: LayerStore, layer: str, valid: gpd.GeoDataFrame, report: ImportReport, *,
                 path: Path, actor: str | None, t0: float, key: str | None) -> None:
    """Write ``valid`` and the import log entry in one transaction (counts into ``report``)."""
    n_valid = len(valid)
    report.n_inserted = report.n_existing = 0
    with store.bulk_transaction():
        # by blocks, in the one transaction: the progress of a long import shows in the log
        for block in list(iter_chunks(n_valid, WRITE_BLOCK)) or [slice(0, 0)]:
            written = store.write(layer, valid.iloc[block], actor=actor, validated=True)
            report.n_inserted += written.n_inserted
            report.n_existing += written.n_existing
            logger.info("enregistrement %s : %d/%d lignes (transaction en cours)", path.name,
                        block.stop, n_valid)
        report.seconds = time.perf_counter() - t0
        _record(store, report, path=path, actor=actor, key=key)


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """How :func:`import_file` reads, checks and records one file.

    Attributes
    ----------
    mapping : str, Path or Mapping_, optional
        A mapping name from ``data/mappings``, a YAML path, or a parsed mapping. Without
        one, the file's columns must carry the layer's field names.
    actor : str, optional
        Who imports (kept in the import log and status histories).
    territory_margin_m : float or None
        Reject points farther than this from every stored perimeter (None: no check).
    report_dir : str or Path, optional
        Write the reject CSV and the summary JSON there.
    strict : bool
        Store nothing if any row is rejected.
    progress : callable, optional
        Called with a short French label at each stage.
    force : bool
        Parse and check the file even when the same bytes were already imported with the
        same options (by default such a file is recognised by its hash and not read again).
    """

    mapping: str | Path | Mapping_ | None = None
    actor: str | None = None
    territory_margin_m: float | None = 20_000
    report_dir: str | Path | None = None
    strict: bool = False
    progress: Callable[[str], None] | None = None
    force: bool = False


def _resolve_mapping(mapping: str | Path | Mapping_ | None, layer: str | None) -> Mapping_ | None:
    """Load a named mapping and check it is for ``layer`` (when both are given)."""
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    if mapping is not None and layer is not None and mapping.layer != layer:
        raise MappingError(
            f"La correspondance {mapping.dataset} est pour la couche « {mapping.layer} », "
            f"pas « {layer} »."
        )
    return mapping


def _read_table(path: Path, mapping: Mapping_ | None) -> SourceTable:
    """Read the source file with the reading options of ``mapping``."""
    read_opts = dict(mapping.read) if mapping is not None else {}
    return read_source(path, fmt=read_opts.get("format"), encoding=read_opts.get("encoding"),
                       separator=read_opts.get("separator"), layer=read_opts.get("layer"))


def _mapping_for(table: SourceTable, mapping: Mapping_ | None, layer: str | None,
                 path: Path) -> tuple[Mapping_, str | None]:
    """Return the mapping to apply and the name of the recognised layout (if any).

    Without a mapping, a known published layout of ``layer`` (national QPV files, BAN CSV,
    OSM highways) is recognised from the columns; otherwise the columns must carry the
    layer's field names (any case).
    """
    if mapping is not None:
        return mapping, None
    if layer is None:
        raise MappingError("Précisez la couche ou une correspondance.")
    columns = [str(c) for c in table.frame.columns]
    layout = recognise(layer, columns)
    if layout is not None:
        return layout.to_mapping(columns), layout.name
    return identity_mapping(layer, columns, dataset=re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower())), None


def _align_columns(table: SourceTable, mapping: Mapping_) -> SourceTable:
    """Rename the file's columns the mapping names in another case or without accents."""
    renames = column_renames(sorted(mapping.columns()), [str(c) for c in table.frame.columns])
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    renames.pop(str(geometry_name), None)
    if not renames:
        return table
    logger.info("columns matched without case or accents: %s", renames)
    return replace(table, frame=table.frame.rename(columns=renames))


def _unused_columns(table: SourceTable, mapping: Mapping_) -> list[str]:
    """Return the file's columns that no field, id, geometry or filter of the mapping reads."""
    used = mapping.columns()
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    if mapping.layer == "voies":  # read by _street_levels when the mapping gives no level
        used = set(used) | {str(c) for c in table.frame.columns if fold(str(c)) in STREET_LEVEL_TAGS}
    return [str(c) for c in table.frame.columns if str(c) not in used and c != geometry_name]


#: Source columns (folded) of street levels: OpenStreetMap tags, IGN BD TOPO, plain names.
STREET_LEVEL_TAGS = frozenset({*LEVEL_COLUMNS, *(tag for tag, _ in LEVEL_TAGS)})


def _count_rejects(report: ImportReport, rejects: list[pd.DataFrame]) -> None:
    """Put the sorted rejects and their count into ``report``."""
    all_rejects = pd.concat([r for r in rejects if len(r)], ignore_index=True) if any(
        len(r) for r in rejects) else pd.DataFrame(columns=REJECT_COLUMNS)
    report.rejects = all_rejects.sort_values("row", kind="stable").reset_index(drop=True)
    # a row may have several errors, one line each
    report.n_rejected = int(all_rejects["row"].nunique())


def _refuse_if_strict(report: ImportReport) -> None:
    """Strict mode: refuse the whole file when a row is rejected."""
    if report.n_rejected:
        raise SourceFileError(
            f"Import refusé : {report.n_rejected} ligne(s) rejetée(s) (mode strict), "
            f"première : ligne {report.rejects.iloc[0]['row']} — {report.rejects.iloc[0]['reason']}."
        )


def _write_with_retries(store: LayerStore, layer: str, valid: gpd.GeoDataFrame, report: ImportReport, *,
                        path: Path, actor: str | None, t0: float, key: str | None) -> None:
    """Run :func:`_store_valid` after the streamed write was a deadlock victim, again if need be.

    In uid order: writers that all lock their rows in the same order cannot deadlock each
    other (the first, streamed attempt keeps the file's order).
    """
    to_write = valid.sort_values("uid", kind="stable")
    for attempt in range(2, WRITE_ATTEMPTS + 1):
        try:
            _store_valid(store, layer, to_write, report, path=path, actor=actor, t0=t0, key=key)
            return
        except StoreError as exc:
            if not _is_deadlock(exc):
                raise
            if attempt == WRITE_ATTEMPTS:
                raise _gave_up(path) from exc
            logger.warning("import %s: deadlock with another writer, attempt %d/%d", path.name,
                           attempt + 1, WRITE_ATTEMPTS)
            time.sleep(random.uniform(0.05, 0.3) * attempt)


def _gave_up(path: Path) -> StoreError:
    return StoreError(
        f"Import de {path.name} annulé : il est resté en conflit avec d'autres écritures "
        f"simultanées après {WRITE_ATTEMPTS} tentatives ; rien n'a été enregistré, relancez-le."
    )


@dataclass
class _Prepared:
    """An import read, mapped, located and validated, not yet stored."""

    report: ImportReport
    valid: gpd.GeoDataFrame
    valid_rows: pd.Series
    dataset: str
    path: Path


@dataclass
class _Run:
    """One import under way: what its blocks of rows share."""

    store: LayerStore
    path: Path
    layer: str | None
    opts: ImportOptions
    given: Mapping_ | None
    sha256: str
    tally: ImportTally = field(default_factory=ImportTally)
    report: ImportReport | None = None
    mapping: Mapping_ | None = None
    rejects: list[pd.DataFrame] = field(default_factory=list)
    repaired_rows: list[int] = field(default_factory=list)
    n_read: int = 0

    def step(self, label: str) -> None:
        """Tell the progress callback (first block only: the stages of the whole file)."""
        if self.opts.progress is not None:
            self.opts.progress(label)


def _source_tables(path: Path, mapping: Mapping_ | None, layer: str | None) -> tuple[Iterator[SourceTable],
                                                                                     int | None]:
    """Return the file as blocks of rows, and its number of lines when the scan counted them.

    Plain CSV files the columnar reader reads exactly as :func:`read_csv` are streamed by
    :data:`READ_BLOCK` rows; other files are read whole (one block). Street lines are read
    whole: whether the source's own level tags are used is decided on the whole file.
    """
    read_opts = dict(mapping.read) if mapping is not None else {}
    fmt = read_opts.get("format")
    suffixes = {s.lower() for s in path.suffixes}
    if fmt == "csv" or (fmt is None and bool(suffixes & CSV_SUFFIXES)):
        scan = scan_csv(path, encoding=read_opts.get("encoding"), separator=read_opts.get("separator"))
        if scan is not None:
            whole = (mapping.layer if mapping is not None else layer) == "voies"
            return iter_csv_chunks(scan, rows=scan.n_lines + 1 if whole else READ_BLOCK), scan.n_lines
    return iter([_read_table(path, mapping)]), None


def _prepare_block(run: _Run, table: SourceTable) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Run every stage but the write on one block: its valid rows and their row numbers."""
    first = run.mapping is None
    if run.mapping is None:
        mapping, layout = _mapping_for(table, run.given, run.layer, run.path)
        run.mapping = mapping
        table = _align_columns(table, mapping)
        run.report = ImportReport(layer=get_schema(mapping.layer).name, file_name=run.path.name,
                                  dataset=mapping.dataset, sha256=run.sha256, encoding=table.encoding,
                                  separator=table.separator, layout=layout,
                                  unused_columns=_unused_columns(table, mapping))
    else:
        table = _align_columns(table, run.mapping)
    mapping, store = run.mapping, run.store
    schema = get_schema(mapping.layer)
    run.rejects.append(table.rejects)
    run.n_read += table.n_read  # before the mapping's filter: the rows it leaves out are rejects
    table, filter_rejects = _filter_rows(table, mapping)
    run.rejects += filter_rejects
    if first:
        run.step("correspondance")
    mapped = _apply_rules(table, mapping)
    all_mapped = mapped
    formats = {r.name: r.format for r in mapping.fields if r.format}
    mapped, rows, source_ids, id_rejects = _check_source_ids(table, mapped, table.rows, mapping,
                                                             tally=run.tally)
    run.rejects += id_rejects
    if schema.name == "perimetres":
        mapped, rows, geography_rejects = _check_geography(mapped, rows)
        run.rejects.append(geography_rejects)
    if schema.name == "voies":
        mapped = _street_levels(table, mapped)
    if first:
        run.step("géométrie")
    gdf, rows, geometry_rejects = _locate(table, mapped, rows, mapping, target_crs=store.crs,
                                          tally=run.tally)
    run.rejects += geometry_rejects
    gdf, repaired_src = _repair(gdf, schema.geometry)
    gdf = gdf.to_crs(store.crs)
    if run.opts.territory_margin_m is not None and schema.name != "perimetres":
        gdf, rows, far_rejects = _keep_near_territory(store, gdf, rows, run.opts.territory_margin_m,
                                                      tally=run.tally)
        run.rejects.append(far_rejects)
    gdf["simulated"] = mapping.simulated
    gdf["source_dataset"] = mapping.dataset
    if first:
        run.step("validation")
    result = validate_frame(gdf, schema, rows=rows, formats=formats)
    run.rejects.append(result.rejects)
    # rows set aside before validation (id, geography, coordinates): their other errors too
    set_aside = all_mapped.index.difference(gdf.index)
    if len(set_aside):
        run.rejects.append(validate_frame(all_mapped.loc[set_aside], schema, rows=table.rows.loc[set_aside],
                                          formats=formats, check_geometry=False).rejects)
    valid = result.valid
    # the content (without the source id) makes the uid only when there is no source id
    content = valid if source_ids is not None else valid.drop(columns=["source_id"], errors="ignore")
    valid["uid"] = _uids(content, mapping, source_ids.loc[valid.index] if source_ids is not None else None,
                         tally=run.tally)
    repaired = result.repaired.union(repaired_src.intersection(valid.index))
    if "repaired" in valid.columns and len(repaired):
        valid.loc[repaired, "repaired"] = True
    run.repaired_rows += [int(r) for r in rows.loc[repaired]]
    return valid, rows.loc[valid.index]


def _finish(run: _Run) -> ImportReport:
    """Decide on the whole file (implausible coordinates) and put the counts into the report."""
    run.tally.refuse_implausible()
    report = run.report
    if report is None:  # pragma: no cover - every reader yields a block
        raise SourceFileError(f"Le fichier {run.path.name} ne contient aucune ligne.")
    _count_rejects(report, run.rejects)
    report.n_read = run.n_read
    report.repaired_rows = sorted(run.repaired_rows)
    report.n_repaired = len(report.repaired_rows)
    return report


def _new_run(store: LayerStore, path: Path, layer: str | None, opts: ImportOptions,
             sha256: str | None = None) -> tuple[_Run, Iterator[SourceTable], int | None]:
    mapping = _resolve_mapping(opts.mapping, layer)
    run = _Run(store=store, path=path, layer=layer, opts=opts, given=mapping,
               sha256=sha256 if sha256 is not None else "")
    run.step("lecture")
    tables, n_lines = _source_tables(path, mapping, layer)
    return run, tables, n_lines


def _prepare(store: LayerStore, path: Path, layer: str | None, opts: ImportOptions) -> _Prepared:
    """Run every stage of an import but the write: the report (rejects, counts read) and the valid rows."""
    run, tables, _n_lines = _new_run(store, path, layer, opts)
    valids, rows = [], []
    for table in tables:
        valid, valid_rows = _prepare_block(run, table)
        valids.append(valid)
        rows.append(valid_rows)
    report = _finish(run)
    report.sha256 = file_sha256(path)
    assert run.mapping is not None
    return _Prepared(report=report, valid=valids[0] if len(valids) == 1 else pd.concat(valids),
                     valid_rows=rows[0] if len(rows) == 1 else pd.concat(rows),
                     dataset=run.mapping.dataset, path=path)


def _stream(store: LayerStore, path: Path, layer: str | None, opts: ImportOptions, *, sha256: str,
            key: str | None, t0: float) -> ImportReport:
    """Read, check and write the file block by block in one transaction; return the report."""
    run, tables, n_lines = _new_run(store, path, layer, opts, sha256)
    n_inserted = n_existing = done = 0
    with store.bulk_transaction():
        for table in tables:
            valid, _rows = _prepare_block(run, table)
            assert run.report is not None
            if done == 0:
                run.step("enregistrement")
            # by blocks, in the one transaction: the progress of a long import shows in the log,
            # in rows of the file read (all of them when the file is read whole)
            total = n_lines if n_lines is not None else len(valid)
            blocks = list(iter_chunks(len(valid), WRITE_BLOCK))
            for k, block in enumerate(blocks):
                written = store.write(run.report.layer, valid.iloc[block], actor=opts.actor, validated=True)
                n_inserted += written.n_inserted
                n_existing += written.n_existing
                done = (run.n_read if n_lines is not None else block.stop) if k == len(blocks) - 1 \
                    else done + block.stop - block.start
                logger.info("enregistrement %s : %d/%d lignes (transaction en cours)", path.name,
                            done, max(total, done))
        report = _finish(run)
        if opts.strict:
            _refuse_if_strict(report)
        report.n_inserted, report.n_existing = n_inserted, n_existing
        report.seconds = time.perf_counter() - t0
        _record(store, report, path=path, actor=opts.actor, key=key)
    return report


@dataclass(frozen=True)
class ImportPreview:
    """What an import would do, without storing anything (:func:`preview_file`).

    Attributes
    ----------
    report : ImportReport
        Counts read and rejected and the reject list of the whole file (``n_inserted`` and
        ``n_existing`` stay 0: only the write tells new rows from those already stored).
    valid : geopandas.GeoDataFrame
        The rows that would be stored, as they would be stored (typed, in the store's CRS).
    valid_rows : pandas.Series
        Row number in the file of each valid row (same index as ``valid``).
    """

    report: ImportReport
    valid: gpd.GeoDataFrame
    valid_rows: pd.Series


def preview_file(store: LayerStore, path: str | Path, *, layer: str | None = None,
                 options: ImportOptions | None = None) -> ImportPreview:
    """Run the checks of :func:`import_file` on ``path`` and store nothing.

    Parameters and errors are those of :func:`import_file` (``report_dir`` and ``strict``
    are ignored: nothing is written, nothing refused).
    """
    prepared = _prepare(store, Path(path), layer, options if options is not None else ImportOptions())
    return ImportPreview(report=prepared.report, valid=prepared.valid, valid_rows=prepared.valid_rows)


def import_file(
    store: LayerStore,
    path: str | Path,
    *,
    layer: str | None = None,
    options: ImportOptions | None = None,
) -> ImportReport:
    """Import a source file into a layer of ``store``, all or nothing.

    A file already imported with the same options (same bytes, :func:`file_sha256`) is
    recognised before it is parsed: nothing is read again, its rows are accounted as
    already present and :attr:`ImportReport.already_imported` gives the first import's date
    (``force`` in the options parses it again).

    Parameters
    ----------
    store : LayerStore
        Destination.
    path : str or Path
        Source file (CSV, GeoJSON, GeoPackage, zipped Shapefile).
    layer : str, optional
        Destination layer; taken from the mapping when omitted.
    options : ImportOptions, optional
        Mapping, actor, territory check, report folder, strict mode, progress callback
        (defaults: :class:`ImportOptions`).

    Returns
    -------
    ImportReport

    Raises
    ------
    SourceFileError, MappingError, CRSError, RecordError
        When the file as a whole cannot be imported; the store is then unchanged.
    """
    opts = options if options is not None else ImportOptions()
    t0 = time.perf_counter()
    path = Path(path)
    sha256 = file_sha256(path) if path.is_file() else ""
    key = import_key(store, path, layer, opts) if sha256 else None
    report = None if opts.force or key is None else already_imported(store, path, sha256=sha256, key=key,
                                                                       strict=opts.strict)
    if report is not None:
        for stage in ("lecture", "correspondance", "géométrie", "validation", "enregistrement"):
            if opts.progress is not None:  # every stage answered by the first import
                opts.progress(stage)
        report.seconds = time.perf_counter() - t0
        _record(store, report, path=path, actor=opts.actor, key=key,
                extra={"deja_importe": report.already_imported})
    else:
        try:
            report = _stream(store, path, layer, opts, sha256=sha256, key=key, t0=t0)
        except StoreError as exc:
            if not _is_deadlock(exc):
                raise
            logger.warning("import %s: deadlock with another writer, attempt 2/%d", path.name, WRITE_ATTEMPTS)
            if WRITE_ATTEMPTS == 1:  # pragma: no cover - configuration
                raise _gave_up(path) from exc
            prepared = _prepare(store, path, layer, opts)
            report = prepared.report
            if opts.strict:
                _refuse_if_strict(report)
            _write_with_retries(store, report.layer, prepared.valid, report, path=path, actor=opts.actor,
                                t0=t0, key=key)
    accounted = report.n_inserted + report.n_existing + report.n_rejected
    if accounted != report.n_read:  # pragma: no cover - would be a bug in this module
        raise SourceFileError(
            f"Comptage incohérent : {report.n_read} lues, {accounted} comptabilisées."
        )
    if opts.report_dir is not None:
        report.write(Path(opts.report_dir))
    logger.info("import %s → %s: %s", path.name, report.layer, report.summary())
    return report
