"""Bulk write benchmark of the PostGIS store: N simulated observations in one ``write``.

Run: ``QPV_BENCH_POSTGIS=postgresql://qpv:qpv@127.0.0.1:5432/qpv_test python
bench/bench_postgis_write.py [N]`` (1,000,000 by default). The records go through the public
path (validation, uids, status histories, COPY) into a scratch schema that is dropped
afterwards; prints rows/s, then the time of a re-write (all uids existing), a bbox count,
a whole-layer grid cluster and a first page of a bbox read.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.store import open_store  # noqa: E402


def main(n: int) -> None:
    """Write ``n`` observations into a scratch schema and time the usual queries."""
    import psycopg

    base = os.environ.get("QPV_BENCH_POSTGIS") or os.environ.get("QPV_TEST_POSTGIS")
    if not base:
        sys.exit("QPV_BENCH_POSTGIS (ou QPV_TEST_POSTGIS) : adresse de la base PostGIS attendue.")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(0)
    themes = np.array(["propreté", "voirie", "encombrants", "éclairage", "dépôts sauvages"])
    frame = gpd.GeoDataFrame({
        "uid": [f"u{i:07d}" for i in range(n)],
        "observed_at": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 30_000_000, n), unit="s"),
        "theme": themes[rng.integers(0, len(themes), n)],
        "status": "nouveau",
        "description": "dépôt au pied de l'immeuble",
        "source_dataset": "bench",
    }, geometry=gpd.points_from_xy(rng.uniform(645_000, 660_000, n), rng.uniform(6_855_000, 6_870_000, n)),
        crs="EPSG:2154")
    box = (650_000.0, 6_860_000.0, 652_000.0, 6_862_000.0)
    store = open_store(f"{base}{'&' if '?' in base else '?'}schema={schema}")
    try:
        t = time.perf_counter()
        result = store.write("observations", frame)
        dt = time.perf_counter() - t
        print(f"write : {n:,} lignes en {dt:.1f} s, soit {n / dt:,.0f} lignes/s "
              f"({result.n_inserted:,} ajoutées)")
        t = time.perf_counter()
        again = store.write("observations", frame.iloc[: min(n, 100_000)])
        print(f"réécriture de {len(again.existing):,} lignes déjà là : {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        print(f"count(bbox) = {store.count('observations', bbox=box)} en {time.perf_counter() - t:.3f} s")
        t = time.perf_counter()
        cells = store.cluster("observations", cell_m=500)
        print(f"cluster(500 m) : {len(cells)} mailles en {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        page = store.read("observations", bbox=box, limit=100)
        print(f"read(bbox, limit=100) : {len(page)} en {time.perf_counter() - t:.3f} s")
    finally:
        store.close()
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
