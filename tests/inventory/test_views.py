"""The catalogue and stock pages: who sees and changes what, scope, bad input, no N+1."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from app.audit.models import AuditEvent
from app.common import local_today
from app.donations.models import SchoolNeed
from app.inventory.models import (
    Item,
    StockLevel,
    StockLot,
    StockMove,
    Stocktake,
    StocktakeLine,
    StockTransfer,
)
from tests.conftest import login, post_form


def text(response) -> str:
    return response.get_data(as_text=True)


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def on_hand(db, school, item) -> int:
    return (
        db.session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.school_id == school.id, StockLevel.item_id == item.id
            )
        )
        or 0
    )


@pytest.fixture
def as_user(app, world):
    """A logged-in client per user (several users act in one test), reading English."""
    clients = {}

    def do(key: str):
        if key not in clients:
            client = app.test_client()
            assert login(client, world.user(key)).status_code == 302
            client.set_cookie("aixin_lang", "en")  # assertions read the English texts
            clients[key] = client
        return clients[key]

    return do


@pytest.fixture
def items(db, world):
    """A small catalogue in district 1 and one item of the other district."""
    from app.inventory.operations import create_item

    def make(district, name, category="stationery", unit="支", points=2, **kw):
        return create_item(
            district_id=district.id, name=name, category=category, unit=unit, points=points, **kw
        )

    ns = SimpleNamespace(
        pencil=make(world.district, "铅笔"),
        milk=make(world.district, "纯牛奶", "food", "箱", 30, shelf_life_days=180),
        bag=make(
            world.district,
            "书包",
            "stationery",
            "个",
            60,
            limit_quantity=1,
            limit_period="semester",
        ),
        gloves=make(world.district, "手套", "clothing", "副", 8),
        foreign=make(world.other_district, "外区铅笔"),
    )
    db.session.commit()
    return ns


@pytest.fixture
def stocked(db, world, items):
    """School A1 holds pencils (low), milk (one batch expiring soon, one later) and bags."""
    from app.inventory import operations as ops

    today = local_today()
    a1 = world.school_a1.id
    ops.receive_stock(a1, items.pencil.id, 5)
    ops.receive_stock(a1, items.milk.id, 4, expiry_date=today + timedelta(days=10))
    ops.receive_stock(a1, items.milk.id, 6, expiry_date=today + timedelta(days=120))
    ops.receive_stock(a1, items.bag.id, 20)
    ops.set_reorder_level(a1, items.pencil.id, 10)
    ops.set_reorder_level(a1, items.bag.id, 5)
    ops.receive_stock(world.school_a2.id, items.pencil.id, 7)
    db.session.commit()
    return items


def audit_count(db) -> int:
    db.session.commit()
    return count(db, AuditEvent)


# ---------------------------------------------------------------- the catalogue


@pytest.mark.parametrize("key", ["admin", "lead_a", "officer_a1", "teacher_a1", "clerk_a1"])
def test_everyone_in_the_district_sees_its_catalogue(as_user, items, key):
    page = text(as_user(key).get("/catalogue/"))
    for name in ("铅笔", "纯牛奶", "书包", "手套"):
        assert name in page
    assert "外区铅笔" not in page
    assert ('href="/catalogue/new"' in page) == (key == "admin")


def test_the_other_district_sees_its_own_catalogue_only(as_user, items):
    page = text(as_user("officer_x").get("/catalogue/"))
    assert "外区铅笔" in page and "纯牛奶" not in page


def test_catalogue_search_category_and_status_filters(as_user, db, items):
    from app.inventory.operations import update_item

    update_item(items.gloves, active=False)
    db.session.commit()
    client = as_user("teacher_a1")
    page = text(client.get("/catalogue/?q=牛奶"))
    assert "纯牛奶" in page and "铅笔" not in page
    page = text(client.get("/catalogue/?category=stationery"))
    assert "铅笔" in page and "书包" in page and "纯牛奶" not in page
    assert "手套" not in text(client.get("/catalogue/"))  # active only by default
    page = text(client.get("/catalogue/?status=inactive"))
    assert "手套" in page and "铅笔" not in page
    assert "手套" in text(client.get("/catalogue/?status=all"))


@pytest.mark.parametrize(
    "query", ["?category=weapons", "?status=deleted", "?q=" + "x" * 300, "?page=abc"]
)
def test_bad_catalogue_filters_are_refused_never_500(as_user, items, query):
    response = as_user("admin").get("/catalogue/" + query)
    assert response.status_code in (200, 400)


def test_catalogue_is_paginated(as_user, db, world):
    from app.inventory.operations import create_item

    for n in range(55):
        create_item(
            district_id=world.district.id,
            name=f"本子{n:02d}",
            category="stationery",
            unit="本",
            points=1,
        )
    db.session.commit()
    client = as_user("clerk_a1")
    first, second = text(client.get("/catalogue/")), text(client.get("/catalogue/?page=2"))
    assert "本子00" in first and "本子54" not in first
    assert "本子54" in second and "本子00" not in second
    assert "55 items" in first


def test_admin_creates_an_item(as_user, db, world):
    client = as_user("admin")
    response = post_form(
        client,
        "/catalogue/new",
        {
            "name": " 保温杯 ",
            "category": "daily",
            "unit": "个",
            "points": "30",
            "limit_quantity": "1",
            "limit_period": "semester",
            "shelf_life_days": "",
            "description": "不锈钢，500毫升",
        },
    )
    assert response.status_code == 302, text(response)[:2000]
    item = db.session.scalars(select(Item).where(Item.name == "保温杯")).one()
    assert (item.district_id, item.category, item.unit, item.points) == (
        world.district.id,
        "daily",
        "个",
        30,
    )
    assert (item.limit_quantity, item.limit_period, item.shelf_life_days) == (1, "semester", None)
    assert item.active and item.description == "不锈钢，500毫升"
    assert response.headers["Location"].endswith(f"/catalogue/{item.id}")
    assert "保温杯" in text(client.get(response.headers["Location"]))


GOOD_ITEM = {"name": "跳绳", "category": "sports", "unit": "根", "points": "6"}


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "跳\x07绳"},
        {"unit": ""},
        {"unit": "x" * 21},
        {"category": "weapons"},
        {"points": "0"},
        {"points": "-3"},
        {"points": "abc"},
        {"points": "1.5"},
        {"points": "1000001"},
        {"points": "9" * 40},
        {"points": ""},
        {"limit_quantity": "2"},  # a limit without a period
        {"limit_period": "month"},  # a period without a limit
        {"limit_quantity": "0", "limit_period": "month"},
        {"limit_quantity": "2", "limit_period": "year"},
        {"shelf_life_days": "0"},
        {"shelf_life_days": "99999"},
        {"description": "x" * 2001},
    ],
)
def test_invalid_items_are_refused_with_422_and_nothing_stored(as_user, db, world, changes):
    response = post_form(as_user("admin"), "/catalogue/new", {**GOOD_ITEM, **changes})
    assert response.status_code == 422
    assert "is-invalid" in text(response) or "alert-danger" in text(response)
    assert count(db, Item) == 0


def test_a_duplicate_name_is_refused(as_user, db, items):
    response = post_form(as_user("admin"), "/catalogue/new", {**GOOD_ITEM, "name": "铅笔"})
    assert response.status_code == 422
    assert "already exists" in text(response)
    assert count(db, Item, Item.name == "铅笔") == 1


@pytest.mark.parametrize("key", ["lead_a", "officer_a1", "teacher_a1", "clerk_a1"])
def test_only_district_admins_change_the_catalogue(as_user, db, items, key):
    client = as_user(key)
    assert client.get("/catalogue/new").status_code == 403
    assert client.get(f"/catalogue/{items.pencil.id}/edit").status_code == 403
    before = audit_count(db)
    assert post_form(client, "/catalogue/new", GOOD_ITEM).status_code == 403
    response = post_form(client, f"/catalogue/{items.pencil.id}/edit", {**GOOD_ITEM})
    assert response.status_code == 403
    assert audit_count(db) == before
    assert "Edit item" not in text(client.get(f"/catalogue/{items.pencil.id}"))


def test_another_districts_admin_gets_404_for_our_items(as_user, items):
    client = as_user("admin_other")
    assert client.get(f"/catalogue/{items.pencil.id}").status_code == 404
    assert client.get(f"/catalogue/{items.pencil.id}/edit").status_code == 404
    assert post_form(client, f"/catalogue/{items.pencil.id}/edit", GOOD_ITEM).status_code == 404


def test_admin_edits_and_deactivates_an_item(as_user, db, items):
    client = as_user("admin")
    assert client.get(f"/catalogue/{items.milk.id}/edit").status_code == 200
    response = post_form(
        client,
        f"/catalogue/{items.milk.id}/edit",
        {
            "name": "纯牛奶（箱）",
            "category": "food",
            "unit": "箱",
            "points": "28",
            "shelf_life_days": "150",
            "active": "",
        },
    )
    assert response.status_code == 302, text(response)[:2000]
    item = db.session.get(Item, items.milk.id)
    # Pasted full-width brackets are folded (NFKC), as everywhere in the forms.
    assert (item.name, item.points, item.shelf_life_days, item.active) == (
        "纯牛奶(箱)",
        28,
        150,
        False,
    )
    # A refused edit changes nothing.
    response = post_form(client, f"/catalogue/{items.milk.id}/edit", {**GOOD_ITEM, "name": "铅笔"})
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Item, items.milk.id).name == "纯牛奶(箱)"


# ---------------------------------------------------------------- photos


def _png(size=(64, 48), mode="RGB", color=(200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def _upload(client, path, data: dict, filename: str, content: bytes, field="photo"):
    from tests.conftest import csrf_token

    token = csrf_token(client, "/dashboard")
    body = {**data, "csrf_token": token, field: (io.BytesIO(content), filename)}
    return client.post(path, data=body, content_type="multipart/form-data")


def _photo_files(app) -> list:
    from pathlib import Path

    folder = Path(app.instance_path) / "item_photos"
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


@pytest.fixture
def clean_photos(app):
    import shutil
    from pathlib import Path

    yield
    shutil.rmtree(Path(app.instance_path) / "item_photos", ignore_errors=True)


def test_a_real_png_is_accepted_re_encoded_and_served_in_scope(
    app, as_user, db, items, clean_photos
):
    client = as_user("admin")
    fields = {"name": "铅笔", "category": "stationery", "unit": "支", "points": "2", "active": "y"}
    response = _upload(client, f"/catalogue/{items.pencil.id}/edit", fields, "Pic.PNG", _png())
    assert response.status_code == 302, text(response)[:3000]
    item = db.session.get(Item, items.pencil.id)
    assert item.photo and item.photo.endswith(".jpg")  # opaque: stored as JPEG
    assert _photo_files(app) == [item.photo]
    served = as_user("teacher_a1").get(f"/catalogue/{item.id}/photo")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(served.data)).format == "JPEG"
    assert as_user("officer_x").get(f"/catalogue/{item.id}/photo").status_code == 404


def test_a_transparent_png_stays_png_and_large_photos_are_scaled_down(
    app, as_user, db, items, clean_photos
):
    client = as_user("admin")
    content = _png(size=(2400, 1200), mode="RGBA", color=(0, 0, 0, 0))
    fields = {**GOOD_ITEM}
    response = _upload(client, "/catalogue/new", fields, "rope.png", content)
    assert response.status_code == 302, text(response)[:3000]
    item = db.session.scalars(select(Item).where(Item.name == "跳绳")).one()
    assert item.photo.endswith(".png")
    stored = Image.open(io.BytesIO(as_user("clerk_a1").get(f"/catalogue/{item.id}/photo").data))
    assert stored.format == "PNG" and max(stored.size) == 1200


def test_a_text_file_named_png_is_refused(app, as_user, db, items, clean_photos):
    client = as_user("admin")
    fields = {"name": "铅笔", "category": "stationery", "unit": "支", "points": "2", "active": "y"}
    response = _upload(
        client, f"/catalogue/{items.pencil.id}/edit", fields, "evil.png", b"<?php echo 1; ?>\n" * 20
    )
    assert response.status_code == 422
    assert "not a photo" in text(response)
    assert db.session.get(Item, items.pencil.id).photo is None
    assert _photo_files(app) == []
    # A new item with a bad photo is not created at all.
    response = _upload(client, "/catalogue/new", GOOD_ITEM, "x.png", b"GIF89a-not-really")
    assert response.status_code == 422 and count(db, Item, Item.name == "跳绳") == 0


def test_a_real_image_with_the_wrong_kind_of_name_is_refused(as_user, db, items, clean_photos):
    response = _upload(as_user("admin"), "/catalogue/new", GOOD_ITEM, "photo.svg", _png())
    assert response.status_code == 422 and count(db, Item, Item.name == "跳绳") == 0


def test_an_image_with_too_many_pixels_is_refused(app, as_user, db, items, clean_photos):
    out = io.BytesIO()
    Image.new("1", (7000, 5000), 1).save(out, format="PNG")  # 35 megapixels in a few kB
    assert len(out.getvalue()) < 200_000
    response = _upload(as_user("admin"), "/catalogue/new", GOOD_ITEM, "big.png", out.getvalue())
    assert response.status_code == 422
    assert "too many pixels" in text(response)
    assert count(db, Item) == len(vars(items)) and _photo_files(app) == []


def test_an_oversized_upload_is_refused(app, as_user, db, items, clean_photos, monkeypatch):
    client = as_user("admin")
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 50_000)
    noisy = io.BytesIO()
    Image.effect_noise((400, 400), 80).convert("RGB").save(noisy, format="PNG")
    assert len(noisy.getvalue()) > 50_000
    response = _upload(client, "/catalogue/new", GOOD_ITEM, "noise.png", noisy.getvalue())
    assert response.status_code == 422 and "larger than" in text(response)
    # Beyond the request limit the server refuses the body itself (413).
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 20_000)
    response = _upload(client, "/catalogue/new", GOOD_ITEM, "noise.png", noisy.getvalue())
    assert response.status_code == 413
    assert count(db, Item, Item.name == "跳绳") == 0 and _photo_files(app) == []


def test_replacing_and_removing_a_photo_deletes_the_old_file(app, as_user, db, items, clean_photos):
    client = as_user("admin")
    path = f"/catalogue/{items.pencil.id}/edit"
    fields = {"name": "铅笔", "category": "stationery", "unit": "支", "points": "2", "active": "y"}
    assert _upload(client, path, fields, "a.png", _png()).status_code == 302
    first = db.session.get(Item, items.pencil.id).photo
    assert _upload(client, path, fields, "b.png", _png(color=(1, 2, 3))).status_code == 302
    second = db.session.get(Item, items.pencil.id).photo
    assert second != first and _photo_files(app) == [second]
    assert post_form(client, path, {**fields, "remove_photo": "y"}).status_code == 302
    assert db.session.get(Item, items.pencil.id).photo is None
    assert _photo_files(app) == []
    assert client.get(f"/catalogue/{items.pencil.id}/photo").status_code == 404


# ---------------------------------------------------------------- on-hand


@pytest.mark.parametrize("key", ["officer_a1", "teacher_a1", "clerk_a1", "lead_a", "admin"])
def test_the_stock_page_shows_a1s_on_hand_to_its_viewers(as_user, world, stocked, key):
    page = text(as_user(key).get(f"/stock/schools/{world.school_a1.id}"))
    for name in ("铅笔", "纯牛奶", "书包"):
        assert name in page
    history_link = f"/stock/schools/{world.school_a1.id}/items/{stocked.pencil.id}"
    # Teachers and clerks see the shelf only; officers and above open each item's history.
    assert (history_link in page) == (key in ("officer_a1", "lead_a", "admin"))
    assert ('data-testid="stock-tabs"' in page) == (key in ("officer_a1", "lead_a", "admin"))


@pytest.mark.parametrize("key", ["officer_a2", "teacher_b1", "lead_b", "admin_other", "clerk_x"])
def test_other_schools_stock_is_not_found(as_user, world, stocked, key):
    client = as_user(key)
    school = world.school_a1.id
    for path, any_staff in (
        (f"/stock/schools/{school}", True),
        (f"/stock/schools/{school}/items/{stocked.pencil.id}", False),
        (f"/stock/schools/{school}/needs", False),
        (f"/stock/schools/{school}/stocktakes", False),
    ):
        # A teacher's role may not open the last three anywhere: 403 before the scope.
        expected = 403 if key in ("teacher_b1", "clerk_x") and not any_staff else 404
        assert client.get(path).status_code == expected, path


def test_low_and_expiring_marks(as_user, db, world, stocked):
    from app.inventory import operations as ops

    today = local_today()
    # An expired batch of gloves (received in the past) is marked too.
    ops.receive_stock(
        world.school_a1.id, stocked.gloves.id, 3, expiry_date=today - timedelta(days=2)
    )
    db.session.commit()
    page = text(as_user("officer_a1").get(f"/stock/schools/{world.school_a1.id}"))

    def row(item):
        return page.split(f'data-testid="stock-{item.id}"')[1].split("</tr>")[0]

    assert 'data-testid="low"' in row(stocked.pencil)  # 5 < 10
    assert 'data-testid="low"' not in row(stocked.bag)  # 20 >= 5
    assert 'data-testid="expiring"' in row(stocked.milk) and "4 箱 expiring soon" in row(
        stocked.milk
    )
    assert 'data-testid="expired"' in row(stocked.gloves) and "3 副 expired" in row(stocked.gloves)
    assert 'data-testid="expiring"' not in row(stocked.pencil)


def test_stock_filters(as_user, world, stocked):
    client = as_user("officer_a1")
    base = f"/stock/schools/{world.school_a1.id}"
    low = text(client.get(base + "?show=low"))
    assert "铅笔" in low and "书包" not in low and "纯牛奶" not in low
    expiring = text(client.get(base + "?show=expiring"))
    assert "纯牛奶" in expiring and "铅笔" not in expiring
    assert "书包" in text(client.get(base + "?q=书")) and "铅笔" not in text(
        client.get(base + "?q=书")
    )
    assert client.get(base + "?show=everything").status_code == 400


def test_the_stock_page_needs_the_same_number_of_queries_for_3_or_40_items(
    app, as_user, db, world, stocked
):
    from app.extensions import db as _db
    from app.inventory import operations as ops

    client = as_user("officer_a1")
    path = f"/stock/schools/{world.school_a1.id}"

    def queries_for_page() -> int:
        seen = []

        def listen(*args, **kwargs):
            seen.append(args[2])

        with app.app_context():
            engine = _db.engine
        event.listen(engine, "before_cursor_execute", listen)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(seen)

    before = queries_for_page()
    today = local_today()
    for n in range(40):
        item = ops.create_item(
            district_id=world.district.id, name=f"物品{n}", category="daily", unit="个", points=3
        )
        ops.receive_stock(world.school_a1.id, item.id, 2, expiry_date=today + timedelta(days=n))
        ops.receive_stock(world.school_a1.id, item.id, 1)
        ops.set_reorder_level(world.school_a1.id, item.id, n)
    db.session.commit()
    page = text(client.get(path))
    assert "物品39" in page or "Next" in page
    assert queries_for_page() == before


def test_the_stock_index_lists_schools_in_scope(as_user, world, stocked):
    page = text(as_user("admin").get("/stock/"))
    for name in ("甲一小学", "甲二小学", "乙一小学"):
        assert name in page
    assert "外区小学" not in page
    page = text(as_user("lead_a").get("/stock/"))
    assert "甲一小学" in page and "甲二小学" in page and "乙一小学" not in page
    response = as_user("teacher_a1").get("/stock/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/stock/schools/{world.school_a1.id}")


# ---------------------------------------------------------------- one item: history and changes


def test_item_history_shows_running_balance_newest_first(as_user, db, world, stocked):
    from app.inventory import operations as ops

    officer = world.user("officer_a1")
    ops.adjust_stock(world.school_a1.id, stocked.pencil.id, -2, reason="数错了", user_id=officer.id)
    ops.take_stock(world.school_a1.id, stocked.pencil.id, 1)
    db.session.commit()
    page = text(
        as_user("lead_a").get(f"/stock/schools/{world.school_a1.id}/items/{stocked.pencil.id}")
    )
    history = page.split('data-testid="history"')[1]
    moves = db.session.scalars(
        select(StockMove)
        .where(StockMove.item_id == stocked.pencil.id, StockMove.school_id == world.school_a1.id)
        .order_by(StockMove.id.desc())
    ).all()
    assert [m.balance_after for m in moves] == [2, 3, 5]
    positions = [history.index(f'data-testid="move-{m.id}"') for m in moves]
    assert positions == sorted(positions)
    adjustment = history.split(f'data-testid="move-{moves[1].id}"')[1].split("</tr>")[0]
    assert "数错了" in adjustment and officer.display_name in adjustment and "−2" in adjustment
    # Read-only for the alliance lead: no forms.
    assert 'data-testid="adjust-form"' not in page and 'data-testid="write-off-form"' not in page


def test_teachers_and_clerks_do_not_open_item_histories(as_user, world, stocked):
    for key in ("teacher_a1", "clerk_a1"):
        path = f"/stock/schools/{world.school_a1.id}/items/{stocked.pencil.id}"
        assert as_user(key).get(path).status_code == 403


def _item_path(world, item, action=""):
    return f"/stock/schools/{world.school_a1.id}/items/{item.id}{action}"


def test_officer_adds_and_removes_stock_with_a_reason(as_user, db, world, stocked):
    client = as_user("officer_a1")
    response = post_form(
        client,
        _item_path(world, stocked.bag, "/adjust"),
        {"direction": "add", "quantity": "3", "reason": "盘盈"},
    )
    assert response.status_code == 302
    assert on_hand(db, world.school_a1, stocked.bag) == 23
    response = post_form(
        client,
        _item_path(world, stocked.bag, "/adjust"),
        {"direction": "remove", "quantity": "4", "reason": "记错"},
    )
    assert response.status_code == 302 and on_hand(db, world.school_a1, stocked.bag) == 19
    last = db.session.scalars(select(StockMove).order_by(StockMove.id.desc())).first()
    assert (last.kind, last.quantity, last.reason, last.created_by_id) == (
        "adjustment",
        -4,
        "记错",
        world.user("officer_a1").id,
    )


@pytest.mark.parametrize(
    "data",
    [
        {"direction": "add", "quantity": "3", "reason": ""},
        {"direction": "add", "quantity": "0", "reason": "x"},
        {"direction": "add", "quantity": "abc", "reason": "x"},
        {"direction": "add", "quantity": "2.5", "reason": "x"},
        {"direction": "add", "quantity": "10000000", "reason": "x"},
        {"direction": "sideways", "quantity": "3", "reason": "x"},
        {"direction": "add", "quantity": "3", "reason": "x" * 201},
    ],
)
def test_invalid_adjustments_are_422_and_change_nothing(as_user, db, world, stocked, data):
    moves = count(db, StockMove)
    response = post_form(as_user("officer_a1"), _item_path(world, stocked.bag, "/adjust"), data)
    assert response.status_code == 422
    assert count(db, StockMove) == moves and on_hand(db, world.school_a1, stocked.bag) == 20


def test_taking_out_more_than_on_hand_is_409_with_the_message(as_user, db, world, stocked):
    moves = count(db, StockMove)
    response = post_form(
        as_user("officer_a1"),
        _item_path(world, stocked.pencil, "/adjust"),
        {"direction": "remove", "quantity": "6", "reason": "丢失"},
    )
    assert response.status_code == 409
    assert "Not enough 铅笔 in stock" in text(response)
    assert count(db, StockMove) == moves and on_hand(db, world.school_a1, stocked.pencil) == 5


def test_write_off_of_a_chosen_batch(as_user, db, world, stocked):
    soon = db.session.scalars(
        select(StockLot)
        .where(StockLot.item_id == stocked.milk.id, StockLot.school_id == world.school_a1.id)
        .order_by(StockLot.expiry_date.desc())
    ).first()  # the later batch, to prove the choice is honoured
    client = as_user("officer_a1")
    page = text(client.get(_item_path(world, stocked.milk)))
    assert f'value="{soon.id}"' in page and soon.expiry_date.isoformat() in page
    response = post_form(
        client,
        _item_path(world, stocked.milk, "/write-off"),
        {"cause": "damaged", "quantity": "2", "lot_id": str(soon.id), "reason": "包装破损"},
    )
    assert response.status_code == 302, text(response)[:2000]
    db.session.expire_all()
    assert db.session.get(StockLot, soon.id).remaining == 4
    move = db.session.scalars(select(StockMove).order_by(StockMove.id.desc())).first()
    assert move.kind == "write_off" and move.quantity == -2
    assert move.reason == "Damaged: 包装破损"
    assert on_hand(db, world.school_a1, stocked.milk) == 8


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"cause": "other", "quantity": "1", "reason": ""}, 422),  # "other" needs details
        ({"cause": "stolen", "quantity": "1"}, 422),
        ({"cause": "expired", "quantity": "0"}, 422),
        ({"cause": "expired", "quantity": "11"}, 409),  # more than on hand
        ({"cause": "expired", "quantity": "5", "lot_id": "FIRST"}, 409),  # more than the batch
        ({"cause": "expired", "quantity": "1", "lot_id": "999999"}, 422),  # not a batch here
        ({"cause": "expired", "quantity": "1", "lot_id": "abc"}, 422),
    ],
)
def test_refused_write_offs_change_nothing(as_user, db, world, stocked, data, status):
    first = db.session.scalars(
        select(StockLot.id)
        .where(StockLot.item_id == stocked.milk.id, StockLot.school_id == world.school_a1.id)
        .order_by(StockLot.expiry_date)
    ).first()
    if data.get("lot_id") == "FIRST":
        data = {**data, "lot_id": str(first)}
    moves = count(db, StockMove)
    response = post_form(as_user("officer_a1"), _item_path(world, stocked.milk, "/write-off"), data)
    assert response.status_code == status, text(response)[:2000]
    assert count(db, StockMove) == moves and on_hand(db, world.school_a1, stocked.milk) == 10


def test_low_stock_level_is_set_and_cleared(as_user, db, world, stocked):
    client = as_user("officer_a1")
    path = _item_path(world, stocked.gloves, "/reorder-level")
    assert post_form(client, path, {"level": "12"}).status_code == 302
    level = db.session.scalars(
        select(StockLevel).where(
            StockLevel.school_id == world.school_a1.id, StockLevel.item_id == stocked.gloves.id
        )
    ).one()
    assert level.reorder_level == 12 and level.on_hand == 0
    assert post_form(client, path, {"level": ""}).status_code == 302
    db.session.expire_all()
    assert db.session.get(StockLevel, level.id).reorder_level is None
    for bad in ("-1", "abc", "1000001"):
        assert post_form(client, path, {"level": bad}).status_code == 422


@pytest.mark.parametrize(
    ("key", "status"),
    [("admin", 403), ("lead_a", 403), ("teacher_a1", 403), ("officer_a2", 404), ("officer_x", 404)],
)
def test_only_the_schools_officer_changes_its_stock(as_user, db, world, stocked, key, status):
    client = as_user(key)
    before = audit_count(db), count(db, StockMove)
    for action, data in (
        ("/adjust", {"direction": "add", "quantity": "1", "reason": "x"}),
        ("/write-off", {"cause": "expired", "quantity": "1"}),
        ("/reorder-level", {"level": "1"}),
    ):
        assert post_form(client, _item_path(world, stocked.bag, action), data).status_code == status
    assert (audit_count(db), count(db, StockMove)) == before


# ---------------------------------------------------------------- the needs list


def test_officer_keeps_the_needs_list(as_user, db, world, stocked):
    from app.inventory.queries import public_needs

    client = as_user("officer_a1")
    path = f"/stock/schools/{world.school_a1.id}/needs"
    page = text(client.get(path))
    # The pencil is below its low-stock level: suggested with a one-click add.
    suggestion = page.split('data-testid="suggestions"')[1]
    assert f'data-testid="suggest-{stocked.pencil.id}"' in suggestion
    assert f'data-testid="suggest-{stocked.bag.id}"' not in suggestion
    response = post_form(client, path, {"item_id": str(stocked.pencil.id), "target_quantity": "15"})
    assert response.status_code == 302
    response = post_form(
        client, path, {"item_id": str(stocked.gloves.id), "target_quantity": "60", "note": "冬季"}
    )
    assert response.status_code == 302
    page = text(client.get(path))
    assert f'data-testid="suggest-{stocked.pencil.id}"' not in page  # listed now
    needs = {n.name: n for n in public_needs(world.school_a1.id)}
    assert set(needs) == {"铅笔", "手套"}
    assert (needs["铅笔"].target_quantity, needs["铅笔"].on_hand) == (15, 5)
    assert (needs["手套"].note, needs["手套"].unit) == ("冬季", "副")

    need = db.session.scalars(
        select(SchoolNeed).where(SchoolNeed.item_id == stocked.gloves.id)
    ).one()
    response = post_form(
        client, f"/stock/needs/{need.id}/edit", {"target_quantity": "40", "note": ""}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(SchoolNeed, need.id).target_quantity == 40
    assert post_form(client, f"/stock/needs/{need.id}/remove").status_code == 302
    assert {n.name for n in public_needs(world.school_a1.id)} == {"铅笔"}
    assert "手套" not in text(client.get(path)).split('data-testid="needs"')[1].split("</table>")[0]


@pytest.mark.parametrize(
    "data",
    [
        {"item_id": "FOREIGN", "target_quantity": "5"},
        {"item_id": "", "target_quantity": "5"},
        {"item_id": "abc", "target_quantity": "5"},
        {"item_id": "99999999999", "target_quantity": "5"},
        {"item_id": "PENCIL", "target_quantity": "0"},
        {"item_id": "PENCIL", "target_quantity": "abc"},
        {"item_id": "PENCIL", "target_quantity": "5", "note": "x" * 201},
    ],
)
def test_invalid_needs_are_refused(as_user, db, world, stocked, data):
    data = dict(data)
    data["item_id"] = {"FOREIGN": str(stocked.foreign.id), "PENCIL": str(stocked.pencil.id)}.get(
        data["item_id"], data["item_id"]
    )
    response = post_form(as_user("officer_a1"), f"/stock/schools/{world.school_a1.id}/needs", data)
    assert response.status_code == 422
    assert count(db, SchoolNeed) == 0


def test_needs_are_read_only_above_the_school_and_hidden_from_others(as_user, db, world, stocked):
    from app.donations.operations import set_need

    need = set_need(school_id=world.school_a1.id, item_id=stocked.bag.id, target_quantity=9)
    db.session.commit()
    path = f"/stock/schools/{world.school_a1.id}/needs"
    for key in ("admin", "lead_a"):
        client = as_user(key)
        page = text(client.get(path))
        assert "书包" in page and 'data-testid="need-form"' not in page
        assert (
            post_form(
                client, path, {"item_id": str(stocked.pencil.id), "target_quantity": "1"}
            ).status_code
            == 403
        )
        assert post_form(client, f"/stock/needs/{need.id}/remove").status_code == 403
    for key in ("teacher_a1", "clerk_a1"):
        assert as_user(key).get(path).status_code == 403
    client = as_user("officer_a2")
    assert client.get(path).status_code == 404
    assert (
        post_form(client, f"/stock/needs/{need.id}/edit", {"target_quantity": "1"}).status_code
        == 404
    )
    assert post_form(client, f"/stock/needs/{need.id}/remove").status_code == 404
    db.session.expire_all()
    assert (
        db.session.get(SchoolNeed, need.id).active
        and db.session.get(SchoolNeed, need.id).target_quantity == 9
    )


# ---------------------------------------------------------------- stocktakes


def _start(client, world, data):
    return post_form(client, f"/stock/schools/{world.school_a1.id}/stocktakes/new", data)


def test_a_stocktake_changes_only_the_counted_items(as_user, db, world, stocked):
    client = as_user("officer_a1")
    assert client.get(f"/stock/schools/{world.school_a1.id}/stocktakes/new").status_code == 200
    response = _start(client, world, {"scope": "all", "note": "期末盘点"})
    assert response.status_code == 302, text(response)[:2000]
    stocktake = db.session.scalars(select(Stocktake)).one()
    assert response.headers["Location"].endswith(f"/stock/stocktakes/{stocktake.id}")
    assert count(db, StocktakeLine, StocktakeLine.stocktake_id == stocktake.id) == 3

    # The printable sheet: no navigation, the print stylesheet, every line.
    sheet = text(client.get(f"/stock/stocktakes/{stocktake.id}/sheet"))
    assert "ax-navbar" not in sheet and "css/app.css" in sheet and 'class="ax-sheet"' in sheet
    assert all(name in sheet for name in ("铅笔", "纯牛奶", "书包"))
    assert ">5<" not in sheet  # a blind count: expected quantities only on request
    assert ">5<" in text(client.get(f"/stock/stocktakes/{stocktake.id}/sheet?expected=1"))

    path = f"/stock/stocktakes/{stocktake.id}"
    pencil, milk, bag = stocked.pencil.id, stocked.milk.id, stocked.bag.id
    # Save progress: the pencil counted, the rest not yet.
    response = post_form(client, path + "/counts", {f"count-{pencil}": "7", f"count-{milk}": ""})
    assert response.status_code == 302
    # A bad entry saves nothing at all, and the page keeps what was typed.
    response = post_form(client, path + "/counts", {f"count-{pencil}": "8", f"count-{bag}": "abc"})
    assert response.status_code == 422
    assert 'value="abc"' in text(response)
    counted = dict(db.session.execute(select(StocktakeLine.item_id, StocktakeLine.counted)).all())
    assert counted == {pencil: 7, milk: None, bag: None}
    # Finalise with one more count entered; milk stays uncounted.
    response = post_form(client, path + "/finalise", {f"count-{pencil}": "7", f"count-{bag}": "18"})
    assert response.status_code == 302
    assert on_hand(db, world.school_a1, stocked.pencil) == 7
    assert on_hand(db, world.school_a1, stocked.bag) == 18
    assert on_hand(db, world.school_a1, stocked.milk) == 10
    lines = {ln.item_id: ln for ln in db.session.scalars(select(StocktakeLine))}
    assert (lines[pencil].difference, lines[bag].difference, lines[milk].difference) == (
        2,
        -2,
        None,
    )
    history = text(client.get(f"/stock/schools/{world.school_a1.id}/stocktakes"))
    row = history.split(f'data-testid="stocktake-{stocktake.id}"')[1].split("</tr>")[0]
    assert "Finalised" in row and ">2<" in row  # two items changed
    detail = text(client.get(path))
    assert "+2" in detail and "−2" in detail and "not counted" in detail
    # Closed: no more counting.
    response = post_form(client, path + "/counts", {f"count-{pencil}": "1"})
    assert response.status_code == 409 and on_hand(db, world.school_a1, stocked.pencil) == 7


def test_a_stocktake_of_chosen_items_and_one_at_a_time(as_user, db, world, stocked):
    client = as_user("officer_a1")
    response = _start(
        client,
        world,
        {"scope": "chosen", "item_ids": [str(stocked.milk.id), str(stocked.gloves.id)]},
    )
    assert response.status_code == 302
    stocktake = db.session.scalars(select(Stocktake)).one()
    items = set(db.session.scalars(select(StocktakeLine.item_id)))
    assert items == {stocked.milk.id, stocked.gloves.id}
    response = _start(client, world, {"scope": "all"})
    assert response.status_code == 409 and count(db, Stocktake) == 1
    # Cancelling changes no stock.
    post_form(client, f"/stock/stocktakes/{stocktake.id}/counts", {f"count-{stocked.milk.id}": "0"})
    response = post_form(client, f"/stock/stocktakes/{stocktake.id}/cancel")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Stocktake, stocktake.id).status == "cancelled"
    assert on_hand(db, world.school_a1, stocked.milk) == 10


@pytest.mark.parametrize(
    "data",
    [
        {"scope": "chosen"},
        {"scope": "chosen", "item_ids": ["FOREIGN"]},
        {"scope": "chosen", "item_ids": ["abc"]},
        {"scope": "everything"},
        {"scope": "all", "note": "x" * 2001},
    ],
)
def test_invalid_stocktake_starts_are_refused(as_user, db, world, stocked, data):
    if data.get("item_ids") == ["FOREIGN"]:
        data = {**data, "item_ids": [str(stocked.foreign.id)]}
    response = _start(as_user("officer_a1"), world, data)
    assert response.status_code == 422
    assert count(db, Stocktake) == 0


def test_stocktakes_are_read_only_above_the_school(as_user, db, world, stocked):
    from app.inventory.operations import start_stocktake

    stocktake = start_stocktake(world.school_a1.id)
    db.session.commit()
    path = f"/stock/stocktakes/{stocktake.id}"
    for key in ("admin", "lead_a"):
        client = as_user(key)
        page = text(client.get(path))
        assert "铅笔" in page and 'data-testid="counts-form"' not in page
        assert client.get(path + "/sheet").status_code == 200
        assert post_form(client, path + "/finalise").status_code == 403
    for key in ("officer_a2", "lead_b"):
        assert as_user(key).get(path).status_code == 404
    assert as_user("teacher_a1").get(path).status_code == 403
    db.session.expire_all()
    assert db.session.get(Stocktake, stocktake.id).status == "open"


# ---------------------------------------------------------------- transfers


def _request(client, world, data):
    return post_form(client, f"/stock/schools/{world.school_a1.id}/transfers/new", data)


def test_a_transfer_is_requested_approved_and_moves_the_stock(as_user, db, world, stocked):
    sender = as_user("officer_a1")
    page = text(sender.get(f"/stock/schools/{world.school_a1.id}/transfers/new"))
    assert "甲二小学" in page and "乙一小学" not in page
    response = _request(
        sender,
        world,
        {
            "to_school_id": str(world.school_a2.id),
            f"qty-{stocked.bag.id}": "6",
            f"qty-{stocked.milk.id}": "",
            "note": "甲二小学新生多",
        },
    )
    assert response.status_code == 302, text(response)[:3000]
    transfer = db.session.scalars(select(StockTransfer)).one()
    assert transfer.status == "requested" and [
        (ln.item_id, ln.quantity) for ln in transfer.lines
    ] == [(stocked.bag.id, 6)]
    assert on_hand(db, world.school_a1, stocked.bag) == 20  # nothing moves before approval
    path = f"/stock/transfers/{transfer.id}"
    # Both schools' officers see it; the receiver may not cancel it; officers cannot approve.
    assert "书包" in text(as_user("officer_a2").get(path))
    assert post_form(as_user("officer_a2"), path + "/cancel").status_code == 403
    assert post_form(as_user("officer_a1"), path + "/approve").status_code == 403
    assert as_user("officer_b1").get(path).status_code == 404
    assert post_form(as_user("lead_b"), path + "/approve").status_code == 404

    lead = as_user("lead_a")
    assert 'data-testid="decision-form"' in text(lead.get(path))
    response = post_form(lead, path + "/approve", {"note": "同意"})
    assert response.status_code == 302
    assert on_hand(db, world.school_a1, stocked.bag) == 14
    assert on_hand(db, world.school_a2, stocked.bag) == 6
    db.session.expire_all()
    transfer = db.session.get(StockTransfer, transfer.id)
    assert (transfer.status, transfer.decision_note, transfer.decided_by_id) == (
        "approved",
        "同意",
        world.user("lead_a").id,
    )
    # Decided: a second decision is refused.
    assert post_form(lead, path + "/reject").status_code == 409
    listing = text(as_user("officer_a2").get("/stock/transfers"))
    assert f'data-testid="transfer-{transfer.id}"' in listing


def test_approval_without_the_goods_is_409_and_changes_nothing(as_user, db, world, stocked):
    from app.inventory import operations as ops

    transfer = ops.request_transfer(
        from_school_id=world.school_a1.id,
        to_school_id=world.school_a2.id,
        lines=[ops.Line(stocked.bag.id, 3), ops.Line(stocked.milk.id, 8)],
        user_id=world.user("officer_a1").id,
    )
    ops.take_stock(world.school_a1.id, stocked.milk.id, 5)  # only 5 of 10 milk left now
    db.session.commit()
    moves = count(db, StockMove)
    response = post_form(as_user("admin"), f"/stock/transfers/{transfer.id}/approve")
    assert response.status_code == 409
    assert "Not enough 纯牛奶 in stock" in text(response)
    assert count(db, StockMove) == moves
    assert on_hand(db, world.school_a1, stocked.bag) == 20
    assert on_hand(db, world.school_a2, stocked.bag) == 0
    db.session.expire_all()
    assert db.session.get(StockTransfer, transfer.id).status == "requested"


def test_reject_and_cancel(as_user, db, world, stocked):
    from app.inventory import operations as ops

    def make():
        t = ops.request_transfer(
            from_school_id=world.school_a1.id,
            to_school_id=world.school_a2.id,
            lines=[ops.Line(stocked.bag.id, 1)],
            user_id=world.user("officer_a1").id,
        )
        db.session.commit()
        return t.id

    first, second = make(), make()
    assert (
        post_form(
            as_user("lead_a"), f"/stock/transfers/{first}/reject", {"note": "不需要"}
        ).status_code
        == 302
    )
    assert post_form(as_user("officer_a1"), f"/stock/transfers/{second}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(StockTransfer, first).status == "rejected"
    assert db.session.get(StockTransfer, first).decision_note == "不需要"
    assert db.session.get(StockTransfer, second).status == "cancelled"
    assert on_hand(db, world.school_a1, stocked.bag) == 20
    assert post_form(as_user("officer_a1"), f"/stock/transfers/{second}/cancel").status_code == 409
    listing = as_user("lead_a").get("/stock/transfers?status=rejected")
    assert listing.status_code == 200
    assert f'data-testid="transfer-{first}"' in text(listing)
    assert f'data-testid="transfer-{second}"' not in text(listing)


@pytest.mark.parametrize(
    "data",
    [
        {"to_school_id": "B1", "qty-BAG": "1"},  # not of the alliance
        {"to_school_id": "A1", "qty-BAG": "1"},  # itself
        {"to_school_id": "", "qty-BAG": "1"},
        {"to_school_id": "abc", "qty-BAG": "1"},
        {"to_school_id": "A2"},  # no lines
        {"to_school_id": "A2", "qty-BAG": "0"},
        {"to_school_id": "A2", "qty-BAG": "-1"},
        {"to_school_id": "A2", "qty-BAG": "1.5"},
        {"to_school_id": "A2", "qty-BAG": "21"},  # more than on hand
        {"to_school_id": "A2", "qty-BAG": "99999999999999"},
        {"to_school_id": "A2", "qty-BAG": "1", "note": "x" * 2001},
    ],
)
def test_invalid_transfer_requests_write_nothing(as_user, db, world, stocked, data):
    ids = {"A1": world.school_a1.id, "A2": world.school_a2.id, "B1": world.school_b1.id}
    posted = {}
    for key, value in data.items():
        key = key.replace("BAG", str(stocked.bag.id))
        posted[key] = str(ids.get(value, value))
    response = _request(as_user("officer_a1"), world, posted)
    assert response.status_code == 422, text(response)[:2000]
    assert count(db, StockTransfer) == 0


def test_only_officers_request_transfers_for_their_own_school(as_user, world, stocked):
    path = f"/stock/schools/{world.school_a1.id}/transfers/new"
    assert as_user("lead_a").get(path).status_code == 403
    assert as_user("admin").get(path).status_code == 403
    assert as_user("officer_a2").get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/stock/schools/A1?page=999999",
        "/stock/schools/A1?page=-4&show=low&category=food&q=%25_",
        "/stock/schools/A1/items/PENCIL?page=abc",
        "/stock/schools/A1/stocktakes?page=99999999999999999999",
        "/stock/transfers?status=bogus&school=abc",
        "/stock/transfers?school=99999999999",
        "/stock/transfers?status=approved&school=A1",
        "/stock/?page=0",
        "/catalogue/?q=%00&status=all",
        "/catalogue/99999999999",
        "/stock/stocktakes/0",
        "/stock/schools/A1/items/99999999999",
    ],
)
def test_odd_urls_never_answer_500(as_user, world, stocked, path):
    path = path.replace("A1", str(world.school_a1.id)).replace("PENCIL", str(stocked.pencil.id))
    for key in ("admin", "officer_a1", "clerk_a1"):
        assert as_user(key).get(path).status_code in (200, 302, 400, 403, 404), (key, path)
