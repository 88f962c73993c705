"""Find the spells in which a sample was broken, along master's line of commits; pure.

A two-state hidden Markov model: *normal* (the sample fails now and then, at its own rate ``r``) and
*broken* (a regression: it fails nearly every time, ``BROKEN_FAILS``). A regression starts at a
given observation with probability ``ONSET`` and, once started, is fixed at each observation with
probability ``FIX``. The most likely path (Viterbi) splits the failures into broken spells
(regressions, fixed or not) and loose failures (flakiness or noise). The sample's own rate is
estimated from its failures, then once more from those outside the broken spells.

Only failures are walked: the passes between two failures are one block, whose most likely path
changes state at most once, at one of its ends. The cost follows the failures, not the runs.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence

BROKEN_FAILS = 0.95  # a broken sample still passes now and then (a re-run of older code, say)
ONSET = 1e-4  # chance a regression starts at a given observation: a short final streak of a flaky
#              sample (0.3 ** 6 = 7e-4) is not mistaken for one, a stable sample's needs three failures
FIX = 0.1  # chance a regression is fixed at each observation once it started
STREAK = 3  # first guess: failures in streaks this long are not the sample's usual rate
NEG = -math.inf


def broken_spells(line: Sequence[int], length: int) -> list[list[int]]:
    """Broken spells, each a list of indices into ``line``.

    ``line`` holds the master-line positions of the failures (ascending), ``length`` the number of
    observations on master's line.
    """
    if not line:
        return []
    loose = _outside_streaks(line, STREAK)
    rate = _bounded(loose / max(length - (len(line) - loose), 1), length)
    if not _may_break(line, rate):
        return []
    spells = _decode(line, length, rate)
    if spells:
        inside = sum(len(s) for s in spells)
        span = sum(line[s[-1]] - line[s[0]] + 1 for s in spells)
        rate = _bounded((len(line) - inside) / max(length - span, 1), length)
        spells = _decode(line, length, rate)
    return spells


def _outside_streaks(line: Sequence[int], streak: int) -> int:
    """How many failures are not part of ``streak`` or more consecutive ones: a first guess at loose ones."""
    ends = map(operator.eq, line[streak - 1 :], map((streak - 1).__add__, line))
    inside = {j for i in itertools.compress(itertools.count(), ends) for j in range(i, i + streak)}
    return len(line) - len(inside)


def _may_break(line: Sequence[int], rate: float) -> bool:
    """A quick bound: could any stretch of failures and passes pay for entering and leaving a spell?

    The largest sum over stretches (Kadane) of what each failure gains and each pass loses by being
    counted as broken rather than normal; a spell is possible only if it beats the two switches.
    """
    gain = math.log(BROKEN_FAILS * (1 - FIX)) - math.log(rate)
    loss = math.log((1 - rate) / ((1 - BROKEN_FAILS) * (1 - FIX)))
    needed = -math.log(ONSET)  # a spell still open at the end never pays for leaving
    running = 0.0
    previous = line[0] - 1
    for position in line:
        running -= loss * (position - previous - 1)
        running = (running if running > 0 else 0.0) + gain
        if running > needed:
            return True
        previous = position
    return False


def _bounded(rate: float, length: int) -> float:
    return min(0.5, max(rate, 0.5 / (length + 1)))


def _decode(line: Sequence[int], length: int, rate: float) -> list[list[int]]:
    """The most likely path, as broken spells (Viterbi over failures and blocks of passes).

    Per observation: emission plus staying in the state; a switch replaces the stay. A block of
    passes stays, switches at its first pass, or switches at its last.
    """
    log = math.log
    stay_n, stay_b = log(1 - ONSET), log(1 - FIX)
    pass_n, pass_b = log(1 - rate) + stay_n, log(1 - BROKEN_FAILS) + stay_b
    fail_n, fail_b = log(rate) + stay_n, log(BROKEN_FAILS) + stay_b
    into, out = log(ONSET) - stay_b, log(FIX) - stay_n
    n, b = 0.0, log(ONSET)  # before the first observation: broken from the start is unlikely
    steps: list[tuple[bool, int, int]] = []  # a block?, where the best normal and broken ends came from
    previous = -1
    for position in [*line, length]:
        gap = position - previous - 1
        if gap > 0:
            to_n = max(
                (n + gap * pass_n, 0), (b + out + gap * pass_n, 1), (b + (gap - 1) * pass_b + out + pass_n, 1)
            )
            to_b = max(
                (b + gap * pass_b, 1),
                (n + into + gap * pass_b, 0),
                (n + (gap - 1) * pass_n + into + pass_b, 0),
            )
            n, b = to_n[0], to_b[0]
            steps.append((True, to_n[1], to_b[1]))
        if position == length:
            break
        to_n = max((n + fail_n, 0), (b + out + fail_n, 1))
        to_b = max((b + fail_b, 1), (n + into + fail_b, 0))
        n, b = to_n[0], to_b[0]
        steps.append((False, to_n[1], to_b[1]))
        previous = position
    return _spells(steps, 0 if n >= b else 1)


def _spells(steps: list[tuple[bool, int, int]], last: int) -> list[list[int]]:
    """Walk the choices back from the best final state: which failures were broken, in which spell."""
    states: list[tuple[bool, int, bool]] = []  # a block?, state at its end, broken throughout
    state = last
    for block, came_n, came_b in reversed(steps):
        start = came_b if state else came_n
        states.append((block, state, start == state == 1))
        state = start
    states.reverse()
    spells: list[list[int]] = []
    index, joined = -1, False
    for block, state, whole in states:
        if block:
            joined = joined and whole
            continue
        index += 1
        if state == 1:
            if joined and spells:
                spells[-1].append(index)
            else:
                spells.append([index])
            joined = True
        else:
            joined = False
    return spells
