// ngx-music browser page: sign in, list, add, edit and delete songs through the Music API.
// Signing in is Django's: the login page (/api-auth/login/) sets an HttpOnly session cookie,
// which the browser sends with every API call; the page never keeps the password (only the
// form field holds it until the submit), and sends the csrftoken cookie back as X-CSRFToken
// on writes, as Django's CSRF check wants. Plain JavaScript, no build step, no dependency. Every text that comes from the API or the
// user is put in the page with textContent / createElement (never innerHTML), so a song
// called "<img onerror=…>" is shown as those characters.
'use strict';

(function () {
  var API = (document.querySelector('meta[name="music-api"]') || {}).content || '/api/';
  if (API.charAt(API.length - 1) !== '/') API += '/';
  var AUTH = (document.querySelector('meta[name="music-auth"]') || {}).content || '/api-auth/';
  if (AUTH.charAt(AUTH.length - 1) !== '/') AUTH += '/';
  // the signed-in user's name, to show it (the API does not say whose session it is); shared by
  // the tabs of this site. Never the password.
  var USER_KEY = 'ngx-music.user';
  var FIELDS = ['song', 'singer'];

  // state: who is signed in, and which song the form edits (null: the form adds one)
  var user = null;      // the name shown in the header, null when signed out
  var editing = null;   // the song object being edited
  var songs = [];

  function $(id) { return document.getElementById(id); }

  // --- the session ---------------------------------------------------------------------------

  function setUser(name) {
    user = name;
    try {
      if (name) localStorage.setItem(USER_KEY, name);
      else localStorage.removeItem(USER_KEY);
    } catch (e) { /* storage disabled: the header shows no name after a reload */ }
  }

  function savedUser() {
    try { return localStorage.getItem(USER_KEY); } catch (e) { return null; }
  }

  // Django's CSRF token, from its cookie (not HttpOnly, so that pages can send it back). Read at
  // each write: a login rotates it.
  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : '';
  }

  function form(fields) {
    return Object.keys(fields).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(fields[k]);
    }).join('&');
  }

  // A POST of a form to the login or logout page, with the CSRF token in both places Django
  // looks; follows the redirect.
  function postAuthPage(page, fields) {
    fields.csrfmiddlewaretoken = csrfToken();
    return fetch(AUTH + page, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRFToken': fields.csrfmiddlewaretoken },
      body: form(fields)
    });
  }

  // The first error note of a login page answer (the wrong-password message), as text.
  function loginError(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var note = doc.querySelector('.errornote') || doc.querySelector('p');
    return note ? note.textContent.trim() : '';
  }

  // --- the API -------------------------------------------------------------------------------

  // Resolves to {status, data}; data is the parsed JSON body, null for an empty one, or
  // {detail: "..."} for a body that is not JSON (an nginx error page, say). Rejects only when
  // the request could not be made at all (network).
  function api(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken();
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' };
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
    $('who-name').textContent = user || '';
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

  // Any 403 (signed out in another tab, the session expired, the password changed, the user
  // deactivated): back to the sign-in form.
  function handleAuthLoss(res) {
    if (res.status === 403 || res.status === 401) {
      setUser(null);
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

  function signinFailed(message) {
    var err = $('signin-error');
    err.textContent = message;
    err.hidden = false;
    $('signin-password').value = '';
    $('signin-password').focus();
  }

  // Django's login: GET the login page (it sets the csrftoken cookie), then POST the form to
  // it. Success is its redirect to the song list, which is then shown; a wrong password is
  // the page again with Django's message. The password goes from the field into the request
  // body and the field is emptied: nothing else keeps it.
  function signIn(ev) {
    ev.preventDefault();
    var signinForm = $('signin-form');
    var name = $('signin-username').value;
    setBusy(signinForm, true);
    fetch(AUTH + 'login/', { credentials: 'same-origin', cache: 'no-store' }).then(function () {
      var sent = postAuthPage('login/', {
        username: name, password: $('signin-password').value, next: API + 'musics/'
      });
      $('signin-password').value = '';
      return sent;
    }).then(function (res) {
      return res.text().then(function (text) {
        setBusy(signinForm, false);
        var listed = null;
        if (res.ok && res.redirected && (res.headers.get('Content-Type') || '').indexOf('json') >= 0) {
          try { listed = JSON.parse(text); } catch (e) { listed = null; }
        }
        if (!Array.isArray(listed)) {
          // the page again: Django's "Please enter a correct username and password. ..."
          signinFailed(loginError(text) || ('HTTP ' + res.status + ' ' + res.statusText));
          return;
        }
        setUser(name);
        clearBanner();
        showApp();
        songs = listed;
        render();
        $('song-input').focus();
        say('Signed in as ' + name + '.');
      });
    }).catch(function (err) {
      setBusy(signinForm, false);
      signinFailed(networkError(err));
    });
  }

  // Django's logout: the session row and cookie are deleted, in every tab of this browser.
  function signOut() {
    var done = function () {
      setUser(null);
      songs = [];
      resetForm();
      render();
      clearBanner();
      showSignin('');
      say('Signed out.');
    };
    postAuthPage('logout/', {}).then(done, done);
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

    // Signed in already (this tab before a reload, another tab, Django itself) when the
    // session cookie lets the list in; anything else shows the sign-in form.
    api('GET', 'musics/').then(function (res) {
      if (res.status === 200 && Array.isArray(res.data)) {
        user = savedUser();
        showApp();
        songs = res.data;
        render();
      } else {
        setUser(null);
        showSignin('');
      }
    }, function (err) {
      showSignin('');
      showBanner([networkError(err)]);
    });
  });
})();
