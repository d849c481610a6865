"""Web map, JSON/OGC APIs and the ``qpv`` command line."""
