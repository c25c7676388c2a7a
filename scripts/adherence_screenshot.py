"""Regenerate docs/adherence.png: the six-month cohort replayed into a fresh SQLite store, the
console under uvicorn on a clock fixed at the end of the six months, Debian's chromium
driven by Playwright at 1366x800. Run from /work/main:

    PYTHONPATH=. .venv/bin/python scripts/adherence_screenshot.py /tmp/adh_shot docs/adherence.png
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from reminders.config import Settings
from reminders.staff.accounts import add_user
from reminders.web.app import create_app
from tests.conftest import free_port
from tests.harness import Clinic, local
from tests.scenarios.cohort import END, cohort, replay
from tests.web.test_browser import CHROMIUM_ARGS

folder, target = Path(sys.argv[1]), Path(sys.argv[2])
folder.mkdir(parents=True, exist_ok=True)
settings = Settings(
    database_url=f"sqlite:///{folder / 'reminders.db'}",
    outbox_dir=folder / "outbox",
    state_dir=folder / "state",
    secret_key="screenshot-" + "x" * 32,
)
now = local(f"{END} 09:00")
if not (folder / "replayed").exists():
    replay(Clinic(settings, folder), cohort(), lambda _: None)
    add_user(settings, "dana", "staff", "correct horse battery", now)
    (folder / "replayed").write_text("")


def clock() -> datetime:
    return now


config = uvicorn.Config(
    create_app(settings, clock=clock), host="127.0.0.1", port=free_port(), log_level="warning"
)
server = uvicorn.Server(config)
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
while not server.started:
    time.sleep(0.05)
base = f"http://127.0.0.1:{config.port}"
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.goto(base + "/adherence")
    page.get_by_label("Name").fill("dana")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/adherence")
    page.screenshot(path=str(target))
    page.screenshot(path=str(target.with_suffix(".full.png")), full_page=True)
    browser.close()
server.should_exit = True
thread.join(timeout=10)
print(f"wrote {target}")
