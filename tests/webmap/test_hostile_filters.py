"""SQL-injection strings in every web filter: a correct (empty or filtered) answer, or a
400 / 404 naming the field — never a 5xx — and the tables intact afterwards."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

INJECTIONS = [
    "' OR 1=1 --",
    '"; DROP TABLE observations; --',
    "1) UNION SELECT uid, uid FROM observations --",
    "%",
    "_",
    "%25' --",
    "\\",
    "\\'; --",
    "a\x00b",
    "' OR ''='",
    "1; SELECT pg_sleep(5) --",
]


@pytest.fixture
def counts(store: Any) -> dict[str, int]:
    """Counts of the layers the filters read, before the requests."""
    return {n: store.count(n) for n in ("observations", "perimetres", "videoprotection")}


def _check(res: Any, field: str | tuple[str, ...] | None, *, matched_key: str | None = None) -> None:
    """200 with nothing matched, or a 400 / 404 naming ``field``."""
    assert res.status_code < 500, res.get_data(as_text=True)[:300]
    if res.status_code in (400, 404):
        body = res.get_json()
        assert body["erreur"]
        if field is not None and res.status_code == 400:
            allowed = (field,) if isinstance(field, str) else field
            assert body.get("champ") in allowed, body
        return
    assert res.status_code == 200, res.status_code
    body = res.get_json()
    if matched_key is not None:
        assert body[matched_key] == 0, f"an injection string matched {body[matched_key]} record(s)"
    elif isinstance(body, list):
        assert body == []


def _intact(store: Any, counts: dict[str, int]) -> None:
    assert {n: store.count(n) for n in counts} == counts


def _q(value: str) -> str:
    return quote(value, safe="")


def _url(path: str, base: dict[str, str], field: str, value: str) -> str:
    """``path`` with the base parameters and ``field=value`` (replacing a base one)."""
    args = {**base, field: value}
    return path + "?" + "&".join(f"{k}={_q(v)}" for k, v in args.items())


@pytest.mark.parametrize("value", INJECTIONS)
def test_map_features_filters(tech: FlaskClient, store: Any, counts: dict[str, int], value: str) -> None:
    base = {"zoom": "18", "limit": "5"}
    for field in ("theme", "status", "source", "quartier", "start", "end", "bbox", "limit", "zoom",
                  "simulated", "photos", "geometry", "description", "uid", "address"):
        _check(tech.get(_url("/api/layers/observations/features", base, field, value)), field,
               matched_key="numberMatched")
        if field in ("theme", "start", "bbox", "quartier", "description"):
            _check(tech.get(f"/api/layers/observations/stats?{field}={_q(value)}"), field)
    for path in (f"/api/layers/{_q(value)}/features", f"/api/layers/{_q(value)}/stats",
                 f"/api/observations/{_q(value)}", f"/api/observations/{_q(value)}/history"):
        res = tech.get(path)
        assert res.status_code in (400, 404), (path, res.status_code)
    _intact(store, counts)


@pytest.mark.parametrize("value", INJECTIONS)
def test_ogc_items_filters(anon: FlaskClient, store: Any, counts: dict[str, int], value: str) -> None:
    base = {"limit": "3"}
    for field in ("theme", "status", "source", "simulated", "description", "uid", "datetime", "bbox",
                  "bbox-crs", "crs", "limit", "offset", "f", "sortby", "filter"):
        _check(anon.get(_url("/ogc/collections/observations/items", base, field, value)), field,
               matched_key="numberMatched")
    for path in (f"/ogc/collections/{_q(value)}", f"/ogc/collections/{_q(value)}/items",
                 f"/ogc/collections/observations/items/{_q(value)}"):
        res = anon.get(path)
        assert res.status_code in (400, 404), (path, res.status_code)
    _intact(store, counts)


@pytest.mark.parametrize("value", INJECTIONS)
def test_open311_filters(tech: FlaskClient, store: Any, counts: dict[str, int], value: str) -> None:
    for field in ("service_code", "status", "service_request_id", "start_date", "end_date", "limit"):
        _check(tech.get(f"/open311/v2/requests.json?{field}={_q(value)}"), field)
    assert tech.get(f"/open311/v2/requests/{_q(value)}.json").status_code in (400, 404)
    _intact(store, counts)


@pytest.mark.parametrize("value", INJECTIONS)
def test_lookup_address(anon: FlaskClient, store: Any, counts: dict[str, int], value: str) -> None:
    res = anon.get(f"/api/lookup?adresse={_q(value)}")
    assert res.status_code in (200, 400), res.get_data(as_text=True)[:300]
    if res.status_code == 200:
        assert res.get_json()["code"] is None
    else:
        assert res.get_json()["champ"] == "adresse"
    _check(anon.get(f"/api/lookup?adresse=1%20rue%20X&commune={_q(value)}"), "commune")
    for field in ("lon", "lat"):
        other = "lat=43.6" if field == "lon" else "lon=3.8"
        _check(anon.get(f"/api/lookup?{field}={_q(value)}&{other}"), field)
    _intact(store, counts)


@pytest.mark.parametrize("query", [
    "offset=99999999999999999999999", "offset=9223372036854775808", "limit=99999999999999999999",
    "offset=-1", "limit=-5", "offset=1e3", "limit=" + "9" * 5000,
])
def test_ogc_paging_extremes(anon: FlaskClient, query: str) -> None:
    """Found by schemathesis: a huge ``offset`` overflowed SQLite's 64-bit integers (500)."""
    res = anon.get(f"/ogc/collections/observations/items?{query}")
    assert res.status_code in (200, 400), res.get_data(as_text=True)[:300]
    if res.status_code == 200:
        assert res.get_json()["numberReturned"] <= 10_000
    else:
        assert res.get_json()["champ"] in ("limit", "offset")


@pytest.mark.parametrize("value", ["-1", "2024-01-01/2023-01-01", "2024-01-01/..", "1e10", "2024-W01",
                                   "+275760-09-13", "2024-01-01T00:00:00+99:00", "demain", "2024-13-45"])
def test_dates_are_iso_only(tech: FlaskClient, value: str) -> None:
    """pandas alone read ``-1`` as year -1 and ``a/b`` as a date with an offset: 200 on nonsense."""
    for path, field in (("/api/layers/observations/features?zoom=18&limit=2&start=", "start"),
                        ("/api/layers/observations/stats?end=", "end"),
                        ("/open311/v2/requests.json?start_date=", "start_date"),
                        ("/ogc/collections/observations/items?limit=2&datetime=../", "datetime")):
        res = tech.get(path + _q(value))
        assert res.status_code == 400 and res.get_json()["champ"] == field, (path, value, res.status_code)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "2262-04-12", "1677-09-21T00:00:00Z"])
def test_far_dates_are_valid_bounds(tech: FlaskClient, value: str) -> None:
    for path in ("/api/layers/observations/features?zoom=18&limit=2&start=",
                 "/ogc/collections/observations/items?limit=2&datetime=",
                 "/open311/v2/requests.json?end_date="):
        assert tech.get(path + _q(value)).status_code == 200, (path, value)
