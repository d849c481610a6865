"""The coercions on pyarrow strings (:mod:`layers._arrow_text`) against independent references.

Plain numbers read by Arrow's cast must be the very floats ``pandas.to_numeric`` reads
(bit for bit: real BAN coordinates, random decimals, signed zeros); columns of
pyarrow-backed strings, as the importer's reader makes them, must be coerced as the scalar
path (:func:`coerce_value`) coerces each value alone, whether the fast path takes the column
or some messy value sends it back to pandas.
"""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from layers._arrow_text import number_texts, plain_numbers
from layers.schema import Field
from layers.validate import coerce_field, coerce_value

FIELDS = [
    Field("n", "int", "Numéro", minimum=0, maximum=100000),
    Field("i", "int", "Entier"),
    Field("x", "float", "Réel", minimum=-5),
    Field("s", "str", "Texte"),
    Field("c", "str", "Choix", choices=("publique", "privée", "bailleur")),
    Field("p", "str", "Code", pattern=r"^[A-Z0-9_-]{3,20}$"),
]


def _random_decimals(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        nd = rng.randint(1, 15)
        nf = rng.randint(0, nd - 1)
        digits = "".join(rng.choice("0123456789") for _ in range(nd))
        text = digits[:nd - nf] + ("." + digits[nd - nf:] if nf else "")
        out.append(("-" if rng.random() < 0.5 else "") + text)
    return out


def _to_numeric(texts: list[str]) -> np.ndarray:
    return pd.to_numeric(pd.Series(texts, dtype="string"), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)


def test_plain_numbers_are_the_floats_pandas_reads(shared_data: Path) -> None:
    texts = [*_random_decimals(100_000, seed=18), "0", "-0", "0.0", "-0.0", "000000000000001",
             "999999999999999", "-99999999999999.9", "1.00000000000000"]
    with gzip.open(shared_data / "paris" / "adresses-75.csv.gz", "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            texts += [row["x"], row["y"], row["lon"], row["lat"]]
    fast = plain_numbers(pa.array(texts, type=pa.large_string()))
    assert fast is not None
    reference = _to_numeric(texts)
    assert np.array_equal(fast.view(np.int64), reference.view(np.int64))  # signed zeros included


@pytest.mark.parametrize("text", ["0.0000000000000001", "1234567890123456", "1e3", "+5", ".5", "5.",
                                  "1 234", "0x1A", "inf", "nan", "1_000", "--1", "1.2.3"])
def test_anything_else_is_left_to_pandas(text: str) -> None:
    assert plain_numbers(pa.array(["12", text], type=pa.large_string())) is None


def test_number_texts_strip_and_read_the_decimal_comma() -> None:
    column = pd.Series([" 12,5 ", "", "  ", None, "7"], dtype="string")
    assert number_texts(column).to_pylist() == ["12.5", None, None, None, "7"]
    assert plain_numbers(number_texts(column)).tolist()[::4] == [12.5, 7.0]


def _same(a: Any, b: Any) -> bool:
    if b is None:
        return a is None or bool(pd.isna(a))
    return bool(a == b)


COLUMNS = {
    "plain whole numbers": ["1", "2", " 3 ", "", None, "100001", "-4", "007", "12,0", "4.5"],
    "messy numbers": ["1", "1 234", "1\u202f234", "12,5", "x", "", None, "+3", "1e3", "-0", " 8 "],
    "texts": [" a ", "", "   ", None, "b\u00a0", "\tc\n", "Rue d’Oran", "publique", " Privée ", "QN07501M"],
    "choices": ["publique", " PRIVEE ", "Bailleur", "bail", "", None, "privée", "x", "publique"],
}


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}:{f.type}")
@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_arrow_columns_are_coerced_as_each_value_alone(name: str, field: Field) -> None:
    texts = COLUMNS[name]
    for dtype in ("string", "str"):  # the reader's pyarrow strings, pandas' default strings
        column = pd.Series(texts, dtype=dtype, index=pd.RangeIndex(10, 10 + len(texts)))
        values, bad, reason = coerce_field(column, field)
        assert list(values.index) == list(column.index)
        for i, text in enumerate(texts):
            out, sbad, sreason = coerce_value(text, field)
            assert sbad == bool(bad.iloc[i]), (field.name, text)
            if not sbad:
                assert _same(values.iloc[i], out), (field.name, text, values.iloc[i], out)
            else:
                assert reason == sreason
