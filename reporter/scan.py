"""The run listings a poll reads: the newest runs, ids the listing skipped, runs restarted lately.

The live server lists runs newest first and its offset pages shift while runs arrive, so a poll
scans the head of the list down to the highest run id already known, then reads one by one the ids
the listing skipped. That gap filling is bounded: only up to the highest *plausible* listed id
(an id further above the known ones than the platform has runs is refused as an invalid answer),
no more ids than the listing's ``total`` leaves unlisted, and at most ``MAX_GAP_FETCHES`` a poll.
A listed run that breaks the contract is set aside with its reason; the rest of the page is used.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.errors import NotFound, RecordInvalid
from reporter.models import Run
from reporter.paging import Listing

logger = logging.getLogger(__name__)
RESTART_MARGIN = timedelta(hours=1)
DEEP_PAGE = 100  # runs per listing page past the first
MAX_GAP_FETCHES = 50  # ids missing from the listing read one by one, per poll
ID_SLACK = 1_000  # ids a platform may burn beyond its runs (inserts rolled back)


@dataclass
class Scan:
    """What a poll has seen so far: valid runs, runs whose answer was refused, refusals without an id."""

    runs: dict[int, Run] = field(default_factory=dict)
    invalid: dict[int, str] = field(default_factory=dict)  # run id -> the reason
    untracked: list[str] = field(default_factory=list)  # refused items the state cannot key by run id
    listings: list[Listing[Run]] = field(default_factory=list)

    def listing(self, found: Listing[Run]) -> Listing[Run]:
        self.listings.append(found)
        return found

    def listed(self) -> set[int]:
        """Ids the listings showed, valid or refused."""
        refused = {r.item_id for listing in self.listings for r in listing.rejected if r.item_id}
        return set(self.runs) | refused

    def total(self) -> int | None:
        return max((listing.total for listing in self.listings if listing.total is not None), default=None)

    def collect_rejected(self) -> None:
        """Refused listing items: by run id when it is usable, else as a line of their own."""
        for listing in self.listings:
            for rejected in listing.rejected:
                if rejected.item_id is None:
                    self.untracked.append(rejected.reason)
                elif rejected.item_id not in self.runs:
                    self.invalid.setdefault(rejected.item_id, rejected.reason)
            listing.rejected.clear()


def scan_head(client: PlatformClient, settings: Settings, high: int, horizon: datetime, seen: Scan) -> None:
    """Newest runs first, down to the highest known id (or, on a first poll or a backfill, the horizon).

    The rest of the first page always comes along (it costs nothing): known runs on it are
    compared again, which catches recent restarts early.
    """
    page_size = settings.ingest.page_size
    for count, run in enumerate(_newest_first(client, page_size, seen), start=1):
        old = run.run_id <= high if high else _before(run, horizon)
        if not (old and not high):  # runs older than the horizon are not wanted at all
            seen.runs[run.run_id] = run
        if old and count >= page_size:
            break


def _newest_first(client: PlatformClient, head: int, seen: Scan) -> Iterator[Run]:
    """A first page of ``head`` runs, then pages of ``DEEP_PAGE``.

    The server recomputes every listed run (~9 ms each): a poll mostly needs only the newest few,
    so the first page is small; a deeper scan needs every run it lists, so large pages cost the
    server the same and take fewer requests. Offsets shift as runs arrive: runs may repeat, never
    go missing, and the caller de-duplicates them.
    """
    first = seen.listing(client.runs({"sort": "-run_id"}, head))
    for count, run in enumerate(first, start=1):
        yield run
        if count == head:
            break
    else:
        return  # the list ended on the first page
    yield from seen.listing(client.runs({"sort": "-run_id"}, max(head, DEEP_PAGE), offset=head))


def _before(run: Run, horizon: datetime) -> bool:
    moment = run.created_at or run.queued_at
    return moment is not None and moment < horizon


def refuse_impossible(seen: Scan, floor: int, high: int) -> None:
    """Set aside listed ids further above the known ones than the platform has runs (plus slack).

    Runs are numbered in creation order, so the newest id exceeds the highest known one (or the
    lowest listed, on a first poll) by at most the number of runs, plus ids burnt by failed inserts.
    Such an id would otherwise become the highest known and make every id below it look skipped.
    """
    total = seen.total()
    ceiling = floor + max(total or 0, len(seen.listed())) + ID_SLACK
    for listing in seen.listings:
        for rejected in [r for r in listing.rejected if r.item_id and r.item_id > ceiling]:
            listing.rejected.remove(rejected)
            seen.untracked.append(rejected.reason)
    for run_id in [run_id for run_id in seen.runs if run_id > ceiling]:
        del seen.runs[run_id]
        known = f"highest known run {high}" if high else f"lowest listed run {floor + 1}"
        seen.untracked.append(
            f"GET /runs: field run_id: run {run_id} is beyond any run the platform accounts for "
            f"({known}, {total if total is not None else 'no'} runs in all); skipping it"
        )
        logger.warning("%s", seen.untracked[-1])


def fill_gaps(client: PlatformClient, floor: int, seen: Scan, waiting: set[int]) -> None:
    """Ids the listing skipped (pages shift while runs arrive): read them one by one, within bounds."""
    listed = seen.listed()
    top = max(seen.runs, default=floor)
    missing = (top - floor) - sum(1 for run_id in listed if floor < run_id <= top)
    total = seen.total()
    unlisted = max(0, total - len(listed)) if total is not None else MAX_GAP_FETCHES
    budget = min(MAX_GAP_FETCHES, unlisted)
    if missing > budget:
        first = next(i for i in range(floor + 1, top + 1) if i not in listed)
        last = next(i for i in range(top, floor, -1) if i not in listed)
        logger.warning(
            "%d ids from %d to %d are missing from the listing; reading %d of them (at most %d a poll%s)",
            missing,
            first,
            last,
            budget,
            MAX_GAP_FETCHES,
            f"; its total of {total} runs leaves {unlisted} unlisted" if total is not None else "",
        )
    gaps = (run_id for run_id in range(floor + 1, top + 1) if run_id not in listed)
    for run_id in itertools.islice(gaps, budget):
        if run_id in waiting:
            continue
        try:
            seen.runs[run_id] = client.run(run_id)
        except NotFound:
            logger.debug("run %d is listed nowhere and not found; skipping it", run_id)
        except RecordInvalid as exc:
            seen.invalid[run_id] = str(exc)


def scan_restarted(client: PlatformClient, settings: Settings, watermark: datetime, seen: Scan) -> None:
    """Runs whose progress began after the platform time last seen: restarts included.

    ``created_after`` filters on a run's first progress time, which a restart resets; queued runs
    match every window. Times are sent as UTC ``Z``, the only form the live server reads right.
    """
    since = (watermark - RESTART_MARGIN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    listing = seen.listing(
        client.runs({"sort": "-run_id", "created_after": since}, settings.ingest.page_size)
    )
    for run in listing:
        seen.runs.setdefault(run.run_id, run)
