"""Fit the confidence model (reporter/confidence.py) on the tuning seeds, and print its weights.

    uv run python -m benchmarks.calibrate [--seeds 10]

Every profile and every variant moved away from the defaults (benchmarks/common.py), tuning seeds
only (benchmarks/evaluate_detection.py reports on other seeds). Each
history is built in process (benchmarks/scenario_history.py, the attempt in force at the end, as
one backfill stores it) and analysed; every finding gives the model's inputs and whether its
classification is right. A logistic regression with a small ridge penalty (Newton's method) gives
the weights to paste into reporter/confidence.py.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from benchmarks.common import END, variants
from benchmarks.scenario_history import history_of
from reporter.analysis import FAILING, analyse
from reporter.confidence import features
from reporter.config import AnalysisSettings
from reporter.simulator import PROFILES, generate

TUNING_SEEDS = range(1, 11)
RIDGE = 1.0


def samples(seeds: Sequence[int]) -> tuple[list[tuple[list[float], int]], list[tuple[list[float], int]]]:
    """(inputs, right) for the flaky model and for the failing model, over every profile."""
    flaky: list[tuple[list[float], int]] = []
    failing: list[tuple[list[float], int]] = []
    settings = AnalysisSettings(window_days=3650)
    for profile in [*PROFILES.values(), *variants().values()]:
        for seed in seeds:
            scenario = generate(seed, profile, end=END)
            result = analyse(history_of(scenario, every_attempt=False), settings)
            for finding in result.findings:
                pair = (finding.sample_id, finding.platform)
                if finding.classification == FAILING:
                    failing.append(([math.log1p(len(finding.failing_runs))], int(pair in scenario.failing)))
                else:
                    flaky.append((list(features(finding)), int(pair in scenario.flaky)))
    return flaky, failing


def fit(data: list[tuple[list[float], int]], rounds: int = 100) -> list[float]:
    """Ridge-penalised logistic regression by Newton's method; intercept first.

    Labels are Platt's smoothed targets, (right + 1) / (right + 2) and 1 / (wrong + 2), so that a
    class never seen wrong still gets a probability below one.
    """
    right = sum(label for _, label in data)
    targets = ((1 / (len(data) - right + 2)), (right + 1) / (right + 2))
    data = [(inputs, targets[label]) for inputs, label in data]  # type: ignore[misc]
    width = len(data[0][0]) + 1
    weights = [0.0] * width
    for _ in range(rounds):
        gradient = [0.0] * width
        hessian = [[0.0] * width for _ in range(width)]
        for inputs, label in data:
            x = [1.0, *inputs]
            z = sum(w * v for w, v in zip(weights, x, strict=True))
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            for i in range(width):
                gradient[i] += (label - p) * x[i]
                for j in range(width):
                    hessian[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(1, width):  # the intercept is not penalised
            gradient[i] -= RIDGE * weights[i]
            hessian[i][i] += RIDGE
        step = _solve(hessian, gradient)
        weights = [w + s for w, s in zip(weights, step, strict=True)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return weights


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (small dense systems)."""
    n = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col and rows[col][col]:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] if rows[i][i] else 0.0 for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=len(TUNING_SEEDS), help="tuning seeds 1..N")
    args = parser.parse_args()
    flaky, failing = samples(range(1, args.seeds + 1))
    print(
        f"tuning seeds 1-{args.seeds}, every profile and variant: {len(flaky)} findings, {len(failing)} failing"
    )
    print("FLAKY_WEIGHTS =", tuple(round(w, 3) for w in fit(flaky)))
    print("FAILING_WEIGHTS =", tuple(round(w, 3) for w in fit(failing)))


if __name__ == "__main__":
    main()
