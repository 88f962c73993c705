"""JSON: current findings in the stable schema of docs/json-schema.md, for scripts.

Strings are kept exactly as the platform gave them (scripts match on names); whatever a terminal
could act on (C1 controls, bidirectional overrides, line separators) or cannot encode (a lone
surrogate) is written as a ``\\uXXXX`` escape, so printing the JSON is as safe as reading it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from reporter.analysis import Cluster, Finding, RunRef
from reporter.digest import FindingsReport
from reporter.format.templates import Links
from reporter.triage_report import Evidence, NewEvidence, PullRun, RunTriage, SampleVerdict, Triage, Verdict

SCHEMA_VERSION = 2
TRIAGE_SCHEMA_VERSION = 1  # reporter triage --format json: its own schema, versioned on its own
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class JsonFormat:
    name = "json"

    def findings(self, report: FindingsReport) -> str:
        links = Links(report.web_url)
        body = {
            "schema_version": SCHEMA_VERSION,
            "generated_at": report.generated_at.isoformat(),
            "window_days": report.window_days,
            "findings": [finding_dict(f, links) for f in report.findings],
            "clusters": [cluster_dict(c, links) for c in report.clusters],
        }
        return _dumped(body)

    def triage(self, triage: Triage) -> str:
        """Verdicts for pull-request runs in the stable schema of docs/json-schema.md."""
        links = Links(triage.web_url)
        body = {
            "schema_version": TRIAGE_SCHEMA_VERSION,
            "generated_at": triage.generated_at.isoformat(),
            "window_days": triage.window_days,
            "runs": [_run(run, links) for run in triage.runs],
        }
        return _dumped(body)


def _dumped(body: dict[str, Any]) -> str:
    """Indented JSON; characters a terminal or a JavaScript parser could trip on stay escaped."""
    text = json.dumps(body, indent=2, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def finding_dict(finding: Finding, links: Links) -> dict[str, Any]:
    """One finding in the stable JSON schema (docs/json-schema.md)."""
    return {
        "sample_id": finding.sample_id,
        "sample_name": finding.sample_name,
        "platform": finding.platform,
        "classification": finding.classification,
        "score": finding.score,
        "confidence": finding.confidence,
        "runs": finding.runs,
        "failures": finding.failures,
        "flips": finding.flips,
        "same_commit_disagreements": finding.same_commit_disagreements,
        "first_failure": _ref(finding.first_failure, links),
        "last_failure": _ref(finding.last_failure, links),
        "error_types": list(finding.error_types),
        "regression_ids": list(finding.regression_ids),
        "history": finding.history,
        "regression_tests": [
            {
                "regression_id": t.regression_id,
                "classification": t.classification,
                "failures": t.failures,
                "runs": t.runs,
                "history": t.history,
            }
            for t in finding.regression_tests
        ],
        "evidence": {"failing_runs": list(finding.failing_runs)},
        "links": {"sample": links.sample(finding.sample_id)},
        "cluster": finding.cluster,
        "independent_failures": finding.independent_failures,
        "noise_failures": finding.noise_failures,
        "earlier_flaky": finding.earlier_flaky,
    }


def cluster_dict(cluster: Cluster, links: Links) -> dict[str, Any]:
    """One co-failing cluster in the stable JSON schema (docs/json-schema.md)."""
    return {
        "cluster_id": cluster.cluster_id,
        "platform": cluster.platform,
        "samples": [
            {"sample_id": s, "sample_name": name, "url": links.sample(s)}
            for s, name in zip(cluster.sample_ids, cluster.sample_names, strict=True)
        ],
        "run_ids": list(cluster.run_ids),
        "error_types": list(cluster.error_types),
        "categories": list(cluster.categories),
        "p_value": cluster.p_value,
    }


def _ref(ref: RunRef | None, links: Links) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "run_id": ref.run_id,
        "commit_sha": ref.commit_sha,
        "completed_at": ref.completed_at,
        "url": links.run(ref.run_id),
    }


def _run(run: RunTriage, links: Links) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "attempt": run.attempt,
        "pr_number": run.pr_number,
        "platform": run.platform,
        "commit_sha": run.commit_sha,
        "status": run.status,
        "completed_at": run.completed_at.isoformat() if run.completed_at else None,
        "url": links.run(run.run_id),
        "counts": {verdict.value: run.count(verdict) for verdict in Verdict},
        "verdicts": [_verdict(v, links) for v in run.verdicts],
    }


def _verdict(verdict: SampleVerdict, links: Links) -> dict[str, Any]:
    return {
        "sample_id": verdict.sample_id,
        "sample_name": verdict.sample_name,
        "verdict": verdict.verdict.value,
        "error_types": list(verdict.error_types),
        "regression_ids": list(verdict.regression_ids),
        "evidence": _evidence(verdict.evidence, links),
        "links": {"sample": links.sample(verdict.sample_id)},
    }


def _evidence(evidence: Evidence, links: Links) -> dict[str, Any]:
    """Every field of the evidence; runs as ``{run_id, commit_sha, completed_at, url}``."""
    found: dict[str, Any] = {}
    for item in dataclasses.fields(evidence):
        value = getattr(evidence, item.name)
        if isinstance(value, RunRef):
            value = _ref(value, links)
        elif isinstance(value, tuple) and value and isinstance(value[0], PullRun):
            value = [{**dataclasses.asdict(run), "url": links.run(run.run_id)} for run in value]
        elif isinstance(value, tuple):
            value = list(value)
        found[item.name] = value
    if isinstance(evidence, NewEvidence):
        found["failed_elsewhere"] = evidence.failed_elsewhere
    return found
