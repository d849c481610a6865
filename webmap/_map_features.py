"""The map's compact features: which fields the map draws, and when it gets clusters instead.

``GET /api/layers/<layer>/features?format=compact`` is what the map page asks for its point
layers: only the fields carte.js draws or lists, coordinates rounded to 6 decimals (0.11 m
of latitude: a metre is kept), read narrowly from the store (:meth:`LayerStore.points`) and
sent as rows (``fields`` / ``records``), and grid clusters from the store as soon as a viewport
holds more than ``limit`` records (at most :data:`COMPACT_POINTS`), up to zoom
:data:`COMPACT_CLUSTER_MAX_ZOOM` (where the map's own clustering stops; the full form clusters
only below zoom 16). A popup asks for the whole record when it opens
(``GET /api/layers/<layer>/features/<uid>``). Other clients get full records by default
(``format=complet``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from layers.schema import LayerSchema

COMPACT = "compact"
COMPLETE = "complet"
FORMATS = (COMPLETE, COMPACT)
#: Fields the map draws or lists (carte.js, carte-saisie.js): colour classes and dashes of
#: simulated data, the list's title, status and address columns, the analyses' classes, the
#: nearby constats offered as « doublon de ». The layer's time field is added.
MAP_FIELDS = frozenset({
    "uid", "simulated", "theme", "status", "phase", "name", "kind", "code", "flux", "address",
    "quartier", "duplicate_of", "analysis", "category", "p_value", "value",
})
#: Record-keeping dates, never the time a record is listed by (carte.js ``SYSTEM_TIMES``).
SYSTEM_TIMES = ("created_at", "updated_at")
#: Decimals of compact coordinates: 1e-6° is 0.11 m of latitude (0.07 m of longitude in Paris).
COMPACT_DECIMALS = 6
#: Records of a viewport sent one by one at most in compact form (the map's ``FEATURE_LIMIT``:
#: a district's records stay listed beside the map at zoom 14); past it, grid clusters.
COMPACT_POINTS = 5000
#: Zoom from which compact records are never clustered (the map's ``disableClusteringAtZoom``).
COMPACT_CLUSTER_MAX_ZOOM = 18


@dataclass(frozen=True)
class ClusterRule:
    """When a features answer is clustered: more than ``threshold`` matches below ``max_zoom``."""

    threshold: int
    max_zoom: int

    def clusters(self, matched: int, zoom: int) -> bool:
        """Whether ``matched`` records at ``zoom`` are answered as clusters."""
        return matched > self.threshold and zoom < self.max_zoom


def cluster_rule(*, compact: bool, in_view: bool, limit: int, full_max_zoom: int) -> ClusterRule:
    """Return the clustering rule of a features request.

    Compact answers for a viewport cluster past :data:`COMPACT_POINTS` (or ``limit`` when
    lower) up to zoom :data:`COMPACT_CLUSTER_MAX_ZOOM`; other answers (full records, or a
    whole layer without ``bbox``, as the map loads its small layers) past ``limit`` below
    ``full_max_zoom``.
    """
    if compact and in_view:
        return ClusterRule(min(limit, COMPACT_POINTS), COMPACT_CLUSTER_MAX_ZOOM)
    return ClusterRule(limit, full_max_zoom)


def time_field(schema: LayerSchema) -> str | None:
    """Return the field the map dates records by: the time field, else the first business date."""
    if schema.time_field:
        return schema.time_field
    return next((f.name for f in schema.all_fields
                 if f.type in ("date", "datetime") and f.name not in SYSTEM_TIMES), None)


def map_fields(schema: LayerSchema, shown: Collection[str]) -> frozenset[str]:
    """Fields of a compact record: those the map draws, among the ``shown`` ones (the role's)."""
    dated = time_field(schema)
    return frozenset(n for n in schema.field_names if (n in MAP_FIELDS or n == dated) and n in shown)
