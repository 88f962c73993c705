"""The outbox: one item per channel and subject, back-off after failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reporter.store import Store


def test_outbox_is_idempotent_per_channel_and_period(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.outbox.enqueue("2026-11-01", "{}", {"slack": "one"})
        store.outbox.enqueue("2026-11-01", "{}", {"slack": "two"})
        items = store.outbox.items()
        assert [(i.key, i.payload) for i in items] == [("slack:2026-11-01", "one")]
        store.outbox.mark_failed(items[0].key, "boom", final=False)
        assert store.outbox.items()[0].attempts == 1
        store.outbox.mark_sent(items[0].key)
        assert store.outbox.items() == []


def test_failed_items_wait_for_their_back_off(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.outbox.queue("alert-run-7", {"slack": "x", "email": "y"}) == 2
        assert store.outbox.queue("alert-run-7", {"slack": "x"}) == 0
        later = datetime.now(UTC) + timedelta(minutes=5)
        store.outbox.mark_failed("slack:alert-run-7", "down", final=False, retry_at=later)
        assert [i.key for i in store.outbox.items(due=datetime.now(UTC))] == ["email:alert-run-7"]
        assert len(store.outbox.items(due=later)) == 2
        store.outbox.mark_failed("email:alert-run-7", "refused", final=True)
        assert [i.key for i in store.outbox.items(("failed",))] == ["email:alert-run-7"]
