"""``/admin/imports``: roles, upload checks, mapping proposal, preview, the « import » job.

The file imported is real: 60 Dans Ma Rue reports of Paris (../shared/data) republished as
another publisher would (columns renamed, « ; » separator, Windows-1252, dates JJ/MM/AAAA,
decimal commas, coordinates in two columns), with three bad rows: a date that does not
exist, a point in Lyon, a report without category.
"""

from __future__ import annotations

import ast
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.store import open_store
from tests.webmap.conftest import PASSWORD, ROLE_LOGINS, logged_client
from webmap import users
from webmap.app import create_app
from webmap.jobs.views import job_queue

#: 0-based positions of the bad rows in the messy file, and what is wrong with them.
BAD_DATE, FAR_AWAY, NO_CATEGORY = 4, 16, 41
#: Decisions a person takes in the page for the categories the proposal leaves open.
DECISIONS = {"Objets abandonnés": "dépôts sauvages", "Autos, motos, vélos, trottinettes...": "stationnement",
             "Arbres, végétaux et animaux": "espaces verts",
             "Activités commerciales et professionnelles": "tranquillité"}


def messy_reports(shared_data: Path, path: Path, *, n: int = 60) -> Path:
    """Write ``n`` real Dans Ma Rue reports as another publisher would, with three bad rows."""
    src = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", dtype=str, nrows=n)
    points = src["geo_point_2d"].map(ast.literal_eval)
    out = pd.DataFrame({
        "Référence": src["id_dmr"], "Catégorie": src["type"], "Sous-catégorie": src["soustype"],
        "Adresse du signalement": src["adresse"],
        "Date signalement": pd.to_datetime(src["datedecl"]).dt.strftime("%d/%m/%Y"),
        "Longitude": [f"{p['lon']:.6f}".replace(".", ",") for p in points],
        "Latitude": [f"{p['lat']:.6f}".replace(".", ",") for p in points],
    })
    out.loc[BAD_DATE, "Date signalement"] = "31/02/2024"
    out.loc[FAR_AWAY, ["Longitude", "Latitude"]] = ["4,835700", "45,764000"]  # Lyon, place Bellecour
    out.loc[NO_CATEGORY, "Catégorie"] = ""
    out.to_csv(path, sep=";", index=False, encoding="cp1252")
    return path


@pytest.fixture(scope="module")
def imports_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a copy of the web tests' store (imports change it), one account per role."""
    folder = tmp_path_factory.mktemp("imports-web")
    path = folder / "imports.gpkg"
    shutil.copy(store_path, path)
    app = create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-imports", "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    yield app


@pytest.fixture
def admin_client(imports_app: Flask) -> FlaskClient:
    return logged_client(imports_app, "administrateur")


@pytest.fixture
def messy(shared_data: Path, tmp_path: Path) -> Path:
    return messy_reports(shared_data, tmp_path / "signalements-paris.csv")


def upload(client: FlaskClient, content: bytes, name: str) -> Any:
    return client.post("/admin/imports/fichiers", data={"fichier": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def _choices(**extra: Any) -> dict[str, Any]:
    return {"base": "proposée", "colonnes": {"address": "Adresse du signalement"},
            "valeurs": {"theme": DECISIONS}, **extra}


def _count(app: Flask, layer: str = "observations") -> int:
    store = open_store(app.config["STORE"], create=False)
    try:
        return int(store.count(layer))
    finally:
        store.close()


@pytest.mark.parametrize(("role", "status"), [(None, 302), ("lecteur", 403), ("technicien", 403),
                                              ("administrateur", 200)])
def test_only_administrators_open_the_page(imports_app: Flask, role: str | None, status: int) -> None:
    client = logged_client(imports_app, role)
    resp = client.get("/admin/imports")
    assert resp.status_code == status
    if role is None:
        assert "/connexion" in resp.headers["Location"]
    if status == 200:
        page = resp.get_data(as_text=True)
        assert "<h1>Imports</h1>" in page and 'id="imports-data"' in page
        assert 'href="/admin/comptes"' in page and 'aria-current="page">Imports' in page
        assert "style=" not in page and "<style" not in page
        assert "<script>" not in page  # data in <script type="application/json">, code in static files
        accounts = client.get("/admin/comptes").get_data(as_text=True)
        assert 'href="/admin/imports"' in accounts  # the sub-navigation reaches both pages
    if role in ("lecteur", "technicien"):  # a French page with the header, not a JSON error
        page = resp.get_data(as_text=True)
        assert resp.mimetype == "text/html" and "<h1 id=\"titre-refus\">Accès refusé</h1>" in page
        assert "réservée au rôle «&nbsp;administrateur&nbsp;»" in page and "Administration" not in page
    for url in ("/admin/imports/journal", "/admin/imports/correspondance"):
        assert client.get(url).status_code in ((401, 403, 400) if status != 200 else (200, 400))


def test_upload_checks(imports_app: Flask, admin_client: FlaskClient, messy: Path) -> None:
    data = messy.read_bytes()
    cases = [
        (b"MZ\x90\x00binary", "outil.exe", "type de fichier non pris en charge"),
        (b"PK\x03\x04" + b"\x00" * 40, "tableur.xlsx", "type de fichier non pris en charge"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "photo.csv", "pas un fichier texte CSV"),
        (data, "signalements.gpkg", "pas un fichier GeoPackage"),
        (b"id;nom\n", "vide.geojson", "pas un fichier GeoJSON"),
        (b"   \n", "blanc.csv", "est vide"),
    ]
    for content, name, text in cases:
        resp = upload(admin_client, content, name)
        assert resp.status_code == 400, name
        assert text in resp.get_json()["erreur"], (name, resp.get_json())
        assert resp.get_json()["champ"] == "fichier"
    imports_app.config["MAX_IMPORT_BYTES"] = 1000
    try:
        resp = upload(admin_client, data, "gros.csv")
        assert resp.status_code == 400 and "trop lourd" in resp.get_json()["erreur"]
    finally:
        imports_app.config["MAX_IMPORT_BYTES"] = 25 * 1024 * 1024
    uploads = Path(imports_app.config["JOBS_FILES_DIR"]) / "televersements"
    for hostile in ("../../../etc/passwd.csv", "..\\..\\boot.ini.csv", "<script>alert(1)</script>.csv",
                    "\u202egpj.csv", ".csv"):
        resp = upload(admin_client, data, hostile)
        assert resp.status_code == 201, (hostile, resp.get_json())
        ref = resp.get_json()["fichier"]
        saved = (uploads / ref).resolve()
        assert saved.is_file() and saved.parent.parent == uploads.resolve(), hostile
        assert "<" not in ref and ".." not in ref and "\\" not in ref and "/" not in resp.get_json()["nom"]
    two = admin_client.post("/admin/imports/fichiers", content_type="multipart/form-data",
                            data={"fichier": [(io.BytesIO(data), "a.csv"), (io.BytesIO(data), "b.csv")]})
    assert two.status_code == 400 and "Un seul fichier" in two.get_json()["erreur"]
    # a well-formed GeoJSON the importer cannot read as features: refused, not kept
    broken = upload(admin_client, b'{"type": "FeatureCollection", "features": [', "coupe.geojson")
    assert broken.status_code == 400 and "illisible" in broken.get_json()["erreur"]
    assert not any(p.name == "coupe.geojson" for p in uploads.rglob("*"))


def test_mapping_proposal_and_preview(imports_app: Flask, admin_client: FlaskClient, messy: Path) -> None:
    resp = upload(admin_client, messy.read_bytes(), messy.name)
    assert resp.status_code == 201
    ref = resp.get_json()["fichier"]
    assert resp.get_json()["colonnes"][:2] == ["Référence", "Catégorie"]  # Windows-1252 read right
    form = admin_client.get(f"/admin/imports/correspondance?fichier={ref}&couche=observations").get_json()
    fields = {f["nom"]: f for f in form["champs"]}
    assert fields["observed_at"]["colonne"] == "Date signalement"
    assert fields["theme"]["colonne"] == "Catégorie" and fields["theme"]["obligatoire"]
    assert set(DECISIONS) <= set(fields["theme"]["a_decider"])
    assert fields["observed_at"]["a_decider"] == ["31/02/2024"]
    assert fields["address"]["colonne"] is None  # « Adresse du signalement »: the person chooses it
    assert form["geometrie"] == {"x": "Longitude", "y": "Latitude", "crs": "EPSG:4326"}
    assert "dansmarue" in form["correspondances"] and form["correspondances"][0] == "proposée"

    before = _count(imports_app)
    resp = admin_client.post("/admin/imports/apercu", json={"fichier": ref, "couche": "observations",
                                                           "choix": _choices()})
    assert resp.status_code == 200, resp.get_json()
    preview = resp.get_json()["apercu"]
    assert (preview["lues"], preview["valides"], preview["rejetees"]) == (60, 57, 3)
    reasons = {r["ligne"]: r["motif"] for r in preview["rejets"]}
    assert set(reasons) == {BAD_DATE + 2, FAR_AWAY + 2, NO_CATEGORY + 2}  # header is line 1
    assert "date invalide" in reasons[BAD_DATE + 2]
    assert "à plus de 20 km de tout périmètre" in reasons[FAR_AWAY + 2]
    assert "« theme » : champ obligatoire manquant" in reasons[NO_CATEGORY + 2]
    first = preview["lignes"][0]
    assert first["ligne"] == 2 and first["etat"] == "valide"
    assert first["valeurs"]["address"] and first["valeurs"]["theme"] == "tags et graffitis"
    assert first["valeurs"]["observed_at"] == "2023-11-16"  # JJ/MM/AAAA read day first
    assert [line["ligne"] for line in preview["lignes"]] == list(range(2, 22))  # the first 20 rows
    rejected = [line["ligne"] for line in preview["lignes"] if line["etat"] == "rejetée"]
    assert rejected == [BAD_DATE + 2, FAR_AWAY + 2]
    assert _count(imports_app) == before  # a preview stores nothing

    # a column that is not in the file, a value that is not allowed: refused in French, named
    bad = admin_client.post("/admin/imports/apercu", json={"fichier": ref, "couche": "observations",
                                                          "choix": _choices(colonnes={"address": "Rue"})})
    assert bad.status_code == 400
    assert "Champ « address » : colonne « Rue » absente" in bad.get_json()["erreur"]
    bad = admin_client.post("/admin/imports/apercu", json={
        "fichier": ref, "couche": "observations",
        "choix": _choices(valeurs={"theme": {"Objets abandonnés": "ordures"}})})
    assert bad.status_code == 400 and "« ordures » n'est pas une valeur permise" in bad.get_json()["erreur"]
    gone = admin_client.post("/admin/imports/apercu", json={"fichier": "0" * 32 + "/x.csv",
                                                           "couche": "observations", "choix": _choices()})
    assert gone.status_code == 404


def _run_job(app: Flask, client: FlaskClient, params: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/api/jobs", json={"kind": "import", "params": params})
    assert resp.status_code == 202, resp.get_json()
    assert job_queue(app).run_one()
    job = client.get(resp.get_json()["links"]["self"]).get_json()
    assert job["state"] in ("terminé", "échec")
    return job


def test_import_job_counts_rejects_and_reimport(imports_app: Flask, admin_client: FlaskClient,
                                                messy: Path) -> None:
    ref = upload(admin_client, messy.read_bytes(), messy.name).get_json()["fichier"]
    mapping = admin_client.post("/admin/imports/apercu", json={
        "fichier": ref, "couche": "observations", "choix": _choices()}).get_json()["correspondance"]
    before = _count(imports_app)
    job = _run_job(imports_app, admin_client, {"fichier": ref, "couche": "observations",
                                               "correspondance": mapping})
    assert job["state"] == "terminé", job["error"]
    result = job["result"]
    counts = (result["lues"], result["ajoutees"], result["deja_presentes"], result["rejetees"])
    assert counts == (60, 57, 0, 3)
    assert _count(imports_app) == before + 57
    reasons = {r["ligne"]: r["motif"] for r in result["rejets"]}
    assert "date invalide" in reasons[BAD_DATE + 2]
    assert "à plus de 20 km" in reasons[FAR_AWAY + 2]
    assert "champ obligatoire manquant" in reasons[NO_CATEGORY + 2]
    csv_link = next(f["href"] for f in job["links"]["files"] if f["name"].endswith(".csv"))
    with admin_client.get(csv_link) as report:
        assert report.status_code == 200 and report.mimetype == "text/csv"
        rejects = pd.read_csv(io.BytesIO(report.get_data()), sep=";")
    assert sorted(rejects["row"]) == [BAD_DATE + 2, FAR_AWAY + 2, NO_CATEGORY + 2]
    log = admin_client.get("/admin/imports/journal").get_json()["imports"][0]
    assert (log["actor"], log["file_name"], log["layer"]) == ("ada", messy.name, "observations")
    assert (log["n_read"], log["n_inserted"], log["n_rejected"]) == (60, 57, 3)

    # the same file again: nothing added, every row accounted for
    again = _run_job(imports_app, admin_client, {"fichier": ref, "couche": "observations",
                                                 "correspondance": mapping})
    assert again["state"] == "terminé"
    assert (again["result"]["ajoutees"], again["result"]["deja_presentes"]) == (0, 57)
    assert _count(imports_app) == before + 57

    # strict mode: refused as a whole, nothing stored, the reason in French
    strict = _run_job(imports_app, admin_client, {"fichier": ref, "couche": "observations",
                                                  "correspondance": mapping, "strict": True})
    assert strict["state"] == "échec" and "mode strict" in strict["error"]


def test_import_job_parameters(imports_app: Flask, admin_client: FlaskClient, messy: Path) -> None:
    ref = upload(admin_client, messy.read_bytes(), messy.name).get_json()["fichier"]
    for params, text in (({"fichier": "../../etc/passwd", "couche": "observations"}, "« fichier »"),
                         ({"fichier": ref, "couche": "analyses"}, "« couche »"),
                         ({"fichier": ref, "couche": "observations", "correspondance": "inconnue"},
                          "« correspondance »"),
                         ({"fichier": ref, "couche": "observations",
                           "correspondance": {"layer": "observations", "dataset": "x",
                                              "fields": {"foo": "a"}}},
                          "le champ « foo » n'existe pas")):
        resp = admin_client.post("/api/jobs", json={"kind": "import", "params": params})
        assert resp.status_code == 400 and text in resp.get_json()["erreur"], resp.get_json()
    for role in ("lecteur", "technicien"):
        resp = logged_client(imports_app, role).post("/api/jobs", json={
            "kind": "import", "params": {"fichier": ref, "couche": "observations"}})
        assert resp.status_code == 403
    # the proposal as is still has decisions to take: the job fails and lists them
    job = _run_job(imports_app, admin_client, {"fichier": ref, "couche": "observations",
                                               "correspondance": "proposée"})
    assert job["state"] == "échec"
    assert "décision(s) à prendre" in job["error"] and "Objets abandonnés" in job["error"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_vector_files_of_montpellier(imports_app: Flask, admin_client: FlaskClient, shared_data: Path,
                                     tmp_path: Path, fmt: str) -> None:
    """The Montpellier CCTV cameras (GeoJSON in Lambert 93 without a declared CRS; as GeoPackage)."""
    import geopandas as gpd

    source = shared_data / "montpellier" / "VilleMTP_MTP_CameraSurv.geojson"
    if fmt == "gpkg":
        path = tmp_path / "cameras.gpkg"
        gpd.read_file(source).set_crs(2154, allow_override=True).to_file(path)
    else:
        path = source
    resp = upload(admin_client, path.read_bytes(), path.name)
    assert resp.status_code == 201, resp.get_json()
    ref = resp.get_json()["fichier"]
    form = admin_client.get(f"/admin/imports/correspondance?fichier={ref}&couche=videoprotection").get_json()
    assert form["vectoriel"]
    if fmt == "geojson":  # metres in a file that declares degrees: the proposal says Lambert 93
        assert form["geometrie"] == {"crs": "EPSG:2154"}
    choice = {"base": "proposée", "colonnes": {}, "valeurs": {},
              "geometrie": {"x": "Nom", "y": "Adresse"}}  # ignored: a vector file has its geometry
    preview = admin_client.post("/admin/imports/apercu", json={"fichier": ref, "couche": "videoprotection",
                                                               "choix": choice})
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert (body["apercu"]["lues"], body["apercu"]["rejetees"]) == (141, 0)
    assert "x" not in body["correspondance"].get("geometry", {})
    before = _count(imports_app, "videoprotection")
    job = _run_job(imports_app, admin_client, {"fichier": ref, "couche": "videoprotection",
                                               "correspondance": body["correspondance"]})
    assert job["state"] == "terminé", job["error"]
    assert job["result"]["lues"] == 141
    assert job["result"]["ajoutees"] + job["result"]["deja_presentes"] == 141
    assert _count(imports_app, "videoprotection") == before + job["result"]["ajoutees"]


def test_import_job_reports_its_steps(imports_app: Flask, admin_client: FlaskClient, messy: Path) -> None:
    """The job runs the importer's stages and says so, percent never going back."""
    from layers.imports import MappingChoices, build_mapping
    from webmap.jobs import JobContext, Progress
    from webmap.jobs.import_job import run_import, upload_path, validate_import

    ref = upload(admin_client, messy.read_bytes(), messy.name).get_json()["fichier"]
    files_dir = Path(imports_app.config["JOBS_FILES_DIR"])
    mapping = build_mapping(upload_path(files_dir, ref), "observations",
                            MappingChoices(columns={"address": "Adresse du signalement"},
                                           values={"theme": DECISIONS}))
    seen: list[tuple[int, str]] = []
    folder = files_dir / "etapes"
    folder.mkdir()
    context = JobContext(store_url=imports_app.config["STORE"], folder=folder,
                         progress=Progress(lambda p, s: seen.append((p, s)), min_interval=0), owner="ada")
    params = validate_import({"fichier": ref, "couche": "observations", "correspondance": mapping})
    result = run_import(params, context)
    steps = [s for _, s in seen]
    for step in ("Lecture du fichier", "Application de la correspondance", "Contrôle des coordonnées",
                 "Validation des champs", "Enregistrement dans l'entrepôt (tout ou rien)",
                 "Rapport de rejets écrit"):
        assert step in steps
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert result["rejetees"] == 3 and sorted(p.name for p in folder.iterdir()) == sorted(result["fichiers"])
