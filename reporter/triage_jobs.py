"""Pull-request triage as jobs on an open store: the runs a request names, judged; comments queued.

``run_triage`` serves ``reporter triage`` (through ``commands.triage_once``), ``triage_new_runs`` runs
after each poll. Both judge from one analysis of the stored window (``reporter.triage``) and, with
``channels.github.pr_comments``, queue one comment payload per pull request and run attempt in the
outbox, then deliver it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reporter import analysis, triage
from reporter.config import Settings
from reporter.deliver import channels_from, deliver_pending
from reporter.format import Templates
from reporter.format.github import GithubFormat
from reporter.history import History, RunRecord
from reporter.store import KnownRun, Store
from reporter.triage_report import Triage

logger = logging.getLogger(__name__)
RECENT = timedelta(days=2)  # a poll comments on pull-request runs completed this recently


@dataclass(frozen=True)
class TriageRequest:
    """Which runs to triage: these ids, a pull request's latest run per platform, or every PR run since."""

    run_ids: tuple[int, ...] = ()
    pr_number: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class TriageOutcome:
    """The triage, the runs that could not be triaged (and why), and pull-request comments queued."""

    triage: Triage
    problems: tuple[str, ...]
    comments: int


def run_triage(
    settings: Settings,
    store: Store,
    request: TriageRequest,
    *,
    now: datetime | None = None,
    comment: bool = False,
) -> TriageOutcome:
    """Judge the requested runs from the stored history; with ``comment``, queue and post PR comments."""
    now = now or datetime.now(UTC)
    window = timedelta(days=settings.analysis.window_days)
    start = min(now - window, request.since or now, *_completed(store.records(request.run_ids)))
    history = store.history(start)
    result = analysis.analyse(history, settings.analysis)
    chosen, problems = _chosen(store, history, request)
    judged = triage.triage(history, result, chosen, settings.analysis)
    report = Triage(now, judged, settings.platform.web_url, settings.analysis.window_days)
    pulls = {run.pr_number for run in chosen if run.pr_number is not None}
    queued = queue_comments(settings, store, history, result, pulls, now) if comment else 0
    return TriageOutcome(report, tuple(problems), queued)


def triage_new_runs(settings: Settings, store: Store, run_ids: tuple[int, ...]) -> int:
    """After a poll: judge its new pull-request runs, log the verdicts, queue and post comments."""
    now = datetime.now(UTC)
    fresh = [
        run
        for run in store.records(run_ids)
        if run.pr_number is not None and run.evidence and now - (run.completed_at or now) <= RECENT
    ]
    if not fresh:
        return 0
    history = store.history(now - timedelta(days=settings.analysis.window_days))
    result = analysis.analyse(history, settings.analysis)
    keys = {run.key for run in fresh}
    chosen = [run for run in history.runs if run.key in keys]
    for judged in triage.triage(history, result, chosen, settings.analysis):
        where = f"pull request #{judged.pr_number}, {judged.platform}"
        logger.info("triage: run %d (%s): %s", judged.run_id, where, judged.summary)
    return queue_comments(settings, store, history, result, {run.pr_number or 0 for run in fresh}, now)


def queue_comments(
    settings: Settings,
    store: Store,
    history: History,
    result: analysis.Analysis,
    pulls: set[int],
    now: datetime,
) -> int:
    """One comment payload per pull request, covering its latest run per platform, once per run attempt.

    The outbox subject names the run attempts covered (``pr-7-runs-31.1-30.2``): a new run or a
    restart makes a new payload, the same runs never a second one.
    """
    github = settings.channels.github
    if github is None or not github.pr_comments or not pulls:
        return 0
    repositories = store.repositories(run.run_id for run in history.runs if run.pr_number in pulls)
    mine = [r for r in history.runs if repositories.get(r.run_id, "").lower() == github.repository.lower()]
    form = GithubFormat(Templates(settings.templates.directory))
    queued = 0
    for pr_number in sorted(pulls):
        latest = triage.latest_runs(mine, pr_number)
        if not latest:
            continue
        judged = triage.triage(history, result, latest, settings.analysis)
        report = Triage(now, judged, settings.platform.web_url, settings.analysis.window_days)
        covered = "-".join(f"{r}.{a}" for r, a in sorted((run.key for run in latest), reverse=True))
        payload = form.comment(report, pr_number, github.repository)
        queued += store.outbox.queue(f"pr-{pr_number}-runs-{covered}", {"github": payload})
    if queued:
        deliver_pending(store, [c for c in channels_from(settings) if c.name == "github"])
    return queued


def _chosen(store: Store, history: History, request: TriageRequest) -> tuple[list[RunRecord], list[str]]:
    """The stored runs the request names, and why any of them cannot be triaged."""
    if request.pr_number is not None:
        found = triage.latest_runs(list(history.runs), request.pr_number)
        missing = f"pull request #{request.pr_number}: no finished run of it is stored in the analysis window"
        return found, [] if found else [missing]
    latest = {run.run_id: run for run in sorted(history.runs, key=lambda r: r.key)}  # a run's last attempt
    if request.since is not None:
        since = request.since
        return [
            r for r in latest.values() if r.pr_number is not None and (r.completed_at or since) >= since
        ], []
    wanted = set(request.run_ids)
    chosen = [run for run_id, run in sorted(latest.items()) if run_id in wanted]
    absent = wanted - {run.run_id for run in chosen}
    known = store.known(absent)
    return chosen, [f"run {run_id}: {_why_not(known.get(run_id))}" for run_id in sorted(absent)]


def _why_not(known: KnownRun | None) -> str:
    if known is None:
        return "not stored: the platform did not give it"
    return {
        "pending": f"still {known.status}: it is judged once it finishes",
        "filtered": "left out by the filters of the configuration (filters.*)",
        "abandoned": "given up on: it stayed queued too long or left the platform",
    }.get(known.state, "stored, but outside the analysis window")


def _completed(records: list[RunRecord]) -> list[datetime]:
    return [run.completed_at for run in records if run.completed_at is not None]
