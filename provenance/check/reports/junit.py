"""JUnit XML, as Jenkins and GitLab read it: one testcase per file, a failure carrying its violations."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from provenance.check.reports.interface import ReportFormat
from provenance.check.runner import CheckReport

SUITE = "provenance check"
# Characters XML 1.0 cannot carry at all; a file name may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


class JunitFormat(ReportFormat):
    """JUnit XML: one test case per file, a failure per file that fails the policy."""
    name = "junit"

    def format(self, report: CheckReport) -> str:
        """The JUnit XML document."""
        counts = {
            "tests": str(len(report.results)),
            "failures": str(len(report.failed)),
            "errors": "0",
            "skipped": str(len(report.exempt)),
            "time": f"{report.seconds:.3f}",
        }
        stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        suites = ET.Element("testsuites", {"name": SUITE, **counts})
        suite = ET.SubElement(suites, "testsuite", {"name": SUITE, **counts, "timestamp": stamp})
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="policy", value=_xml_text(report.policy.source))
        if report.trust_anchors:
            ET.SubElement(properties, "property", name="trust_anchors", value=_xml_text(report.trust_anchors))
        if report.trust_lists is not None:
            listed = report.trust_lists.signers
            ET.SubElement(properties, "property", name="trust_list",
                          value=_xml_text(f"{listed.name}, issued {listed.issued:%Y-%m-%d} ({listed.source})"))
        for result in report.results:
            path = _xml_text(result.path)
            case = ET.SubElement(suite, "testcase", classname=SUITE, name=path, file=path,
                                 time=f"{result.seconds:.3f}")
            if result.exempt:
                ET.SubElement(case, "skipped", message="exempt by allow_unsigned")
            elif result.violations:
                first = result.violations[0]
                failure = ET.SubElement(case, "failure", message=_xml_text(f"{first.rule}: {first.message}"),
                                        type=",".join(dict.fromkeys(v.rule for v in result.violations)))
                failure.text = _xml_text("\n".join(f"{v.rule}: {v.message}" for v in result.violations))
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
