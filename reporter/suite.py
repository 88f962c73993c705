"""What a run attempt tested and how its tests failed: test order, categories, signatures; pure.

The platform runs a sample's regression tests in regression-id order; ``History.sample_tests`` gives
each sample's tests, so the order in which an attempt reached them is known. Without it (an older
state file) each sample stands for its tests, in sample-id order.
"""

from __future__ import annotations

from collections import Counter

from reporter.history import History, RunRecord, TestFailure


class Suite:
    """The order in which a run reaches its tests, and its samples' categories, cached per tested set."""

    def __init__(self, history: History) -> None:
        self.tests = history.sample_tests
        self.categories = {s: labels for s, labels in history.categories.items() if labels}
        self._order: dict[int, list[tuple[int, int]]] = {}
        self._sizes: dict[int, Counter[str]] = {}

    def order(self, tested: frozenset[int]) -> list[tuple[int, int]]:
        """(test, sample) pairs in the order the run reached them; samples stand for tests if unknown."""
        found = self._order.get(id(tested))
        if found is None:
            if self.tests:
                found = sorted((r, s) for s in tested for r in self.tests.get(s, ()))
            else:
                found = [(s, s) for s in sorted(tested)]
            self._order[id(tested)] = found
        return found

    def failing_tests(self, run: RunRecord, sample_id: int) -> list[tuple[int, str | None]]:
        """(test, signature) for each failing test of a sample in a run, as well as is known.

        Without the suite's test order, the sample stands for its tests.
        """
        detailed = run.failed_tests.get(sample_id)
        if detailed:
            found = [(t.regression_id, signature(t)) for t in detailed]
        else:
            ids = run.failed_regressions.get(sample_id) or self.tests.get(sample_id, ())
            types = run.failures.get(sample_id, ())
            found = [(r, "missing_output" if types == ("missing_output",) else None) for r in ids]
        if not self.tests:
            kinds = {k for _, k in found}
            return [(sample_id, kinds.pop() if len(kinds) == 1 else None)]
        return found

    def kind(self, run: RunRecord, sample_id: int) -> str | None:
        """The one way all of a sample's failing tests failed, if they share a shared-cause signature."""
        kinds = {k for _, k in self.failing_tests(run, sample_id)}
        return kinds.pop() if len(kinds) == 1 else None

    def category_sizes(self, tested: frozenset[int]) -> Counter[str]:
        """How many tested samples each category has in a run with this tested set."""
        found = self._sizes.get(id(tested))
        if found is None:
            found = Counter(c for s in tested for c in self.categories.get(s, ()))
            self._sizes[id(tested)] = found
        return found


def signature(test: TestFailure) -> str | None:
    """How a test failed, when that could be a shared cause: no output, an unexpected exit, or both."""
    if test.status == "missing_output":
        return f"missing_output, exit {test.exit_code}" if test.unexpected_exit else "missing_output"
    if test.unexpected_exit:
        return f"exit {test.exit_code}"
    return None  # a wrong output with the expected exit code: the test's own business


class Failing:
    """The failing tests of one attempt, per sample, worked out only for the samples asked about."""

    def __init__(self, suite: Suite, run: RunRecord) -> None:
        self.suite, self.run = suite, run
        self._tests: dict[int, list[tuple[int, str | None]]] = {}

    def tests(self, sample_id: int) -> list[tuple[int, str | None]]:
        found = self._tests.get(sample_id)
        if found is None:
            found = self.suite.failing_tests(self.run, sample_id) if sample_id in self.run.failures else []
            self._tests[sample_id] = found
        return found

    def ids(self, sample_id: int) -> list[int]:
        return [r for r, _ in self.tests(sample_id)]

    def kind(self, sample_id: int) -> str | None:
        """The one way all of a sample's failing tests failed, if they share a shared-cause signature."""
        kinds = {k for _, k in self.tests(sample_id)}
        return kinds.pop() if len(kinds) == 1 else None
