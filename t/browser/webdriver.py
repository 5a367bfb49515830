"""A small W3C WebDriver client (Python standard library only) for Debian's chromedriver.

Just what t/browser/music_page.py needs: start chromedriver, open a headless Chromium
session, find and click elements, type, run scripts, answer confirm() dialogs, take
screenshots. Nothing here talks to anything but 127.0.0.1.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    def __init__(self, status, error, message):
        super().__init__("%s (%s): %s" % (error, status, message.splitlines()[0] if message else ""))
        self.status = status
        self.error = error


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, driver, eid):
        self.driver = driver
        self.id = eid

    def _cmd(self, method, what, body=None):
        return self.driver.cmd(method, "/element/%s/%s" % (self.id, what), body)

    def click(self):
        self._cmd("POST", "click", {})

    def clear(self):
        self._cmd("POST", "clear", {})

    def type(self, text):
        self._cmd("POST", "value", {"text": text})

    def text(self):
        return self._cmd("GET", "text")

    def prop(self, name):
        return self._cmd("GET", "property/" + name)

    def attr(self, name):
        return self._cmd("GET", "attribute/" + name)

    def displayed(self):
        return self._cmd("GET", "displayed")

    def enabled(self):
        return self._cmd("GET", "enabled")

    def accessible_name(self):
        """The browser's own accessible-name computation (W3C computedlabel)."""
        return self._cmd("GET", "computedlabel")

    def role(self):
        return self._cmd("GET", "computedrole")

    def to_json(self):
        return {ELEMENT_KEY: self.id}


class Chrome:
    """chromedriver + one headless Chromium session (fresh profile), closed by quit()."""

    def __init__(self, chromium="/usr/bin/chromium", chromedriver="/usr/bin/chromedriver",
                 width=1280, height=800, log_dir=None):
        self.profile = tempfile.mkdtemp(prefix="ngx-music-chromium.")
        self.port = free_port()
        log_dir = log_dir or self.profile
        self.driver_log = os.path.join(log_dir, "chromedriver.log")
        self.proc = subprocess.Popen(
            [chromedriver, "--port=%d" % self.port, "--allowed-ips=127.0.0.1",
             "--log-path=" + self.driver_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = None
        try:
            self._wait_ready()
            args = [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-features=Translate",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height),
                "--force-device-scale-factor=1", "--lang=en-US", "--hide-scrollbars",
            ]
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "unhandledPromptBehavior": "ignore",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}}
            value = self._http("POST", "/session", caps)
            self.session = value["sessionId"]
            self.capabilities = value.get("capabilities", {})
            self.set_viewport(width, height)
        except Exception:
            self.quit()
            raise

    # --- plumbing ------------------------------------------------------------------------------

    def _wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("chromedriver exited (%s); see %s" % (self.proc.returncode, self.driver_log))
            try:
                if self._http("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise RuntimeError("chromedriver did not become ready on port %d" % self.port)

    def _http(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                payload = json.loads(res.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read().decode()).get("value", {})
            except ValueError:
                v = {}
            raise WebDriverError(e.code, v.get("error", "http error"), v.get("message", "")) from None
        return payload.get("value")

    def cmd(self, method, path, body=None):
        return self._http(method, "/session/%s%s" % (self.session, path), body)

    def _wrap(self, value):
        if isinstance(value, dict) and ELEMENT_KEY in value:
            return Element(self, value[ELEMENT_KEY])
        if isinstance(value, list):
            return [self._wrap(v) for v in value]
        return value

    # --- commands ------------------------------------------------------------------------------

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def refresh(self):
        self.cmd("POST", "/refresh", {})

    def title(self):
        return self.cmd("GET", "/title")

    def js(self, script, *args):
        args = [a.to_json() if isinstance(a, Element) else a for a in args]
        return self._wrap(self.cmd("POST", "/execute/sync", {"script": script, "args": args}))

    def find(self, css):
        return Element(self, self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT_KEY])

    def find_all(self, css):
        return [Element(self, v[ELEMENT_KEY]) for v in
                self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def set_viewport(self, width, height):
        """Makes the page's viewport (not the window around it) width x height CSS pixels."""
        self.cmd("POST", "/url", {"url": "about:blank"})
        for _ in range(3):
            inner = self.js("return [window.innerWidth, window.innerHeight];")
            if inner == [width, height]:
                return
            rect = self.cmd("GET", "/window/rect")
            self.cmd("POST", "/window/rect", {"width": rect["width"] + width - inner[0],
                                              "height": rect["height"] + height - inner[1]})
        raise RuntimeError("cannot make the viewport %dx%d (it is %dx%d)" % (width, height, inner[0], inner[1]))

    def alert_text(self):
        return self.cmd("GET", "/alert/text")

    def accept_alert(self):
        self.cmd("POST", "/alert/accept", {})

    def dismiss_alert(self):
        self.cmd("POST", "/alert/dismiss", {})

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return path

    def browser_log(self):
        """Console entries since the last call (chromedriver's goog:loggingPrefs), or None."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return None

    def wait(self, what, check, timeout=10, interval=0.05):
        """Polls check() until it returns a true value; raises with `what` on timeout."""
        end = time.time() + timeout
        last = None
        while True:
            try:
                value = check()
                if value:
                    return value
            except WebDriverError as e:
                last = e
            if time.time() > end:
                raise AssertionError("timed out after %ss waiting for %s%s"
                                     % (timeout, what, " (last error: %s)" % last if last else ""))
            time.sleep(interval)

    def quit(self):
        if self.session:
            try:
                self._http("DELETE", "/session/%s" % self.session, timeout=20)
            except Exception:
                pass
            self.session = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
