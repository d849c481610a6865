#!/usr/bin/env bash
# Debian packages the benchmarks need (not the tests): gdal-bin, whose ogr2ogr is the
# reference of bench/bench_import.py. Installed only when missing.
set -euo pipefail
if ! command -v ogr2ogr >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian package: gdal-bin (run as root: apt-get install -y gdal-bin)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null
fi
