"""Drill reports: Markdown, a self-contained HTML page with an SVG timeline, and JUnit XML."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree as ET

FATE_COLOURS = {
    "survived": "#2e7d32",
    "lost": "#c62828",
    "failed": "#9e9e9e",
    "written": "#1565c0",
    "unknown": "#616161",
}
PHASE_COLOURS = {"disruption": "#ffcdd2", "failed-over": "#ffe0b2", "recovery": "#fff9c4", "failback": "#c8e6c9"}


def _verdict(doc: dict[str, Any]) -> str:
    return "PASSED" if doc["passed"] else "FAILED"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float | None) -> str:
    """A time span with its unit: seconds below two minutes, minutes above."""
    if seconds is None:
        return "not measured"
    if abs(seconds) < 120:
        return f"{round(seconds, 1):g} s"
    minutes = seconds / 60
    return f"{minutes:g} min" if minutes == int(minutes) else f"{minutes:.1f} min"


def latency(ms: float | None) -> str:
    return "not measured" if ms is None else f"{ms:g} ms"


def _count(value: Any, unit: str) -> str:
    if value is None:
        return "not measured"
    return f"{value} {unit[:-1] if value == 1 else unit}"


def figure(criterion: dict[str, Any], key: str) -> str:
    """A criterion's target or observed value, with its unit and, for the RPO, the canary resolution."""
    value = criterion[key]
    unit = criterion.get("unit", "seconds")
    if unit != "seconds":
        return _count(value, unit)
    if key == "observed" and criterion.get("bound"):
        every = f"canary every {duration(criterion['resolution_seconds'])}"
        if criterion["bound"] == "at-least":
            return f"≥ {duration(value)} ({every})"
        return f"< {duration(criterion['below'])} (none lost; {every})"
    return duration(value)


def rpo_text(m: dict[str, Any]) -> str:
    """The observed RPO as a bound: canaries every N s cannot see more finely than N s."""
    every = f"canary every {duration(m['canary_rate_seconds'])}"
    if m["rpo_bound"] == "at-least":
        return f"RPO ≥ {duration(m['rpo_seconds'])} ({every})"
    if m["rpo_bound"] == "below":
        return f"RPO < {duration(m['rpo_below_seconds'])} (no acknowledged write lost; {every})"
    return f"RPO not measured ({every})"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["measurements"]
    lines = [
        f"# DR drill {doc['run_id']} — {doc['service']}: {_verdict(doc)}",
        "",
        f"Disruption: {doc['disruption']}; primary {doc['primary_region']}, secondary {doc['secondary_region']} "
        f"({doc['kind']} target).",
        "",
        "## Criteria",
        "",
        "| criterion | target | observed | result |",
        "|---|---|---|---|",
    ]
    for c in doc["criteria"]:
        lines.append(
            f"| {c['name']} | {figure(c, 'target')} | {figure(c, 'observed')} | "
            f"{'pass' if c['passed'] else '**FAIL**'} |"
        )
    if doc.get("failed_phase"):
        failed = doc["failed_phase"]
        lines += ["", f"**The drill failed in phase {failed['phase']}** ({failed['at']}): {failed['error']}"]
    ms = m["latency_ms"]
    lines += [
        "",
        "## Measurements",
        "",
        f"- Observed RTO (first failed write to first successful write): {duration(m['rto_seconds'])}",
        f"- Lost writes (acknowledged, missing after failover): {m['lost_writes']}; observed {rpo_text(m)}, "
        "the time they span back from the outage",
        f"- Writes acknowledged: {m['writes_acknowledged']}; failed: {m['writes_failed']}; lost by failback: "
        f"{m['lost_by_failback']}",
        f"- Median latency: before {latency(ms['steady-before'])}, while failed over "
        f"{latency(ms['failed-over'])}, recovered but not failed back {latency(ms['recovery'])}, "
        f"after failback {latency(ms['steady-after'])}",
        f"- Outage at {_fmt(m['outage_at'])}; writes back at {_fmt(m['writes_back_at'])}",
    ]
    if m.get("earlier_canaries_removed"):
        lines.append(f"- Canaries left by earlier drills, removed: {m['earlier_canaries_removed']}")
    lines += ["", "## Timeline", ""]
    for name, info in doc["phases"].items():
        state = f" — FAILED: {info['failed']}" if info.get("failed") else ""
        lines.append(f"- {info.get('started', '-')} – {info.get('ended', '-')}: {name}{state}")
    for name in doc.get("phases_not_run", []):
        lines.append(f"- not run: {name}")
    for note in doc["notes"]:
        lines.append(f"  - {note['at']}: {note['text']}")
    lines += [
        "",
        "Canaries are synthetic `Basic` resources tagged with the run id; cleanup deletes every drill canary "
        "it finds by tag.",
        "",
    ]
    return "\n".join(lines)


def _seconds(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def timeline_svg(doc: dict[str, Any], width: int = 1000, height: int = 170) -> str:
    """Phases as bands, each canary as a dot coloured by its fate; no scripts, no external assets."""
    canaries = doc["canaries"]
    times = [_seconds(c["at"]) for c in canaries] + [
        _seconds(v) for p in doc["phases"].values() for v in (p.get("started"), p.get("ended"))
    ]
    times = [t for t in times if t is not None]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(end - start, 1.0)
    left, right = 40, width - 20

    def x(seconds: float) -> float:
        return left + (seconds - start) / span * (right - left)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="drill timeline">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for name, info in doc["phases"].items():
        a, b = _seconds(info.get("started")), _seconds(info.get("ended"))
        if a is None or name not in PHASE_COLOURS:
            continue
        b = b if b is not None else end
        parts.append(
            f'<rect x="{x(a):.1f}" y="30" width="{max(x(b) - x(a), 1):.1f}" height="80" '
            f'fill="{PHASE_COLOURS[name]}"><title>{html.escape(name)}</title></rect>'
        )
    # Moments as labelled markers, staggered so close ones do not overlap.
    moments = [
        ("outage", doc["measurements"].get("outage_at")),
        ("writes back (failover)", doc["measurements"].get("writes_back_at")),
        ("recovery", doc["phases"].get("recovery", {}).get("started")),
        ("failback done", doc["phases"].get("failback", {}).get("ended")),
    ]
    for index, (label, when) in enumerate(m for m in moments if m[1]):
        at = _seconds(when)
        if at is None:
            continue
        y = 12 + (index % 2) * 11
        parts.append(
            f'<line x1="{x(at):.1f}" y1="{y + 2}" x2="{x(at):.1f}" y2="110" stroke="#424242" stroke-dasharray="3,2"/>'
        )
        parts.append(
            f'<text x="{x(at) + 3:.1f}" y="{y}" font-size="10" font-family="sans-serif">{html.escape(label)}</text>'
        )
    for c in canaries:
        at = _seconds(c["at"])
        if at is None:
            continue
        y = 65 if c["fate"] != "failed" else 95
        parts.append(
            f'<circle cx="{x(at):.1f}" cy="{y}" r="3" fill="{FATE_COLOURS.get(c["fate"], "#616161")}">'
            f"<title>#{c['n']} {html.escape(c['fate'])} at {html.escape(c['at'])}</title></circle>"
        )
    parts.append(f'<line x1="{left}" y1="120" x2="{right}" y2="120" stroke="#424242"/>')
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        at = start + span * fraction
        label = datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M") + (" UTC" if fraction == 0 else "")
        parts.append(f'<text x="{x(at) - 12:.1f}" y="135" font-size="10" font-family="sans-serif">{label}</text>')
    legend_x = left
    legend = (
        ("survived", "written, still there"),
        ("lost", "acknowledged, lost at failover"),
        ("failed", "refused during the outage"),
    )
    for fate, words in legend:
        parts.append(f'<circle cx="{legend_x}" cy="155" r="4" fill="{FATE_COLOURS[fate]}"/>')
        parts.append(f'<text x="{legend_x + 8}" y="159" font-size="11" font-family="sans-serif">{words}</text>')
        legend_x += 210
    for name, colour in PHASE_COLOURS.items():
        if name == "disruption":
            continue
        parts.append(f'<rect x="{legend_x}" y="150" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="159" font-size="11" font-family="sans-serif">{name}</text>')
        legend_x += 90
    parts.append("</svg>")
    return "".join(parts)


def html_page(doc: dict[str, Any]) -> str:
    """A self-contained XHTML page a reviewer can read without the tool."""
    rows = "".join(
        f"<tr><td>{html.escape(c['name'])}</td><td>{html.escape(figure(c, 'target'))}</td>"
        f'<td>{html.escape(figure(c, "observed"))}</td><td class="{"pass" if c["passed"] else "fail"}">'
        f"{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in doc["criteria"]
    )
    notes = "".join(f"<li>{html.escape(n['at'] or '')}: {html.escape(n['text'])}</li>" for n in doc["notes"])
    failed = doc.get("failed_phase")
    failure = (
        f'<p class="fail">The drill failed in phase {html.escape(failed["phase"])}: {html.escape(failed["error"])}</p>'
        if failed
        else ""
    )
    body_md = html.escape(markdown(doc))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
        f"<title>DR drill {html.escape(doc['run_id'])}</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#212121}"
        "table{border-collapse:collapse}td,th{border:1px solid #bdbdbd;padding:4px 8px}"
        ".pass{color:#2e7d32}.fail{color:#c62828;font-weight:bold}pre{background:#f5f5f5;padding:1em}</style>"
        "</head><body>"
        f"<h1>DR drill {html.escape(doc['run_id'])} — {html.escape(doc['service'])}: "
        f'<span class="{"pass" if doc["passed"] else "fail"}">{_verdict(doc)}</span></h1>'
        f"<p>Disruption: {html.escape(doc['disruption'])}. Primary {html.escape(str(doc['primary_region']))}, "
        f"secondary {html.escape(str(doc['secondary_region']))}.</p>"
        f"{failure}<h2>Timeline</h2>{timeline_svg(doc)}"
        "<h2>Criteria</h2><table><tr><th>criterion</th><th>target</th><th>observed</th><th>result</th></tr>"
        f"{rows}</table><h2>Notes</h2><ul>{notes}</ul><h2>Report</h2><pre>{body_md}</pre>"
        "</body></html>\n"
    )


def junit_xml(doc: dict[str, Any]) -> str:
    """One test case per criterion and per phase, so a pipeline shows the drill as tests."""
    cases = []
    for c in doc["criteria"]:
        case = ET.Element("testcase", classname="fhirdr.drill.criteria", name=c["name"], time="0")
        if not c["passed"]:
            failure = ET.SubElement(
                case,
                "failure",
                message=f"observed {figure(c, 'observed')}, target {figure(c, 'target')}",
                type="TargetMissed",
            )
            failure.text = c["detail"]
        cases.append(case)
    for name, info in doc["phases"].items():
        duration = 0.0
        if info.get("started") and info.get("ended"):
            duration = _seconds(info["ended"]) - _seconds(info["started"])  # type: ignore[operator]
        case = ET.Element("testcase", classname="fhirdr.drill.phases", name=name, time=f"{duration:.1f}")
        if info.get("failed"):
            ET.SubElement(case, "failure", message=info["failed"], type="PhaseFailed")
        elif not info.get("ended"):
            ET.SubElement(case, "failure", message="phase did not finish", type="Incomplete")
        cases.append(case)
    failed = doc.get("failed_phase")
    for name in doc.get("phases_not_run", []):
        case = ET.Element("testcase", classname="fhirdr.drill.phases", name=name, time="0")
        reason = f"not run: the drill failed in phase {failed['phase']}" if failed else "not run"
        ET.SubElement(case, "skipped", message=reason)
        cases.append(case)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    suites = ET.Element("testsuites", name="fhirdr drill", tests=str(len(cases)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"drill {doc['run_id']}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time="0",
        timestamp=(doc["measurements"]["outage_at"] or "")[:19] or "1970-01-01T00:00:00",
    )
    suite.extend(cases)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
