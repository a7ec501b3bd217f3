"""The legal PDFs rendered to images with poppler's ``pdftoppm`` and checked as images: an A4 page with
ink on it, the form's text in the file, and the report's bar charts drawn in their colour."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from seawall.legal import forms
from seawall.legal.pdf import form_pdf
from seawall.legal.report_render import to_pdf
from seawall.legal.settings import LegalSettings
from tests.legal_support import pdf_text

if not shutil.which("pdftoppm"):  # installed by scripts/test-prereqs (poppler-utils)
    raise RuntimeError("pdftoppm is not installed: apt-get install -y poppler-utils")

NOW = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
ORDER = {"id": 7, "received_at": "2026-03-14T09:00:00+00:00", "removed_at": "2026-03-14T09:04:00+00:00",
         "items": [{"item_id": "abc"}],
         "fields": {"reference": "BKA-2026-0042", "issuing_state": "DE", "urls": ["https://social.example/p/1"],
                    "authority": {"name": "Bundeskriminalamt", "file_number": "ST-42"}}}
HSP = LegalSettings(provider_name="Example Hosting Ltd", establishment_state="IE", authorised_person="A. Person",
                    contact_email="tco@hosting.example")


def _pages(pdf: bytes, tmp: Path) -> list[np.ndarray]:
    src = tmp / "doc.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(src), str(tmp / "page")], check=True, timeout=60)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(tmp.glob("page*.png"))]


def _is_a4_with_ink(page: np.ndarray) -> float:
    h, w, _ = page.shape
    assert abs(h / w - 297 / 210) < 0.02, (h, w)
    ink = float((page.min(axis=2) < 128).mean())
    assert 0.005 < ink < 0.5, ink
    return ink


def test_annex_forms_render_as_a4_pages(tmp_path: Path) -> None:
    a2 = form_pdf(forms.annex2(ORDER, HSP, NOW))
    a3 = form_pdf(forms.annex3(ORDER, HSP, NOW, reason="manifest_errors", explanation="the URL points nowhere",
                               clarification="send the exact URL"))
    (tmp_path / "a2").mkdir()
    (tmp_path / "a3").mkdir()
    [p2] = _pages(a2, tmp_path / "a2")
    [p3] = _pages(a3, tmp_path / "a3")
    _is_a4_with_ink(p2)
    _is_a4_with_ink(p3)
    assert not np.array_equal(p2, p3)
    assert "2026-03-14T09:04:00+00:00" in pdf_text(a2) and "send the exact URL" in pdf_text(a3)


def test_the_report_pdf_draws_its_charts(tmp_path: Path) -> None:
    report = {"period": {"from": "2026-01-01T00:00:00+00:00", "to": "2027-01-01T00:00:00+00:00"},
              "provider": "Example Hosting Ltd", "exemptions": "exempt text",
              "tco": {"c_orders_received": 3, "notes": {}},
              "dsa": {"orders_by_member_state": {"DE": {"orders": 2}, "FR": {"orders": 1}},
                      "own_initiative": {"by_restriction": {"block": 5, "remove": 2}}, "notes": {}}}
    pages = _pages(to_pdf(report), tmp_path)
    assert pages
    for page in pages:
        _is_a4_with_ink(page)
    blue = sum(int(((abs(p[..., 0].astype(int) - 0x25) < 40) & (abs(p[..., 2].astype(int) - 0xEB) < 40)
                    & (p[..., 1] < 150)).sum()) for p in pages)
    assert blue > 50  # the bars are drawn
    empty = {**report, "dsa": {**report["dsa"], "orders_by_member_state": {}, "own_initiative": {"by_restriction": {}}}}
    (tmp_path / "e").mkdir()
    no_bars = sum(int(((abs(p[..., 2].astype(int) - 0xEB) < 40) & (p[..., 0] < 80)).sum())
                  for p in _pages(to_pdf(empty), tmp_path / "e"))
    assert no_bars == 0
