"""The per-run preparation every detector reads, and the SQL blocks detectors share.

``queries/_prep/*.sql`` hold plain SQL statements (temp tables, expression macros) that the
runner executes once per run, in file order, before any detector: what several detectors
need (our addresses, the first flow record's time, ``net_of``) is computed once, in one place.
Their YAML header declares the run-level settings (``private_pattern``), overridable as
``--param run.NAME=VALUE``.

``queries/_blocks/<name>.sql`` hold CTEs a detector pulls into its ``WITH`` list with a line
``-- @block <name>``; the loader splices the text in, so the detector's SQL (``Detector.sql``)
is one self-contained statement for any engine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ..errors import DetectorError
from .params import Param

log = logging.getLogger(__name__)

#: ``--param run.NAME=VALUE`` sets a run-level setting declared in ``queries/_prep``.
RUN_ID = "run"
PREP_DIR = "_prep"
BLOCKS_DIR = "_blocks"
_BLOCK_LINE = re.compile(r"^[ \t]*--[ \t]*@block[ \t]+(?P<name>[a-z][a-z0-9_]*)[ \t]*$", re.MULTILINE)
# a statement ends with ';' at the end of a line
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|\Z)")


@dataclass
class Prep:
    """The preparation statements (in order) and the run-level settings they declare."""

    statements: list[tuple[str, str]] = field(default_factory=list)  # (file name, SQL)
    params: dict[str, Param] = field(default_factory=dict)  # the run-level settings
    id: str = RUN_ID  # so ``resolve_params`` checks ``--param run.NAME=VALUE`` like a detector's

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}


def building_dir(queries_dir: Path, name: str) -> Path:
    """``queries_dir/name`` when it exists, else the shipped one: a directory of one's own
    detectors (or a test's copy of a few) still gets the shipped building blocks."""
    own = queries_dir / name
    if own.is_dir():
        return own
    from .catalog import default_queries_dir  # catalog imports this module

    return default_queries_dir() / name


def expand_blocks(sql: str, queries_dir: Path, _depth: int = 0) -> str:
    """``sql`` with each ``-- @block NAME`` line replaced by ``_blocks/NAME.sql`` and a comma
    (a block may pull in another one the same way)."""
    if _depth > 5:
        raise ValueError("blocks include each other more than 5 deep")

    def splice(m: re.Match[str]) -> str:
        path = building_dir(queries_dir, BLOCKS_DIR) / f"{m.group('name')}.sql"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ValueError(f"block {m.group('name')!r}: cannot read {path}: {e}") from None
        return expand_blocks(text, queries_dir, _depth + 1) + ","

    return _BLOCK_LINE.sub(splice, sql)


def split_statements(sql: str) -> list[str]:
    """Statements of a prep file: separated by a ``;`` at the end of a line."""
    return [s.strip() for s in _STATEMENT_END.split(sql) if s.strip() and not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def load_prep(queries_dir: Path) -> Prep:
    """Every ``_prep/*.sql`` of ``queries_dir`` (else the shipped ones), validated."""
    from .catalog import param_from_spec, split_header  # catalog imports this module

    prep = Prep()
    for path in sorted(building_dir(queries_dir, PREP_DIR).glob("*.sql")):
        try:
            header_text, body = split_header(path.read_text(encoding="utf-8"))
            header = yaml.safe_load(header_text) or {}
        except (ValueError, yaml.YAMLError, OSError) as e:
            raise DetectorError(f"{PREP_DIR}/{path.name}: {e}") from None
        for name, spec in (header.get("params") or {}).items():
            param, why = param_from_spec(str(name), spec)
            if why or param is None:
                raise DetectorError(f"{PREP_DIR}/{path.name}: params.{name}: {why}")
            prep.params[param.name] = param
        prep.statements += [(path.name, s) for s in split_statements(body)]
    return prep


def run_prep(
    con: duckdb.DuckDBPyConnection,
    prep: Prep,
    *,
    since: datetime,
    until: datetime,
    lookback_minutes: int,
    settings: dict[str, Any],
) -> None:
    """Execute the preparation statements on ``con``, each bound with the values it uses."""
    from .catalog import sql_parameters

    values = {**settings, "since": since, "until": until, "lookback_minutes": lookback_minutes}
    for name, sql in prep.statements:
        used = sql_parameters(sql)
        try:
            con.execute(sql, {k: v for k, v in values.items() if k in used})
        except duckdb.Error as e:
            raise DetectorError(f"{PREP_DIR}/{name}: preparation failed: {e}") from e
    log.debug("prepared the run: %d statements, look-back %d min", len(prep.statements), lookback_minutes)
