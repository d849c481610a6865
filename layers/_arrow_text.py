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

#: Whole numbers both pandas' parser and Arrow's cast read exactly (15 digits: below 2**53).
_WHOLE = r"^[+-]?[0-9]{1,15}$"
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


def no_space(text: pa.Array) -> np.ndarray:
    """Boolean numpy mask of the texts without any white space (nulls count as without)."""
    ok = pc.match_substring_regex(text, _NO_SPACE).fill_null(True)
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def whole_numbers(text: pa.Array) -> np.ndarray | None:
    """Return the texts as floats when every present one is a plain whole number; None otherwise.

    Such numbers (at most 15 digits) are exact in a float64 whichever parser reads them, so
    that Arrow's cast gives what ``pandas.to_numeric`` gives.
    """
    if text.null_count == len(text):
        return None
    if not pc.all(pc.match_substring_regex(text, _WHOLE)).as_py():
        return None
    return np.asarray(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
