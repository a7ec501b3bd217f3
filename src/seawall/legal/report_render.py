"""The transparency report as a publishable HTML page (with inline SVG charts) or a PDF.

Both are drawn from the one dictionary :func:`seawall.legal.transparency.compute` returns, so the
JSON, the page and the PDF always agree.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from seawall.web.charts import bar_chart


def charts(report: dict[str, Any]) -> dict[str, Markup]:
    """The report's charts as inline SVG (no script, exact values in each bar's title)."""
    dsa, tco = report["dsa"], report["tco"]
    return {
        "orders": bar_chart([(k, v["orders"]) for k, v in dsa["orders_by_member_state"].items()],
                            title="Removal orders by issuing Member State"),
        "restrictions": bar_chart(sorted(dsa["own_initiative"]["by_restriction"].items()),
                                  title="Own-initiative restrictions by type"),
        "detection": bar_chart(sorted(dsa["own_initiative"]["by_detection_method"].items()),
                               title="Restrictions by detection method"),
        "complaints": bar_chart(sorted(tco["d_complaint_outcomes"].items()), title="Complaints by outcome"),
    }


def rows(section: dict[str, Any]) -> list[tuple[str, str]]:
    """A section's figures as (label, value) pairs for tables; nested groups are flattened."""
    out: list[tuple[str, str]] = []
    for key, value in section.items():
        if key == "notes":
            continue
        label = key.replace("_", " ")
        if isinstance(value, dict):
            if not value:
                out.append((label, "0"))
            for k, v in value.items():
                out.append((f"{label}: {k}", ", ".join(f"{a} {b}" for a, b in v.items()) if isinstance(v, dict)
                            else "not known to Seawall" if v is None else str(v)))
        elif isinstance(value, list):
            out.append((label, " ".join(str(v) for v in value)))
        else:
            out.append((label, "not known to Seawall" if value is None else str(value)))
    return out


def to_html(report: dict[str, Any]) -> str:
    env = Environment(loader=PackageLoader("seawall.web", "templates"), autoescape=select_autoescape())
    return env.get_template("legal/transparency.html").render(r=report, charts=charts(report), rows=rows)


def _bars(title: str, series: list[tuple[str, float]]) -> Drawing:
    d = Drawing(170 * mm, 18 + max(1, len(series)) * 16)
    d.add(String(0, d.height - 10, title, fontName="Helvetica-Bold", fontSize=10))
    if not series:
        d.add(String(0, d.height - 26, "no data", fontSize=9))
        return d
    chart = HorizontalBarChart()
    chart.x, chart.y = 60 * mm, 4
    chart.width, chart.height = 100 * mm, len(series) * 16 - 4
    chart.data = [[float(v) for _, v in series]]
    chart.categoryAxis.categoryNames = [k[:30] for k, _ in series]
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#2563eb")
    chart.barLabelFormat = "%d"
    chart.barLabels.nudge = 8
    d.add(chart)
    return d


def to_pdf(report: dict[str, Any]) -> bytes:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    buf = io.BytesIO()
    period = report["period"]
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title="Transparency report", author="Seawall", invariant=1)
    story: list[Any] = [Paragraph("Transparency report", styles["Title"]),
                        Paragraph(escape(f"{report['provider'] or 'Hosting service provider'} · "
                                         f"{period['from'][:10]} to {period['to'][:10]}"), styles["Italic"]),
                        Spacer(1, 5 * mm)]
    for title, key in (("Terrorist content (Regulation (EU) 2021/784, Art. 7)", "tco"),
                       ("Digital Services Act (Art. 15, 24)", "dsa")):
        story.append(Paragraph(title, styles["Heading2"]))
        table = Table([[Paragraph(escape(k), cell), Paragraph(escape(v), cell)] for k, v in rows(report[key])],
                      colWidths=[75 * mm, 95 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [table, Spacer(1, 5 * mm)]
    dsa = report["dsa"]
    story.append(_bars("Removal orders by issuing Member State",
                       [(k, v["orders"]) for k, v in dsa["orders_by_member_state"].items()]))
    story.append(_bars("Own-initiative restrictions by type", sorted(dsa["own_initiative"]["by_restriction"].items())))
    story.append(Paragraph(escape(report["exemptions"]), styles["Italic"]))
    doc.build(story)
    return buf.getvalue()
