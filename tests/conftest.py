"""Shared fixtures: the real public data in ../shared/data and scratch stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest

from geo.crs import to_territory_crs
from geo.geometry import repair_polygons
from geo.walks.network import load_street_graph

REPO = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """Return the folder of real public data (``QPV_SHARED_DATA`` or ``../shared/data``)."""
    env = os.environ.get("QPV_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data shipped beside the repository (skip when absent)."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real data folder not found: {path}")
    return path


# -- storage backends ---------------------------------------------------------------------
# Every store test runs on both backends through ``store_url``: the embedded GeoPackage and
# PostGIS. The PostGIS database comes from QPV_TEST_POSTGIS (``make test`` starts a server on
# loopback with .ci/postgres.sh and, through .ci/test.sh, a database of that run only, dropped
# at its end); each test gets its own schema, dropped afterwards.
# QPV_REQUIRE_POSTGIS=1 (set by ``make test``) turns a missing database into a failure.


def postgis_base_url() -> str | None:
    """The PostGIS test database URL, or None when none is configured."""
    return os.environ.get("QPV_TEST_POSTGIS") or None


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """Base URL of the PostGIS test database (skip, or fail under QPV_REQUIRE_POSTGIS=1)."""
    url = postgis_base_url()
    if url is None:
        message = "QPV_TEST_POSTGIS is not set: no PostGIS database to test against"
        if os.environ.get("QPV_REQUIRE_POSTGIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


def scratch_schema_url(base: str, name: str) -> str:
    """``base`` (a postgresql:// URL) pointed at the schema ``name``."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}schema={name}"


def drop_schema(base: str, name: str) -> None:
    """Drop a scratch schema of the test database."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=["gpkg", "postgis"])
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend under test."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a new, empty store on ``backend`` (a scratch file or a scratch schema)."""
    if backend == "gpkg":
        yield str(tmp_path / "store.gpkg")
        return
    base = request.getfixturevalue("postgis_url")
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield scratch_schema_url(base, name)
    drop_schema(base, name)


# -- the real Mosson QPV (geo and document tests) ---------------------------------------


@pytest.fixture(scope="session")
def mosson(shared_data: Path) -> gpd.GeoDataFrame:
    """The Mosson QPV (QP034005), repaired, in Lambert-93."""
    qpv = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    repaired, _ = repair_polygons(qpv[qpv["code_qp"] == "QP034005"])
    return to_territory_crs(repaired)


@pytest.fixture(scope="session")
def mosson_graph(shared_data: Path, mosson: gpd.GeoDataFrame) -> nx.MultiGraph:
    """Pedestrian graph of Montpellier's real streets, clipped to Mosson + 200 m."""
    return load_street_graph(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip", area=mosson,
                             margin_m=200)
