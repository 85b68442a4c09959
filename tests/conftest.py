import datetime
import os

import pytest
from django.db import connection

from emporter.network.models import Branch, Department, Location, OpeningHours, ServiceMode


def pytest_report_header(config):
    return f"database: {os.environ.get('DATABASE_URL') or 'SQLite (embedded)'}"


@pytest.fixture
def postgres(db):
    """Use in tests of PostgreSQL-only behaviour; they skip, loudly, on SQLite."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in CI with DATABASE_URL set")


def make_branch(code="PDI", name="Part-Dieu", mode=ServiceMode.CLICK_COLLECT, weekdays=range(0, 6), **kw):
    branch = Branch.objects.create(code=code, name=name, service_mode=mode, **kw)
    OpeningHours.objects.bulk_create(
        OpeningHours(branch=branch, weekday=d, opens=datetime.time(10), closes=datetime.time(19))
        for d in weekdays
    )
    return branch


def make_department(branch, code="adultes", name="Adultes", order=0):
    return Department.objects.create(branch=branch, code=code, name=name, walking_order=order)


def make_location(department, code="romans", name="Romans", order=0, **kw):
    return Location.objects.create(department=department, code=code, name=name, walking_order=order, **kw)


@pytest.fixture
def branch(db):
    return make_branch()


@pytest.fixture
def other_branch(db):
    return make_branch(code="CRX", name="Croix-Rousse")
