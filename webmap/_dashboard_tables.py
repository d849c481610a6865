"""The tables of the quartier dashboards as data frames, and their CSV / XLSX downloads.

Each table of the page has a name (``indicateurs``, ``recurrence``…) and the same rows
as the page; the files hold the raw values (numbers unrounded, empty cells for « n.d. »).
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from flask import Response

from webmap.analysis_style import GI_CLASSES

#: Tables of the quartier dashboard: file name → French title.
TABLE_NAMES: dict[str, str] = {
    "chiffres-cles": "Chiffres clés",
    "indicateurs": "Indicateurs des fiches action, par mois",
    "points-chauds": "Mailles par classe Gi* (dans le quartier)",
    "emergents": "Points chauds émergents (mailles par tendance)",
    "recurrence": "Récurrence par point noir",
    "sites-recurrents": "Sites de dépôt récurrents (signalements regroupés à 25 m)",
    "couverture": "Couverture : bacs et vidéoprotection",
    "plan-actions": "Plan d'actions : indicateurs",
}
_MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _data_label(share: float | None) -> str:
    if not share:
        return "réelle"
    return "simulée" if share >= 1 else f"en partie simulée ({share * 100:.0f} %)"


def _indicators(data: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for ind in data["indicators"]:
        prev_months = pd.period_range(data["previous"][0][:7], data["previous"][1][:7], freq="M")
        for month, prev_month, cur, prev in zip(
            ind["months"], prev_months, ind["current"], ind["previous"], strict=False
        ):
            rows.append(
                {
                    "Indicateur": ind["label"],
                    "Fiche action": ind["fiche"],
                    "Mois": month,
                    "Valeur": cur,
                    "Mois de l'année précédente": str(prev_month),
                    "Valeur de l'année précédente": prev,
                    "Donnée": _data_label(ind["simulated"]) + (", échantillon" if ind.get("sample") else ""),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "Indicateur",
            "Fiche action",
            "Mois",
            "Valeur",
            "Mois de l'année précédente",
            "Valeur de l'année précédente",
            "Donnée",
        ],
    )


def _hot_classes(data: dict[str, Any]) -> pd.DataFrame:
    hot = data["hotspots"]
    levels = {
        "chaud-99": 3,
        "chaud-95": 2,
        "chaud-90": 1,
        "non-significatif": 0,
        "froid-90": -1,
        "froid-95": -2,
        "froid-99": -3,
    }
    counts = (hot or {}).get("counts_inside", {})
    return pd.DataFrame(
        [
            {
                "Classe": c.label,
                "Mailles dans le quartier": int(counts.get(levels[c.key], 0)) if hot else None,
            }
            for c in GI_CLASSES
        ]
    )


def _coverage(data: dict[str, Any]) -> pd.DataFrame:
    c = data["containers"]
    rows: list[tuple[str, Any]] = [
        ("Bacs et points d'apport dans le quartier", c["bacs"]),
        ("Adresses du quartier", c["adresses"]),
        ("Part des adresses à moins de 100 m d'un bac", c["part_adresses"]),
        ("Remplissage moyen des bacs suivis (%)", c["remplissage_moyen"]),
        ("Relevés de remplissage ≥ 90 %", c["releves_pleins"]),
    ]
    cams = data.get("cameras")
    if cams is not None:
        rows += [
            ("Sites de vidéoprotection dans le quartier", cams["sites"]),
            ("Sites de vidéoprotection en service", cams["en_service"]),
            ("Part des événements vus par une caméra", cams["part_evenements"]),
            ("Part de la surface en point chaud vue", cams["part_surface_chaude"]),
        ]
    return pd.DataFrame(rows, columns=["Élément", "Valeur"], dtype=object)  # counts stay whole


def _counts(emerging: dict[str, Any] | None) -> list[tuple[str, int]]:
    """Emerging patterns and their number of bins, most frequent first."""
    pairs = [(str(k), int(v)) for k, v in ((emerging or {}).get("counts") or {}).items()]
    return sorted(pairs, key=lambda kv: -kv[1])


def dashboard_tables(data: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Return every table of a quartier dashboard (:func:`layers.dashboard.quartier_dashboard`)."""
    em = data["emerging"]
    rec = data["recurrence"]
    return {
        "chiffres-cles": pd.DataFrame(
            list(data["key_figures"].items()), columns=["Indicateur", "Valeur"], dtype=object
        ),
        "indicateurs": _indicators(data),
        "points-chauds": _hot_classes(data),
        "emergents": pd.DataFrame(
            _counts(em),
            columns=["Tendance", "Mailles"],
        ),
        "recurrence": pd.DataFrame(rec["rows"], columns=rec["columns"]),
        "sites-recurrents": pd.DataFrame(
            data["recurrent_sites"]["rows"], columns=data["recurrent_sites"]["columns"]
        ),
        "couverture": _coverage(data),
        **({"plan-actions": _actions(data["actions"])} if data.get("actions") else {}),
    }


def _actions(section: dict[str, Any]) -> pd.DataFrame:
    """Return the figures of the « Plan d'actions » section, then every row of its tables."""
    rows = [
        {
            "Tableau": "Chiffres clés",
            "Ligne": f["label"],
            "Colonne": "Valeur",
            "Valeur": f["value"],
            "Précision": f["detail"],
        }
        for f in section["figures"]
    ]
    for table in section["tables"]:
        for row in table["rows"]:
            rows += [
                {
                    "Tableau": table["caption"],
                    "Ligne": row[0],
                    "Colonne": column,
                    "Valeur": value,
                    "Précision": None,
                }
                for column, value in zip(table["columns"][1:], row[1:], strict=True)
            ]
    return pd.DataFrame(rows, columns=["Tableau", "Ligne", "Colonne", "Valeur", "Précision"], dtype=object)


def territory_table(data: dict[str, Any]) -> pd.DataFrame:
    """Return the comparison of the quartiers (:func:`layers.dashboard.territory_dashboard`)."""
    return pd.DataFrame(data["rows"], columns=data["columns"])


def _whole_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers (and unknowns) as integers: « 4 », not « 4.0 »."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_float_dtype(col) and col.dropna().apply(float.is_integer).all():
            out[name] = col.astype("Int64")
    return out


def table_response(frame: pd.DataFrame, stem: str, fmt: str) -> Response:
    """Return ``frame`` as a CSV (UTF-8 with BOM, « ; » separator, for spreadsheets) or XLSX download."""
    frame = _whole_numbers(frame)
    if fmt == "csv":
        body = frame.to_csv(index=False, sep=";").encode("utf-8-sig")
    else:
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False, sheet_name="tableau")
        body = buf.getvalue()
    resp = Response(body, mimetype=_MIMETYPES[fmt])
    resp.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return resp
