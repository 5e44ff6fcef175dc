"""Render a verifier run: a line per check as it completes, the summary, a JSON file and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from spendpilot.verify.context import Bounds
from spendpilot.verify.results import CheckResult, VerifyReport


def print_header(url: str, bounds: Bounds, console: Console) -> None:
    console.print(f"spendpilot verify {escape(url)}: {bounds.describe()}", highlight=False, soft_wrap=True)


def print_check(check: CheckResult, console: Console) -> None:
    """One line per check, printed the moment it completes (soft-wrapped: one line in a log or pipe)."""
    verdict = "[green]PASS[/green]" if check.passed else "[bold red]FAIL[/bold red]"
    console.print(f"{verdict} {check.name:<24} {check.duration_ms:>8.0f} ms  {escape(check.reason)}",
                  highlight=False, soft_wrap=True)
    console.file.flush()


def print_summary(report: VerifyReport, console: Console) -> None:
    """The stage latencies and a one-line verdict naming the failed checks."""
    if report.latencies_ms:
        stages = ", ".join(f"{stage} {value:.1f}" for stage, value in report.latencies_ms.items())
        console.print(f"stage latencies (ms; ack and events from sending): {stages}", highlight=False,
                      soft_wrap=True)
    failed = report.failed()
    if failed:
        names = ", ".join(c.name for c in failed)
        console.print(f"[bold red]FAILED[/bold red]: {len(failed)} of {len(report.checks)} checks ({names})",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"[bold green]PASSED[/bold green]: all {len(report.checks)} checks", highlight=False)


def write_json(report: VerifyReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def write_junit(report: VerifyReport, path: str | Path) -> None:
    """One testcase per check; a failure element carries the reason."""
    failures = len(report.failed())
    seconds = sum(c.duration_ms for c in report.checks) / 1000.0
    suite = ET.Element(
        "testsuite",
        name="spendpilot.verify",
        tests=str(len(report.checks)),
        failures=str(failures),
        errors="0",
        time=f"{seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="url", value=report.url)
    for bound, seconds in report.bounds.items():
        ET.SubElement(properties, "property", name=f"bound.{bound}", value=f"{seconds:g}")
    for check in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname="spendpilot.verify", name=check.name, time=f"{check.duration_ms / 1000.0:.3f}"
        )
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=check.reason[:500])
            failure.text = check.reason
        else:
            ET.SubElement(case, "system-out").text = check.reason
    root = ET.Element("testsuites", name="spendpilot verify", tests=str(len(report.checks)), failures=str(failures))
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
