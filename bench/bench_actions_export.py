"""Benchmark of the tableau de suivi (Annexe 2) export: 10,000 actions, 50,000 constats, XLSX.

The constats are real: the 10,000 Paris Dans Ma Rue reports of ../shared/data imported
with the Dans Ma Rue mapping, then replicated 5 times with a jitter of up to 25 m (new
uids, same themes, descriptions and addresses) to make 50,000. The 10,000 actions are
simulated (``simulated`` = True, labelled « simulé » on every row): each answers 5 constats
(50,000 links in the ``constats`` child table), with axes, états, response types, pilotes,
délais and texts drawn at random (seed 15).

Measured (GeoPackage store in a temporary folder, median of ``--runs``):

- *export*: what ``qpv actions exporter --modele annexe2 --format xlsx`` does —
  :func:`layers.action_tables.plan_table` (actions, links and the 50,000 constats read from
  the store, cells built), :func:`webmap.documents.spreadsheets.table_layout` and
  :func:`~webmap.documents.spreadsheets.write_xlsx` (title rows, merged « Réponses »
  heading, styled headings, wrapped cells, frozen panes, filter);
- *build* and *write*: the two halves of it;
- *reference*, in the same run: the same DataFrame written by ``pandas.DataFrame.to_excel``
  (openpyxl engine, no style), and as a raw ``openpyxl`` write-only dump of the values.

Goal: export < 10 s. Writes ``bench/results/actions_export.json`` and prints a table.

Usage::

    python bench/bench_actions_export.py [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.action_tables import TableOptions, plan_table  # noqa: E402
from layers.importer import ImportOptions, import_file  # noqa: E402
from layers.schema import ACTION_RESPONSE_TYPES, ACTION_STATES  # noqa: E402
from layers.store import open_store  # noqa: E402
from layers.store.base import LayerStore  # noqa: E402
from webmap.documents.spreadsheets import table_layout, write_xlsx  # noqa: E402

SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "actions_export.json"
N_ACTIONS, PER_ACTION, COPIES = 10_000, 5, 5
QUARTIER = "QP075019"


def _constats(store: LayerStore, rng: np.random.Generator) -> list[str]:
    """Import the real reports, replicate them ``COPIES`` times with a jitter; return the uids."""
    import_file(store, SHARED / "paris" / "dansmarue-2023-2024-echantillon.csv",
                options=ImportOptions(mapping="dansmarue", actor="bench"))
    real = store.read("observations")
    real = real[real.geometry.notna() & ~real.geometry.is_empty]
    copies = []
    for k in range(1, COPIES):
        copy = real.copy()
        copy["uid"] = [f"{u}-c{k}" for u in real["uid"]]
        copy["source_id"] = [f"{s}-c{k}" for s in real["source_id"]]
        copy["simulated"] = True
        shift = rng.uniform(-25, 25, size=(len(copy), 2))
        xy = shapely.get_coordinates(copy.geometry.to_numpy())
        copy = copy.set_geometry(shapely.points(xy + shift), crs=store.crs)
        copies.append(copy.drop(columns=["created_at", "updated_at"]))
    for copy in copies:
        store.write("observations", copy, actor="bench")
    return [str(u) for u in store.read("observations")["uid"]]


def _actions(store: LayerStore, constats: list[str], rng: np.random.Generator) -> None:
    import geopandas as gpd

    obs = store.read("observations", uids=constats[: N_ACTIONS])
    start = date(2024, 1, 1)
    rows: list[dict[str, Any]] = []
    for i in range(N_ACTIONS):
        decided = start + timedelta(days=int(rng.integers(0, 365)))
        rows.append({
            "uid": f"action-{i:05d}", "reference": f"{QUARTIER}-2024-{i + 1:05d}",
            "title": f"Action {i + 1} : traitement des {obs['theme'].iloc[i % len(obs)]} signalés",
            "decided_at": decided, "quartier": QUARTIER, "axe": str(int(rng.integers(1, 8))),
            "probleme": str(obs["description"].iloc[i % len(obs)]),
            "address": obs["address"].iloc[i % len(obs)],
            "response_type": ACTION_RESPONSE_TYPES[int(rng.integers(0, 3))],
            "pilote": ("Ville", "Bailleur social", "Métropole")[i % 3],
            "partenaires": "Ville, bailleur, association de locataires",
            "deadline": decided + timedelta(days=int(rng.integers(15, 180))) if i % 7 else None,
            "etat": ACTION_STATES[int(rng.integers(0, len(ACTION_STATES)))],
            "conflit": "Désaccord de domanialité" if i % 11 == 0 else None,
            "delay_causes": "Attente d'un marché" if i % 9 == 0 else None,
            "evaluation": "Baisse des signalements" if i % 5 == 0 else None,
            "comment": "À revoir en COPIL" if i % 4 == 0 else None, "simulated": True,
        })
    frame = gpd.GeoDataFrame(rows, geometry=[None] * len(rows), crs=store.crs)
    store.write("actions", frame, actor="bench")
    order = rng.permutation(len(constats))[: N_ACTIONS * PER_ACTION]
    links = pd.DataFrame({
        "parent_uid": [f"action-{i // PER_ACTION:05d}" for i in range(len(order))],
        "constat_uid": [constats[j] for j in order],
        "linked_at": pd.Timestamp("2024-06-01"),
    })
    store.add_children("actions", "constats", links, actor="bench")


def _export(store: LayerStore) -> tuple[float, float, pd.DataFrame, int]:
    t0 = time.perf_counter()
    table = plan_table(store, "annexe2", options=TableOptions(quartier=QUARTIER))
    layout = table_layout(table)
    t1 = time.perf_counter()
    body = write_xlsx(layout)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, table.frame, len(body)


def _pandas(frame: pd.DataFrame) -> float:
    t0 = time.perf_counter()
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False, sheet_name="tableau_suivi")
    return time.perf_counter() - t0


def _raw(frame: pd.DataFrame) -> float:
    from openpyxl import Workbook

    t0 = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("tableau_suivi")
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append(list(row))
    wb.save(io.BytesIO())
    return time.perf_counter() - t0


def main() -> None:
    """Build the store, run the export and the references, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "bench.gpkg")
        try:
            t0 = time.perf_counter()
            constats = _constats(store, rng)
            _actions(store, constats, rng)
            setup = time.perf_counter() - t0
            n_links = len(store.read_children("actions", "constats"))
            builds, writes, pandas_times, raw_times = [], [], [], []
            for _ in range(args.runs):
                build, write, frame, size = _export(store)
                builds.append(build)
                writes.append(write)
                pandas_times.append(_pandas(frame))
                raw_times.append(_raw(frame))
        finally:
            store.close()
    export = statistics.median(b + w for b, w in zip(builds, writes, strict=True))
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "load_average_1min": round(os.getloadavg()[0], 1)},
        "actions": len(frame), "constats": len(constats), "links": n_links, "setup_s": round(setup, 1),
        "runs": args.runs, "export_s": round(export, 2), "build_s": round(statistics.median(builds), 2),
        "write_s": round(statistics.median(writes), 2), "xlsx_bytes": size,
        "reference_pandas_to_excel_s": round(statistics.median(pandas_times), 2),
        "reference_openpyxl_write_only_s": round(statistics.median(raw_times), 2),
        "goal_s": 10.0,
    }
    results["ratio_write_vs_pandas"] = round(results["write_s"] / results["reference_pandas_to_excel_s"], 2)
    results["ratio_export_vs_pandas"] = round(export / results["reference_pandas_to_excel_s"], 2)
    results["ratio_write_vs_raw"] = round(results["write_s"] / results["reference_openpyxl_write_only_s"], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"tableau de suivi : {results['actions']} actions, {results['constats']} constats, "
          f"{results['links']} liens (préparation {results['setup_s']} s)")
    for label, key in (("export (lecture + tableau + XLSX)", "export_s"),
                       ("  dont lecture et tableau", "build_s"), ("  dont écriture XLSX", "write_s"),
                       ("référence pandas.to_excel (openpyxl)", "reference_pandas_to_excel_s"),
                       ("référence openpyxl write_only", "reference_openpyxl_write_only_s")):
        print(f"{label:<40} {results[key]:>7.2f} s")
    print(f"ratio écriture / pandas : {results['ratio_write_vs_pandas']} ; export / pandas : "
          f"{results['ratio_export_vs_pandas']} ; objectif < {results['goal_s']} s : "
          f"{'atteint' if export < results['goal_s'] else 'MANQUÉ'}")


if __name__ == "__main__":
    main()
