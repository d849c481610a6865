"""Which dates are events is declared with the layers (``LayerSchema.events`` / ``event_child``)."""

from __future__ import annotations

import pytest

from layers.errors import UnknownLayerError
from layers.schema import LAYERS, ChildSchema, Field, LayerSchema


def test_the_declared_event_axes() -> None:
    declared = {n: (s.events, s.event_child) for n, s in LAYERS.items() if s.events or s.event_child}
    assert declared == {"observations": ("dated", None), "actions": ("dated", None),
                        "diagnostics": ("dated", None), "analyses": ("summary", None),
                        "points_noirs": (None, "evenements")}
    # reference dates (commissioning, works) are not events
    assert LAYERS["videoprotection"].events is None and LAYERS["travaux_npnru"].events is None


def test_an_event_axis_needs_a_time_field_and_a_real_child() -> None:
    fields = (Field("name", "str", "Nom"),)
    with pytest.raises(ValueError, match="time field"):
        LayerSchema(name="essai", label="Essai", geometry="Point", fields=fields, events="dated")
    with pytest.raises(UnknownLayerError, match="evenements"):
        LayerSchema(name="essai", label="Essai", geometry="Point", fields=fields,
                    time_field=None, event_child="evenements")
    child = ChildSchema(name="evenements", label="Événements",
                        fields=(Field("observed_at", "datetime", "Date"),), time_field="observed_at")
    ok = LayerSchema(name="essai", label="Essai", geometry="Point", fields=fields, children=(child,),
                     event_child="evenements")
    assert ok.event_child == "evenements" and ok.events is None
