"""The conventions as data: each YAML against the text of the seed it was transcribed from.

The seeds are the conventions' own text in ../shared/seeds (000: Pays de Montbéliard
2025-2030, clean text; 001: Lillers 2023, OCR). Every title, code and column heading of the
YAML is looked up in that text, and the lists the seed enumerates (objective codes, fiches,
Annexe 1 / Annexe 2 columns) are counted from the seed, not from a copy.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from layers.conventions import (
    CONVENTIONS_DIR,
    Convention,
    convention_to_dict,
    import_convention,
    list_conventions,
    load_convention,
    stored_conventions,
)
from layers.errors import ConventionError
from layers.store.base import LayerStore
from tests.conftest import shared_data_path

PMA_YAML = CONVENTIONS_DIR / "pays-de-montbeliard-2025-2030.yaml"
LILLERS_YAML = CONVENTIONS_DIR / "lillers-2023.yaml"


def _seed(convention: Convention) -> str:
    path = shared_data_path().parent / "seeds" / convention.source.fichier
    if not path.is_file():
        pytest.skip(f"seed not found: {path}")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pma() -> Convention:
    return load_convention(PMA_YAML)


@pytest.fixture(scope="module")
def lillers() -> Convention:
    return load_convention(LILLERS_YAML)


# -- Pays de Montbéliard: clean text, exact matching ---------------------------------------


def _cells(seed: str) -> list[str]:
    """The seed cut into table cells / lines, without the HTML and markdown of the export."""
    text = re.sub(r"</?p>|\*\*", "\n", seed)
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.split(r"[\t\n]", text) if cell.strip()]


def _in_seed(phrase: str, cells: list[str]) -> bool:
    """Whether ``phrase`` is in the seed, whole or cut in two by the table's page layout."""
    phrase = re.sub(r"\s+", " ", phrase).strip()
    if any(phrase in cell for cell in cells):
        return True
    for cut in (m.start() for m in re.finditer(" ", phrase)):
        left, right = phrase[:cut], phrase[cut + 1:]
        if min(len(left), len(right)) < 12:
            continue
        starts = [i for i, cell in enumerate(cells) if cell.endswith(left)]
        if starts and any(cell.startswith(right) for cell in cells[starts[0] + 1:]):
            return True
    return False


def _section(seed: str, start: str, stop: str) -> str:
    begin = seed.index(start)
    return seed[begin:seed.index(stop, begin)]


def test_montbeliard_orientations_and_objectives_are_the_seed_ones(pma: Convention) -> None:
    seed = _seed(pma)
    cells = _cells(seed)
    table = _section(seed, "6.2. Objectifs 2025-2030", "6.3. Fiches actions")
    missing = [f"{o.code} : {o.titre}" for o in pma.orientations
               if not _in_seed(f"{o.code} : {o.titre}", cells)]
    missing += [f"{g.code} : {g.titre}" for g in pma.general_objectives()
                if not _in_seed(f"{g.code} : {g.titre}", cells)]
    missing += [f"{op.code} : {op.titre}" for op in pma.operational_objectives()
                if not _in_seed(f"{op.code} : {op.titre}", cells)]
    assert missing == []
    # nothing left out: the codes the seed's table lists are exactly those of the YAML
    seed_operational = set(re.findall(r"(?<![\d.])(\d+\.\d+\.\d+) :", table))
    seed_general = set(re.findall(r"(?<![\d.])(\d+\.\d+) :", table))
    seed_orientations = set(re.findall(r"Orientation stratégique (\d+) :", seed))
    assert {op.code for op in pma.operational_objectives()} == seed_operational
    assert {g.code for g in pma.general_objectives()} == seed_general
    assert {o.code for o in pma.orientations} == seed_orientations
    assert len(seed_operational) == 44 and len(seed_general) == 15 and len(seed_orientations) == 7


def test_montbeliard_orientation_titles_match_the_fiches(pma: Convention) -> None:
    """The fiches action repeat each orientation's title: same words as the 6.2 table."""
    seed = _seed(pma)
    in_fiches = {code: title.strip().rstrip(".").casefold()
                 for code, title in re.findall(r"Orientation stratégique (\d+) : (.+)", seed)}
    assert {o.code: o.titre.rstrip(".").casefold() for o in pma.orientations} == in_fiches


def _fiche_blocks(seed: str) -> dict[int, str]:
    parts = re.split(r"\nFICHE ACTION n°(\d+)\n", _section(seed, "6.3. Fiches actions", "12. Annexes"))
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_montbeliard_fiches_action(pma: Convention) -> None:
    blocks = _fiche_blocks(_seed(pma))
    assert [s.numero for s in pma.fiches_action] == sorted(blocks)
    by_number = {op.code.rsplit(".", 1)[1]: op.code for op in pma.operational_objectives()}
    for sheet in pma.fiches_action:
        block = blocks[sheet.numero]
        lines = {re.sub(r"\s+", " ", line[2:]).strip()
                 for line in block.splitlines() if line.startswith("- ")}
        assert f"Intitulé de l'action : {sheet.intitule}" in block
        assert re.search(rf"Orientation stratégique {sheet.orientation} :", block)
        assert re.search(rf"Axe {sheet.axe} :", block)
        numbers = re.findall(r"\*\*Objectif opérationnel (\d+)", block)
        assert list(sheet.objectifs_operationnels) == [by_number[n] for n in numbers]
        assert sheet.indicateurs and set(sheet.indicateurs) <= lines
        assert sheet.partenaires and set(sheet.partenaires) <= lines
        indicators = _section(block, "6. Indicateurs de suivi", "7. Résultats attendus")
        assert len(sheet.indicateurs) == indicators.count("\n- ")


def test_montbeliard_annexe_1_columns_in_order(pma: Convention) -> None:
    seed = _seed(pma)
    annexe = seed[seed.index("Annexe 1 : Modèle de plan d'actions suite à un diagnostic en marchant\n\n"):]
    heading_line = annexe.split("\n")[2]
    table = pma.table("plan_actions")
    assert table.titre == "Annexe 1 : Modèle de plan d'actions suite à un diagnostic en marchant"
    assert table.headings == tuple(cell.strip() for cell in heading_line.split("\t"))


def test_montbeliard_partners_are_the_signatories(pma: Convention) -> None:
    seed = _seed(pma)
    parties = _section(seed, "Entre :", "Table des matières")
    named = [p.nom for p in pma.partenaires]
    assert all(name in parties for name in named)
    # every « représenté(e) par » of the header is a partner
    assert len(named) == parties.count("représenté")


# -- Lillers: OCR text, fuzzy matching -----------------------------------------------------


def _fold(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return [word for word in re.sub(r"[^a-z0-9]+", " ", text).split() if not word.isdigit()]


def _fuzzy_window(words: list[str], tokens: list[str], start: int, stop: int, threshold: float) -> int | None:
    target = " ".join(words)
    for size in (len(words), len(words) - 1, len(words) + 1):
        for i in range(start, min(stop, len(tokens) - size + 1)):
            matcher = difflib.SequenceMatcher(None, target, " ".join(tokens[i:i + size]))
            if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold \
                    and matcher.ratio() >= threshold:
                return i
    return None


def _fuzzy_position(phrase: str, tokens: list[str], *, threshold: float = 0.85) -> int | None:
    """Index in ``tokens`` where ``phrase`` is read with OCR mistakes, or None.

    The OCR sometimes reads a neighbouring cell into the middle of a phrase: then the phrase
    is found in two parts, the second starting at most 12 words after the end of the first.
    """
    words = _fold(phrase)
    found = _fuzzy_window(words, tokens, 0, len(tokens), threshold)
    if found is not None or len(words) < 6:
        return found
    for cut in range(3, len(words) - 2):
        left = _fuzzy_window(words[:cut], tokens, 0, len(tokens), threshold)
        if left is not None:
            end = left + cut
            if _fuzzy_window(words[cut:], tokens, end, end + 12, threshold) is not None:
                return left
    return None


def _after(seed: str, marker: str) -> list[str]:
    return _fold(seed[seed.rindex(marker) + len(marker):])


def test_lillers_axes_are_the_seven_enjeux(lillers: Convention) -> None:
    seed = _seed(lillers)
    enjeux = _fold(_section(seed, "Enjeux opérationnels", "Objectifs opérationnels :"))
    positions = [_fuzzy_position(axis.titre, enjeux) for axis in lillers.axes]
    assert None not in positions and positions == sorted(positions)  # type: ignore[type-var]
    assert len(lillers.axes) == int(re.search(r"sont au nombre de (\d+)", seed).group(1))  # type: ignore[union-attr]
    suivi = _after(seed, "Annexe 2 : Tableau de suivi des actions engagées")
    labels = [_fuzzy_position(str(axis.libelle_suivi), suivi) for axis in lillers.axes]
    assert None not in labels and labels == sorted(labels)  # type: ignore[type-var]


def test_lillers_annexe_2_columns_in_the_seed_order(lillers: Convention) -> None:
    table = lillers.table("tableau_suivi")
    suivi = _after(_seed(lillers), table.titre.replace("É", "E"))
    main = [c.libelle for c in table.colonnes if c.groupe is None]
    grouped = [c.libelle for c in table.colonnes if c.groupe is not None]
    for columns in (main, grouped):
        positions = [_fuzzy_position(label, suivi) for label in columns]
        assert None not in positions, dict(zip(columns, positions, strict=True))
        assert positions == sorted(positions)  # type: ignore[type-var]
    assert {c.groupe for c in table.colonnes if c.groupe} == {"Réponses"}
    assert _fuzzy_position("Réponses", suivi) is not None
    assert [t.libelle for t in lillers.types_reponse] == grouped


# the titles of TFPB axes 4 and 7 are unreadable in the OCR (see the YAML's comments)
TFPB_TITLES_ILLEGIBLE = {"4", "7"}


def test_lillers_tfpb_programme(lillers: Convention) -> None:
    seed = _seed(lillers)
    programme = _after(seed, "Programme d’actions lié a I'abattement de TFPB 2023")
    assert [axis.code for axis in lillers.tfpb_axes] == [str(n) for n in range(1, 9)]
    lost = [s for axis in lillers.tfpb_axes for s in axis.sous_actions
            if _fuzzy_position(s, programme) is None]
    lost += [a.titre for a in lillers.tfpb_axes
             if a.code not in TFPB_TITLES_ILLEGIBLE and _fuzzy_position(a.titre, programme) is None]
    assert lost == []


def test_lillers_partners_are_named_in_the_seed(lillers: Convention) -> None:
    tokens = _fold(_seed(lillers))
    assert [p.nom for p in lillers.partenaires if _fuzzy_position(p.nom, tokens) is None] == []
    assert lillers.orientations == ()  # the Lillers convention has axes, no orientations


def test_fuzzy_matching_can_fail() -> None:
    tokens = _fold("Améliorer la relation aux usagers. Garantir un accés aux services de proximité")
    assert _fuzzy_position("Garantir un accès aux services de proximité", tokens) is not None
    assert _fuzzy_position("Garantir la présence des gardiens", tokens) is None


def test_list_conventions_ships_both() -> None:
    assert [c.code for c in list_conventions()] == ["lillers-2023", "pays-de-montbeliard-2025-2030"]


# -- malformed files -----------------------------------------------------------------------


def _write(tmp_path: Path, doc: Any, name: str = "conv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def pma_doc() -> dict[str, Any]:
    doc = yaml.safe_load(PMA_YAML.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _error(path: Path) -> str:
    with pytest.raises(ConventionError) as info:
        load_convention(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_missing_key_is_named(tmp_path: Path, pma_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pma_doc)
    del doc["orientations"][2]["objectifs_generaux"][1]["titre"]
    message = _error(_write(tmp_path, doc))
    assert "« orientations[2].objectifs_generaux[1].titre »" in message
    assert "valeur manquante" in message
    del pma_doc["source"]
    assert "« source »" in _error(_write(tmp_path, pma_doc))


def test_duplicate_code_is_named(tmp_path: Path, pma_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pma_doc)
    doc["orientations"][4]["code"] = "4"
    for general in doc["orientations"][4]["objectifs_generaux"]:  # keep the prefixes right
        general["code"] = "4." + general["code"].split(".", 1)[1]
        for op in general["objectifs_operationnels"]:
            op["code"] = general["code"] + "." + op["code"].rsplit(".", 1)[1]
    message = _error(_write(tmp_path, doc))
    assert "« orientations[4].code »" in message and "en double" in message
    assert "orientations[3].code" in message
    doc = copy.deepcopy(pma_doc)
    doc["tableaux"][0]["colonnes"][4]["libelle"] = "Constats"
    assert "« tableaux[0].colonnes[4].libelle »" in _error(_write(tmp_path, doc))


def test_key_written_twice_in_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(LILLERS_YAML.read_text(encoding="utf-8") + "code: autre-code\n", encoding="utf-8")
    message = _error(path)
    assert "« code »" in message and "deux fois" in message


def test_unquoted_code_and_bad_references(tmp_path: Path, pma_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pma_doc)
    doc["orientations"][4]["objectifs_generaux"][0]["code"] = 5.10  # what « code: 5.10 » reads as
    assert "« orientations[4].objectifs_generaux[0].code »" in _error(_write(tmp_path, doc))
    doc = copy.deepcopy(pma_doc)
    doc["orientations"][0]["objectifs_generaux"][0]["objectifs_operationnels"][0]["code"] = "2.1.1"
    assert "doit commencer par « 1.1. »" in _error(_write(tmp_path, doc))
    doc = copy.deepcopy(pma_doc)
    doc["fiches_action"][3]["objectifs_operationnels"].append("9.99.99")
    message = _error(_write(tmp_path, doc))
    assert "« fiches_action[3].objectifs_operationnels[2] »" in message and "9.99.99" in message
    doc = copy.deepcopy(pma_doc)
    doc["orientation"] = doc.pop("orientations")
    assert "clé(s) inconnue(s) orientation" in _error(_write(tmp_path, doc))
    doc = copy.deepcopy(pma_doc)
    doc["periode"] = {"debut": 2030, "fin": 2025}
    assert "« periode.fin »" in _error(_write(tmp_path, doc))


def test_unreadable_files(tmp_path: Path) -> None:
    assert "illisible" in _error(tmp_path / "absente.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("code: [oups\n", encoding="utf-8")
    assert "YAML invalide" in _error(broken)
    (tmp_path / "liste.yaml").write_text("- a\n- b\n", encoding="utf-8")
    assert "(racine)" in _error(tmp_path / "liste.yaml")


def test_list_conventions_refuses_two_files_with_one_code(tmp_path: Path, pma_doc: dict[str, Any]) -> None:
    _write(tmp_path, pma_doc, "a.yaml")
    _write(tmp_path, pma_doc, "b.yaml")
    with pytest.raises(ConventionError, match="« code »"):
        list_conventions(tmp_path)
    with pytest.raises(ConventionError, match="introuvable"):
        list_conventions(tmp_path / "nulle-part")


def test_unknown_table(pma: Convention) -> None:
    with pytest.raises(ConventionError, match="tableau_suivi"):
        pma.table("tableau_suivi")


# -- the store -----------------------------------------------------------------------------


def test_conventions_imported_into_the_store(store: LayerStore) -> None:
    """Both backends keep the conventions whole; re-importing replaces, never duplicates."""
    assert stored_conventions(store) == ()
    shipped = list_conventions()
    for convention in shipped:
        import_convention(store, convention)
    import_convention(store, shipped[0])
    stored = stored_conventions(store)
    assert stored == shipped
    pma = next(c for c in stored if c.code == "pays-de-montbeliard-2025-2030")
    assert len(list(pma.operational_objectives())) == 44
    assert pma.table("plan_actions").headings[4] == "Origines"


def test_a_damaged_stored_convention_is_refused(store: LayerStore) -> None:
    convention = load_convention(LILLERS_YAML)
    import_convention(store, convention)
    doc = convention_to_dict(convention)
    doc["tableaux"][0]["colonnes"][1]["libelle"] = doc["tableaux"][0]["colonnes"][0]["libelle"]
    store.set_meta("convention:lillers-2023", json.dumps(doc))
    with pytest.raises(ConventionError, match=r"« tableaux\[0\]\.colonnes\[1\]\.libelle »"):
        stored_conventions(store)
    store.set_meta("convention:lillers-2023", yaml.safe_dump(doc))  # YAML is not what it stored
    with pytest.raises(ConventionError, match=r"« convention:lillers-2023 ».*illisible"):
        stored_conventions(store)


def test_dict_round_trip_is_what_the_loader_reads(tmp_path: Path) -> None:
    for convention in list_conventions():
        assert load_convention(_write(tmp_path, convention_to_dict(convention))) == convention
