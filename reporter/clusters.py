"""Find flaky samples whose failures coincide far more than chance: one cause, fix it once; pure.

Per platform, for every pair of flaky samples, Fisher's exact test (one-sided, hypergeometric) over
the run attempts both were tested in asks whether they failed together more often than independent
samples with their failure counts would. A pair is linked when its p-value is below
``cluster_alpha`` divided by the number of pairs (Bonferroni) and when each mostly fails when the
other does, in the same attempt more often than in the attempts next to it (one cause firing in a
run makes most of its samples fail there; a bad day makes samples fail around the same time).
Linked samples form clusters. Details in docs/analysis.md ("Co-failing clusters").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reporter.config import AnalysisSettings
from reporter.history import RunRecord


@dataclass(frozen=True, slots=True)
class Cluster:
    """Samples on one platform that fail together, with the runs where they did and what they share."""

    cluster_id: int
    platform: str
    sample_ids: tuple[int, ...]
    sample_names: tuple[str, ...]
    run_ids: tuple[int, ...]  # runs in which at least half of the members (two or more) failed together
    error_types: tuple[str, ...]  # error types most members show in those runs
    categories: tuple[str, ...]  # categories most members belong to
    p_value: float  # the weakest link's Fisher p-value (before the correction)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A flaky sample on a platform: where it was tested and where its flaky failures were."""

    sample_id: int
    name: str
    platform: str
    tested: Sequence[int]  # positions in the platform's attempts
    failed: Sequence[int]  # positions, ascending
    attempts: Sequence[RunRecord]  # the platform's attempts, by position


def co_failing(
    candidates: Iterable[Candidate], categories: Mapping[int, frozenset[str]], settings: AnalysisSettings
) -> tuple[Cluster, ...]:
    """Every cluster of co-failing candidates, per platform, numbered from 1."""
    by_platform: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        if len(candidate.failed) >= 2:
            by_platform[candidate.platform].append(candidate)
    found: list[Cluster] = []
    for platform in sorted(by_platform):
        group = sorted(by_platform[platform], key=lambda c: c.sample_id)
        for members, weakest in _components(group, settings.cluster_alpha):
            found.append(_cluster(len(found) + 1, platform, members, weakest, categories))
    return tuple(found)


class _Masks:
    """Bit masks over a platform's attempts, shared between candidates tested in the same attempts."""

    def __init__(self) -> None:
        self._tested: dict[int, int] = {}

    def tested(self, positions: Sequence[int]) -> int:
        found = self._tested.get(id(positions))
        if found is None:
            found = self._tested[id(positions)] = _mask(positions)
        return found


def _mask(positions: Sequence[int]) -> int:
    if not positions:
        return 0
    bits = bytearray(positions[-1] // 8 + 1)
    for p in positions:
        bits[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(bits, "little")


def _components(group: list[Candidate], alpha: float) -> list[tuple[list[Candidate], float]]:
    """Linked candidates, grouped; a member must be linked to at least half of the others."""
    masks = _Masks()
    bits = [_Bits(masks.tested(c.tested), _mask(c.failed)) for c in group]
    pairs = len(group) * (len(group) - 1) // 2
    links: dict[int, dict[int, float]] = defaultdict(dict)
    for i in range(len(group)):
        for j in range(i + 1, len(group)):
            p = _link(bits[i], bits[j], pairs, alpha)
            if p is not None:
                links[i][j] = links[j][i] = p
    made = []
    seen: set[int] = set()
    for start in sorted(links):
        if start in seen:
            continue
        component = _reach(start, links)
        seen |= component
        members = _prune(component, links)
        if len(members) >= 2:
            weakest = max(links[a][b] for a in members for b in members if b in links[a])
            made.append(([group[i] for i in sorted(members)], weakest))
    return made


class _Bits:
    """One candidate's attempts as bit masks, with their sizes."""

    __slots__ = ("count", "failed", "tested", "total")

    def __init__(self, tested: int, failed: int) -> None:
        self.tested, self.failed = tested, failed
        self.total, self.count = tested.bit_count(), failed.bit_count()


def _link(a: _Bits, b: _Bits, pairs: int, alpha: float) -> float | None:
    """The Fisher p-value of two samples failing in the same attempts, if they are linked."""
    fa, fb = a.failed, b.failed
    together = (fa & fb).bit_count()
    if together < 2:
        return None
    ka, kb = a.count, b.count
    if together * 2 < max(ka, kb):
        return None  # when one fails the other mostly passes: not one cause firing in a run
    if together <= (fa & (fb << 1)).bit_count() + (fa & (fb >> 1)).bit_count():
        return None  # as often in the attempt next door: failures bunched in bad hours, not one cause
    total = a.total
    if a.tested is not b.tested:  # tested in different attempts: only those both were tested in count
        both = a.tested & b.tested
        total, ka, kb = both.bit_count(), (fa & both).bit_count(), (fb & both).bit_count()
    p = hypergeometric_tail(together, total, ka, kb, stop=alpha / pairs)
    return p if p * pairs <= alpha else None


def hypergeometric_tail(k: int, total: int, ka: int, kb: int, stop: float = 1.0) -> float:
    """P(X >= k) for the overlap X of random ``ka``- and ``kb``-subsets of ``total`` items.

    The sum stops as soon as it exceeds ``stop``: a caller that only asks "below ``stop``?" is
    answered after one term for most pairs.
    """
    top = min(ka, kb)
    if k > top:
        return 0.0
    if k <= max(0, ka + kb - total):
        return 1.0
    log_term = (
        _log_choose(ka, k) + _log_choose(total - ka, kb - k) - _log_choose(total, kb)
    )  # P(X = k), then each next term by the ratio of successive probabilities
    term, sum_ = math.exp(log_term), 0.0
    for x in range(k, top + 1):
        sum_ += term
        if sum_ > stop:
            break
        term *= (ka - x) * (kb - x) / ((x + 1) * (total - ka - kb + x + 1))
        if term < sum_ * 1e-12:
            break
    return min(1.0, sum_)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _reach(start: int, links: Mapping[int, Mapping[int, float]]) -> set[int]:
    found, waiting = {start}, [start]
    while waiting:
        for other in links[waiting.pop()]:
            if other not in found:
                found.add(other)
                waiting.append(other)
    return found


def _prune(component: set[int], links: Mapping[int, Mapping[int, float]]) -> set[int]:
    """Drop members linked to fewer than half of the others, until none is (chains are not clusters)."""
    members = set(component)
    while len(members) > 2:
        weakest = min(members, key=lambda m: (len(links[m].keys() & members), -m))
        if 2 * len(links[weakest].keys() & members) >= len(members) - 1:
            break
        members.discard(weakest)
    return members


def _cluster(
    cluster_id: int,
    platform: str,
    members: list[Candidate],
    weakest: float,
    categories: Mapping[int, frozenset[str]],
) -> Cluster:
    at: dict[int, list[Candidate]] = defaultdict(list)
    for member in members:
        for position in member.failed:
            at[position].append(member)
    quorum = max(2, math.ceil(len(members) / 2))
    fired = sorted(p for p, who in at.items() if len(who) >= quorum)
    attempts = members[0].attempts
    run_ids = sorted({attempts[p].run_id for p in fired})
    types: Counter[str] = Counter()
    for member in members:
        mine = set(member.failed)
        types.update({t for p in fired if p in mine for t in attempts[p].failures.get(member.sample_id, ())})
    labels: Counter[str] = Counter(c for m in members for c in categories.get(m.sample_id, ()))
    half = len(members) / 2
    return Cluster(
        cluster_id,
        platform,
        tuple(m.sample_id for m in members),
        tuple(m.name for m in members),
        tuple(run_ids),
        tuple(sorted(t for t, n in types.items() if n >= half)),
        tuple(sorted(c for c, n in labels.items() if n >= half)),
        weakest,
    )
