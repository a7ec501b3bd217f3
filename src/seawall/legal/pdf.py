"""Annex II and III forms as PDF, drawn with ReportLab (BSD) from the same dictionaries the API returns.

Authorities expect a document they can file; rendering from the stored JSON means the PDF can be
produced again at any time and always says exactly what was recorded.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

SECTION_TITLES = {
    "annex_ii": {"A": "Section A — Addressee, authority and order", "B": "Section B — Measure taken",
                 "C": "Section C — Details of the hosting service provider"},
    "annex_iii": {"A": "Section A — Addressee, authority and order", "B": "Section B — Reasons for non-execution",
                  "C": "Section C — Details of the hosting service provider"},
}


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(v: Any) -> str:
    if v is None or v == "" or v == []:
        return "—"
    if isinstance(v, list):
        return "\n".join(str(x) for x in v)
    return str(v)


def form_pdf(form: dict[str, Any]) -> bytes:
    """One form as a PDF document (A4): title, legal basis, then each section as a two-column table."""
    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=form.get("title", "form"), author="Seawall",
                            invariant=1)
    story: list[Any] = [Paragraph(escape(form.get("title", "")), styles["Title"]),
                        Paragraph(escape(form.get("legal_basis", "")), styles["Italic"]), Spacer(1, 6 * mm)]
    titles = SECTION_TITLES.get(str(form.get("form")), {})
    for key in ("A", "B", "C"):
        section = form.get(key)
        if not isinstance(section, dict):
            continue
        story.append(Paragraph(escape(titles.get(key, f"Section {key}")), styles["Heading2"]))
        rows = [[Paragraph(escape(_label(k)), cell),
                 Paragraph(escape(_value(v)).replace("\n", "<br/>"), cell)] for k, v in section.items()]
        table = Table(rows, colWidths=[55 * mm, 115 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                   ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [table, Spacer(1, 5 * mm)]
    doc.build(story)
    return buf.getvalue()
