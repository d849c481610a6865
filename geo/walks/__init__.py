"""Diagnostic walks (diagnostics en marchant): network, stop priorities, routing, exports.

Modules
-------
network
    Walkable street graph from any street layer, split at intersections.
priorities
    Score the places a walk should visit (open constats, points noirs, bacs, works…).
model
    :class:`~geo.walks.model.WalkRoute`, the computed route; :class:`~geo.walks.model.WalkSheet`
    and :class:`~geo.walks.model.WalkRecord`, the data of the walk sheet and compte-rendu.
routing
    Prize-collecting loops within a time budget, group routes, every-street walks.
export
    GeoJSON (WGS84) and GPX 1.1 of a route.
"""
