"""cdp — drive Debian's chromium headless through the DevTools protocol.

    with cdp.Browser(artifacts_dir) as b:
        b.goto("http://127.0.0.1:8080/ui/")
        b.wait("document.querySelector('h1') !== null")
        b.screenshot("overview.png")

Chromium starts with a new empty --user-data-dir in a temporary directory and
its own session (process group); close() kills the whole group and removes the
directory, also when the test failed. The protocol goes over one WebSocket
(Debian's python3-websocket); nothing from npm is needed at test time.

Every console error, uncaught exception and Content-Security-Policy violation
of the page is collected in Browser.errors, so a test can assert there were none.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket  # python3-websocket

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                  "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                  "--remote-allow-origins=*", "--window-size=1280,800",
                  # a fresh root may have no /dev/shm of a useful size
                  "--disable-dev-shm-usage"]


def chromium_path():
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(p):
            return p
    raise RuntimeError("chromium is not installed (debian-packages.txt lists it; run scripts/install-deps.sh)")


class Browser:
    def __init__(self, artifacts_dir, timeout=60):
        self.artifacts = artifacts_dir
        os.makedirs(artifacts_dir, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="farm-chromium-")
        self.proc = None
        self.ws = None
        self.next_id = 0
        self.errors = []
        self.dialogs = []
        self.timeout = timeout
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        self.proc = subprocess.Popen([chromium_path()] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + self.timeout
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited with %s:\n%s" % (self.proc.returncode, self._log_tail()))
            if time.time() > deadline:
                raise RuntimeError("chromium did not open its DevTools port:\n" + self._log_tail())
            time.sleep(0.05)
        port = int(open(port_file).read().split()[0])
        targets = []
        while not [t for t in targets if t.get("type") == "page"]:
            targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
            if time.time() > deadline:
                raise RuntimeError("chromium has no page target")
            time.sleep(0.05)
        url = [t for t in targets if t.get("type") == "page"][0]["webSocketDebuggerUrl"]
        self.ws = websocket.create_connection(url, timeout=self.timeout)
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.viewport(1280, 800)

    def _log_tail(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def _event(self, msg):
        m = msg.get("method")
        p = msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: %s %s" % (d.get("text"), (d.get("exception") or {}).get("description")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append("console.error: %s" % [a.get("value", a.get("description")) for a in p.get("args", [])])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append("log: %s %s" % (e.get("text"), e.get("url", "")))
        elif m == "Page.javascriptDialogOpening":
            self.dialogs.append(p.get("message"))

    def send(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._event(msg)

    # -- page ------------------------------------------------------------
    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("evaluating %r: %s" % (expr[:200], r["exceptionDetails"].get("exception", {}).get("description")))
        return r.get("result", {}).get("value")

    def goto(self, url):
        self.send("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'")

    def wait(self, expr, timeout=None, what=None):
        """Polls expr until it is truthy; returns its value. The deadline only
        bounds a failure: nothing is asserted about how fast it came."""
        deadline = time.time() + (timeout or self.timeout)
        problem = ""
        while time.time() < deadline:
            try:
                value = self.eval(expr)
                problem = ""
            except RuntimeError as e:  # not there yet (e.g. null.textContent): keep waiting
                value, problem = None, str(e)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError("waited %ss for %s%s; page shows:\n%s" % (
            timeout or self.timeout, what or expr, " (last: %s)" % problem[:300] if problem else "", self.text()[:3000]))

    def text(self, selector="body"):
        return self.eval("(document.querySelector(%s) || {}).innerText || ''" % json.dumps(selector))

    def click(self, selector):
        ok = self.eval("(() => { const e = document.querySelector(%s); if (!e) return false; e.click(); return true; })()" % json.dumps(selector))
        assert ok, "no element %s to click; page shows:\n%s" % (selector, self.text()[:2000])

    def click_text(self, tag, text):
        """Clicks the first <tag> whose text starts with text."""
        ok = self.eval("(() => { for (const e of document.querySelectorAll(%s)) if (e.textContent.trim().startsWith(%s)) { e.click(); return true; } return false; })()"
                       % (json.dumps(tag), json.dumps(text)))
        assert ok, "no %s reading %r; page shows:\n%s" % (tag, text, self.text()[:2000])

    def fill(self, selector, value):
        ok = self.eval("(() => { const e = document.querySelector(%s); if (!e) return false; e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()"
                       % (json.dumps(selector), json.dumps(value)))
        assert ok, "no element %s to fill" % selector

    def key(self, key, code=None, keycode=None, text=None, shift=False):
        """A real key press through the input pipeline (keyboard use)."""
        base = {"key": key, "code": code or key, "windowsVirtualKeyCode": keycode or 0, "modifiers": 8 if shift else 0}
        self.send("Input.dispatchKeyEvent", type="rawKeyDown" if not text else "keyDown", text=text or "", **base)
        self.send("Input.dispatchKeyEvent", type="keyUp", **base)

    def type_text(self, text):
        self.send("Input.insertText", text=text)

    def viewport(self, width, height, mobile=False):
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    def screenshot(self, name, full=False):
        params = {"format": "png"}
        if full:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        path = os.path.join(self.artifacts, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    # -- lifecycle -------------------------------------------------------
    def close(self):
        try:
            if self.ws is not None:
                self.ws.close()
        except Exception:
            pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
