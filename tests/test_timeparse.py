"""The one time parser and the one duration parser every verb and the config file use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.cli import main
from pipeline.errors import UsageError
from pipeline.timeparse import parse_duration, parse_time

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_iso_times_all_forms_are_utc() -> None:
    for text in ("2024-05-01T10:00", "2024-05-01T10:00:00Z", "2024-05-01t10:00:00z", "2024-05-01T12:00+02:00", " 2024-05-01T10:00:00.000000Z "):
        assert parse_time(text) == T0, text
    assert parse_time("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_time(None) is None and parse_time(T0.replace(tzinfo=None)) == T0
    with pytest.raises(UsageError, match="--since 'yesterday' is not an ISO 8601 time"):
        parse_time("yesterday", name="--since")


def test_durations_need_a_unit_and_compose() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1.5d") == timedelta(hours=36) and parse_duration("1w") == timedelta(days=7)
    for bare in ("45", 45, "1.5"):
        with pytest.raises(UsageError, match="needs a unit"):
            parse_duration(bare, name="lookback")  # type: ignore[arg-type]
    for bad in ("2 hours", "5x", "0m", "h", ""):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_every_verb_uses_them(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["simulate", "--scenario", "clean", "--out", str(tmp_path / "s"), "--duration", "45"]) == 2
    assert "needs a unit" in capsys.readouterr().err
    assert main(["simulate", "--scenario", "clean", "--out", str(tmp_path / "s"), "--start", "soon"]) == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err
    assert main(["detect", "--lake", str(tmp_path), "--out", str(tmp_path / "o"), "--since", "soon"]) == 2
    assert "--since 'soon' is not an ISO 8601 time" in capsys.readouterr().err
    assert main(["run", "--source", str(tmp_path), "--lake", str(tmp_path / "l"), "--out", str(tmp_path / "o"), "--lookback", "120"]) == 2
    assert "lookback '120' needs a unit" in capsys.readouterr().err
