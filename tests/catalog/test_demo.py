"""`make run` again: the demo catalog loaded before is kept, edits and image addresses."""

import pytest
from django.core.management import call_command

from catalog.demo import STORES
from catalog.models import Product

pytestmark = pytest.mark.django_db


def load(*args):
    call_command("load_demo", *args, verbosity=0)


def test_a_second_load_keeps_edits_and_image_addresses_even_on_another_port():
    load("--image-base", "http://127.0.0.1:8000")
    assert Product.objects.count() == sum(count for _, _, count in STORES.values())
    # One with an image (the demo has products without one, as shops do).
    edited = Product.objects.filter(store_id="maison-lune").exclude(image_url="").first()
    edited.title = "Renamed in the admin"
    edited.save()

    load("--image-base", "http://127.0.0.1:8001")  # PORT=8001 make run
    edited.refresh_from_db()
    assert edited.title == "Renamed in the admin"
    assert not Product.objects.filter(image_url__startswith="http://127.0.0.1:8001").exists()

    load("--image-base", "http://127.0.0.1:8001", "--reload")
    edited.refresh_from_db()
    assert edited.title != "Renamed in the admin"
    assert edited.image_url.startswith("http://127.0.0.1:8001/")
