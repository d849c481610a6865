"""The quartier dashboards through the Flask client: roles, confidential figures, downloads, French errors.

Every figure checked here is recomputed from the store of the web tests (real Paris QPV and
Dans Ma Rue reports, real Paris cameras, simulated Montpellier points noirs) without the
dashboard's code: month counts of the reports inside the perimeter, cameras inside it,
dumpings of each point noir.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import date
from typing import Any

import openpyxl
import pandas as pd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import Markup

from layers.store import open_store
from tests.webmap.conftest import PASSWORD, client_logged_as
from webmap import users
from webmap.analysis_style import GI_CLASSES
from webmap.app import create_app

CODE = "QP075019"
PERIOD = "debut=2023-09&fin=2024-08"
THEME = "dépôts sauvages"


def _csv(client: FlaskClient, url: str) -> pd.DataFrame:
    res = client.get(url)
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    assert res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    return pd.read_csv(io.BytesIO(res.data), sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)


def _xlsx(client: FlaskClient, url: str) -> list[tuple[Any, ...]]:
    res = client.get(url)
    assert res.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(res.data), read_only=True)
    return list(book.active.iter_rows(values_only=True))


def _perimeter(store: Any, code: str) -> Any:
    per = store.read("perimetres", where={"code": code})
    return shapely.make_valid(shapely.union_all(per.geometry.to_numpy()))


def _monthly_reports(store: Any, code: str, start: str, end: str) -> pd.Series:
    """Dumping reports of ``code`` per month, counted straight from the observations."""
    obs = store.read("observations", where={"theme": THEME})
    geom = _perimeter(store, code)
    inside = obs[shapely.contains_xy(geom, obs.geometry.x.to_numpy(), obs.geometry.y.to_numpy())]
    when = pd.to_datetime(inside["observed_at"])
    when = when[(when >= pd.Timestamp(start)) & (when < pd.Timestamp(end) + pd.offsets.MonthBegin(1))]
    months = pd.period_range(start, end, freq="M")
    return when.dt.to_period("M").value_counts().reindex(months, fill_value=0)


def test_pages_need_an_account(clients: dict[str, FlaskClient]) -> None:
    for url in ("/quartiers", f"/quartiers/{CODE}"):
        res = clients["anonyme"].get(url)
        assert res.status_code == 302 and "/connexion" in res.headers["Location"]
    assert clients["anonyme"].get(f"/quartiers/{CODE}/indicateurs.csv").status_code == 401
    for role in ("lecteur", "technicien", "administrateur"):
        html = clients[role].get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
        assert "Les Portes Du Vingtième" in html
        assert re.search(r'href="/quartiers"\s+aria-current="page"', html)  # the header marks the entry


def test_indicator_counts_match_the_store(lecteur: FlaskClient, store: Any) -> None:
    expected = _monthly_reports(store, CODE, "2023-09", "2024-08")
    assert expected.sum() > 10  # real reports in the period
    table = _csv(lecteur, f"/quartiers/{CODE}/indicateurs.csv?{PERIOD}")
    depots = table[table["Indicateur"].str.startswith("Dépôts recensés")]
    assert list(depots["Mois"]) == [str(m) for m in expected.index]
    assert [int(v) for v in depots["Valeur"]] == list(expected)
    assert set(depots["Donnée"]) == {"réelle"}
    # the page shows the same total, and the bars the same months
    html = lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
    block = html[html.index('id="indicateur-depots"') : html.index('id="indicateur-delai-enlevement"')]
    assert f'data-total="{expected.sum()}"' in block
    for month, n in expected.items():
        if n:
            assert f"<title>{month} (période) : {n}</title>" in block
    # the XLSX holds the rows of the CSV
    rows = _xlsx(lecteur, f"/quartiers/{CODE}/indicateurs.xlsx?{PERIOD}")
    assert list(rows[0]) == list(table.columns)
    x_depots = [r for r in rows[1:] if str(r[0]).startswith("Dépôts recensés")]
    assert [int(r[3]) for r in x_depots] == list(expected)


def test_previous_year_unknown_before_the_source(lecteur: FlaskClient, store: Any) -> None:
    first = pd.to_datetime(store.read("observations")["observed_at"]).min()
    assert first >= pd.Timestamp("2023-08-01")  # the reports start in August 2023
    table = _csv(lecteur, f"/quartiers/{CODE}/indicateurs.csv?{PERIOD}")
    depots = table[table["Indicateur"].str.startswith("Dépôts recensés")]
    before = depots[depots["Mois de l'année précédente"] < first.strftime("%Y-%m")]
    assert len(before) >= 10 and set(before["Valeur de l'année précédente"]) == {""}  # n.d., not 0
    html = lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
    assert "année précédente : n.d." in html and "la source ne couvre ce quartier que de" in html


def test_period_changes_the_figures(lecteur: FlaskClient, store: Any) -> None:
    short = _csv(lecteur, f"/quartiers/{CODE}/indicateurs.csv?debut=2024-01&fin=2024-06")
    depots = short[short["Indicateur"].str.startswith("Dépôts recensés")]
    assert list(depots["Mois"]) == [f"2024-0{i}" for i in range(1, 7)]
    assert [int(v) for v in depots["Valeur"]] == list(_monthly_reports(store, CODE, "2024-01", "2024-06"))
    html = lecteur.get(f"/quartiers/{CODE}?periode=2024-01:2024-06").get_data(as_text=True)
    assert "du 01/01/2024 au 30/06/2024" in html and 'value="2024-01"' in html and 'value="2024-06"' in html


def test_default_period_is_the_last_twelve_months_of_data(lecteur: FlaskClient, store: Any) -> None:
    geom = _perimeter(store, CODE)
    obs = store.read("observations", bbox=tuple(geom.bounds))
    last = pd.to_datetime(obs["observed_at"]).max().to_period("M")
    html = lecteur.get(f"/quartiers/{CODE}").get_data(as_text=True)
    start = (last - 11).start_time.strftime("%d/%m/%Y")
    end = last.end_time.strftime("%d/%m/%Y")
    assert f"Période du {start} au {end}" in html


@pytest.mark.parametrize(
    "query",
    [
        "debut=2024-13&fin=2024-02",
        "periode=n%27importe",
        "debut=2024-06&fin=2024-01",
        "debut=2024-01",
        "debut=2010-01&fin=2024-01",
    ],
)
def test_bad_period_is_a_french_400(lecteur: FlaskClient, query: str) -> None:
    for url in (
        f"/quartiers/{CODE}?{query}",
        f"/quartiers/{CODE}/indicateurs.csv?{query}",
        f"/quartiers?{query}",
    ):
        res = lecteur.get(url)
        assert res.status_code == 400, url
        text = res.get_data(as_text=True)
        assert "Paramètre « periode »" in text and "Demande incorrecte" in text


def test_unknown_quartier_and_table(lecteur: FlaskClient) -> None:
    res = lecteur.get("/quartiers/QP999999")
    assert res.status_code == 404 and "Quartier « QP999999 » inconnu." in res.get_data(as_text=True)
    assert lecteur.get(f"/quartiers/{CODE}/inconnu.csv").status_code == 404
    assert lecteur.get(f"/quartiers/{CODE}/indicateurs.ods").status_code == 404


def test_cctv_figures_only_for_roles_that_see_the_layer(
    lecteur: FlaskClient, tech: FlaskClient, store: Any
) -> None:
    cams = store.read("videoprotection")
    geom = _perimeter(store, CODE)
    n_cams = int(shapely.contains_xy(geom, cams.geometry.x.to_numpy(), cams.geometry.y.to_numpy()).sum())
    assert n_cams > 0
    tech_rows = dict(_csv(tech, f"/quartiers/{CODE}/couverture.csv?{PERIOD}").values.tolist())
    assert int(tech_rows["Sites de vidéoprotection dans le quartier"]) == n_cams
    assert tech_rows["Part des événements vus par une caméra"] != ""
    lect_rows = dict(_csv(lecteur, f"/quartiers/{CODE}/couverture.csv?{PERIOD}").values.tolist())
    assert not any("vidéoprotection" in k or "caméra" in k for k in lect_rows)
    for client, shown in ((tech, True), (lecteur, False)):
        html = client.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
        assert ('id="chiffres-videoprotection"' in html) is shown
        assert ("Part des événements vus par une caméra" in html) is shown
        assert ("Part couverte" in html) is shown  # the coverage notes: assumed fields, honest share
        keys = set(_csv(client, f"/quartiers/{CODE}/chiffres-cles.csv?{PERIOD}")["Indicateur"])
        assert ("Part des événements vus par une caméra" in keys) is shown


def test_no_container_source_is_unknown_not_zero(lecteur: FlaskClient, store: Any) -> None:
    geom = _perimeter(store, CODE)
    assert store.read("bacs", bbox=tuple(geom.buffer(1000).bounds)).empty  # no container source in Paris
    rows = dict(_csv(lecteur, f"/quartiers/{CODE}/couverture.csv?{PERIOD}").values.tolist())
    assert rows["Bacs et points d'apport dans le quartier"] == ""
    assert "aucune source ne le couvre" in lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)


def _quartier_with_points_noirs(store: Any) -> tuple[str, Any]:
    pn = store.read("points_noirs")
    for code, geom in zip(store.read("perimetres")["code"], store.read("perimetres").geometry, strict=True):
        inside = pn[
            shapely.contains_xy(shapely.make_valid(geom), pn.geometry.x.to_numpy(), pn.geometry.y.to_numpy())
        ]
        if len(inside):
            return str(code), inside
    raise AssertionError("aucun point noir dans un quartier")


def test_recurrence_by_point_noir_names_and_counts(lecteur: FlaskClient, store: Any) -> None:
    code, sites = _quartier_with_points_noirs(store)
    events = store.read_children("points_noirs", "evenements", parent_uids=list(sites["uid"]))
    when = pd.to_datetime(events["observed_at"])
    keep = events[(when >= "2024-01-01") & (when < "2024-07-01")]
    table = _csv(lecteur, f"/quartiers/{code}/recurrence.csv?debut=2024-01&fin=2024-06")
    assert sorted(table["Point noir"]) == sorted(sites["name"])
    by_name = dict(zip(table["Point noir"], table["Dépôts (période)"], strict=True))
    for uid, name, address in zip(sites["uid"], sites["name"], sites["address"], strict=True):
        assert int(by_name[name]) == int((keep["parent_uid"] == uid).sum())
        assert address in set(table["Adresse"])
    assert set(table["Donnée"]) == {"simulée"}  # simulated points noirs, labelled per row
    first = pd.to_datetime(events["observed_at"]).min()
    assert first >= pd.Timestamp("2024-01-01")  # the simulated dumpings start in 2024
    assert set(table["Dépôts (année précédente)"]) == {""}  # 2023: before the source, n.d.
    html = lecteur.get(f"/quartiers/{code}?debut=2024-01&fin=2024-06").get_data(as_text=True)
    for uid, name in zip(sites["uid"], sites["name"], strict=True):
        assert str(Markup.escape(name)) in html and uid not in html  # its name, never its internal id
    assert "simulée" in html


def test_hotspot_classes_and_legend(lecteur: FlaskClient) -> None:
    html = lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
    assert "Comment lire :" in html
    for c in GI_CLASSES:
        assert c.label in html and c.color in html
    fills = set(re.findall(r'<path d="[^"]+" fill="(#[0-9a-f]{6})"', html))
    assert fills and fills <= {c.color for c in GI_CLASSES} | {
        c.color for c in __import__("webmap.analysis_style", fromlist=["EMERGING_CLASSES"]).EMERGING_CLASSES
    }
    table = _csv(lecteur, f"/quartiers/{CODE}/points-chauds.csv?{PERIOD}")
    assert list(table["Classe"]) == [c.label for c in GI_CLASSES]
    counted = sum(int(v) for v in table["Mailles dans le quartier"])
    assert counted > 0


def test_territory_compares_the_quartiers(lecteur: FlaskClient, store: Any) -> None:
    per = store.read("perimetres")
    table = _csv(lecteur, "/quartiers/comparaison.csv?debut=2023-09&fin=2024-08")
    assert sorted(table["Quartier"]) == sorted(per["code"])
    assert set(table["Pour 1 000 habitants"]) == {""}  # no population in the store: n.d.
    row = table[table["Quartier"] == CODE].iloc[0]
    assert int(row["Événements"]) == int(_monthly_reports(store, CODE, "2023-09", "2024-08").sum())
    assert row["Donnée"] == "réelle"  # real Dans Ma Rue reports
    obs = store.read("observations", where={"theme": THEME}, start="2023-09-01", end="2024-09-01")
    checked = 0
    for code, label in zip(table["Quartier"], table["Donnée"], strict=True):
        geom = _perimeter(store, code)
        inside = obs[shapely.contains_xy(geom, obs.geometry.x.to_numpy(), obs.geometry.y.to_numpy())]
        if len(inside) and inside["simulated"].all():
            assert label == "simulée", code  # labelled per row
            checked += 1
    assert checked >= 3
    html = lecteur.get("/quartiers?debut=2023-09&fin=2024-08").get_data(as_text=True)
    assert f'href="/quartiers/{CODE}?debut=2023-09&amp;fin=2024-08"' in html
    assert "Comparaison des quartiers" in html and "n.d." in html
    rows = _xlsx(lecteur, "/quartiers/comparaison.xlsx?debut=2023-09&fin=2024-08")
    assert len(rows) == len(per) + 1


def test_report_button_parameters_start_a_job(app: Flask, lecteur: FlaskClient) -> None:
    html = lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="quartier-page">(.*?)</script>', html)
    assert found is not None
    page = __import__("json").loads(found.group(1))
    assert page == {"quartier": CODE, "periode": "2023-09:2024-08"}
    res = lecteur.post("/api/jobs", json={"kind": "rapport", "params": page})
    assert res.status_code == 202 and res.json["state"] == "en attente"
    assert res.json["params"]["quartier"] == CODE and date.fromisoformat(res.json["created"][:10])


def test_treatment_unknown_when_the_source_does_not_follow_it(lecteur: FlaskClient, store: Any) -> None:
    """Dans Ma Rue's export holds every report as « transmis », never resolved: treated is n.d., not 0.

    Other tests of the session may add constats to the shared store; the expectation follows
    what the store holds in the two periods (a follow-up status or a resolution date anywhere
    in the quartier makes the treated counts known).
    """
    obs = store.read("observations", start="2022-09-01", end="2024-09-01")
    geom = _perimeter(store, CODE)
    inside = obs[shapely.contains_xy(geom, obs.geometry.x.to_numpy(), obs.geometry.y.to_numpy())]
    real = inside[inside["source_dataset"].astype(str).str.contains("dansmarue", case=False)]
    assert len(real) > 50 and set(real["status"]) == {"transmis"} and real["resolved_at"].isna().all()
    followed = bool(inside["status"].isin(["traité", "en cours", "clos non traité"]).any()
                    or inside["resolved_at"].notna().any())
    figures = dict(_csv(lecteur, f"/quartiers/{CODE}/chiffres-cles.csv?{PERIOD}").values.tolist())
    assert (figures["Part des dysfonctionnements traités"] != "") is followed  # unknown, not 0 %
    assert int(figures["Dysfonctionnements identifiés"]) > 0
    table = _csv(lecteur, f"/quartiers/{CODE}/indicateurs.csv?{PERIOD}")
    treated = table[table["Indicateur"].str.startswith("Dysfonctionnements traités")]
    assert len(treated) == 12 and (set(treated["Valeur"]) == {""}) is not followed
    html = lecteur.get(f"/quartiers/{CODE}?{PERIOD}").get_data(as_text=True)
    assert ("ne suit pas leur traitement" in html) is not followed


def test_a_new_record_refreshes_the_cached_dashboard(store_path: Any, tmp_path: Any) -> None:
    """The cache follows the store: an observation written after a visit shows on the next one."""
    path = tmp_path / "copie.gpkg"
    shutil.copy(store_path, path)
    own = create_app({"STORE": str(path), "instance_path": str(tmp_path / "instance"),
                      "SECRET_KEY": "clef-cache", "TESTING": True})
    users.add_user(own.config["USERS_DB"], "lou", PASSWORD, role="lecteur", organisation="ville")
    client = client_logged_as(own, "lou")
    url = f"/quartiers/{CODE}/indicateurs.csv?debut=2024-01&fin=2024-06"

    def january() -> int:
        table = _csv(client, url)
        return int(table[table["Indicateur"].str.startswith("Dépôts recensés")].iloc[0]["Valeur"])

    before = january()
    s = open_store(path, create=False)
    try:
        geom = _perimeter(s, CODE)
        spot = geom.representative_point()
        record = s.read("observations", where={"theme": THEME}).iloc[:1].copy()
        record["uid"] = "obs-cache-essai"
        record["source_id"] = "obs-cache-essai"
        record["observed_at"] = pd.Timestamp("2024-01-15 10:00")
        record = record.set_geometry([spot], crs=record.crs)
        s.write("observations", record, actor="tests")
    finally:
        s.close()
    assert january() == before + 1


def test_pages_have_no_inline_script_or_style(lecteur: FlaskClient) -> None:
    """The CSP forbids them: page data travel in a JSON script, styles in quartiers.css."""
    pages = ("/quartiers", f"/quartiers/{CODE}?{PERIOD}", "/quartiers/QP999999", f"/quartiers/{CODE}?debut=x")
    for url in pages:
        html = lecteur.get(url).get_data(as_text=True)
        assert "style=" not in html and "<style" not in html, url
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert 'lang="fr"' in html
