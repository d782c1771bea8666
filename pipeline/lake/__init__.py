"""The lake: hive-partitioned Parquet per table, the per-object ledger, rejects and the writer lock.

Layout::

    <lake>/vpc_flow/date=YYYY-MM-DD/hour=HH/part-<hash>.parquet
    <lake>/alb_access/...   <lake>/alb_connection/...
    <lake>/_rejects/part-<hash>.parquet      (schema.REJECTS_SCHEMA)
    <lake>/_ledger/ledger.sqlite             (objects, files, object_files, runs)
    <lake>/_ledger/lock                      (fcntl writer lock)
    <lake>/_tmp/                             (staging; removed at every start)
"""

from __future__ import annotations

from .ledger import DONE_STATUSES, FailedObject, Ledger, ObjectEntry, Prior, committed_files, ledger_path, read_ledger
from .lock import DEFAULT_LOCK_WAIT, lake_lock
from .writer import REJECTS_DIR, BatchMember, BatchResult, LakeWriter, RecoveryReport

__all__ = [
    "DEFAULT_LOCK_WAIT", "DONE_STATUSES", "REJECTS_DIR", "BatchMember", "BatchResult", "FailedObject", "LakeWriter",
    "Ledger", "ObjectEntry", "Prior", "RecoveryReport", "committed_files", "lake_lock", "ledger_path", "read_ledger",
]  # fmt: skip
