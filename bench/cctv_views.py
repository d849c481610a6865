"""Camera view polygons on the real Montpellier cameras and buildings: timing and areas.

Run: ``PYTHONPATH=. python bench/cctv_views.py`` (data folder from ``QPV_SHARED_DATA`` or
``../shared/data``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.stats.coverage import camera_views

DATA = Path(os.environ.get("QPV_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def main() -> None:
    """Print the timing and the area figures of the Montpellier camera views."""
    folder = DATA / "montpellier"
    # the file declares no CRS although its coordinates are Lambert-93
    cams = gpd.read_file(folder / "VilleMTP_MTP_CameraSurv.geojson").set_crs(2154, allow_override=True)
    buildings = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_Batiments.zip'}", encoding="cp1252")
    buildings = buildings.to_crs(2154)
    disc = np.pi * 50.0**2
    for label, blds in (("no buildings", None), ("buildings", buildings)):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            views = camera_views(cams, range_m=50.0, buildings=blds)
            best = min(best, time.perf_counter() - t)
        area = views.geometry.area.to_numpy()
        print(f"{label}: {len(cams)} cameras, best of 3 {best:.3f} s; view area / disc: "
              f"mean {area.mean() / disc:.3f}, min {area.min() / disc:.3f}, max {area.max() / disc:.3f}")


if __name__ == "__main__":
    main()
