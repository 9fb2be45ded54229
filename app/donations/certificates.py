"""The donation certificate (捐赠证书) and the thank-you letter (感谢信) as PDF.

Chinese text renders without any font download or font file: reportlab's built-in CID font
``STSong-Light`` (Adobe's Song typeface, which every PDF reader carries for Adobe-GB1) is named
in the PDF and drawn by the reader. The QR code is made with ``qrcode`` + Pillow and drawn into
the page as an image; the same area is a link to the public verification page, so a reader on a
computer can click what a phone would scan.

The functions here are pure: :func:`certificate_facts` gathers what is printed from a receipt
(the caller passes the verification URL), and :func:`certificate_pdf` / :func:`letter_pdf` turn
the facts into bytes. Words come from the catalog, so the document follows the request's
language; a donor, who has no account, gets Chinese.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

import qrcode
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.colors import HexColor
from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph
from reportlab.platypus import paragraph as reportlab_paragraph

from app.common import to_local
from app.donations.models import Receipt
from app.donations.queries import public_donor_name

FONT = "STSong-Light"
RED = HexColor("#a8321f")
GOLD = HexColor("#c49a54")
INK = HexColor("#2b2420")
GREY = HexColor("#6c625c")
PAPER = HexColor("#fffaf1")
MAX_GOODS_SHOWN = 40  # beyond this the certificate names the first ones and counts the rest


# Chinese punctuation that must not start a line (标点禁则). reportlab's list has the Japanese
# ones, but not the full-width comma, colon, semicolon, ! and ?: add them.
_NO_LINE_START = "，：；！？"


def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    missing = "".join(c for c in _NO_LINE_START if c not in reportlab_paragraph.ALL_CANNOT_START)
    if missing:
        reportlab_paragraph.ALL_CANNOT_START += missing


def _chinese() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


# Latin letters and digits are drawn in Times: STSong's own Latin glyphs are not embedded, and
# a reader's substitute for them spaces them oddly. Everything from U+2000 up (CJK, full-width
# punctuation, Chinese quotes) is drawn in STSong.
LATIN = "Times-Roman"
LATIN_BOLD = "Times-Bold"


def _segments(text: str, latin: str = LATIN) -> list[tuple[str, str]]:
    """``text`` cut into runs of one font: [(font, chunk), ...]."""
    runs: list[tuple[str, str]] = []
    for char in text:
        font = latin if ord(char) < 0x2000 else FONT
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def _markup(text: str) -> str:
    """Paragraph markup of plain text, CJK runs in STSong (the paragraph's font is Times)."""
    return "".join(
        f'<font name="{FONT}">{escape(chunk)}</font>' if font == FONT else escape(chunk)
        for font, chunk in _segments(text)
    )


def _width(text: str, size: float, latin: str = LATIN) -> float:
    return sum(pdfmetrics.stringWidth(c, f, size) for f, c in _segments(text, latin))


def _draw(
    canvas: Canvas,
    text: str,
    x: float,
    y: float,
    size: float,
    *,
    align: str = "left",
    latin: str = LATIN,
) -> None:
    """Draw one line of mixed Chinese and Latin text, left-, right- or centre-aligned at x."""
    if align == "right":
        x -= _width(text, size, latin)
    elif align == "center":
        x -= _width(text, size, latin) / 2
    for font, chunk in _segments(text, latin):
        canvas.setFont(font, size)
        canvas.drawString(x, y, chunk)
        x += pdfmetrics.stringWidth(chunk, font, size)


@dataclass(frozen=True)
class Goods:
    name: str
    quantity: int
    unit: str


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate or letter says."""

    number: str
    donor: str  # as the donor consented: the name, the organisation, or 爱心人士
    addressee: str  # whom the letter greets (the school knows its donor)
    school: str
    district: str
    received_on: date
    goods: tuple[Goods, ...]
    verify_url: str


def certificate_facts(receipt: Receipt, verify_url: str) -> CertificateFacts:
    """The printed facts of a received donation (its lines, donor and school loaded)."""
    donor = receipt.donor
    shown = public_donor_name(
        donor.name if donor else None,
        donor.organization if donor else None,
        anonymous=receipt.anonymous,
        kind=donor.kind if donor else None,
    )
    addressee = (
        public_donor_name(donor.name, donor.organization, anonymous=False, kind=donor.kind)
        if donor is not None
        else shown
    )
    merged: dict[tuple[str, str], int] = {}
    for line in receipt.lines:
        key = (line.item.name, line.item.unit)
        merged[key] = merged.get(key, 0) + line.quantity
    return CertificateFacts(
        number=receipt.certificate_no or "",
        donor=shown,
        addressee=addressee,
        school=receipt.school.name,
        district=(receipt.school.district.aid_centre_name or receipt.school.district.name),
        received_on=to_local(receipt.received_at).date(),
        goods=tuple(Goods(name, quantity, unit) for (name, unit), quantity in merged.items()),
        verify_url=verify_url,
    )


def goods_text(goods: tuple[Goods, ...], limit: int = MAX_GOODS_SHOWN) -> str:
    """冬季棉服40件、书包30个 — or, in English, "Winter coat 40 件, School bag 30 个"."""
    parts = [
        _(
            "%(item)s %(quantity)s %(unit)s",
            item=g.name,
            quantity=format_decimal(g.quantity),
            unit=g.unit,
        )
        for g in goods[:limit]
    ]
    text = ("、" if _chinese() else ", ").join(parts)
    if len(goods) > limit:
        text += _(" and %(n)d more kinds of goods", n=len(goods) - limit)
    return text


def qr_png(data: str) -> bytes:
    """A QR code of ``data`` as a PNG (black on white, a four-module quiet zone)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image()
    out = io.BytesIO()
    image.convert("1").save(out, format="PNG")
    return out.getvalue()


def _fit_paragraph(
    text: str, style: ParagraphStyle, width: float, height: float, smallest: float = 10
) -> Paragraph:
    """The paragraph at the largest size (down to ``smallest``) that fits the box."""
    size = style.fontSize
    while True:
        fitted = ParagraphStyle(
            "fitted", parent=style, fontSize=size, leading=size * style.leading / style.fontSize
        )
        paragraph = Paragraph(text, fitted)
        _w, needed = paragraph.wrap(width, height)
        if needed <= height or size <= smallest:
            return paragraph
        size -= 1


def _spaced(text: str) -> str:
    """捐赠证书 → 捐 赠 证 书: a formal title's letter spacing (Chinese titles only)."""
    return " ".join(text) if _chinese() and len(text) <= 6 else text


def _frame(canvas: Canvas, width: float, height: float) -> None:
    canvas.setFillColor(PAPER)
    canvas.rect(0, 0, width, height, stroke=0, fill=1)
    canvas.setStrokeColor(RED)
    canvas.setLineWidth(6)
    canvas.rect(22, 22, width - 44, height - 44, stroke=1, fill=0)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(1.2)
    canvas.rect(34, 34, width - 68, height - 68, stroke=1, fill=0)
    canvas.setLineWidth(0.6)
    canvas.rect(38, 38, width - 76, height - 76, stroke=1, fill=0)
    # Small gold diamonds in the corners of the inner frame.
    canvas.setFillColor(GOLD)
    for x, y in ((38, 38), (width - 38, 38), (38, height - 38), (width - 38, height - 38)):
        path = canvas.beginPath()
        path.moveTo(x, y - 7)
        path.lineTo(x + 7, y)
        path.lineTo(x, y + 7)
        path.lineTo(x - 7, y)
        path.close()
        canvas.drawPath(path, stroke=0, fill=1)


def _title(canvas: Canvas, text: str, x: float, y: float, size: float) -> None:
    """A centred title, drawn filled and stroked: STSong has no bold face of its own."""
    canvas.saveState()
    canvas.setFillColor(RED)
    canvas.setStrokeColor(RED)
    canvas.setLineWidth(size / 40)
    left = x - _width(text, size, LATIN_BOLD) / 2
    for font, chunk in _segments(text, LATIN_BOLD):
        obj = canvas.beginText()
        obj.setTextRenderMode(2 if font == FONT else 0)
        obj.setFont(font, size)
        obj.setTextOrigin(left, y)
        obj.textOut(chunk)
        canvas.drawText(obj)
        left += pdfmetrics.stringWidth(chunk, font, size)
    canvas.restoreState()


def _signature(canvas: Canvas, facts: CertificateFacts, right: float, y: float) -> None:
    canvas.setFillColor(INK)
    _draw(canvas, facts.school, right, y, 16, align="right")
    _draw(canvas, format_date(facts.received_on, "long"), right, y - 26, 14, align="right")


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    canvas.drawImage(ImageReader(io.BytesIO(qr_png(url))), x, y, size, size)
    canvas.linkURL(url, (x, y, x + size, y + size), relative=0, thickness=0)


def certificate_pdf(facts: CertificateFacts) -> bytes:
    """捐赠证书: A4 landscape, numbered, with a QR code to its public verification page."""
    _register_font()
    out = io.BytesIO()
    width, height = landscape(A4)
    canvas = Canvas(out, pagesize=(width, height), pageCompression=1)
    title = _("Certificate of donation")
    canvas.setTitle(f"{title} {facts.number}")
    canvas.setAuthor(facts.school)
    canvas.setSubject(title)
    _frame(canvas, width, height)

    canvas.setFillColor(GREY)
    _draw(
        canvas, _("No. %(number)s", number=facts.number), width - 60, height - 66, 11, align="right"
    )
    _draw(canvas, facts.district, 60, height - 66, 11)

    _title(canvas, _spaced(title), width / 2, height - 142, 40)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(1)
    canvas.line(width / 2 - 120, height - 160, width / 2 + 120, height - 160)

    body = _(
        "We hereby acknowledge with thanks that %(donor)s has donated to the love supermarket "
        "of %(school)s: %(goods)s. This certificate is issued in gratitude.",
        donor="\x00",
        school=facts.school,
        goods=goods_text(facts.goods),
    )
    # The donor's name stands out underlined, like a name written into a printed form.
    before, _sep, after = body.partition("\x00")
    pad = "\u3000" if _chinese() else " "
    body = f"{_markup(before)}<u>{_markup(pad + facts.donor + pad)}</u>{_markup(after)}"
    style = ParagraphStyle(
        "body",
        fontName=LATIN,
        fontSize=20,
        leading=36,
        textColor=INK,
        alignment=TA_JUSTIFY,
        firstLineIndent=40 if _chinese() else 0,
        wordWrap="CJK" if _chinese() else None,
    )
    box_left, box_width = 100, width - 200
    box_top, box_bottom = height - 190, 190
    paragraph = _fit_paragraph(body, style, box_width, box_top - box_bottom)
    _w, used = paragraph.wrap(box_width, box_top - box_bottom)
    # A short text sits a little above the middle of its box rather than under the title.
    paragraph.drawOn(canvas, box_left, box_top - used - (box_top - box_bottom - used) * 0.3)

    _signature(canvas, facts, width - 100, 138)

    qr_size = 92
    _qr(canvas, facts.verify_url, 64, 58, qr_size)
    canvas.setFillColor(GREY)
    _draw(canvas, _("Scan to verify this certificate"), 64 + qr_size + 8, 58 + qr_size - 14, 10)
    canvas.setFont("Helvetica", 7)
    canvas.drawString(64 + qr_size + 8, 58 + qr_size - 28, facts.verify_url)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def letter_pdf(facts: CertificateFacts) -> bytes:
    """感谢信: the school's thank-you letter to the donor, A4 portrait, in the same style."""
    _register_font()
    out = io.BytesIO()
    width, height = A4
    canvas = Canvas(out, pagesize=(width, height), pageCompression=1)
    title = _("Thank-you letter")
    canvas.setTitle(f"{title} {facts.number}")
    canvas.setAuthor(facts.school)
    _frame(canvas, width, height)
    _title(canvas, _spaced(title), width / 2, height - 120, 34)

    chinese = _chinese()
    style = ParagraphStyle(
        "letter",
        fontName=LATIN,
        fontSize=14,
        leading=27,
        textColor=INK,
        alignment=TA_JUSTIFY,
        firstLineIndent=28 if chinese else 0,
        wordWrap="CJK" if chinese else None,
        spaceAfter=8,
    )
    greeting = ParagraphStyle("greeting", parent=style, firstLineIndent=0, alignment=TA_LEFT)
    when = format_date(facts.received_on, "long")
    paragraphs = [
        Paragraph(_markup(_("Dear %(donor)s,", donor=facts.addressee)), greeting),
        Paragraph(
            _markup(
                _(
                    "On %(date)s you donated to the love supermarket of our school: %(goods)s. "
                    "Everything has been received and entered into stock (certificate "
                    "no. %(number)s).",
                    date=when,
                    goods=goods_text(facts.goods),
                    number=facts.number,
                )
            ),
            style,
        ),
        Paragraph(
            _markup(
                _(
                    "Through the love supermarket these goods reach our pupils, who earn love "
                    "points by studying hard, helping others and volunteering, and exchange "
                    "them for what they need. Your kindness lets the children feel the warmth "
                    "of society and shows them how to care for others in turn."
                )
            ),
            style,
        ),
        Paragraph(
            _markup(
                _("On behalf of all the teachers and pupils of our school, we thank you sincerely!")
            ),
            style,
        ),
        Paragraph(_markup(_("With best regards,")), style if chinese else greeting),
    ]
    if chinese:
        # 此致 / 敬礼！: the salute starts at the left margin, as Chinese letters are written.
        paragraphs.append(Paragraph(_markup(_("Respectfully yours!")), greeting))
    x, y = 80, height - 170
    box_width = width - 160
    for paragraph in paragraphs:
        _w, used = paragraph.wrap(box_width, y - 200)
        paragraph.drawOn(canvas, x, y - used)
        y -= used + 10
    _signature(canvas, facts, width - 80, max(y - 40, 120))

    label = _("Verify the certificate online:")
    canvas.setFillColor(GREY)
    _draw(canvas, label, 64, 64, 9)
    canvas.setFont("Helvetica", 8)
    canvas.drawString(64 + _width(label, 9) + 4, 64, facts.verify_url)
    canvas.linkURL(facts.verify_url, (64, 60, width - 64, 76), relative=0, thickness=0)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
