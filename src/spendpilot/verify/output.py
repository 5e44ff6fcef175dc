"""Render a verifier report: Rich tables, a JSON file and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from spendpilot.verify.results import VerifyReport


def print_report(report: VerifyReport, console: Console) -> None:
    """The checks table, the latency table and a one-line verdict."""
    table = Table(title=f"spendpilot verify {report.url}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("reason", overflow="fold")
    table.add_column("ms", justify="right")
    for check in report.checks:
        verdict = "[green]PASS[/green]" if check.passed else "[bold red]FAIL[/bold red]"
        table.add_row(check.name, verdict, check.reason, f"{check.duration_ms:.0f}")
    console.print(table)
    if report.latencies_ms:
        stages = Table(title="stage latencies (ms; ack and events from send)")
        stages.add_column("stage")
        stages.add_column("ms", justify="right")
        for stage, value in report.latencies_ms.items():
            stages.add_row(stage, f"{value:.1f}")
        console.print(stages)
    failed = report.failed()
    if failed:
        console.print(f"[bold red]FAILED[/bold red]: {len(failed)} of {len(report.checks)} checks")
    else:
        console.print(f"[bold green]PASSED[/bold green]: all {len(report.checks)} checks")


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
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="url", value=report.url)
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
