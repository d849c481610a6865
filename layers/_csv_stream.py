"""Columnar, chunked reading of plain CSV files with pyarrow, for imports in bounded memory.

:func:`scan_csv` reads the file once as bytes (streamed, never whole in memory) and tells
whether the fast reader gives exactly what :func:`layers.sources.read_csv` gives: the same
encoding detection (UTF-8, CP1252, Latin-1, or the declared one), the same separator and
header checks, one record per physical line (no quote character, no bare carriage return,
no empty line, no line longer than the csv module's field limit). When it cannot, it
answers None and the caller uses :func:`~layers.sources.read_csv`, row by row.

:func:`iter_csv_chunks` then yields :class:`~layers.sources.SourceTable` blocks of about
``rows`` records as pyarrow strings, each row with its line number, and the lines that are
not records (blank, wrong number of columns) as rejects worded as ``read_csv`` words them.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from layers.sources import SourceTable, _check_size, _csv_header, _csv_separator, max_source_bytes

_BLOCK = 1 << 20
#: Bytes CP1252 leaves undefined: a file holding one is Latin-1 for :func:`decode_text`.
_CP1252_HOLES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_REJECT_COLUMNS = ["row", "field", "value", "reason"]


@dataclass(frozen=True)
class CsvScan:
    """What :func:`scan_csv` learnt of a CSV file the fast reader can read.

    Attributes
    ----------
    path : Path
        The file (plain or ``.gz``).
    encoding : str
        Encoding as :func:`layers.sources.decode_text` names it.
    separator : str
        The separator, as :func:`layers.sources.read_csv` chooses it.
    header : list of str
        The cleaned column names.
    n_lines : int
        Lines after the header (records, blank and malformed lines).
    n_bytes : int
        Size of the decompressed content.
    """

    path: Path
    encoding: str
    separator: str
    header: list[str]
    n_lines: int
    n_bytes: int


@dataclass
class _Tally:
    """What the scan counts while streaming the bytes."""

    n_bytes: int = 0
    newlines: int = 0
    longest: int = 0
    since_newline: int = 0
    first: bytes = b""
    last: bytes = b""
    odd: bool = False  # a quote, NUL, bare CR or empty line: the row-by-row reader is needed
    cp1252: bool = True


def _compression(path: Path) -> str | None:
    return "gzip" if path.suffix.lower() == ".gz" else None


def _scan_block(tally: _Tally, block: bytes) -> None:
    """Update ``tally`` with the next block of bytes."""
    joined = tally.last + block
    if (b'"' in block or b"\x00" in block or b"\n\n" in joined or b"\n\r\n" in joined
            or joined.count(b"\r") != joined.count(b"\r\n") + (1 if joined.endswith(b"\r") else 0)):
        tally.odd = True
    if tally.cp1252 and any(hole in block for hole in _CP1252_HOLES):
        tally.cp1252 = False
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    if len(ends):
        lengths = np.diff(ends, prepend=-1 - tally.since_newline)
        tally.longest = max(tally.longest, int(lengths.max()))
        tally.since_newline = len(block) - 1 - int(ends[-1])
    else:
        tally.since_newline += len(block)
    tally.longest = max(tally.longest, tally.since_newline)
    tally.newlines += len(ends)
    tally.n_bytes += len(block)
    tally.last = joined[-3:]
    if len(tally.first) < 65_536:
        tally.first += block[:65_536]


def _codec(first: bytes, declared: str | None) -> tuple[str, str] | None:
    """Return the codec to check the bytes with and the name :func:`decode_text` gives it.

    None for UTF-16 (left to the row-by-row reader) or an unknown declared encoding.
    """
    if first.startswith(codecs.BOM_UTF8):
        return "utf-8", "utf-8-sig"
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    if declared and declared.lower() != "auto":
        try:
            codecs.lookup(declared)
        except LookupError:
            return None
        return declared, declared
    return "utf-8", "auto"


def scan_csv(path: Path, *, encoding: str | None = None, separator: str | None = None) -> CsvScan | None:
    """Tell whether the fast reader can read ``path`` exactly as :func:`read_csv` would.

    One pass over the bytes (streamed, decompressed on the fly) checks the line structure
    and the encoding.

    Returns
    -------
    CsvScan or None
        None when the row-by-row reader is needed (quotes, odd line ends, blank lines, a
        UTF-16 file, an encoding that does not decode, a file too big or empty...).

    Raises
    ------
    SourceFileError
        The errors :func:`read_csv` raises on the header (separator, duplicate columns).
    """
    limit = _check_size(path)
    tally = _Tally()
    codec: tuple[str, str] | None = None
    decoder: Any = None
    used: str | None = None
    try:
        with pa.input_stream(str(path), compression=_compression(path)) as stream:
            while block := stream.read(_BLOCK):
                _scan_block(tally, block)
                if tally.odd or tally.n_bytes > limit:
                    return None
                if codec is None:
                    codec = _codec(block, encoding)
                    if codec is None:
                        return None
                    decoder = codecs.getincrementaldecoder(codec[0])()
                if decoder is not None:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        if codec[1] != "auto":
                            return None  # the declared encoding does not fit: read_csv words the error
                        decoder, used = None, "cp1252"
        if decoder is not None:
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        if codec is None or codec[1] != "auto":
            return None
        used = "cp1252"
    except (OSError, pa.ArrowException):
        return None
    if codec is None or tally.odd or tally.last.endswith(b"\r") or tally.longest > csv.field_size_limit() \
            or not tally.first.strip():
        return None
    if used == "cp1252" and not tally.cp1252:
        used = "latin-1"
    used = used or ("utf-8" if codec[1] == "auto" else codec[1])
    return _with_header(path, tally, used, separator)


def _with_header(path: Path, tally: _Tally, used: str, separator: str | None) -> CsvScan | None:
    """Check the header as :func:`read_csv` does and return the scan (None: header alone)."""
    head = tally.first.decode(used, errors="replace")
    first_line = head.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip() or "\ufffd" in first_line:
        return None
    sep = _csv_separator(first_line, separator, path.name)
    header = _csv_header(csv.reader([first_line], delimiter=sep or ","), path.name)
    n_lines = tally.newlines - (1 if tally.since_newline == 0 else 0)
    if n_lines <= 0:
        return None  # a header alone: read_csv says so
    return CsvScan(path=path, encoding=used, separator=sep, header=header, n_lines=n_lines,
                   n_bytes=tally.n_bytes)


def _line_reject(text: str, sep: str, width: int, line: int) -> dict[str, Any]:
    """Return the reject of a line that is not a record, worded as :func:`read_csv` words it."""
    rec = next(csv.reader([text], delimiter=sep), [])
    if not rec or all(not c.strip() for c in rec):
        return {"row": line, "field": "", "value": sep.join(rec)[:80], "reason": "ligne vide"}
    return {"row": line, "field": "", "value": sep.join(rec)[:80],
            "reason": f"nombre de colonnes incorrect ({len(rec)} au lieu de {width})"
                      " : ligne tronquée ou mal formée"}


class _Lines:
    """Line numbers of the records: the lines after the header that are not invalid rows."""

    def __init__(self) -> None:
        self.next = 2
        self.invalid: list[tuple[int, str]] = []

    def take(self, n: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Line numbers of the next ``n`` records, and the invalid lines among or before them."""
        skipped = sorted(self.invalid)
        lines = np.arange(self.next, self.next + n + len(skipped), dtype=np.int64)
        bad = np.isin(lines, np.array([s[0] for s in skipped], dtype=np.int64))
        lines = lines[~bad][:n]
        last = int(lines[-1]) if n else self.next - 1
        before = [s for s in skipped if s[0] <= last]
        self.invalid = [s for s in skipped if s[0] > last]
        self.next = last + 1
        return lines, before


def _blank(batch: pa.Table) -> np.ndarray:
    """Rows whose every field is empty or white space (``read_csv``'s « ligne vide »)."""
    mask = None
    for column in batch.columns:
        blank = pc.or_(pc.equal(column, ""), pc.utf8_is_space(column))
        mask = blank if mask is None else pc.and_(mask, blank)
        if not pc.any(mask).as_py():  # the usual case: a field of every row holds something
            break
    if mask is None:
        return np.zeros(0, dtype=bool)
    candidates = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
    for i in np.flatnonzero(candidates).tolist():  # Python's own idea of white space decides
        candidates[i] = all(not str(c.as_py()).strip() for c in (col[i] for col in batch.columns))
    return candidates


def iter_csv_chunks(scan: CsvScan, *, rows: int = 100_000) -> Iterator[SourceTable]:
    """Yield the file of ``scan`` as :class:`SourceTable` blocks of ``rows`` records (the last one fewer).

    Blank lines among them are rejects, so a block may hold fewer records than lines read.

    Frames hold pyarrow-backed strings, indexed by the record's position in the file (as
    :func:`read_csv`'s one frame is); ``rejects`` the lines that are not records.
    """
    lines = _Lines()
    width = len(scan.header)

    def invalid(row: Any) -> str:
        lines.invalid.append((int(row.number), str(row.text)))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    mean_line = max(1, scan.n_bytes // max(scan.n_lines, 1))
    reader = pa_csv.open_csv(
        pa.input_stream(str(scan.path), compression=_compression(scan.path)),
        read_options=pa_csv.ReadOptions(
            use_threads=False, skip_rows=1, column_names=names,
            block_size=int(min(max(rows * mean_line, 1 << 16), max_source_bytes(), 1 << 30)),
            encoding="utf8" if codecs.lookup(scan.encoding).name in ("utf-8", "utf-8-sig")
            else scan.encoding),
        parse_options=pa_csv.ParseOptions(delimiter=scan.separator, quote_char=False,
                                          ignore_empty_lines=False, invalid_row_handler=invalid),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                              strings_can_be_null=False))
    schema = pa.schema([(name, pa.string()) for name in names])
    start, yielded = 0, False
    buffer: list[pa.RecordBatch] = []
    buffered = 0
    with reader:
        # serial parsing (no threads): the invalid lines of a block are known when it is returned
        for batch in reader:
            buffer.append(batch)
            buffered += batch.num_rows
            while buffered >= rows:  # blocks of exactly ``rows`` records (the last one excepted)
                parsed = pa.Table.from_batches(buffer, schema=schema)
                table, start = _chunk(parsed.slice(0, rows), scan, lines, start, final=False)
                yielded = True
                yield table
                rest = parsed.slice(rows)
                buffer, buffered = rest.to_batches(), rest.num_rows
                pa.default_memory_pool().release_unused()
    if buffered or lines.invalid or not yielded:  # the last records, malformed lines after them
        yield _chunk(pa.Table.from_batches(buffer, schema=schema), scan, lines, start, final=True)[0]


def _chunk(batch: pa.Table, scan: CsvScan, lines: _Lines, start: int, *,
           final: bool) -> tuple[SourceTable, int]:
    """One :class:`SourceTable` of a parsed batch; return it and the next record position."""
    numbers, skipped = lines.take(batch.num_rows)
    if final:
        skipped += sorted(lines.invalid)
        lines.invalid = []
    width = len(scan.header)
    bad: list[dict[str, Any]] = [_line_reject(text, scan.separator, width, line) for line, text in skipped]
    blank = _blank(batch)
    for i in np.flatnonzero(blank).tolist():
        values = [str(col[i].as_py()) for col in batch.columns]
        bad.append({"row": int(numbers[i]), "field": "", "value": scan.separator.join(values)[:80],
                    "reason": "ligne vide"})
    if blank.any():
        batch = batch.filter(pa.array(~blank))
        numbers = numbers[~blank]
    index = pd.RangeIndex(start, start + batch.num_rows)
    dtype = pd.StringDtype("pyarrow")
    frame = pd.DataFrame({name: pd.Series(pd.arrays.ArrowStringArray(col), index=index, dtype=dtype)
                          for name, col in zip(scan.header, batch.columns, strict=True)}, index=index)
    bad.sort(key=lambda r: int(r["row"]))
    rejects = pd.DataFrame(bad, columns=_REJECT_COLUMNS)
    table = SourceTable(frame=frame, rows=pd.Series(numbers, index=index, dtype="int64"), rejects=rejects,
                        encoding=scan.encoding, separator=scan.separator, kind="csv")
    return table, start + batch.num_rows
