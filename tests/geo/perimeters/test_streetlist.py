"""Street-list parser, rule model and rule files (geo.perimeters.streetlist, geo.perimeters.streetnames)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.errors import StreetListError
from geo.perimeters.streetlist import (
    Rule,
    format_street_list,
    parse_street_list,
    read_rules,
    rules_from_records,
    write_rules,
)
from geo.perimeters.streetnames import commune_key, normalize_street_name, street_key, strip_accents


@pytest.fixture(scope="module")
def lillers(shared_data: Path) -> str:
    return (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")


def _core(rule: Rule) -> tuple[object, ...]:
    return (rule.commune, rule.street, rule.kind, rule.from_number, rule.to_number, rule.parity, rule.parcel)


def test_lillers_list_parses_as_published(lillers: str) -> None:
    parsed = parse_street_list(lillers)
    assert parsed.qpv == "QP062057"
    assert parsed.name == "Ville Centre Lillers"
    assert parsed.commune == "LILLERS"
    assert len(parsed.streets) == 43
    assert len(parsed.partial_streets) == 6
    partial = [r for r in parsed.rules if r.kind != "whole"]
    assert [r.to_number for r in partial] == [38, 79, 42, 25, 45, 23]
    assert [r.parcel for r in partial] == ["AH 547", "AD 266", "AI 149", "AI 625", "AI 385", "AH 324"]
    assert all(r.kind == "range" and r.from_number is None and r.parity == "all" for r in partial)
    assert [r.street for r in partial] == [
        "RUE DE VERDUN", "RUE DE SAINT VENANT", "RUE PHILIOMEL", "BOULEVARD DE PARIS",
        "RUE DE LA PLAINE", "RUE DES PROMENADES",
    ]
    # columns run together, trailing types, abbreviations
    for street in ("RESIDENCE SYCOMORES", "RESIDENCE ALLENDE", "CITE BELLEVUE", "RUE D HAM",
                   "RUE DU DOCTEUR M LAVERSIN", "IMPASSE JAURES", "RUE DU COMMERCE",
                   "RUE DU FAUBOURG D AVAL"):
        assert street in parsed.streets
    assert all(r.qpv == "QP062057" and r.commune == "LILLERS" for r in parsed.rules)
    # OCR noise lowers confidence, clean entries keep 1
    verdun = next(r for r in parsed.rules if r.street == "RUE DE VERDUN")
    assert verdun.confidence < 1.0 and "n* 38" in verdun.raw
    assert next(r for r in parsed.rules if r.street == "RUE PASTEUR").confidence == 1.0
    assert any("GEOGRAPHIE" in line for line in parsed.ignored)
    assert parsed.warnings == []


def test_lillers_rules_round_trip_yaml_csv_and_text(lillers: str, tmp_path: Path) -> None:
    rules = parse_street_list(lillers).rules
    for name in ("rules.yaml", "rules.csv"):
        path = write_rules(rules, tmp_path / name)
        assert read_rules(path) == rules
    text = format_street_list(rules, title="QP062057 Ville Centre Lillers")
    assert "RUE DE VERDUN : jusqu'au n° 38 (AH 547)" in text
    again = parse_street_list(text, commune="LILLERS", qpv="QP062057")
    assert [_core(r) for r in again.rules] == [_core(r) for r in rules]


def test_qualifiers_ranges_parity_except_and_ocr() -> None:
    text = """Commune de Testville
AV. DU GAL DE GAULLE : du n° 2 au n° 40 côté pair ; du n° 1 au n* 15 côté impair
R. de la Paix sauf n° 3 à 9
Rue Victor Hugo côté impair
Rue Zola à partir du n° 12
Allée des Tilleuls entre le 4 et le 10
IMP. DES LILAS (en totalité)
BD DE LA MER pp*
"""
    parsed = parse_street_list(text, commune="Testville")
    got = [(r.street, r.kind, r.from_number, r.to_number, r.parity) for r in parsed.rules]
    assert got == [
        ("AVENUE DU GENERAL DE GAULLE", "range", 2, 40, "even"),
        ("AVENUE DU GENERAL DE GAULLE", "range", 1, 15, "odd"),
        ("RUE DE LA PAIX", "whole", None, None, "all"),
        ("RUE DE LA PAIX", "except", 3, 9, "all"),
        ("RUE VICTOR HUGO", "range", None, None, "odd"),
        ("RUE ZOLA", "range", 12, None, "all"),
        ("ALLEE DES TILLEULS", "range", 4, 10, "all"),
        ("IMPASSE DES LILAS", "whole", None, None, "all"),
        ("BOULEVARD DE LA MER", "partial", None, None, "all"),
    ]
    assert parsed.rules[1].confidence < parsed.rules[0].confidence + 1e-9
    assert parsed.rules[-1].confidence <= 0.3
    assert any("BOULEVARD DE LA MER" in w for w in parsed.warnings)
    assert parsed.ignored == ["Commune de Testville"]


def test_rule_matches_numbers_defined_for_all_cases() -> None:
    upto = Rule("Lillers", "RUE DE VERDUN", kind="range", to_number=38)
    even = Rule("X", "RUE A", kind="range", from_number=2, to_number=40, parity="even")
    assert upto.matches(1) and upto.matches(38) and not upto.matches(39)
    assert not upto.matches(9999)  # beyond the street's last address: outside a « jusqu'au »
    assert not upto.matches(None)  # unknown number never matches a range
    assert even.matches(12) and not even.matches(13) and not even.matches(42)
    assert Rule("X", "RUE A").matches(None) and Rule("X", "RUE A").matches(9999)
    assert upto.key == "RUE VERDUN"


def test_bad_input_raises_our_errors(tmp_path: Path) -> None:
    with pytest.raises(StreetListError, match="Aucune rue"):
        parse_street_list("Titre\n\nLe quartier prioritaire\n")
    with pytest.raises(StreetListError):
        parse_street_list("")
    with pytest.raises(StreetListError, match="n° de début"):
        Rule("X", "RUE A", kind="range", from_number=10, to_number=2)
    with pytest.raises(StreetListError, match="Type de règle"):
        rules_from_records([{"street": "RUE A", "kind": "moitié"}])
    with pytest.raises(StreetListError, match="champ"):
        rules_from_records([{"street": "RUE A", "rue": "x"}])
    with pytest.raises(StreetListError, match="illisible"):
        rules_from_records([{"street": "RUE A", "kind": "range", "to_number": "trente"}])
    with pytest.raises(StreetListError, match="sans nom"):
        rules_from_records([{"street": ""}])
    with pytest.raises(StreetListError, match="Format"):
        write_rules([Rule("X", "RUE A")], tmp_path / "rules.txt")
    with pytest.raises(StreetListError, match="introuvable"):
        read_rules(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("rules: [1, 2", encoding="utf-8")
    with pytest.raises(StreetListError, match="YAML"):
        read_rules(tmp_path / "bad.yaml")


def test_hand_edited_csv_with_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "edited.csv"
    rows = ["commune;street;kind;to_number", "Lillers;rue de verdun;range;38", "Lillers;Place des FFI;;"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    rules = read_rules(path)
    assert rules[0] == Rule("Lillers", "rue de verdun", kind="range", to_number=38)
    assert rules[1].kind == "whole" and rules[1].to_number is None


@pytest.mark.parametrize(
    ("raw", "normalised", "key"),
    [
        ("BD DE PARIS", "BOULEVARD DE PARIS", "BOULEVARD PARIS"),
        ("Bd. de Paris", "BOULEVARD DE PARIS", "BOULEVARD PARIS"),
        ("R. de l'Église", "RUE DE L EGLISE", "RUE EGLISE"),
        ("PL. DE L'EGLISE", "PLACE DE L EGLISE", "PLACE EGLISE"),
        ("AV DU GAL LECLERC", "AVENUE DU GENERAL LECLERC", "AVENUE GENERAL LECLERC"),
        ("IMP. DUWET", "IMPASSE DUWET", "IMPASSE DUWET"),
        ("SYCOMORES  Rés.", "RESIDENCE SYCOMORES", "RESIDENCE SYCOMORES"),
        ("Cité BELLEVUE", "CITE BELLEVUE", "CITE BELLEVUE"),
        ("Rue Saint-Venant", "RUE SAINT VENANT", "RUE SAINT VENANT"),
        ("rue de St Venant", "RUE DE SAINT VENANT", "RUE SAINT VENANT"),
        ("Rue des Pyrénées", "RUE DES PYRENEES", "RUE PYRENEES"),
        ("RUE d'HAM", "RUE D HAM", "RUE HAM"),
        ("", "", ""),
    ],
)
def test_street_names_normalise_to_one_key(raw: str, normalised: str, key: str) -> None:
    assert normalize_street_name(raw) == normalised
    assert street_key(raw) == key


def test_accents_and_communes() -> None:
    assert strip_accents("Œuvre Élysée") == "OEuvre Elysee"
    assert commune_key("Saint-Étienne") == "SAINT ETIENNE" == commune_key("St Etienne")
    assert normalize_street_name(None) == "" and commune_key(None) == ""
