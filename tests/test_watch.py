"""The reporter watching itself: freshness in every digest, never an all clear while blind, one notice."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporter import jobs, watch
from reporter.analysis import analyse
from reporter.config import AnalysisSettings, Settings
from reporter.digest import Digest, build
from reporter.errors import TokenRejected
from reporter.format import DIGEST_FORMATS, Templates
from reporter.format.email import EmailPayload
from reporter.history import History
from reporter.simulator import SimulatedPlatform
from reporter.store import Store
from tests.fakes import history, make_settings

FORMATS = sorted(DIGEST_FORMATS)
ALL_CLEAR = ("All clear: no flaky", ":white_check_mark:", ": all clear")  # what each format says when clear


def rendered(made: Digest) -> dict[str, str]:
    """Each digest format's payload (the email's subject, text and HTML apart), lines rejoined.

    The text format wraps long lines, and HTML and JSON have their own breaks: whitespace is
    folded to one space so that what a reader sees is what is compared.
    """
    templates = Templates()
    out = {name: DIGEST_FORMATS[name](templates).digest(made) for name in FORMATS}
    email = EmailPayload.from_payload(out.pop("email"))
    out |= {"email subject": email.subject, "email text": email.text, "email html": email.html}
    return {name: " ".join(payload.replace("\\n", " ").split()) for name, payload in out.items()}


def settings_with_stdout(tmp_path: Path, base_url: str, **schedule: object) -> Settings:
    return make_settings(
        tmp_path,
        base_url,
        analysis={"window_days": 3650},
        schedule={"timezone": "Europe/Berlin", **schedule},
        channels={"stdout": {}},
    )


def test_a_digest_of_an_empty_state_says_blind_in_every_format(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with Store(settings.state.path) as store:
        made = jobs.build_digest(settings, store)
    assert made.blind and not made.all_clear
    for name, payload in rendered(made).items():
        assert not any(clear in payload for clear in ALL_CLEAR), name
        if name != "email subject":
            assert "the Sample Platform has never been polled" in payload, name
            assert "no run ingested yet; no successful poll yet" in payload, name
    assert "not an all clear" in rendered(made)["email subject"]


def test_a_fresh_digest_states_its_freshness_and_may_be_all_clear(tmp_path: Path) -> None:
    quiet = History(history("..........").runs, {99: "sample.ts"})
    now = datetime(2026, 11, 20, 7, tzinfo=UTC)
    sight = watch.freshness(
        make_settings(tmp_path, "http://127.0.0.1:9", schedule={"timezone": "Europe/Berlin"}),
        watch.Contact(ok_at=now - timedelta(minutes=5)),
        now,
        newest=max(r.completed_at for r in quiet.runs if r.completed_at),
    )
    made = build(
        analyse(quiet, AnalysisSettings()),
        period="2026-11-20",
        generated_at=now,
        window_days=30,
        web_url="https://sp.example",
        previous=None,
        freshness=sight,
        timezone="Europe/Berlin",
    )
    assert made.all_clear and not made.blind
    line = "Data: newest run finished 2026-11-01 11:30 CET; last successful poll 2026-11-20 07:55 CET."
    for name, payload in rendered(made).items():
        if name != "email subject":
            assert line in payload, name
            assert "BLIND" not in payload, name
    assert rendered(made)["email subject"].endswith(": all clear")


def test_no_run_analysed_keeps_what_was_flagged_instead_of_recovering_it() -> None:
    def digest_of(runs: History, previous: Digest | None) -> Digest:
        return build(
            analyse(runs, AnalysisSettings()),
            period="2026-11-21" if previous else "2026-11-20",
            generated_at=datetime(2026, 11, 21, tzinfo=UTC),
            window_days=30,
            web_url="https://sp.example",
            previous=(previous.period, previous.state()) if previous else None,
        )

    flagged = digest_of(history("....xxxxx"), None)
    empty = digest_of(History((), {}), flagged)
    assert empty.blind and not empty.all_clear and empty.recovered == ()
    assert "NO DATA: no finished run of the last 30 days was analysed" in empty.blind_reason
    again = digest_of(history("....xxxxxx"), empty)
    assert [e.finding.sample_id for e in again.failing] == [99] and not again.failing[0].new


def outbox_subjects(settings: Settings) -> list[str]:
    with Store(settings.state.path) as store:
        items = store.outbox.items(("pending", "sent", "failed"))
    return sorted(item.key.split(":", 1)[1] for item in items)


def poll(settings: Settings) -> None:
    with Store(settings.state.path) as store:
        jobs.poll(settings, store)


def test_a_revoked_token_makes_digests_blind_and_sends_one_notice_then_one_on_recovery(
    tmp_path: Path, platform: SimulatedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_with_stdout(tmp_path, platform.base_url, max_data_age_minutes=0.01)  # 0.6 s
    poll(settings)
    with Store(settings.state.path) as store:
        assert not jobs.build_digest(settings, store).blind
    tokens = dict(platform.tokens)
    platform.tokens.clear()  # the token is revoked
    for _ in range(2):
        with pytest.raises(TokenRejected):
            poll(settings)
    assert outbox_subjects(settings) == []  # failing, but not yet for longer than the allowed age
    time.sleep(0.7)
    for _ in range(3):
        with pytest.raises(TokenRejected):
            poll(settings)
    [blind] = outbox_subjects(settings)
    assert blind.startswith("blind-")
    out = capsys.readouterr().out
    assert out.count("reporter cannot see the Sample Platform") == 1
    assert "rejected the API token" in out
    with Store(settings.state.path) as store:
        made = jobs.build_digest(settings, store)
    text = rendered(made)["text"]
    assert made.blind and "BLIND: no successful poll of the Sample Platform since " in text
    assert "the last poll failed: GET /runs: the Sample Platform rejected the API token" in text
    assert "All clear" not in text
    platform.tokens.update(tokens)
    poll(settings)
    poll(settings)
    assert outbox_subjects(settings) == [blind, blind.replace("blind-", "recovered-")]
    assert capsys.readouterr().out.count("reporter sees the Sample Platform again") == 1
    with Store(settings.state.path) as store:
        assert not jobs.build_digest(settings, store).blind


def test_a_poll_that_never_succeeded_sends_its_notice_once_the_age_has_passed(tmp_path: Path) -> None:
    settings = settings_with_stdout(tmp_path, "http://127.0.0.1:9/api/v1", max_data_age_minutes=60)
    start = datetime(2026, 11, 20, 6, tzinfo=UTC)
    with Store(settings.state.path) as store:
        known = watch.lost(store, start, "cannot reach the Sample Platform")
        assert watch.blind_notice(settings, known, start + timedelta(minutes=59)) is None
        notice = watch.blind_notice(settings, known, start + timedelta(minutes=61))
        assert notice is not None and "since 2026-11-20 07:00 CET (1 h 1 min" in notice.text
        watch.noticed(store, known)
        again = watch.lost(store, start + timedelta(minutes=70), "still unreachable")
        assert watch.blind_notice(settings, again, start + timedelta(minutes=71)) is None


def test_notices_escape_text_for_each_channel() -> None:
    notice = watch.Notice("blind-x", "[reporter] blind", "failed: <!channel> & <b>")
    slack = json.loads(watch.payload(notice, "slack"))
    assert slack["text"] == "failed: &lt;!channel&gt; &amp; &lt;b&gt;"
    email = EmailPayload.from_payload(watch.payload(notice, "email"))
    assert email.subject == "[reporter] blind" and "&lt;b&gt;" in email.html and "<b>" in email.text


def test_a_state_from_before_outcomes_reads_its_last_poll(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with Store(settings.state.path) as store:
        store.set_meta("last_poll", "2026-11-20T06:55:00+00:00 3 runs ingested, 0 pending, 0 failed")
        store.set_meta("job.digest", "not json")
        known = watch.contact(store)
        assert watch.outcome(store, "digest") is None
        polled = watch.outcome(store, "poll")
    assert known.ok_at == datetime(2026, 11, 20, 6, 55, tzinfo=UTC)
    assert polled is not None and polled.result == "ok" and polled.text.startswith("3 runs ingested")


def test_an_outcome_is_one_line_and_only_failures_become_the_last_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with Store(settings.state.path) as store:
        watch.record(store, "poll", "failed", "2 runs not ingested:\nrun 1: boom\nrun 2: bang\n")
        watch.record(store, "poll", "ok", "fine")
        error, done = watch.last_error(store), watch.outcome(store, "poll")
    assert error is not None and error.text == "2 runs not ingested: / run 1: boom / run 2: bang"
    assert done is not None and done.text == "fine"


def test_deliveries_count_as_failing_while_retried_or_failed_for_good_lately() -> None:
    from reporter.outbox import OutboxItem
    from reporter.status import failing, outstanding

    def item(subject: str, status: str, attempts: int) -> OutboxItem:
        return OutboxItem(f"slack:{subject}", "slack", subject, "{}", status, attempts, "refused")

    now = datetime(2026, 11, 20, 7, tzinfo=UTC)
    retried, queued = item("2026-11-20", "pending", 2), item("2026-11-20", "pending", 0)
    lately, long_ago = item("2026-11-14", "failed", 10), item("2026-11-01", "failed", 10)
    notice, alert = item("blind-20261119T060000Z", "failed", 10), item("alert-run-20261119", "failed", 1)
    items = [retried, queued, lately, long_ago, notice, alert]
    assert failing(items, now) == [retried, lately, notice]
    assert outstanding(items, now) == [retried, queued, lately, notice]
