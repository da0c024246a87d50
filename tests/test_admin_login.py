"""The admin's login is on the internet: repeated failures lock out the user name and, on its
own count, the address (django-axes), in every web process alike."""

import re
import subprocess
import sys

import httpx
import pytest
from django.contrib.auth.models import User

from tests.helpers import PROJECT_DIR, answers, closed_port, wait_until, worker_env

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("staff", "staff@example.com", "right-password")


def log_in(client, username: str, password: str, address: str) -> int:
    answer = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)
    return answer.status_code


def test_a_user_name_is_locked_out_after_five_failures_from_anywhere(client, staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for k in range(4):
        assert log_in(client, "staff", "wrong", f"198.51.100.{k}") == 200  # the form again
    assert log_in(client, "staff", "wrong", "198.51.100.9") == 429
    # Locked: the right password, from an address never seen, is refused too.
    assert log_in(client, "staff", "right-password", "203.0.113.7") == 429


def test_an_address_is_locked_out_after_five_failures_whatever_the_user_names(client, staff):
    for k in range(4):
        assert log_in(client, f"guess{k}", "wrong", "198.51.100.1") == 200
    assert log_in(client, "guess4", "wrong", "198.51.100.1") == 429
    assert log_in(client, "staff", "right-password", "198.51.100.1") == 429
    # The user name is not locked: from elsewhere, the staff member gets in.
    assert log_in(client, "staff", "right-password", "203.0.113.7") == 302


def test_a_login_clears_the_failures_before_it(client, staff):
    for _ in range(4):
        assert log_in(client, "staff", "wrong", "198.51.100.1") == 200
    assert log_in(client, "staff", "right-password", "198.51.100.1") == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, "staff", "wrong", "198.51.100.1") == 200


def test_a_header_the_client_sets_does_not_choose_its_address(client, staff):
    """Without AXES_PROXY_COUNT, X-Forwarded-For is the client's own word: ignored."""
    for k in range(5):
        client.post(
            LOGIN,
            {"username": f"guess{k}", "password": "wrong"},
            REMOTE_ADDR="198.51.100.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{k}",
        )
    assert log_in(client, "staff", "right-password", "198.51.100.1") == 429


@pytest.mark.django_db(transaction=True)
def test_a_lock_out_holds_in_another_web_process(settings, tmp_path):
    """Failures counted in this process lock the login of a server running in another one:
    the attempts are in PostgreSQL, not in a process's memory."""
    User.objects.create_superuser("staff", "staff@example.com", "right-password")
    from django.test import Client

    here = Client()
    for _ in range(5):
        here.post(LOGIN, {"username": "staff", "password": "wrong"}, REMOTE_ADDR="127.0.0.1")

    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT_DIR,
        env=worker_env(settings, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"))
        with httpx.Client(base_url=base, timeout=10) as browser:
            form = browser.get(LOGIN)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
            answer = browser.post(
                LOGIN,
                data={
                    "username": "staff",
                    "password": "right-password",
                    "csrfmiddlewaretoken": token,
                },
            )
        assert answer.status_code == 429
    finally:
        server.terminate()
        server.wait(timeout=30)
