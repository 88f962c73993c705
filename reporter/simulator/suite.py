"""The regression suite of a simulated history: categories, commands and exit codes of each test."""

from __future__ import annotations

import random

from reporter.simulator.model import RegressionTest, SampleSpec

# The real suite: 237 regression tests in 14 categories.
CATEGORY_SIZES = {
    "Broken": 13,
    "CEA-708": 14,
    "DVB": 7,
    "DVD": 3,
    "DVR-MS": 2,
    "General": 27,
    "Hardsubx": 1,
    "Hauppage": 3,
    "MP4": 3,
    "NoCC": 10,
    "Options": 86,
    "Teletext": 21,
    "WTV": 13,
    "XDS": 34,
}
_COMMANDS = {
    "Broken": ("-autoprogram -out=srt",),
    "CEA-708": ("-svc 1 -out=srt", "-svc 1,2 -out=srt"),
    "DVB": ("-codec dvbsub -out=spupng",),
    "DVD": ("-out=srt",),
    "DVR-MS": ("-autoprogram -out=srt",),
    "General": ("-autoprogram -out=srt -latin1", "-autoprogram -out=ttxt"),
    "Hardsubx": ("-hardsubx -ocr_mode word",),
    "Hauppage": ("-haup -out=srt",),
    "MP4": ("-out=srt",),
    "NoCC": ("-autoprogram -out=srt",),
    "Options": ("--nofontcolor -out=srt", "-out=webvtt", "-trim -out=srt", "-datets -out=ttxt", "-ucla"),
    "Teletext": ("-tpage 888 -out=srt", "-teletext -out=srt"),
    "WTV": ("-wtvmpeg2 -out=srt",),
    "XDS": ("-xds -out=ttxt",),
}
# ccextractor's exit codes that show up in failing runs.
NO_INPUT_FILES = 2
FILE_CREATION_FAILED = 5
NO_CAPTIONS = 10
READ_ERROR = 8
_CRASH = {"linux": -11, "windows": 3221225477}  # SIGSEGV, STATUS_ACCESS_VIOLATION
_KILLED = {"linux": -9, "windows": 1}  # a worker killed from outside


def crash_code(platform: str) -> int:
    return _CRASH.get(platform, -11)


def killed_code(platform: str) -> int:
    return _KILLED.get(platform, -9)


def fault_code(sample_id: int | None, platform: str, expected_rc: int) -> int:
    """The exit code a sample's own failure gives (the same for that sample every time)."""
    choice = (sample_id or 0) % 3
    code = crash_code(platform) if choice == 0 else NO_CAPTIONS if choice == 1 else 1
    return crash_code(platform) if code == expected_rc else code


def category_counts(tests: int) -> dict[str, int]:
    """The real suite's category sizes scaled to ``tests`` tests (largest remainder)."""
    total = sum(CATEGORY_SIZES.values())
    exact = {name: size * tests / total for name, size in CATEGORY_SIZES.items()}
    counts = {name: int(value) for name, value in exact.items()}
    spare = tests - sum(counts.values())
    for name in sorted(exact, key=lambda n: (counts[n] - exact[n], n))[:spare]:
        counts[name] += 1
    return counts


def build_suite(seed: int, samples: list[SampleSpec], orphan: int) -> dict[int, RegressionTest]:
    """Every regression test with its category, command and expected exit code, seeded apart."""
    rng = random.Random(f"{seed}:suite")
    owners = [(rid, spec.sample_id) for spec in samples for rid in spec.regression_ids]
    labels = [name for name, count in category_counts(len(owners)).items() for _ in range(count)]
    rng.shuffle(labels)
    suite: dict[int, RegressionTest] = {}
    for (regression_id, sample_id), category in zip(owners, labels, strict=True):
        expected = NO_CAPTIONS if category == "NoCC" else 0
        command = rng.choice(_COMMANDS[category])
        suite[regression_id] = RegressionTest(regression_id, sample_id, (category,), expected, command)
    suite[orphan] = RegressionTest(orphan, None, ("General",), 0, _COMMANDS["General"][0])
    return suite


def tests_by_category(suite: dict[int, RegressionTest]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for test in suite.values():
        for category in test.categories:
            found.setdefault(category, []).append(test.regression_id)
    return found
