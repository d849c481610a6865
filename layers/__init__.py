"""Layer kinds, their schemas, import/export and storage behind one LayerStore interface."""

from layers.schema import LAYERS, LayerSchema, get_schema

__all__ = ["LAYERS", "LayerSchema", "get_schema"]
