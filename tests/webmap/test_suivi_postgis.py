"""Follow-up filters, address search and child reads on a PostGIS store (copy of the web test store)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flask import Flask

from layers.schema import OPEN_STATUSES
from layers.store import open_store
from layers.store.copy import copy_store
from tests.conftest import drop_schema, scratch_schema_url
from tests.webmap.conftest import PASSWORD, ROLE_LOGINS, logged_client
from webmap import users
from webmap._followup import today_paris
from webmap.app import create_app


@pytest.fixture(scope="module")
def pg_url(postgis_url: str, store_path: Path) -> Iterator[str]:
    """The web test store in a scratch PostGIS schema; 90 Paris constats get a délai, 30 are assigned."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = scratch_schema_url(postgis_url, name)
    copy_store(store_path, url)
    today = pd.Timestamp(today_paris())
    with open_store(url, create=False) as s:
        obs = s.read("observations", where={"simulated": False}, order_by="observed_at", limit=120)
        with s.transaction():
            for i, uid in enumerate(obs["uid"]):
                due = today + pd.Timedelta(days=i - 60)
                changes: dict[str, object] = {"deadline": due.date().isoformat()}
                if i % 4 == 0:
                    changes["assigned_to"] = "ville"
                if i % 5 == 0:
                    changes["status"] = "traité"
                s.update("observations", uid, changes, actor="tests")
    yield url
    drop_schema(postgis_url, name)


@pytest.fixture(scope="module")
def pg_app(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance = tmp_path_factory.mktemp("pg_suivi")
    application = create_app({"STORE": pg_url, "instance_path": str(instance),
                              "SECRET_KEY": "clef-de-test", "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        users.add_user(application.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    return application


def test_follow_up_filters_on_postgis(pg_app: Flask, pg_url: str) -> None:
    with open_store(pg_url, create=False) as s:
        obs = s.read("observations")
    deadline = pd.to_datetime(obs["deadline"], errors="coerce")
    late = set(obs.loc[(deadline < pd.Timestamp(today_paris())) & obs["status"].isin(OPEN_STATUSES), "uid"])
    assigned = set(obs.loc[obs["assigned_to"] == "ville", "uid"])
    assert len(late) >= 40 and len(assigned) >= 30
    lecteur = logged_client(pg_app, "lecteur")
    for query, expected in (("suivi=en-retard", late), ("suivi=assignes", assigned),
                            ("suivi=en-retard,assignes", late & assigned)):
        body = lecteur.get(f"/api/layers/observations/features?limit=50000&zoom=18&{query}").json
        assert {f["properties"]["uid"] for f in body["features"]} == expected, query
        assert lecteur.get(f"/api/layers/observations/stats?{query}").json["total"] == len(expected)
        text = lecteur.get(f"/api/layers/observations/export.csv?{query}").data.decode("utf-8-sig")
        assert {r["uid"] for r in csv.DictReader(io.StringIO(text), delimiter=";")} == expected
    anon = logged_client(pg_app, None)
    assert anon.get("/api/layers/observations/stats?suivi=en-retard").status_code == 403


def test_address_search_and_child_reads_on_postgis(pg_app: Flask, pg_url: str) -> None:
    anon = logged_client(pg_app, None)
    with open_store(pg_url, create=False) as s:
        addresses = s.read("adresses", limit=2000)
        events = s.read_children("points_noirs", "evenements")
    row = addresses[addresses["number"].notna() & addresses["suffix"].isna()].iloc[0]
    query = f"{int(row['number'])} {row['street']}"
    hits = anon.get("/api/adresses", query_string={"q": query}).json["resultats"]
    assert hits and hits[0]["voie"] == row["street"] and hits[0]["numero"] == int(row["number"])
    if len(events):
        pn = events["parent_uid"].iloc[0]
        body = anon.get(f"/api/points_noirs/{pn}/evenements").json
        assert len(body) == int((events["parent_uid"] == pn).sum())
