"""Debian's headless chromium, driven by selenium through Debian's chromedriver, reading the
terminal that a textual-serve page draws.

Why selenium and not playwright: Debian builds chromium and chromium-driver from one source
package, so the driver always matches the browser, and ``Service(chromedriver)`` makes selenium
skip selenium-manager (nothing is downloaded). Playwright speaks to its own pinned browser build;
pointing it at another chromium works only as long as the protocols happen to agree.

The page draws with xterm.js on a canvas (WebGL), so the text is not in the DOM. A script that
runs before the page's own catches the xterm ``Terminal`` as textual-serve stores it
(``this.terminal = ...``) and keeps it on ``window``; its buffer holds the screen, cell by cell.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

INSTALL = "install Debian's chromium and its driver: apt-get install -y chromium chromium-driver (.ci/run does)"

# Runs before every page script: an assignment to any object's `terminal` property that holds an
# xterm Terminal (it has buffer.active) leaves a reference on window; the property then becomes
# an ordinary one on that object, so the page behaves as before.
CATCH_XTERM = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    if (value && value.buffer && value.buffer.active) { window.__rnngenXterm = value; }
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  },
});
"""

SCREEN_TEXT = """
const term = window.__rnngenXterm;
if (!term) { return null; }
const buffer = term.buffer.active;
const rows = [];
for (let i = 0; i < term.rows; i++) {
  const line = buffer.getLine(buffer.viewportY + i);
  rows.push(line ? line.translateToString(true) : "");
}
return rows.join("\\n");
"""


def headless_chromium(width: int = 1100, height: int = 720) -> webdriver.Chrome:
    """A headless chromium window of width x height CSS pixels; fails (never skips) when missing."""
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(f"{'chromium' if browser is None else 'chromedriver'} is not installed: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCH_XTERM})
    return chrome


def screen_text(chrome: webdriver.Chrome) -> str | None:
    """The terminal's visible rows as text (None until the page made its terminal)."""
    return chrome.execute_script(SCREEN_TEXT)


def wait_for_screen(chrome: webdriver.Chrome, condition: Callable[[str], bool], what: str, timeout: float = 90) -> str:
    """Poll the screen until ``condition(text)`` holds; fail with the last screen after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    text = None
    while time.monotonic() < deadline:
        text = screen_text(chrome)
        if text is not None and condition(text):
            return text
        time.sleep(0.1)  # a poll interval, not a wait for something to happen
    if text is None:
        raise AssertionError(f"no xterm terminal on the page after {timeout}s (textual-serve's page changed?)")
    raise AssertionError(f"waited {timeout}s for {what}; the screen shows:\n{text}")


def press(chrome: webdriver.Chrome, keys: str) -> None:
    """Type keys into the terminal (xterm reads them from its hidden textarea)."""
    chrome.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(keys)
