"""The certificate (捐赠证书) and thank-you letter PDFs: Chinese text without a font download,
the number, the donor as consented, and a QR code that opens the verification page."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
import qrcode
from flask_babel import gettext

from app.donations import operations as ops
from app.donations.certificates import (
    MAX_GOODS_SHOWN,
    CertificateFacts,
    Goods,
    certificate_pdf,
    goods_text,
    letter_pdf,
)

R = ops.ReceiptLineInput
needs_poppler = pytest.mark.skipif(
    not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
    reason="poppler-utils (pdftotext, pdftoppm) not installed",
)


@pytest.fixture
def items(db, world):
    from app.inventory import operations as inventory

    rows = {
        name: inventory.create_item(
            district_id=world.district.id, name=name, category="stationery", unit=unit, points=3
        )
        for name, unit in (("练习本", "本"), ("冬季棉服", "件"))
    }
    db.session.commit()
    return rows


def donation(db, world, items, **kw):
    receipt = ops.receive_goods(
        school_id=world.school_a1.id,
        lines=[R(items["练习本"].id, 100), R(items["冬季棉服"].id, 40)],
        **kw,
    )
    db.session.commit()
    return receipt


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return out.stdout.decode("utf-8")


def content_streams(data: bytes) -> bytes:
    """Every stream of the PDF, decoded (ASCII85 and Flate, as reportlab writes them)."""
    out = []
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", data, re.S):
        head, body = match.group(1), match.group(2).strip()
        if b"/ASCII85Decode" in head:
            body = base64.a85decode(body.removesuffix(b"~>"))
        if b"/FlateDecode" in head:
            body = zlib.decompress(body)
        out.append(body)
    return b"\n".join(out)


def qr_matrix_in(data: bytes) -> list[list[bool]]:
    """The QR code image drawn into the PDF, read back module by module (10 px a module)."""
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", data, re.S):
        head, body = match.group(1), match.group(2).strip()
        if b"/Subtype /Image" not in head:
            continue
        width = int(re.search(rb"/Width (\d+)", head).group(1))
        pixels = zlib.decompress(base64.a85decode(body.removesuffix(b"~>")))
        channels = len(pixels) // (width * width)
        modules = width // 10
        return [
            [pixels[((y * 10 + 5) * width + x * 10 + 5) * channels] < 128 for x in range(modules)]
            for y in range(modules)
        ]
    raise AssertionError("no image in the PDF")


def expected_matrix(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


# ---------------------------------------------------------------- the certificate


@needs_poppler
def test_the_certificate_is_a_pdf_with_chinese_text_and_its_number(
    as_officer, db, world, items, tmp_path
):
    receipt = donation(db, world, items, donor=ops.DonorInput("陈女士", None))
    response = as_officer.get(f"/donations/receipts/{receipt.id}/certificate.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    data = response.data
    assert data.startswith(b"%PDF-") and b"/STSong-Light" in data
    assert b"/FontFile" not in data  # nothing embedded: the reader has the font
    assert receipt.certificate_no.encode() in content_streams(data)
    text = pdf_text(data, tmp_path)
    flat = re.sub(r"\s+", "", text)
    assert receipt.certificate_no in flat
    for words in ("陈女士", "甲一小学", "练习本100本", "冬季棉服40件"):
        assert words in flat, words
    if gettext("Certificate of donation") == "捐赠证书":  # with the Chinese catalog merged
        assert "捐赠证书" in flat.replace(" ", "")
        assert "兹收到" in flat and "特发此证，以致谢忱。" in flat


def test_the_qr_code_and_link_open_the_verification_page(as_officer, db, world, items):
    receipt = donation(db, world, items, donor=ops.DonorInput("陈女士", None))
    data = as_officer.get(f"/donations/receipts/{receipt.id}/certificate.pdf").data
    urls = re.findall(rb"/URI \(([^)]*)\)", data)
    assert len(urls) == 1
    url = urls[0].decode()
    assert url.startswith("http://localhost/") and url.endswith(f"/verify/{receipt.verify_token}")
    assert qr_matrix_in(data) == expected_matrix(url)


@needs_poppler
def test_the_qr_code_decodes_when_rendered(as_officer, db, world, items, tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    receipt = donation(db, world, items, donor=ops.DonorInput("陈女士", None))
    (tmp_path / "c.pdf").write_bytes(
        as_officer.get(f"/donations/receipts/{receipt.id}/certificate.pdf").data
    )
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "150",
            "-singlefile",
            str(tmp_path / "c.pdf"),
            str(tmp_path / "c"),
        ],
        check=True,
        timeout=60,
    )
    results = zxingcpp.read_barcodes(Image.open(tmp_path / "c.png"))
    assert [r.text for r in results] == [f"http://localhost/verify/{receipt.verify_token}"]


@needs_poppler
def test_an_anonymous_donor_is_a_caring_donor_on_the_certificate(
    as_officer, db, world, items, tmp_path
):
    pledge = ops.create_pledge(
        donor=ops.DonorInput("郑州新航科技有限公司", "0371-66001234", "enterprise"),
        lines=[ops.PledgeLineInput(100, item_id=items["练习本"].id)],
        school_id=world.school_a1.id,
        anonymous=True,
    )
    db.session.commit()
    receipt = ops.receive_goods(
        school_id=world.school_a1.id, pledge=pledge, lines=[R(items["练习本"].id, 100)]
    )
    db.session.commit()
    data = as_officer.get(f"/donations/receipts/{receipt.id}/certificate.pdf").data
    flat = re.sub(r"\s+", "", pdf_text(data, tmp_path))
    assert "新航" not in flat
    caring = gettext("Caring donor")
    assert re.sub(r"\s+", "", caring) in flat
    # The thank-you letter goes to the donor privately: it greets them by name.
    letter = as_officer.get(f"/donations/receipts/{receipt.id}/letter.pdf").data
    letter_text = re.sub(r"\s+", "", pdf_text(letter, tmp_path))
    assert "郑州新航科技有限公司" in letter_text and receipt.certificate_no in letter_text


def test_the_public_certificate_needs_only_its_token(client, db, world, items):
    receipt = donation(db, world, items, donor=ops.DonorInput("陈女士", None))
    response = client.get(f"/donations/certificates/{receipt.verify_token}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert receipt.certificate_no.encode() in content_streams(response.data)
    purchase = ops.receive_goods(
        school_id=world.school_a1.id, source="purchase", lines=[R(items["练习本"].id, 1)]
    )
    db.session.commit()
    assert purchase.verify_token is None
    assert (
        client.get(f"/donations/certificates/{receipt.verify_token[:-1]}x.pdf").status_code == 404
    )


# ---------------------------------------------------------------- the layout itself


def facts(goods: tuple[Goods, ...]) -> CertificateFacts:
    from datetime import date

    return CertificateFacts(
        number="D1-2026-00001",
        donor="爱心人士",
        addressee="张伟",
        school="甲一小学",
        district="一区",
        received_on=date(2026, 3, 5),
        goods=goods,
        verify_url="http://localhost/verify/abc",
    )


def test_a_long_goods_list_still_fits_one_page(app):
    goods = tuple(Goods(f"物品{i}号很长的名字", 1000 + i, "件") for i in range(200))
    with app.test_request_context("/"):
        text = goods_text(goods)
        assert "物品0号" in text and f"物品{MAX_GOODS_SHOWN}号" not in text
        assert "160" in text  # "and 160 more kinds of goods"
        for pdf in (certificate_pdf(facts(goods)), letter_pdf(facts(goods))):
            assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 1


def test_names_with_markup_are_printed_as_text(app):
    goods = (Goods("<b>笔</b> & 本", 2, "支"),)
    with app.test_request_context("/"):
        data = certificate_pdf(facts(goods))
    assert data.startswith(b"%PDF-")


@pytest.fixture
def as_officer(app, world):
    from tests.conftest import login

    client = app.test_client()
    assert login(client, world.user("officer_a1")).status_code == 302
    return client
