"""The ``before`` store filter (« délai passé »), on both backends, on real Paris records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from layers.errors import RecordError
from layers.importer import ImportOptions, import_file
from layers.schema import OPEN_STATUSES
from layers.store import LayerStore


@pytest.fixture
def paris_observations(store: LayerStore, shared_data: Path) -> pd.DataFrame:
    """Real DansMaRue records, one in three given a délai 30 days after its constat."""
    import_file(store, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                options=ImportOptions(mapping="dansmarue"))
    obs = store.read("observations", order_by="observed_at", limit=240)
    with store.transaction():
        for i, rec in enumerate(obs.itertuples()):
            changes: dict[str, object] = {}
            if i % 3 == 0:
                due = pd.Timestamp(rec.observed_at) + pd.Timedelta(days=30)
                changes["deadline"] = due.date().isoformat()
            if i % 4 == 0:
                changes["status"] = "traité"
            if changes:
                store.update("observations", rec.uid, changes, actor="tests")
    return store.read("observations")


def test_before_keeps_records_whose_deadline_has_passed(store: LayerStore,
                                                         paris_observations: pd.DataFrame) -> None:
    obs = paris_observations
    deadlines = pd.to_datetime(obs["deadline"], errors="coerce")
    assert deadlines.notna().sum() == 80  # one in three of the 240 first constats
    cutoff = deadlines.dropna().sort_values().iloc[40].date().isoformat()  # splits them in two
    expected = set(obs.loc[deadlines < pd.Timestamp(cutoff), "uid"])
    got = store.read("observations", before={"deadline": cutoff})
    assert set(got["uid"]) == expected
    assert 0 < len(expected) < 80
    assert store.count("observations", before={"deadline": cutoff}) == len(expected)
    # « en retard » = délai passé and still open
    late = set(obs.loc[(deadlines < pd.Timestamp(cutoff)) & obs["status"].isin(OPEN_STATUSES), "uid"])
    got = store.read("observations", before={"deadline": cutoff}, where={"status": list(OPEN_STATUSES)})
    assert set(got["uid"]) == late and late < expected
    # a record without délai is never late
    assert got["deadline"].notna().all()


def test_before_on_a_datetime_field(store: LayerStore, paris_observations: pd.DataFrame) -> None:
    times = pd.to_datetime(paris_observations["observed_at"])
    cutoff = times.sort_values().iloc[500]
    got = store.read("observations", before={"observed_at": cutoff.isoformat()})
    assert set(got["uid"]) == set(paris_observations.loc[times < cutoff, "uid"])


def test_before_needs_a_date_field(store: LayerStore, paris_observations: pd.DataFrame) -> None:
    with pytest.raises(RecordError) as err:
        store.read("observations", before={"theme": "2024-01-01"})
    assert err.value.field == "theme"
    with pytest.raises(RecordError) as err:
        store.read("observations", before={"deadline": "demain"})
    assert err.value.field == "deadline"
