"""A TFPB programme on real data: the Paris QPV QP075019 and the real Dans Ma Rue reports.

The actions are placed on the locations of real reports of the quartier; the data are made
messy on purpose: the bailleur spelled several ways, amounts missing, an action without
geometry, one without axe, another bailleur, another year, a year without reports (2026),
simulated rows; every third
report of the quartier is set on the bailleur's domanialité and a building named for the
bailleur covers a few more.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import LayerStore

DEMO = REPO_ROOT / "data" / "demo"
BAILLEUR = "Paris Habitat"
QUARTIER = "QP075019"
YEAR = 2024


def quartier_reports(store: LayerStore) -> gpd.GeoDataFrame:
    """The reports inside QP075019 (every year), in EPSG:2154, sorted by uid."""
    per = store.read("perimetres", where={"code": QUARTIER}).to_crs(2154)
    obs = store.read("observations").to_crs(2154)
    inside = gpd.sjoin(obs, per[["geometry"]], predicate="intersects")
    inside = inside[~inside.index.duplicated()].drop(columns="index_right")
    return inside.sort_values("uid")


def build_tfpb_store(store: LayerStore, folder: Path, *, with_reports: bool = True) -> None:
    """Import the Paris QPV and reports (unless already there) and add the TFPB programme."""
    if with_reports:
        for name, mapping in (("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
                              ("paris/dansmarue-2023-2024-echantillon.csv.gz", "dansmarue")):
            import_file(store, DEMO / name,
                        options=ImportOptions(mapping=mapping, actor="tests", report_dir=folder / "rejets"))
    reports = quartier_reports(store)
    for uid in reports["uid"].iloc[::3]:
        store.update("observations", uid, {"domanialite": "bailleur"}, actor="tests")
    pts = reports.geometry
    b = pts.iloc[4]
    building = gpd.GeoDataFrame({"name": ["PARIS HABITAT"], "kind": ["logement social"],
                                 "quartier": [QUARTIER]},
                                geometry=[box(b.x - 30, b.y - 30, b.x + 30, b.y + 30)], crs=2154)
    other = gpd.GeoDataFrame({"name": ["Elogie-Siemp"], "kind": ["logement social"],
                              "quartier": [QUARTIER]},
                             geometry=[box(b.x + 200, b.y - 30, b.x + 260, b.y + 30)], crs=2154)
    store.write("batiments", pd.concat([building, other], ignore_index=True), actor="tests")
    p = pts.iloc[20]
    geoms = [pts.iloc[0], pts.iloc[9], pts.iloc[18], pts.iloc[27], pts.iloc[36],
             box(p.x - 30, p.y - 20, p.x + 30, p.y + 20), None, pts.iloc[45], pts.iloc[50], pts.iloc[55],
             pts.iloc[61]]
    PH, Y = BAILLEUR, YEAR
    rows = [
        # bailleur, year, axe, sous-action, état, planned, committed, deferred, valued, simulated
        (PH, Y, "3", "Renforcement nettoyage", "réalisée", 12000.0, 11000.0, None, 9000.0, False),
        ("paris  HABITAT", Y, "3", "Enlèvement de tags et graffitis", "engagée",
         8000.0, None, None, None, False),
        (PH, Y, "4", "Gestion des encombrants", "à engager", None, None, None, None, False),
        ("Paris Hábitat", Y, "5", "Vidéosurveillance", "reportée", 30000.0, 0.0, 30000.0, None, True),
        (PH, Y, "1", "Agents de médiation sociale", "engagée", 45000.0, 45000.0, None, 40000.0, False),
        (PH, Y, "8", "Petits travaux d'amélioration du cadre de vie", "réalisée",
         5000.0, 5000.0, None, 5200.0, True),
        (PH, Y, "6", "Enquêtes de satisfaction territorialisées", "abandonnée",
         2000.0, None, None, None, False),
        (PH, Y, None, "Sous-action libre", "engagée", 1500.0, None, None, None, False),
        ("Elogie-Siemp", Y, "3", "Renforcement nettoyage", "engagée", 9000.0, None, None, None, False),
        (PH, Y - 1, "3", "Renforcement nettoyage", "réalisée", 7000.0, 7000.0, None, 7000.0, False),
        ("Elogie-Siemp", Y + 2, "4", "Gestion des encombrants", "à engager", 3000.0, None, None, None, False),
    ]
    cols = ["bailleur", "tfpb_year", "tfpb_axe", "tfpb_sous_action", "etat", "amount_planned",
            "amount_committed", "amount_deferred", "amount_valued", "simulated"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["title"] = [f"Action TFPB {i + 1}" for i in range(len(rows))]
    frame["reference"] = [f"TFPB-{YEAR}-{i + 1:03d}" for i in range(len(rows))]
    frame["decided_at"] = date(YEAR, 2, 1)
    frame["tfpb"] = True
    frame["convention"] = "lillers-2023"
    frame["quartier"] = [QUARTIER] * 6 + [QUARTIER, None, QUARTIER, QUARTIER, QUARTIER]
    actions = gpd.GeoDataFrame(frame, geometry=geoms, crs=2154)
    store.write("actions", actions, actor="tests")
    plain = gpd.GeoDataFrame({"title": ["Action hors TFPB"], "decided_at": [date(YEAR, 3, 1)],
                              "bailleur": [BAILLEUR], "tfpb_year": [YEAR], "tfpb": [False]},
                             geometry=[pts.iloc[60]], crs=2154)
    store.write("actions", plain, actor="tests")
