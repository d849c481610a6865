"""Spatial statistics of the quartiers: bins, hotspots, emerging, recurrence, coverage, indicators.

Modules
-------
binning, zones
    Hexagonal and square bins, analysis zones.
hotspots, emerging
    Getis-Ord Gi* with FDR, kernel density, emerging hotspots (Mann–Kendall).
recurrence
    Recurrence of dumping at points noirs.
coverage
    CCTV coverage (range, azimuth, field, building masks) and walking coverage of addresses.
indicators
    The indicators of the fiches action.
report
    The data of the quartier and territory reports (rendered by :mod:`webmap.documents`).
"""
