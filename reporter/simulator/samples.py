"""Plant the samples of a simulated history: how each one is meant to behave, and what they share.

``rng`` drives what every profile has always had; ``extra`` drives only the behaviours a profile
switches on, so a profile without them generates the same samples for a seed as it always did.
"""

from __future__ import annotations

import random
from dataclasses import replace

from reporter.simulator.model import ERROR_TYPES, PLATFORMS, Episode, Kind, Profile, SampleSpec, SharedCause

_NAMES = (
    "broadcast",
    "teletext",
    "dvb-sub",
    "cea708",
    "mp4-tx3g",
    "atsc",
    "wtv",
    "mkv",
    "h264",
    "scc",
    "isdb",
    "hdhomerun",
    "bbc-one",
    "arte",
    "nhk",
    "tivo",
    "ts-pat",
    "rai",
    "ota",
)
# What makes a cluster's members fail together, as the error they show.
CLUSTER_FAULTS = ("missing_output", "read_error", "killed", "diff_mismatch")


def cluster_sizes(extra: random.Random, profile: Profile) -> list[int]:
    return [extra.randint(3, 6) for _ in range(profile.clusters)]


def plant(
    rng: random.Random,
    extra: random.Random,
    profile: Profile,
    n_commits: int,
    overloads: list[Episode],
) -> tuple[list[SampleSpec], list[SharedCause]]:
    """Every sample with its kind and parameters, and the causes shared by groups of them."""
    sizes = cluster_sizes(extra, profile)
    kinds: list[Kind] = ["stable"] * profile.samples
    cursor = 0
    planted: tuple[tuple[Kind, int], ...] = (
        ("regression", profile.regressions),
        ("fixed", profile.fixed_regressions),
        ("platform_broken", profile.platform_broken),
        ("pr_broken", 1),
        ("new", 1),
        ("flaky", round(profile.samples * profile.flaky_share)),
        ("bursty", profile.bursty),
        ("clustered", sum(sizes)),
        ("rare_flaky", profile.rare_flaky),
        ("intermittent_regression", profile.intermittent_regressions),
        ("flaky_broken", profile.flaky_broken),
        ("pr_broken", profile.pr_breakages),
    )
    for kind, count in planted:
        for _ in range(count):
            if cursor < len(kinds):
                kinds[cursor] = kind
                cursor += 1
    rng.shuffle(kinds)
    specs: list[SampleSpec] = []
    next_regression = 1
    planter = _Planter(rng, extra, profile, n_commits, overloads)
    for index, kind in enumerate(kinds):
        sample_id = 100 + index * 3 + 1
        n_tests = 2 if rng.random() < 0.25 else 1
        regression_ids = tuple(range(next_regression, next_regression + n_tests))
        next_regression += n_tests
        name = f"{rng.choice(_NAMES)}-{sample_id}.{rng.choice(('ts', 'mp4', 'mkv', 'wtv'))}"
        specs.append(planter.spec(kind, sample_id, name, regression_ids))
    return _group(extra, specs, sizes, overloads)


def _group(
    extra: random.Random, specs: list[SampleSpec], sizes: list[int], overloads: list[Episode]
) -> tuple[list[SampleSpec], list[SharedCause]]:
    """Split the clustered samples into their groups; bursty samples of a platform share its overloads."""
    causes: list[SharedCause] = []
    members = [i for i, s in enumerate(specs) if s.kind == "clustered"]
    for size in sizes:
        chosen, members = members[:size], members[size:]
        if len(chosen) < 2:  # too few samples left for a group: they behave like the rest
            members += chosen
            break
        platforms = PLATFORMS if extra.random() < 0.5 else (extra.choice(PLATFORMS),)
        fault = extra.choice(CLUSTER_FAULTS)
        error = "exit_code_mismatch" if fault in ("read_error", "killed") else fault
        for i in chosen:
            specs[i] = replace(specs[i], platforms=platforms, group=len(causes), error_types=(error,))
        pairs = frozenset((specs[i].sample_id, p) for i in chosen for p in platforms)
        rate, member = extra.uniform(0.05, 0.14), extra.uniform(0.75, 0.95)
        causes.append(SharedCause("cluster", pairs, platforms, rate, member, fault))
    for i in members:
        specs[i] = replace(specs[i], kind="stable")
    for platform in PLATFORMS:
        bursty = frozenset(
            (s.sample_id, platform) for s in specs if s.kind == "bursty" and platform in s.platforms
        )
        if bursty and any(e.platform == platform for e in overloads):
            causes.append(SharedCause("overload", bursty, (platform,)))
    return specs, causes


class _Planter:
    def __init__(
        self,
        rng: random.Random,
        extra: random.Random,
        profile: Profile,
        n_commits: int,
        overloads: list[Episode],
    ) -> None:
        self.rng, self.extra, self.profile, self.n = rng, extra, profile, n_commits
        self.overloaded = tuple(p for p in PLATFORMS if any(e.platform == p for e in overloads))

    def spec(self, kind: Kind, sample_id: int, name: str, regression_ids: tuple[int, ...]) -> SampleSpec:
        rng, n_commits, profile = self.rng, self.n, self.profile
        one_platform = (rng.choice(PLATFORMS),)
        base = SampleSpec(sample_id, name, regression_ids, "stable")
        if kind == "flaky":
            platforms = one_platform if rng.random() < 0.4 else PLATFORMS
            types = ERROR_TYPES if rng.random() < 0.5 else (rng.choice(ERROR_TYPES),)
            return replace(
                base,
                kind=kind,
                platforms=platforms,
                fail_rate=rng.choice(profile.flaky_rates),
                error_types=types,
            )
        if kind in ("regression", "fixed"):
            first = rng.randint(n_commits // 4, n_commits // 2)
            fix = (
                min(rng.randint(first + 4, max(first + 4, n_commits - 8)), n_commits - 2)
                if kind == "fixed"
                else None
            )
            if fix is not None and profile.fixed_span is not None:
                fix = min(first + self.extra.randint(*profile.fixed_span), n_commits - 2)
            platforms = one_platform if rng.random() < 0.5 else PLATFORMS
            return replace(
                base,
                kind=kind,
                platforms=platforms,
                fail_rate=1.0,
                error_types=(rng.choice(ERROR_TYPES),),
                from_commit=first,
                fix_commit=fix,
            )
        if kind == "platform_broken":
            return replace(
                base, kind=kind, platforms=one_platform, fail_rate=1.0, error_types=("missing_output",)
            )
        if kind == "pr_broken":
            return self._pr_broken(base)
        if kind == "new":
            return replace(base, kind=kind, from_commit=n_commits - 6)
        return self._new_kind(kind, base)

    def _pr_broken(self, base: SampleSpec) -> SampleSpec:
        spec = replace(
            base, kind="pr_broken", fail_rate=1.0, error_types=("exit_code_mismatch",), pr_number=1
        )
        if not self.profile.pr_breakages:
            return spec
        extra = self.extra
        platforms = PLATFORMS if extra.random() < 0.6 else (extra.choice(PLATFORMS),)
        fixed_push = extra.randint(1, 2) if extra.random() < 0.4 else None
        number = extra.randint(1, max(1, self.profile.pull_requests))
        return replace(
            spec,
            platforms=platforms,
            error_types=(extra.choice(ERROR_TYPES),),
            pr_number=number,
            pr_fixed_push=fixed_push,
        )

    def _new_kind(self, kind: Kind, base: SampleSpec) -> SampleSpec:
        extra, n = self.extra, self.n
        one_platform = (extra.choice(PLATFORMS),)
        types = (extra.choice(ERROR_TYPES),)
        platforms: tuple[str, ...] = one_platform
        if kind == "bursty":
            platforms = (extra.choice(self.overloaded),) if self.overloaded else one_platform
            types = (extra.choice(("exit_code_mismatch", "missing_output")),)
            return replace(
                base, kind=kind, platforms=platforms, fail_rate=extra.uniform(0.3, 0.7), error_types=types
            )
        if kind == "clustered":
            return replace(base, kind=kind)
        if kind == "rare_flaky":
            return replace(base, kind=kind, platforms=one_platform, error_types=types)
        if extra.random() >= 0.5:
            platforms = PLATFORMS
        if kind == "intermittent_regression":
            first = extra.randint(n // 4, n // 2)
            steady = max(first, min(first + extra.randint(2, 6), n - 3))
            return replace(
                base,
                kind=kind,
                platforms=platforms,
                fail_rate=extra.uniform(0.3, 0.6),
                error_types=types,
                from_commit=first,
                steady_commit=steady,
            )
        if kind == "flaky_broken":
            broken = extra.randint(n // 2, max(n // 2, 3 * n // 4))
            flake = extra.choice(ERROR_TYPES)
            return replace(
                base,
                kind=kind,
                platforms=platforms,
                fail_rate=extra.choice((0.1, 0.15, 0.25)),
                error_types=(flake, extra.choice(ERROR_TYPES)),
                from_commit=broken,
            )
        return base
