#!/usr/bin/env python3
"""The browser page (nginx-conf/static/index.html) in a real headless Chromium, against a
running ngx-music (build/browser-test starts one): sign in through Django's login page (a
wrong password first; no password kept in sessionStorage, localStorage or a readable cookie),
add, list, a rejected edit with the API's error next to the field, an edit, a detail error in
the banner, delete (dismissed, then confirmed), reload, a second tab signed in by the same
session, sign out (the session is gone on the server, and the second tab's next action shows
the sign-in form). Prints TAP; exits 0 only if every check passed. Screenshots go to --artifacts (01-*.png ... and failure.png).

usage: music_page.py --base http://127.0.0.1:PORT --artifacts DIR [--seed]
env:   MUSIC_USER (admin), MUSIC_PASSWORD (admin1234): the API account (never on a command line)
"""

import argparse
import base64
import json
import os
import re
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in t/browser/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Chrome  # noqa: E402

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$")
BLANK = "This field may not be blank."
# Django's AuthenticationForm message for a wrong password
WRONG = "Please enter a correct username and password. Note that both fields may be case-sensitive."


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, got=None):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, what), flush=True)
        if not cond:
            self.failed += 1
            if got is not None:
                print("#   got: %r" % (got,), flush=True)
            raise AssertionError(what)

    def eq(self, got, want, what):
        if got != want:
            self.n += 1
            self.failed += 1
            print("not ok %d - %s" % (self.n, what), flush=True)
            print("#   got:  %r\n#   want: %r" % (got, want), flush=True)
            raise AssertionError(what)
        self.ok(True, what)


class Api:
    """Direct calls to the API, to set things up and to check what the page did."""

    def __init__(self, base, user, password):
        self.base = base.rstrip("/") + "/api/"
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    def call(self, method, path, body=None, session=None):
        """With session: that sessionid cookie instead of the Basic credentials."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if session is None:
            headers["Authorization"] = self.auth
        else:
            headers["Cookie"] = "sessionid=" + session
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                raw = res.read()
                return res.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT (nginx serving /static and /api)")
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--seed", action="store_true", help="add a few sample songs first (a throwaway database)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    opt = ap.parse_args()

    user = os.environ.get("MUSIC_USER", "admin")
    password = os.environ.get("MUSIC_PASSWORD", "admin1234")
    base = opt.base.rstrip("/")
    os.makedirs(opt.artifacts, exist_ok=True)
    shot = lambda name: browser.screenshot(os.path.join(opt.artifacts, name))  # noqa: E731

    api = Api(base, user, password)
    t = Tap()
    created_ids = []

    status, _ = api.call("GET", "musics/")
    if status != 200:
        print("Bail out! the API at %s/api/musics/ answered %s to the test account" % (base, status))
        return 1
    seeds = []
    if opt.seed:
        for song, singer in [("Bohemian Rhapsody", "Queen"), ("Déjà vu", "Olivia Rodrigo"),
                             ("Shape of You", "Ed Sheeran")]:
            st, item = api.call("POST", "musics/", {"song": song, "singer": singer})
            assert st == 201, (st, item)
            seeds.append(item)
            created_ids.append(item["id"])

    browser = Chrome(opt.chromium, opt.chromedriver, 1280, 800, log_dir=opt.artifacts)
    try:
        b = browser
        print("# %s %s" % (b.capabilities.get("browserName"), b.capabilities.get("browserVersion")), flush=True)

        def visible(css):
            return b.js("var e=document.querySelector(arguments[0]);"
                        "return !!e && !e.closest('[hidden]') && e.getClientRects().length>0;", css)

        def text_of(css):
            return b.js("var e=document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", css)

        def by_label(label):
            el = b.js("""
                var want = arguments[0];
                var ls = Array.prototype.filter.call(document.querySelectorAll('label'),
                    function (l) { return l.textContent.trim() === want && !l.closest('[hidden]'); });
                return ls.length === 1 ? ls[0].control : null;""", label)
            t.ok(el is not None, "one visible control labelled %r" % label)
            t.eq(el.accessible_name(), label, "its accessible name is %r" % label)
            return el

        def button(name):
            """The visible button whose accessible name (computed by Chromium) is `name`."""
            for el in b.find_all("button"):
                if el.displayed() and el.accessible_name() == name:
                    return el
            raise AssertionError("no visible button named %r" % name)

        def row(song_id):
            return "#songs-body tr[data-id='%d']" % song_id

        def row_cells(song_id):
            return b.js("""var tr=document.querySelector(arguments[0]); if(!tr) return null;
                return Array.prototype.map.call(tr.cells, function(c){return c.textContent.trim();});""",
                        row(song_id))

        def storage():
            """Every key and value of this tab's sessionStorage and localStorage."""
            return b.js("""var out = [];
                [sessionStorage, localStorage].forEach(function (s) {
                    for (var i = 0; i < s.length; i++) out.push(s.key(i) + '=' + s.getItem(s.key(i)));
                });
                return out;""")

        def session_cookie():
            """The HttpOnly sessionid cookie, as WebDriver sees it (the page cannot)."""
            try:
                return b.cmd("GET", "/cookie/sessionid")["value"]
            except Exception:  # noqa: BLE001
                return None

        def type_into(el, text):
            el.clear()
            if text:
                el.type(text)

        # --- the page loads, at 1280x800 -----------------------------------------------------
        b.get(base + "/static/")
        b.wait("the sign-in form", lambda: visible("#signin-form"))
        t.eq(b.title(), "Music", "GET /static/ serves the page (title Music)")
        size = b.js("return [window.innerWidth, window.innerHeight];")
        t.eq(size, [1280, 800], "the viewport is 1280x800")
        t.ok(not visible("#app"), "the song list is hidden before signing in")
        t.eq(b.js("return document.activeElement.id;"), "signin-username", "focus starts on Username")

        # --- a wrong password shows the API's words -------------------------------------------
        u = by_label("Username")
        p = by_label("Password")
        t.eq(p.attr("type"), "password", "the password input is type=password")
        type_into(u, user)
        type_into(p, password + "-wrong")
        button("Sign in").click()
        b.wait("the sign-in error", lambda: visible("#signin-error") and text_of("#signin-error"))
        t.eq(text_of("#signin-error"), WRONG, "a wrong password shows Django's login message")
        t.ok(not visible("#app"), "still signed out")
        t.eq(storage(), [], "nothing stored after a failed sign-in")
        t.eq(p.prop("value"), "", "the password field is emptied")
        t.eq(session_cookie(), None, "no session cookie")
        shot("01-signin-error.png")

        # --- sign in ---------------------------------------------------------------------------
        type_into(p, password)
        button("Sign in").click()
        b.wait("the song list", lambda: visible("#app"))
        t.ok(not visible("#signin"), "the sign-in form is gone")
        t.eq(text_of("#who-name"), user, "the header names the user")
        stored = storage()
        t.ok(not [kv for kv in stored if password in kv], "no password in sessionStorage or localStorage", stored)
        basic_token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        t.ok(not [kv for kv in stored if basic_token in kv], "nor the Basic token", stored)
        t.eq(p.prop("value"), "", "the password field is emptied")
        readable = b.js("return document.cookie;")
        t.ok(re.match(r"^csrftoken=[A-Za-z0-9]{64}$", readable), "the page can read only the csrftoken cookie", readable)
        sid = session_cookie()
        t.ok(sid and re.match(r"^[a-z0-9]{32}$", sid), "Django's HttpOnly sessionid cookie is set", sid)
        t.eq(api.call("GET", "musics/", session=sid)[0], 200, "the API accepts that session")
        _, listing = api.call("GET", "musics/")
        b.wait("the rows", lambda: b.js("return document.querySelectorAll('#songs-body tr').length;") == len(listing))
        t.ok(True, "the table lists all %d songs of GET /api/musics/" % len(listing))
        heads = b.js("return Array.prototype.map.call(document.querySelectorAll('#songs thead th'),"
                     "function(th){return th.textContent.trim();});")
        t.eq(heads, ["ID", "Song", "Singer", "Created", "Days since created", "Actions"], "table columns")
        for item in seeds:
            t.eq(row_cells(item["id"])[:5],
                 [str(item["id"]), item["song"], item["singer"], item["created"], str(item["days_since_created"])],
                 "seed %d shown as the API gives it" % item["id"])

        # --- add: blank fields first (both errors next to their fields), then a real one ------
        song_in = by_label("Song")
        singer_in = by_label("Singer")
        button("Add song").click()
        b.wait("the field errors", lambda: visible("#song-error") and visible("#singer-error"))
        t.eq(text_of("#song-error"), BLANK, "blank song: the API's error next to Song")
        t.eq(text_of("#singer-error"), BLANK, "blank singer: the API's error next to Singer")
        t.eq(song_in.attr("aria-invalid"), "true", "Song is marked aria-invalid")
        t.ok(BLANK in b.js("var i=document.getElementById('song-input');"
                           "return document.getElementById(i.getAttribute('aria-describedby')).textContent;"),
             "the error is the input's description (aria-describedby)")
        t.ok(not visible("#banner"), "no banner for field errors")

        ids_before = set(b.js("return Array.prototype.map.call(document.querySelectorAll('#songs-body tr'),"
                              "function(tr){return Number(tr.dataset.id);});"))
        song, singer = "Viva la Vida", "Coldplay"
        type_into(song_in, song)
        type_into(singer_in, "  %s  " % singer)
        button("Add song").click()
        new_rows = lambda: [i for i in b.js(  # noqa: E731
            "return Array.prototype.map.call(document.querySelectorAll('#songs-body tr'),"
            "function(tr){return Number(tr.dataset.id);});") if i not in ids_before]
        b.wait("the new row", new_rows)
        added = new_rows()
        t.eq(len(added), 1, "one new row in the list")
        new_id = added[0]
        created_ids.append(new_id)
        st, item = api.call("GET", "musics/%d/" % new_id)
        t.eq(st, 200, "the song exists in the API (id %d)" % new_id)
        t.eq((item["song"], item["singer"]), (song, singer), "stored as typed (the API trims)")
        cells = row_cells(new_id)
        t.eq(cells[:5], [str(new_id), song, singer, item["created"], str(item["days_since_created"])],
             "row: id, song, singer, created, days_since_created as the API gives them")
        t.ok(ISO.match(cells[3]), "created is shown as the API's ISO 8601 text", cells[3])
        b.wait("the status message", lambda: text_of("#status") == "Song %d added." % new_id)
        t.ok(True, "status says the song was added")
        t.eq(song_in.prop("value"), "", "the form is cleared after adding")
        shot("02-listed.png")

        # --- edit: blank song is refused with the error next to the field ---------------------
        button("Edit \u201c%s\u201d (id %d)" % (song, new_id)).click()
        b.wait("edit mode", lambda: text_of("#editor-title") == "Edit song %d" % new_id)
        t.eq(song_in.prop("value"), song, "the form holds the song")
        t.eq(singer_in.prop("value"), singer, "and the singer")
        t.ok("editing" in (b.js("return document.querySelector(arguments[0]).className;", row(new_id)) or ""),
             "the row being edited is highlighted")
        type_into(song_in, "   ")
        button("Save changes").click()
        b.wait("the song error", lambda: visible("#song-error"))
        t.eq(text_of("#song-error"), BLANK, "invalid edit: 'This field may not be blank.' next to Song")
        t.ok(not visible("#singer-error"), "no error next to Singer")
        t.eq(b.js("return document.activeElement.id;"), "song-input", "focus moves to the invalid field")
        t.eq(api.call("GET", "musics/%d/" % new_id)[1]["song"], song, "the API kept the old song")
        t.eq(text_of("#editor-title"), "Edit song %d" % new_id, "still editing")
        shot("03-field-error.png")

        # --- edit for real, with markup in the data: shown as text, never parsed -------------
        edited = "Viva la Vida <img src=x onerror=\"window.__xss=1\"> & 'live'"
        edited_singer = "Coldplay <b>UK</b>"
        type_into(song_in, edited)
        type_into(singer_in, edited_singer)
        button("Save changes").click()
        b.wait("the edited row", lambda: (row_cells(new_id) or [None, None])[1] == edited)
        t.ok(True, "the row shows the edited song")
        t.eq(row_cells(new_id)[2], edited_singer, "and the edited singer")
        t.eq(b.js("return document.querySelectorAll('#songs-body img, #songs-body b').length;"), 0,
             "markup in the data is shown as text, never parsed")
        time.sleep(0.2)
        t.eq(b.js("return window.__xss === undefined;"), True, "no script ran from the data")
        t.ok(not visible("#song-error"), "the field error is gone")
        t.eq(text_of("#editor-title"), "Add a song", "the form is back to adding")
        b.wait("the status message", lambda: text_of("#status") == "Song %d saved." % new_id)
        t.ok(True, "status says the song was saved")
        st, item = api.call("GET", "musics/%d/" % new_id)
        t.eq((item["song"], item["singer"]), (edited, edited_singer), "the API has the edit (PUT)")
        shot("04-edited.png")

        # --- an error that belongs to no field goes to the banner -----------------------------
        if seeds:
            gone = seeds[0]
            button("Edit \u201c%s\u201d (id %d)" % (gone["song"], gone["id"])).click()
            b.wait("edit mode", lambda: text_of("#editor-title") == "Edit song %d" % gone["id"])
            t.eq(api.call("DELETE", "musics/%d/" % gone["id"])[0], 204, "song %d deleted behind the page's back" % gone["id"])
            button("Save changes").click()
            b.wait("the banner", lambda: visible("#banner"))
            t.eq(text_of("#banner"), "Not found.", "a 404 detail shows in the banner")
            t.eq(b.js("return document.getElementById('banner').getAttribute('role');"), "alert", "the banner is an alert")
            b.wait("the list reloaded", lambda: row_cells(gone["id"]) is None)
            t.ok(True, "the list was reloaded without it")
            t.eq(text_of("#editor-title"), "Add a song", "the form is back to adding")
            shot("05-banner.png")

        # --- delete: dismissed, then confirmed --------------------------------------------------
        delete = button("Delete \u201c%s\u201d (id %d)" % (edited, new_id))
        delete.click()
        question = b.wait("the confirm dialog", b.alert_text)
        t.ok(question.startswith("Delete song %d" % new_id) and edited in question, "delete asks first", question)
        b.dismiss_alert()
        time.sleep(0.3)
        t.ok(row_cells(new_id) is not None, "Cancel keeps the song")
        t.eq(api.call("GET", "musics/%d/" % new_id)[0], 200, "and the API still has it")
        button("Delete \u201c%s\u201d (id %d)" % (edited, new_id)).click()
        b.wait("the confirm dialog", b.alert_text)
        b.accept_alert()
        b.wait("the row to go", lambda: row_cells(new_id) is None)
        t.ok(True, "OK deletes it from the list")
        b.wait("the status message", lambda: text_of("#status") == "Song %d deleted." % new_id)
        t.ok(True, "status says the song was deleted")
        t.eq(api.call("GET", "musics/%d/" % new_id)[0], 404, "the API answers 404 for it now")
        t.eq(b.js("return document.activeElement.id;"), "list-title", "focus stays in the list")
        t.ok(not visible("#banner"), "no error banner")
        layout = b.js("return [document.documentElement.scrollWidth, window.innerWidth];")
        t.ok(layout[0] <= layout[1], "no horizontal scrolling at 1280x800", layout)
        shot("06-deleted.png")

        # --- reload keeps the session; a second tab shares it; sign out ends it everywhere ----
        b.refresh()
        b.wait("the list after reload", lambda: visible("#app"))
        t.ok(not visible("#signin"), "a reload keeps the tab signed in")
        first_tab = b.cmd("GET", "/window")
        second_tab = b.cmd("POST", "/window/new", {"type": "tab"})["handle"]
        b.cmd("POST", "/window", {"handle": second_tab})
        b.get(base + "/static/")
        b.wait("the list in the second tab", lambda: visible("#app"))
        t.ok(not visible("#signin"), "a second tab is signed in by the same session")
        t.eq(text_of("#who-name"), user, "and names the user")
        b.cmd("POST", "/window", {"handle": first_tab})
        button("Sign out").click()
        b.wait("the sign-in form", lambda: visible("#signin-form"))
        t.eq(storage(), [], "sign out leaves nothing in sessionStorage or localStorage")
        t.eq(b.js("return document.querySelectorAll('#songs-body tr').length;"), 0, "and empties the table")
        t.eq(session_cookie(), None, "the sessionid cookie is gone")
        t.eq(api.call("GET", "musics/", session=sid)[0], 403, "the session is gone on the server (403 with the old cookie)")
        shot("07-signed-out.png")
        b.cmd("POST", "/window", {"handle": second_tab})
        t.ok(visible("#app"), "the second tab still shows the list until it does something")
        button("Reload").click()
        b.wait("the sign-in form in the second tab", lambda: visible("#signin-form"))
        t.ok(not visible("#app"), "its next action (Reload) shows the sign-in form: it saw the sign out")
        t.eq(b.js("return document.querySelectorAll('#songs-body tr').length;"), 0, "and no songs")
        b.cmd("DELETE", "/window")
        b.cmd("POST", "/window", {"handle": first_tab})
        b.refresh()
        b.wait("the sign-in form", lambda: visible("#signin-form"))
        t.ok(not visible("#app"), "after sign out a reload asks to sign in")

        # --- the console: no script error, no CSP violation (HTTP 4xx of the API are expected)
        log = b.browser_log()
        if log is None:
            print("# (this chromedriver gives no console log)")
        else:
            bad = [e for e in log if e.get("level") == "SEVERE" and "Failed to load resource" not in e.get("message", "")]
            t.ok(not bad, "no console errors", bad)
    except Exception as e:  # noqa: BLE001
        print("# FAILED: %s" % e)
        traceback.print_exc(file=sys.stdout)
        try:
            print("# screenshot: %s" % shot("failure.png"))
            with open(os.path.join(opt.artifacts, "failure.html"), "w") as f:
                f.write(browser.js("return document.documentElement.outerHTML;"))
        except Exception as e2:  # noqa: BLE001
            print("# (no failure screenshot: %s)" % e2)
        t.failed = t.failed or 1
    finally:
        browser.quit()
        for i in created_ids:
            api.call("DELETE", "musics/%d/" % i)
    print("1..%d" % t.n)
    print("# %d passed, %d failed" % (t.n - t.failed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
