"""Files recognised without a mapping: the national QPV files, the BAN CSV, OSM highway extracts.

Each :class:`KnownLayout` has a signature: slots of alternative column names, every slot
matched by one column of the file (compared without case and accents). A file given for a
layer without a mapping is checked against the layouts of that layer, in order; the first
whose signature it carries is turned into a :class:`~layers.mapping.Mapping_` built from
the columns the file really has.

QPV codes carry their geography: ``QP…`` codes are the 2015 geography, ``QN…`` codes the
2024 one. :func:`geography_from_codes` deduces it, and names the rows whose code
contradicts a geography the mapping or the file declares.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from layers.mapping import Mapping_, load_mapping, match_column, parse_mapping

logger = logging.getLogger(__name__)

#: QPV code prefix → geography.
CODE_GEOGRAPHIES: Mapping[str, str] = {"QP": "2015", "QN": "2024"}


@dataclass(frozen=True)
class KnownLayout:
    """A published file layout recognised without a mapping.

    Attributes
    ----------
    name : str
        Short name, shown to users (« qpv-national »…).
    label : str
        French description.
    layer : str
        The layer it feeds.
    signature : tuple of tuple of str
        Slots of alternative column names; the file must match one name of every slot.
    fields : mapping
        Field → alternative source columns, first present one used (optional fields).
    constants : mapping
        Field → constant value.
    id : tuple of str
        Alternative id columns.
    mapping : str, optional
        A shipped mapping used as it is when the signature matches.
    dataset : str, optional
        Namespace of the stable ids (the layout's name when not given).
    attribution : str, optional
        Who must be credited when the data is shown (« © contributeurs OpenStreetMap »).
    licence : str, optional
        The licence of the data published in this layout (« ODbL »).
    """

    name: str
    label: str
    layer: str
    signature: tuple[tuple[str, ...], ...]
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    id: tuple[str, ...] = ()
    mapping: str | None = None
    dataset: str | None = None
    attribution: str = ""
    licence: str = ""

    def matches(self, columns: Sequence[str]) -> bool:
        """Whether ``columns`` carry every slot of the signature."""
        return all(any(match_column(c, columns) for c in slot) for slot in self.signature)

    def to_mapping(self, columns: Sequence[str]) -> Mapping_:
        """Build the mapping for a file with these ``columns``."""
        if self.mapping is not None:
            return load_mapping(self.mapping)
        rules: dict[str, Any] = {}
        for name, candidates in self.fields.items():
            found = next((c for c in (match_column(a, columns) for a in candidates) if c), None)
            if found is not None:
                rules[name] = {"column": found}
        for name, value in self.constants.items():
            rules[name] = {"value": value}
        data: dict[str, Any] = {"layer": self.layer, "dataset": self.dataset or self.name,
                                "title": self.label, "fields": rules}
        ident = next((c for c in (match_column(a, columns) for a in self.id) if c), None)
        if ident is not None:
            data["id"] = ident
        return parse_mapping(data, where=f"format reconnu {self.name}")


_QPV_CODE = ("code_qp", "code_qpv", "code_quartier", "cod_qp", "qp_code", "code")
_QPV_NAME = ("nom_qp", "lib_qp", "nom_qpv", "lib_qpv", "nom_quartier", "lib_quartier", "libelle_qp",
             "name", "nom")
#: Commune names first (what the rest of the platform shows), INSEE codes when only they exist.
_QPV_COMMUNES = ("commune_qp", "lib_com", "libcom", "nom_com", "nom_commune", "communes", "commune",
                 "insee_com", "code_insee", "code_commune", "insee_commune")

LAYOUTS: tuple[KnownLayout, ...] = (
    KnownLayout(
        name="qpv-national",
        label="Quartiers prioritaires — fichier national (ANCT, géographies 2015 et 2024)",
        layer="perimetres",
        signature=(_QPV_CODE[:5], _QPV_NAME[:7]),
        fields={"code": _QPV_CODE, "name": _QPV_NAME, "communes": _QPV_COMMUNES},
        constants={"kind": "qpv", "source": "ANCT — contours des QPV (fichier national)"},
        id=_QPV_CODE,
        # the namespace of the shipped QPV mappings: a QPV imported by either route is one
        # record; QP (2015) and QN (2024) codes never collide in it
        dataset="qpv-2015",
    ),
    KnownLayout(
        name="ban",
        label="Base Adresse Nationale — CSV départemental à 23 colonnes",
        layer="adresses",
        signature=(("id",), ("numero",), ("rep",), ("nom_voie",), ("code_postal",), ("code_insee",),
                   ("nom_commune",), ("x",), ("y",)),
        mapping="ban",
    ),
    KnownLayout(
        name="osm-voies",
        label="Voies extraites d'OpenStreetMap (étiquettes name et highway)",
        layer="voies",
        signature=(("highway",), ("name",)),
        fields={"name": ("name",), "street_type": ("highway",)},
        id=("osm_id", "@id", "id", "osm_way_id"),
        attribution="© contributeurs OpenStreetMap",
        licence="ODbL",
    ),
    KnownLayout(
        name="bdtopo-troncons",
        label="Tronçons de route de la BD TOPO de l'IGN (NOM_1_G, NATURE, POS_SOL)",
        layer="voies",
        signature=(("nom_1_g", "nom_voie_g"), ("nature",), ("pos_sol",)),
        fields={"name": ("nom_1_g", "nom_voie_g"), "street_type": ("nature",), "level": ("pos_sol",)},
        id=("cleabs", "id"),
        attribution="IGN — BD TOPO",
        licence="Licence Ouverte",
    ),
)


def recognise(layer: str, columns: Sequence[str]) -> KnownLayout | None:
    """Return the first known layout of ``layer`` whose signature ``columns`` carry."""
    for layout in LAYOUTS:
        if layout.layer == layer and layout.matches(columns):
            logger.info("format reconnu : %s", layout.name)
            return layout
    return None


def geography_from_codes(codes: pd.Series, declared: pd.Series | None) -> tuple[pd.Series, pd.Series]:
    """Deduce the QPV geography of each row from its code prefix.

    Parameters
    ----------
    codes : pandas.Series
        The perimeter codes (``QP…`` 2015, ``QN…`` 2024, or local codes).
    declared : pandas.Series, optional
        The geography the mapping or the file gives (blank where it gives none).

    Returns
    -------
    geography : pandas.Series
        The declared geography, or the deduced one where none is declared (None when
        neither is known: the layer's default then applies).
    contradicts : pandas.Series
        Rows whose code prefix contradicts their declared geography.
    """
    prefix = codes.astype("string").str.strip().str.upper().str.slice(0, 2)
    deduced = prefix.map(CODE_GEOGRAPHIES).astype("object")
    given = (declared.astype("string").str.strip() if declared is not None
             else pd.Series(pd.NA, index=codes.index, dtype="string"))
    given = given.mask(given.eq(""))
    contradicts = (deduced.notna() & given.notna() & given.ne(deduced)).fillna(False).astype(bool)
    geography = given.astype("object").where(given.notna(), deduced)
    return geography.where(geography.notna(), None), contradicts
