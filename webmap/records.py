"""One record as the current role sees it, as a GeoJSON feature.

The answer of the write routes (a constat created, changed or merged), of an OGC API item and
of one Open311 request: read by one SELECT (:meth:`LayerStore.get_record`), no frame built.
"""

from __future__ import annotations

from typing import Any

from layers.schema import LAYERS
from webmap.access import current_role
from webmap.geojson import encode_record
from webmap.store import get_store
from webmap.visibility import visible_record


def feature(layer: str, uid: str) -> dict[str, Any]:
    """Return record ``uid`` of ``layer`` as one GeoJSON feature, the fields the role may see.

    Raises NotFoundError (404) when ``layer`` has no such record.
    """
    store = get_store()
    record = visible_record(store.get_record(layer, uid), LAYERS[layer], current_role())
    return encode_record(record, LAYERS[layer], store.crs)
