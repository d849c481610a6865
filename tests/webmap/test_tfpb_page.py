"""The TFPB page: roles, pickers, « n.d. », « simulé », and its figure against sjoin_nearest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import quote

import geopandas as gpd
import pandas as pd
import pytest
from flask import Flask

from layers.store import open_store
from layers.validate import fold
from tests.layers._tfpb_data import BAILLEUR, QUARTIER, YEAR, build_tfpb_store, quartier_reports
from tests.walkdemo import demo_store_copy
from tests.webmap.security._fixtures import build_app, client_as


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("tfpb-page")
    store = open_store(folder / "tfpb.gpkg")
    try:
        build_tfpb_store(store, folder)
    finally:
        store.close()
    yield build_app(folder / "tfpb.gpkg", folder / "instance")


def _html(app: Flask, url: str, role: str = "lecteur") -> str:
    response = client_as(app, role).get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _plain(html: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_roles(app: Flask) -> None:
    anonymous = client_as(app, "anonyme").get("/tfpb")
    assert anonymous.status_code == 302 and "/connexion" in anonymous.headers["Location"]
    for role in ("lecteur", "technicien", "administrateur"):
        assert "Programme d'actions TFPB" in _html(app, "/tfpb", role)
    header = _html(app, "/")
    assert 'href="/tfpb"' in header  # the header entry « TFPB »


def test_figure_equals_plain_sjoin_nearest(app: Flask) -> None:
    html = _html(app, f"/tfpb?bailleur={quote(BAILLEUR)}&annee={YEAR}")
    store = open_store(app.config["STORE"], create=False)
    try:
        reports = quartier_reports(store)
        actions = store.read("actions").to_crs(2154)
    finally:
        store.close()
    constats = reports[pd.to_datetime(reports["observed_at"]).dt.year == YEAR]
    mine = actions[actions["tfpb"].fillna(False).astype(bool) & (actions["tfpb_year"] == YEAR)
                   & actions["bailleur"].map(lambda v: fold(str(v)) == fold(BAILLEUR))]
    located = mine[mine.geometry.notna()]
    joined = gpd.sjoin_nearest(constats, located[["geometry"]], how="left", max_distance=100)
    near = joined["index_right"].notna().groupby(level=0).any()
    expected_pct = round(100 * near.mean())
    figure = re.search(r'id="tfpb-part" data-n="(\d+)" data-proches="(\d+)"', html)
    assert figure is not None
    assert (int(figure.group(1)), int(figure.group(2))) == (len(constats), int(near.sum()))
    text = _plain(html)
    assert f"{expected_pct}\u00a0% des constats des quartiers ({int(near.sum())} sur {len(constats)})" in text
    # by theme: the row's share is the sjoin figure of the theme
    for theme, sub in near.groupby(constats["theme"]):
        row = re.search(rf'data-theme="{re.escape(theme)}">(.*?)</tr>', html, re.S)
        assert row is not None, theme
        assert f"{round(100 * sub.mean())}\u00a0%" in _plain(row.group(1)), theme
    # the map gets every constat and the located actions with their buffers
    data = json.loads(unescape(re.search(r'id="tfpb-donnees">(.*?)</script>', html, re.S).group(1)))
    assert len(data["constats"]["features"]) == len(constats)
    assert sum(f["properties"]["proche"] for f in data["constats"]["features"]) == int(near.sum())
    assert len(data["actions"]["features"]) == len(located) == len(data["zones"]["features"])


def test_programme_amounts_nd_and_simulated(app: Flask) -> None:
    html = _html(app, f"/tfpb?bailleur=paris%20habitat&annee={YEAR}")
    assert f"— {BAILLEUR}, {YEAR}" in _plain(html)  # folded match, shown as spelled in the data
    axe4 = re.search(r'data-axe="4">(.*?)</tr>', html, re.S)
    assert axe4 is not None  # no amount known: each of the four amounts is n.d., not 0
    assert re.findall(r'class="tf-montant">([^<\n]*)', axe4.group(1)) == ["n.d."] * 4
    axe5 = re.search(r'data-axe="5">(.*?)</tr>', html, re.S)
    assert axe5 is not None and "simulé" in axe5.group(1)
    axe3 = re.search(r'data-axe="3">(.*?)</tr>', html, re.S)
    assert axe3 is not None and "simulé" not in axe3.group(1) and "20\u202f000\u00a0€" in axe3.group(1)
    total = re.search(r'data-axe="total">(.*?)</tr>', html, re.S)
    assert total is not None and "<progress" in total.group(1)
    assert "simulé" in re.search(r'id="tfpb-part".*?</p>', html, re.S).group(0)
    assert 'href="/tfpb/bilan.xlsx?bailleur=Paris+Habitat&amp;annee=2024"' in html
    assert 'style="' not in html and "<style" not in html  # CSP: no inline styles


def test_unserved_list(app: Flask) -> None:
    html = _html(app, f"/tfpb?bailleur={quote(BAILLEUR)}&annee={YEAR}")
    listed = re.findall(r'<tr data-uid="([^"]+)">', html)
    section = re.search(r'id="tfpb-sans-action">.*?\((\d+)\)</h2>', html, re.S)
    assert section is not None and int(section.group(1)) == len(listed) > 0


def test_default_year_is_the_bailleurs_latest(app: Flask) -> None:
    """Without ``annee``: the latest year of this bailleur, not the latest of any bailleur."""
    text = _plain(_html(app, "/tfpb?bailleur=Paris%20Habitat"))
    assert f"Paris Habitat, {YEAR}" in text  # Elogie-Siemp has a programme in YEAR + 2


def test_bailleur_without_data_says_so(app: Flask) -> None:
    text = _plain(_html(app, f"/tfpb?bailleur=Bailleur%20inconnu&annee={YEAR}"))
    assert f"Aucune action TFPB de « Bailleur inconnu » pour {YEAR}." in text
    assert "n.d." in text and "%" not in text.split("Programme par axe")[0].split("Où sont")[1]
    bad = client_as(app, "lecteur").get("/tfpb?annee=deux-mille")
    assert bad.status_code == 400 and "annee" in bad.get_data(as_text=True)
    assert QUARTIER  # the fixture's quartier is the one compared


def test_demo_page_figure_equals_sjoin_nearest(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The demo's simulated bailleur: the page's figure is the plain sjoin_nearest figure."""
    path = demo_store_copy(tmp_path_factory, "tfpb-demo")
    app = build_app(path, path.parent / "instance")
    store = open_store(path, create=False)
    try:
        actions = store.read("actions").to_crs(2154)
        perimeters = store.read("perimetres").to_crs(2154)
        observations = store.read("observations").to_crs(2154)
    finally:
        store.close()
    tfpb = actions[actions["tfpb"].fillna(False).astype(bool)]
    assert not tfpb.empty, "the demo has a simulated TFPB programme"
    bailleur, year = str(tfpb["bailleur"].iloc[0]), int(tfpb["tfpb_year"].iloc[0])
    html = _html(app, f"/tfpb?bailleur={quote(bailleur)}&annee={year}")
    mine = tfpb[(tfpb["bailleur"] == bailleur) & (tfpb["tfpb_year"] == year)]
    located = mine[mine.geometry.notna()]
    touched = gpd.sjoin(perimeters, located[["geometry"]], predicate="intersects")["code"]
    codes = sorted(set(touched) | set(mine["quartier"].dropna()))
    tag = re.search(r'<p class="tf-chiffre" id="tfpb-part"[^>]*>', html)
    assert tag is not None
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag.group(0)))
    assert attrs["quartiers"].split(",") == codes
    when = pd.to_datetime(observations["observed_at"])
    period = observations[(when >= pd.Timestamp(attrs["debut"])) & (when < pd.Timestamp(attrs["fin"]))]
    areas = perimeters[perimeters["code"].isin(codes)]
    inside = gpd.sjoin(period, areas[["geometry"]], predicate="intersects")
    constats = period.loc[sorted(set(inside.index))]
    joined = gpd.sjoin_nearest(constats, located[["geometry"]], how="left", max_distance=100)
    near = joined["index_right"].notna().groupby(level=0).any()
    assert (int(attrs["n"]), int(attrs["proches"])) == (len(constats), int(near.sum()))
    assert 0 < int(near.sum()) < len(constats)
    assert f"{round(100 * near.mean())}\u00a0% des constats des quartiers" in _plain(html)
    assert "simulé" in re.search(r'id="tfpb-part".*?</p>', html, re.S).group(0)


def test_unlocated_programme_shows_nd(app: Flask) -> None:
    store = open_store(app.config["STORE"], create=False)
    try:
        when = pd.Timestamp(YEAR, 4, 1).date()
        action = gpd.GeoDataFrame({"title": ["Médiation sans lieu"], "decided_at": [when], "tfpb": [True],
                                   "bailleur": ["Bailleur sans carte"], "tfpb_year": [YEAR],
                                   "tfpb_axe": ["1"], "quartier": [QUARTIER]}, geometry=[None], crs=2154)
        store.write("actions", action, actor="tests")
    finally:
        store.close()
    html = _html(app, f"/tfpb?bailleur={quote('Bailleur sans carte')}&annee={YEAR}")
    figure = _plain(re.search(r'id="tfpb-part".*?</p>', html, re.S).group(0))
    assert "d'une action TFPB de Bailleur sans carte : n.d. (aucune action localisée ;" in figure
    assert " 0 sur " not in figure
    heading = _plain(re.search(r'id="tfpb-sans-action">.*?</h2>', html, re.S).group(0))
    assert heading.strip().endswith("(n.d.)") and "Aucun :" not in _plain(html)
