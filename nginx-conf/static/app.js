// ngx-music browser page: sign in, list, add, edit and delete songs through the Music API.
// Plain JavaScript, no build step, no dependency. Every text that comes from the API or the
// user is put in the page with textContent / createElement (never innerHTML), so a song
// called "<img onerror=…>" is shown as those characters.
'use strict';

(function () {
  var API = (document.querySelector('meta[name="music-api"]') || {}).content || '/api/';
  if (API.charAt(API.length - 1) !== '/') API += '/';
  var STORE_KEY = 'ngx-music.auth';
  var FIELDS = ['song', 'singer'];

  // state: who is signed in, and which song the form edits (null: the form adds one)
  var auth = null;      // {user: "admin", token: "<base64 of user:password>"}
  var editing = null;   // the song object being edited
  var songs = [];

  function $(id) { return document.getElementById(id); }

  // --- credentials ---------------------------------------------------------------------------

  // base64 of the UTF-8 bytes of "user:password" (btoa alone only takes Latin-1)
  function basicToken(user, password) {
    var bytes = new TextEncoder().encode(user + ':' + password);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  // Kept for this tab only (sessionStorage: gone when the tab closes), never in a cookie.
  function saveAuth(a) {
    auth = a;
    try {
      if (a) sessionStorage.setItem(STORE_KEY, JSON.stringify(a));
      else sessionStorage.removeItem(STORE_KEY);
    } catch (e) { /* storage disabled: keep it in memory only */ }
  }

  function loadAuth() {
    try {
      var a = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
      if (a && typeof a.user === 'string' && typeof a.token === 'string') return a;
    } catch (e) { /* ignore */ }
    return null;
  }

  // --- the API -------------------------------------------------------------------------------

  // Resolves to {status, data}; data is the parsed JSON body, null for an empty one, or
  // {detail: "..."} for a body that is not JSON (an nginx error page, say). Rejects only when
  // the request could not be made at all (network).
  function api(method, path, body, token) {
    var headers = { 'Accept': 'application/json' };
    var t = token || (auth && auth.token);
    if (t) headers['Authorization'] = 'Basic ' + t;
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) {
            data = { detail: 'HTTP ' + res.status + ' ' + res.statusText + ' (the answer was not JSON)' };
          }
        }
        if (!res.ok && (data === null || typeof data !== 'object')) {
          data = { detail: 'HTTP ' + res.status + ' ' + res.statusText };
        }
        return { status: res.status, data: data };
      });
    });
  }

  function networkError(err) {
    return 'Cannot reach the Music API at ' + API + ' (' + (err && err.message ? err.message : err) + ').';
  }

  // --- messages ------------------------------------------------------------------------------

  function asList(v) {
    if (Array.isArray(v)) return v.map(String);
    if (v === null || v === undefined) return [];
    if (typeof v === 'object') return [JSON.stringify(v)];
    return [String(v)];
  }

  function showBanner(lines) {
    var b = $('banner');
    b.replaceChildren();
    lines.forEach(function (line) {
      var p = document.createElement('p');
      p.textContent = line;
      b.appendChild(p);
    });
    b.hidden = lines.length === 0;
  }

  function clearBanner() { showBanner([]); }

  function say(text) {
    var s = $('status');
    // a change of text is announced; clear first so the same message twice is announced twice
    s.textContent = '';
    window.setTimeout(function () { s.textContent = text; }, 30);
  }

  function setFieldError(field, messages) {
    var input = $(field + '-input');
    var out = $(field + '-error');
    out.textContent = messages.join(' ');
    out.hidden = messages.length === 0;
    if (messages.length) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function clearFieldErrors() { FIELDS.forEach(function (f) { setFieldError(f, []); }); }

  // Puts a DRF error body where it belongs: {"song":[...],"singer":[...]} next to the inputs,
  // everything else ("detail", "non_field_errors", unknown keys, a bare list) in the banner.
  function showErrors(data) {
    var banner = [];
    var firstInvalid = null;
    if (data && typeof data === 'object' && !Array.isArray(data)) {
      Object.keys(data).forEach(function (key) {
        if (FIELDS.indexOf(key) >= 0) {
          setFieldError(key, asList(data[key]));
          if (!firstInvalid) firstInvalid = $(key + '-input');
        } else if (key === 'detail' || key === 'non_field_errors') {
          banner = banner.concat(asList(data[key]));
        } else {
          banner = banner.concat(asList(data[key]).map(function (m) { return key + ': ' + m; }));
        }
      });
    } else {
      banner = asList(data);
    }
    showBanner(banner);
    if (firstInvalid) firstInvalid.focus();
  }

  // --- views ---------------------------------------------------------------------------------

  function showSignin(message) {
    $('app').hidden = true;
    $('who').hidden = true;
    $('signin').hidden = false;
    var err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('signin-password').value = '';
    $('signin-username').focus();
  }

  function showApp() {
    $('signin').hidden = true;
    $('signin-error').hidden = true;
    $('who-name').textContent = auth.user;
    $('who').hidden = false;
    $('app').hidden = false;
  }

  function cell(text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function button(label, accessibleName, className, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.setAttribute('aria-label', accessibleName);
    b.className = className;
    b.addEventListener('click', onClick);
    return b;
  }

  function render() {
    var body = $('songs-body');
    var rows = songs.map(function (m) {
      var tr = document.createElement('tr');
      tr.dataset.id = String(m.id);
      if (editing && editing.id === m.id) tr.className = 'editing';
      tr.appendChild(cell(String(m.id), 'num'));
      tr.appendChild(cell(m.song, 'song'));
      tr.appendChild(cell(m.singer, 'singer'));
      var created = document.createElement('td');
      created.className = 'created';
      var time = document.createElement('time');
      time.dateTime = String(m.created);
      time.textContent = String(m.created);       // as the API gives it (its time zone)
      created.appendChild(time);
      tr.appendChild(created);
      tr.appendChild(cell(String(m.days_since_created), 'num days'));
      var actions = document.createElement('td');
      actions.className = 'row-actions';
      var what = '\u201c' + m.song + '\u201d (id ' + m.id + ')';
      actions.appendChild(button('Edit', 'Edit ' + what, 'secondary small edit', function () { startEdit(m); }));
      actions.appendChild(button('Delete', 'Delete ' + what, 'danger small delete', function () { remove(m); }));
      tr.appendChild(actions);
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    $('count').textContent = '(' + songs.length + ')';
    $('empty').hidden = songs.length !== 0;
    $('songs').hidden = songs.length === 0;
  }

  function setBusy(form, busy) {
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    Array.prototype.forEach.call(form.querySelectorAll('button'), function (b) { b.disabled = busy; });
  }

  // --- actions -------------------------------------------------------------------------------

  // Any 403 once signed in (password changed, user deactivated): back to the sign-in form.
  function handleAuthLoss(res) {
    if (res.status === 403 || res.status === 401) {
      saveAuth(null);
      resetForm();
      songs = [];
      render();
      clearBanner();
      showSignin((res.data && res.data.detail) || 'Please sign in again.');
      return true;
    }
    return false;
  }

  function loadSongs() {
    return api('GET', 'musics/').then(function (res) {
      if (handleAuthLoss(res)) return;
      if (res.status !== 200 || !Array.isArray(res.data)) { showErrors(res.data); return; }
      songs = res.data;
      render();
    }, function (err) { showBanner([networkError(err)]); });
  }

  function signIn(ev) {
    ev.preventDefault();
    var form = $('signin-form');
    var user = $('signin-username').value;
    var token = basicToken(user, $('signin-password').value);
    setBusy(form, true);
    api('GET', 'musics/', undefined, token).then(function (res) {
      setBusy(form, false);
      if (res.status === 200 && Array.isArray(res.data)) {
        saveAuth({ user: user, token: token });
        $('signin-password').value = '';
        clearBanner();
        showApp();
        songs = res.data;
        render();
        $('song-input').focus();
        say('Signed in as ' + user + '.');
      } else {
        // the API's own words: "Invalid username/password.", ...
        var msg = (res.data && res.data.detail) || asList(res.data).join(' ') || ('HTTP ' + res.status);
        var err = $('signin-error');
        err.textContent = msg;
        err.hidden = false;
        $('signin-password').select();
      }
    }, function (err) {
      setBusy(form, false);
      var e = $('signin-error');
      e.textContent = networkError(err);
      e.hidden = false;
    });
  }

  function signOut() {
    saveAuth(null);
    songs = [];
    resetForm();
    render();
    clearBanner();
    showSignin('');
    say('Signed out.');
  }

  function resetForm() {
    editing = null;
    $('song-form').reset();
    clearFieldErrors();
    $('editor-title').textContent = 'Add a song';
    $('song-submit').textContent = 'Add song';
    $('song-cancel').hidden = true;
    Array.prototype.forEach.call(document.querySelectorAll('#songs-body tr.editing'),
      function (tr) { tr.classList.remove('editing'); });
  }

  function startEdit(m) {
    resetForm();
    clearBanner();
    $('status').textContent = '';
    editing = m;
    $('song-input').value = m.song;
    $('singer-input').value = m.singer;
    $('editor-title').textContent = 'Edit song ' + m.id;
    $('song-submit').textContent = 'Save changes';
    $('song-cancel').hidden = false;
    var tr = document.querySelector('#songs-body tr[data-id="' + Number(m.id) + '"]');
    if (tr) tr.classList.add('editing');
    $('song-input').focus();
  }

  function submitSong(ev) {
    ev.preventDefault();
    var form = $('song-form');
    var payload = { song: $('song-input').value, singer: $('singer-input').value };
    var target = editing;
    var req = target
      ? api('PUT', 'musics/' + encodeURIComponent(target.id) + '/', payload)
      : api('POST', 'musics/', payload);
    clearFieldErrors();
    clearBanner();
    setBusy(form, true);
    req.then(function (res) {
      setBusy(form, false);
      if (handleAuthLoss(res)) return;
      if ((res.status === 201 || res.status === 200) && res.data && res.data.id !== undefined) {
        resetForm();
        say(target ? 'Song ' + res.data.id + ' saved.' : 'Song ' + res.data.id + ' added.');
        return loadSongs().then(function () { $('song-input').focus(); });
      }
      showErrors(res.data);
      if (res.status === 404) { resetForm(); return loadSongs(); }
    }, function (err) {
      setBusy(form, false);
      showBanner([networkError(err)]);
    });
  }

  function remove(m) {
    var question = 'Delete song ' + m.id + ', \u201c' + m.song + '\u201d by ' + m.singer + '?';
    if (!window.confirm(question)) return;
    clearBanner();
    api('DELETE', 'musics/' + encodeURIComponent(m.id) + '/').then(function (res) {
      if (handleAuthLoss(res)) return;
      if (res.status === 204) {
        if (editing && editing.id === m.id) resetForm();
        say('Song ' + m.id + ' deleted.');
        $('list-title').focus();   // its Delete button is about to go: keep focus in the list
      } else {
        showErrors(res.data);
      }
      return loadSongs();
    }, function (err) { showBanner([networkError(err)]); });
  }

  // --- start ---------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', function () {
    $('signin-form').addEventListener('submit', signIn);
    $('song-form').addEventListener('submit', submitSong);
    $('song-cancel').addEventListener('click', function () { resetForm(); clearBanner(); $('song-input').focus(); });
    $('sign-out').addEventListener('click', signOut);
    $('reload').addEventListener('click', function () { clearBanner(); loadSongs(); });
    document.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' && editing) { resetForm(); clearBanner(); }
    });

    var saved = loadAuth();
    if (saved) {
      auth = saved;
      showApp();
      loadSongs();
    } else {
      showSignin('');
    }
  });
})();
