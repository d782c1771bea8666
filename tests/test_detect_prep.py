"""The shared building blocks detectors read: queries/_prep (run preparation) and queries/_blocks.

Each block gets a few rows in and the rows that must come out, on a bare DuckDB connection
with just the tables the block reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pipeline.detect import default_queries_dir, load_detectors, load_prep
from pipeline.detect.params import resolve_params
from pipeline.detect.prep import RUN_ID, expand_blocks, run_prep
from pipeline.errors import DetectorError, UsageError

QDIR = default_queries_dir()
SINCE, UNTIL = datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)
FLOW_COLUMNS = (
    "start_time TIMESTAMPTZ, start BIGINT, interface_id VARCHAR, instance_id VARCHAR, flow_direction VARCHAR, "
    "srcaddr VARCHAR, dstaddr VARCHAR, pkt_srcaddr VARCHAR, pkt_dstaddr VARCHAR"
)


def _prepared(flows: list[tuple], topo_ips: list[str] = (), lookback: int = 0, **settings: str) -> duckdb.DuckDBPyConnection:
    """A connection holding just vpc_flow and topo_interfaces, prepared like a run."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE vpc_flow ({FLOW_COLUMNS})")
    for row in flows:
        t = datetime.fromtimestamp(row[0], UTC)
        con.execute("INSERT INTO vpc_flow VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [t, *row])
    con.execute("CREATE TABLE topo_interfaces (private_ip VARCHAR)")
    for ip in topo_ips:
        con.execute("INSERT INTO topo_interfaces VALUES (?)", [ip])
    prep = load_prep(QDIR)
    run_prep(con, prep, since=SINCE, until=UNTIL, lookback_minutes=lookback, settings={**prep.defaults(), **settings})
    return con


T0 = int(SINCE.timestamp())


def _ours(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT ip FROM flow_our_addrs").fetchall()}


def test_our_addresses_private_topology_and_instance_side() -> None:
    flows = [
        # RFC 1918 client to the internet: 10.0.1.5 is ours by the pattern, 8.8.8.8 is not
        (T0 + 10, "eni-a", None, None, "10.0.1.5", "8.8.8.8", None, None),
        # a public VPC range seen as the instance side of an instance interface: ours
        (T0 + 20, "eni-b", "i-1", "egress", "3.5.0.9", "1.1.1.1", "3.5.0.9", "1.1.1.1"),
        # relayed (pkt_* differ): says nothing about who owns srcaddr
        (T0 + 30, "eni-c", "i-2", "egress", "3.6.0.1", "1.1.1.2", "9.9.9.9", "1.1.1.2"),
        # a topology interface's address
        (T0 + 40, "eni-d", None, None, "52.1.1.1", "1.1.1.3", None, None),
        # before since and no look-back: not read
        (T0 - 60, "eni-e", "i-3", "egress", "3.7.0.1", "1.1.1.4", None, None),
    ]
    con = _prepared(flows, topo_ips=["52.1.1.1"])
    assert _ours(con) == {"10.0.1.5", "3.5.0.9", "52.1.1.1"}
    assert con.execute("SELECT is_ours('10.0.1.5'), is_ours('8.8.8.8')").fetchone() == (True, False)
    assert con.execute("SELECT first_start FROM flow_first_seen").fetchone() == (T0 + 10,)


def test_lookback_and_private_pattern_setting() -> None:
    flows = [(T0 - 60, "eni-e", "i-3", "egress", "3.7.0.1", "1.1.1.4", None, None),
             (T0 + 5, "eni-a", None, None, "10.0.1.5", "172.16.0.1", None, None)]
    con = _prepared(flows, lookback=5, private_pattern=r"^172\.")
    assert _ours(con) == {"3.7.0.1", "172.16.0.1"}
    assert con.execute("SELECT first_start FROM flow_first_seen").fetchone() == (T0 - 60,)


def test_forwarding_appliance_addresses_are_not_ours() -> None:
    """An instance interface showing more than 64 'own' addresses forwards traffic: none count."""
    flows = [(T0 + i, "eni-fw", "i-fw", "egress", f"44.0.{i}.1", "1.1.1.1", None, None) for i in range(65)]
    assert _ours(_prepared(flows)) == set()


@pytest.mark.parametrize(
    ("addr", "bits", "net"),
    [
        ("10.0.1.7", 24, "10.0.1.0/24"),
        ("10.0.1.7", 16, "10.0.0.0/16"),
        ("192.168.255.1", 32, "192.168.255.1/32"),
        ("2600:1F18:0A:05::1", 64, "2600:1f18:a:5::/64"),
        ("fd00::", 64, "fd00:0:0:0::/64"),
        ("2001:db8:0:0:1:0:0:1", 32, "2001:db8::/32"),
        ("not-an-address", 24, None),
    ],
)
def test_net_of(addr: str, bits: int, net: str | None) -> None:
    con = _prepared([])
    assert con.execute("SELECT net_of(?, ?)", [addr, bits]).fetchone() == (net,)


def test_usual_net_is_24_or_64() -> None:
    con = _prepared([])
    assert con.execute("SELECT usual_net('10.1.2.3'), usual_net('2600:1f18::5')").fetchone() == (
        "10.1.2.0/24", "2600:1f18:0:0::/64",
    )


def test_episodes_block() -> None:
    """Loud windows one quiet window apart are one episode, judged by the windows before it."""
    con = duckdb.connect()
    con.execute("CREATE TABLE flow_first_seen AS SELECT 0 AS first_start")
    # key 'a': windows 0-9 quiet (1 each), 10 and 12 loud (one quiet window between: one
    # episode), 20 loud again (a second episode); key 'b' loud at once in window 0
    rows = [("a", w, False, 1, 0) for w in range(10)] + [("a", 10, True, 50, 5), ("a", 11, False, 1, 0),
            ("a", 12, True, 40, 4), ("a", 20, True, 30, 3), ("b", 0, True, 9, 9)]
    con.execute("CREATE TABLE ep_windows (k VARCHAR, w BIGINT, loud BOOLEAN, base_a BIGINT, base_b BIGINT)")
    con.executemany("INSERT INTO ep_windows VALUES (?, ?, ?, ?, ?)", rows)
    sql = expand_blocks("WITH\n-- @block episodes\ndone AS (SELECT * FROM episodes)\n"
                        "SELECT k, w, island, history, baseline_a, baseline_b, history_before FROM done ORDER BY k, w", QDIR)
    got = con.execute(sql, {"baseline_windows": 4, "window_minutes": 1}).fetchall()
    assert got == [
        ("a", 10, 1, 4, 4, 0, 10),  # windows 6-9 before it: 4 quiet windows of 1
        ("a", 12, 1, 4, 4, 0, 12),  # same episode, same baseline (its own windows stay out)
        ("a", 20, 2, 4, 0, 0, 20),  # windows 16-19: nothing logged, missing windows count as zero
        ("b", 0, 1, 0, 0, 0, 0),    # no history before the first window of data
    ]


def test_spike_islands_block() -> None:
    """An episode with a firing window is reported whole: counts over its loud windows, its peak
    against the baseline; an episode that never fires, or ended before $since, is not."""
    con = duckdb.connect()
    con.execute("CREATE TABLE flow_first_seen AS SELECT 0 AS first_start")
    # key 'a': 10 quiet windows of 2, then loud 20 (fires: 10x the baseline mean 2) and 22 (5,
    # below 4x, still part of the episode); key 'b': loud but never 4x its baseline
    rows = [("a", w, False, 2, 1) for w in range(10, 20)] + [("a", 20, True, 20, 7), ("a", 22, True, 5, 3)]
    rows += [("b", w, False, 5, 0) for w in range(10, 20)] + [("b", 20, True, 12, 0)]
    con.execute("CREATE TABLE ep_windows (k VARCHAR, w BIGINT, loud BOOLEAN, base_a BIGINT, base_b BIGINT)")
    con.executemany("INSERT INTO ep_windows VALUES (?, ?, ?, ?, ?)", rows)
    sql = expand_blocks("WITH\n-- @block spike_episodes\ndone AS (SELECT * FROM spike_islands)\n"
                        "SELECT k, island, w_first, w_last, counted, counted_b, peak, baseline_mean, ratio, history_windows,"
                        " judged_by FROM done ORDER BY k", QDIR)
    params = {"baseline_windows": 10, "window_minutes": 1, "spike_ratio": 4.0, "min_history_windows": 6, "min_rejects": 3}
    got = con.execute(sql, {**params, "since": datetime.fromtimestamp(0, UTC)}).fetchall()
    assert got == [("a", 1, 20, 22, 25, 10, 20, 2.0, 10.0, 10, "baseline")]
    # an episode before $since is the past, not a finding
    assert con.execute(sql, {**params, "since": datetime.fromtimestamp(23 * 60, UTC)}).fetchall() == []


def test_dominant_block() -> None:
    """The most frequent value of each attribute over an episode's windows (ties: the smallest),
    named only when it holds more than the share of the episode's count."""
    con = duckdb.connect()
    con.execute("CREATE TABLE spike_islands (k VARCHAR, island BIGINT, w_first BIGINT, w_last BIGINT, counted BIGINT)")
    con.executemany("INSERT INTO spike_islands VALUES (?, ?, ?, ?, ?)", [("x", 1, 10, 12, 10), ("y", 1, 10, 10, 2)])
    items = [("x", 10, 443, "eni-a", None)] * 6 + [("x", 12, 80, "eni-b", None)] * 4
    items += [("x", 9, 80, "eni-b", None)] * 9  # before the episode: not part of it
    items += [("y", 10, 22, "eni-c", "subnet-1"), ("y", 10, 23, "eni-c", "subnet-2")]
    con.execute("CREATE TABLE dom_items (k VARCHAR, w BIGINT, a1 BIGINT, a2 VARCHAR, a3 VARCHAR)")
    con.executemany("INSERT INTO dom_items VALUES (?, ?, ?, ?, ?)", items)
    sql = expand_blocks("WITH\n-- @block dominant\ndone AS (SELECT * FROM dominant)\n"
                        "SELECT k, a1, a2, a3, named1, named2, named3 FROM done ORDER BY k", QDIR)
    assert con.execute(sql, {"dominant_share": 0.5}).fetchall() == [
        ("x", 443, "eni-a", None, 443, "eni-a", None),  # 6 of 10 > half; no subnet known
        ("y", 22, "eni-c", "subnet-1", None, "eni-c", None),  # a tie: the smallest, not dominant
    ]
    assert con.execute(sql, {"dominant_share": 0.6}).fetchall()[0][4:] == (None, None, None)


def test_bucket_islands_block() -> None:
    """Firing windows of one key, one quiet window apart at most, share an episode number."""
    con = duckdb.connect()
    con.execute("CREATE TABLE raw (m INTEGER, name VARCHAR, port BIGINT)")
    con.executemany("INSERT INTO raw VALUES (?, ?, 443)", [(0, "a"), (5, "a"), (15, "a"), (30, "a"), (5, "b")])
    con.execute("CREATE TABLE hits AS SELECT TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(m) AS bucket, m, name, "
                "{'name': name, 'port': port} AS isl_key FROM raw")
    sql = expand_blocks("WITH\n-- @block bucket_islands\ndone AS (SELECT * FROM islands)\n"
                        "SELECT name, m, island FROM done ORDER BY name, m", QDIR)
    # 0, 5, 15 (one quiet 5-minute window between 5 and 15): one episode; 30: the next
    assert con.execute(sql, {"window_minutes": 5}).fetchall() == [("a", 0, 1), ("a", 5, 1), ("a", 15, 1), ("a", 30, 2), ("b", 5, 1)]


def test_block_line_needs_an_existing_block() -> None:
    with pytest.raises(ValueError, match="block 'nope'"):
        expand_blocks("WITH\n-- @block nope\nx AS (SELECT 1) SELECT 1", QDIR)


def test_run_settings_are_overridable_and_checked() -> None:
    prep = load_prep(QDIR)
    dets = load_detectors()
    bound = resolve_params([*dets, prep], {RUN_ID: {"private_pattern": "^10\\."}})
    assert bound[RUN_ID]["private_pattern"] == "^10\\."
    with pytest.raises(UsageError, match="no parameter 'nope'"):
        resolve_params([*dets, prep], {RUN_ID: {"nope": "1"}})
    assert not any("private_pattern" in d.params for d in dets)  # set once, for the run


def test_broken_prep_statement_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "_prep").mkdir()
    (tmp_path / "_prep" / "10_x.sql").write_text("/*\nparams: {}\n*/\nCREATE TEMP TABLE x AS SELECT * FROM nowhere;\n")
    with pytest.raises(DetectorError, match="10_x.sql: preparation failed"):
        run_prep(duckdb.connect(), load_prep(tmp_path), since=SINCE, until=UNTIL, lookback_minutes=0, settings={})
