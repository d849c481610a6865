"""Text columns as pyarrow arrays, for the vectorised coercions of :mod:`layers.validate`.

The importer's frames hold pyarrow-backed strings: the coercions of text and whole
numbers run on those arrays directly, with the very kernels pandas' ``.str`` methods
call on them, without the pandas ``Series`` each intermediate step would build.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Plain decimal numbers (sign, digits, one decimal point): with at most 15 digits in all, the
#: integer they spell is exact in a float64 and the float is that integer divided by an exact
#: power of ten, one correctly rounded operation, in pandas' parser as in Arrow's cast.
_PLAIN = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"
_MAX_DIGITS = 15
#: Texts without any white space (printable ASCII only): a digit-group separator cannot be there.
_NO_SPACE = r"^[!-~]*$"


def arrow_strings(values: pd.Series) -> pa.Array:
    """Return ``values`` as ``values.astype("string")`` holds them, as one pyarrow array (nulls for NA)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        values = values.astype("string")
    arr = pa.array(values.array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def stripped(values: pd.Series) -> pa.Array:
    """``values.astype("string").str.strip()`` with blank texts as nulls, as a pyarrow array."""
    text = pc.utf8_trim_whitespace(arrow_strings(values))  # what .str.strip() calls
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def to_objects(text: pa.Array) -> np.ndarray:
    """Return a string array as a numpy object array of ``str`` with None for nulls."""
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def is_null(text: pa.Array) -> np.ndarray:
    """Boolean numpy mask of the nulls of ``text``."""
    return np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)


def number_texts(values: pd.Series) -> pa.Array:
    """Return number texts as people write them stripped, decimal comma as a point, blank as null."""
    text = pc.replace_substring(pc.utf8_trim_whitespace(arrow_strings(values)), ",", ".")
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def no_space(text: pa.Array) -> np.ndarray:
    """Boolean numpy mask of the texts without any white space (nulls count as without)."""
    ok = pc.match_substring_regex(text, _NO_SPACE).fill_null(True)
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def plain_numbers(text: pa.Array) -> np.ndarray | None:
    """Return the texts as floats when every present one is a plain decimal number; None otherwise.

    Such numbers (at most 15 digits, see ``_PLAIN``) are read to the same float64 by
    ``pandas.to_numeric`` and by Arrow's cast, which is much faster.
    """
    if text.null_count == len(text):
        return None
    if not pc.all(pc.match_substring_regex(text, _PLAIN)).as_py():
        return None
    digits = pc.subtract(pc.subtract(pc.utf8_length(text), pc.count_substring(text, "-")),
                         pc.count_substring(text, "."))
    if pc.max(digits).as_py() > _MAX_DIGITS:
        return None
    # a copy: Arrow's buffer would be read-only
    return np.array(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
