// kinedge web page: camera grid, per-camera timeline, playback, clip
// download and WHEP live view. Plain JavaScript, no libraries.
//
// Authentication: the page is served to a logged-in session (cookie,
// HttpOnly: this script never sees it) and carries the session's CSRF
// token in <meta name="csrf-token">. The media URLs (<video>, <img>,
// WHEP) carry short-lived tokens minted by GET /v1/streams/{name}/token.
// The page never holds the secret key.
'use strict';

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 5000;
  const MAX_CLIP_PARTS = 10; // links for one clip whose codecs change
  const PLAY_SPAN_MS = 10 * 60 * 1000; // click to play: the next 10 minutes (or to now)

  // ---- HTTP ----

  class HTTPError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // errorText turns a failed response into words: the API's JSON
  // message when there is one.
  async function errorText(resp) {
    let text = '';
    try { text = await resp.text(); } catch (e) { /* body unreadable */ }
    try {
      const j = JSON.parse(text);
      if (j && j.message) return j.message;
    } catch (e) { /* not JSON */ }
    if (resp.status === 401) return 'your session has ended: log in again';
    return `${resp.status} ${resp.statusText}${text ? ': ' + text.slice(0, 200) : ''}`;
  }

  async function api(path, opts = {}) {
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
    if (opts.method && opts.method !== 'GET') headers['X-CSRF-Token'] = csrf;
    let resp;
    try {
      resp = await fetch(path, Object.assign({}, opts, { headers, credentials: 'same-origin' }));
    } catch (e) {
      throw new HTTPError(0, 'the appliance cannot be reached (' + e.message + ')');
    }
    if (!resp.ok) {
      const msg = await errorText(resp);
      if (resp.status === 401) sessionEnded();
      throw new HTTPError(resp.status, msg);
    }
    return resp;
  }

  async function getJSON(path) { return (await api(path)).json(); }

  function sessionEnded() {
    setStatus('Your session has ended. Reload the page to log in again.', true);
  }

  function setStatus(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', !!bad);
  }

  function showError(el, err) {
    if (!err) { el.hidden = true; el.textContent = ''; return; }
    el.hidden = false;
    el.textContent = err.message || String(err);
  }

  const enc = encodeURIComponent;
  const iso = (ms) => new Date(ms).toISOString();

  // mintToken asks for a media token of stream for [startMs, endMs]
  // (both undefined: live view).
  async function mintToken(stream, startMs, endMs) {
    let q = '';
    if (startMs !== undefined) q = `?start=${enc(iso(startMs))}&end=${enc(iso(endMs))}`;
    return getJSON(`/v1/streams/${enc(stream)}/token${q}`);
  }

  function mediaURL(stream, startMs, endMs, token) {
    return `/v1/streams/${enc(stream)}/media?start=${enc(iso(startMs))}&end=${enc(iso(endMs))}&format=mp4&token=${enc(token)}`;
  }

  function imageURL(stream, atMs, width, token) {
    return `/v1/streams/${enc(stream)}/image?at=${enc(iso(atMs))}&width=${width}&token=${enc(token)}`;
  }

  // ---- words ----

  function fmtTime(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
  }

  function fmtAgo(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 60) return `${Math.max(s, 0)} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function fmtBitrate(bps) {
    if (!bps) return '—';
    if (bps >= 1e6) return (bps / 1e6).toFixed(1) + ' Mbit/s';
    return Math.round(bps / 1e3) + ' kbit/s';
  }

  function fmtDuration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  // stateWords describes a stream's source state.
  function stateWords(st) {
    switch (st.state) {
      case 'pushing': return `Online: pushed${st.session && st.session.remote ? ' from ' + st.session.remote : ''}`;
      case 'pulling': return 'Online: pulled from the camera';
      case 'retrying': {
        const err = st.pull && st.pull.last_error;
        return `Retrying: ${err || 'waiting for the next attempt'}`;
      }
      case 'idle': return 'Offline: no camera is sending';
      default: return st.state || 'unknown';
    }
  }

  // ---- grid ----

  const cards = new Map(); // stream name → {li, img, fragment}

  async function refreshGrid() {
    let list;
    try {
      list = await getJSON('/v1/streams');
    } catch (err) {
      showError($('grid-error'), err);
      return;
    }
    showError($('grid-error'), null);
    const streams = list.streams || [];
    $('grid-empty').hidden = streams.length > 0;
    const seen = new Set();
    for (const st of streams) {
      seen.add(st.name);
      let c = cards.get(st.name);
      if (!c) {
        c = newCard(st.name);
        cards.set(st.name, c);
        $('grid').appendChild(c.li);
      }
      fillCard(c, st);
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) { c.li.remove(); cards.delete(name); }
    }
    setStatus(`${streams.length} camera${streams.length === 1 ? '' : 's'} · updated ${new Date().toLocaleTimeString()}`);
  }

  function newCard(name) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.className = 'card';
    a.href = `#/cam/${enc(name)}`;
    const img = document.createElement('img');
    img.className = 'thumb';
    img.alt = `Latest picture of ${name}`;
    img.hidden = true;
    const noimg = document.createElement('div');
    noimg.className = 'noimg';
    noimg.textContent = 'no picture yet';
    const body = document.createElement('div');
    body.className = 'body';
    const h = document.createElement('h2');
    h.textContent = name;
    const dl = document.createElement('dl');
    body.append(h, dl);
    a.append(img, noimg, body);
    li.appendChild(a);
    img.addEventListener('load', () => { img.hidden = false; noimg.hidden = true; });
    img.addEventListener('error', () => { img.hidden = true; noimg.hidden = false; noimg.textContent = 'picture unavailable'; });
    return { li, img, noimg, dl, fragment: null, thumbAt: 0 };
  }

  function fillCard(c, st) {
    const lf = st.last_fragment;
    const rows = [
      ['State', stateWords(st), 'state-' + st.state],
      ['Bitrate', lf ? fmtBitrate(lf.bitrate_bps) : '—'],
      ['Codecs', lf ? lf.codecs.join(', ') + (lf.width ? ` ${lf.width}×${lf.height}` : '') + (lf.fps ? ` ${lf.fps} fps` : '') : '—'],
      ['Last fragment', lf ? `${fmtTime(Date.parse(lf.server_timestamp))} (${fmtAgo(Date.parse(lf.server_timestamp))})` : 'none recorded'],
    ];
    if (st.session && st.session.skipped_tracks && st.session.skipped_tracks.length) {
      rows.push(['Not recorded', st.session.skipped_tracks.join('; ')]);
    }
    c.dl.replaceChildren();
    for (const [k, v, cls] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      if (cls) dd.className = cls;
      c.dl.append(dt, dd);
    }
    // The thumbnail follows the newest fragment, at most every 10 s.
    if (lf && lf.fragment_number !== c.fragment && Date.now() - c.thumbAt > 10000) {
      c.fragment = lf.fragment_number;
      c.thumbAt = Date.now();
      const start = Date.parse(lf.server_timestamp);
      const end = start + Math.max(lf.duration_ms, 1);
      const at = start + Math.min(Math.floor(lf.duration_ms / 2), 500);
      mintToken(st.name, start, end)
        .then((t) => { c.img.src = imageURL(st.name, at, 320, t.token); })
        .catch((err) => { c.noimg.hidden = false; c.noimg.textContent = 'picture unavailable: ' + err.message; });
    }
  }

  // ---- camera view ----

  const view = {
    name: null,
    windowMs: 3600 * 1000,
    endMs: null, // null: the window ends now
    cursorMs: 0,
    timeline: null, // the last /timeline answer, times as ms
    hoverToken: null, // a token for the window (thumbnails on hover)
    selection: null, // [startMs, endMs]
    drag: null,
    pointerInside: false,
    playStartMs: null,
  };

  function windowRange() {
    const end = view.endMs === null ? Date.now() : view.endMs;
    return [end - view.windowMs, end];
  }

  function xToMs(clientX) {
    const r = $('timeline').getBoundingClientRect();
    const [s, e] = windowRange();
    const f = Math.min(Math.max((clientX - r.left) / r.width, 0), 1);
    return s + f * (e - s);
  }

  function pct(ms) {
    const [s, e] = windowRange();
    return ((ms - s) / (e - s)) * 100;
  }

  async function loadTimeline() {
    if (!view.name) return;
    const name = view.name;
    const [s, e] = windowRange();
    const width = Math.max($('timeline').clientWidth, 100);
    const stepS = Math.max(1, Math.ceil((e - s) / 1000 / width));
    try {
      const tl = await getJSON(`/v1/streams/${enc(name)}/timeline?start=${enc(iso(s))}&end=${enc(iso(e))}&step=${stepS}s`);
      if (view.name !== name) return;
      view.timeline = {
        start: s, end: e,
        ranges: tl.ranges.map((r) => [Date.parse(r.start), Date.parse(r.end)]),
        gaps: tl.gaps.map((r) => [Date.parse(r.start), Date.parse(r.end)]),
        archived: (tl.archived || []).map((r) => [Date.parse(r.start), Date.parse(r.end)]),
        archiveError: tl.archive_error || '',
        recordedMs: tl.recorded_ms,
      };
      view.hoverToken = (await mintToken(name, s, e)).token;
      showError($('cam-error'), null);
    } catch (err) {
      showError($('cam-error'), new Error('Timeline: ' + err.message));
      return;
    }
    drawTimeline();
  }

  function drawTimeline() {
    const tl = view.timeline;
    const bars = $('tl-bars');
    bars.replaceChildren();
    if (!tl) return;
    const add = (cls, [a, b], label) => {
      const d = document.createElement('div');
      d.className = cls;
      d.style.left = pct(a) + '%';
      d.style.width = Math.max(pct(b) - pct(a), 0.15) + '%';
      d.title = `${label}: ${fmtTime(a)} – ${fmtTime(b)} (${fmtDuration(b - a)})`;
      bars.appendChild(d);
    };
    tl.gaps.forEach((g) => add('tl-gap', g, 'Nothing recorded'));
    tl.ranges.forEach((r) => add('tl-range', r, 'Recorded'));
    tl.archived.forEach((r) => add('tl-archived', r, 'In the archive only'));
    const axis = $('tl-axis');
    axis.replaceChildren();
    for (let i = 0; i <= 4; i++) {
      const ms = tl.start + ((tl.end - tl.start) * i) / 4;
      const span = document.createElement('span');
      span.style.left = (i * 25) + '%';
      span.textContent = view.windowMs <= 3600 * 1000 ? new Date(ms).toLocaleTimeString() : fmtTime(ms);
      axis.appendChild(span);
    }
    $('tl-info').textContent = `${tl.ranges.length} recorded range${tl.ranges.length === 1 ? '' : 's'}, ` +
      `${tl.gaps.length} gap${tl.gaps.length === 1 ? '' : 's'}; ${fmtDuration(tl.recordedMs)} recorded between ` +
      `${fmtTime(tl.start)} and ${fmtTime(tl.end)}` +
      (tl.archived.length ? `; ${tl.archived.length} of them (hatched) in the archive only, played from the bucket.` : '.') +
      (tl.archiveError ? ` The archive could not be read: ${tl.archiveError}` : '');
    drawCursor();
    drawSelection();
  }

  function drawCursor() {
    const p = pct(view.cursorMs);
    const c = $('tl-cursor');
    c.hidden = p < 0 || p > 100;
    c.style.left = p + '%';
    const t = $('timeline');
    t.setAttribute('aria-valuenow', String(Math.round(Math.min(Math.max(p, 0), 100))));
    t.setAttribute('aria-valuetext', fmtTime(view.cursorMs) + (rangeAt(view.cursorMs) ? ', recorded' : ', nothing recorded'));
  }

  function drawSelection() {
    const el = $('tl-selection');
    if (!view.selection) { el.hidden = true; return; }
    const [a, b] = view.selection;
    el.hidden = false;
    el.style.left = Math.max(pct(a), 0) + '%';
    el.style.width = Math.max(Math.min(pct(b), 100) - Math.max(pct(a), 0), 0) + '%';
  }

  function rangeAt(ms) {
    const tl = view.timeline;
    return tl && tl.ranges.find(([a, b]) => ms >= a && ms < b);
  }

  // playFrom plays the recording from ms (or the next recorded moment)
  // for PLAY_SPAN_MS or up to now.
  async function playFrom(ms) {
    const tl = view.timeline;
    let start = ms;
    if (tl && !rangeAt(ms)) {
      const next = tl.ranges.find(([a]) => a > ms);
      if (!next) {
        $('video-status').textContent = `Nothing is recorded at or after ${fmtTime(ms)} in this view. Try Live, or an earlier moment.`;
        return;
      }
      start = next[0];
    }
    const end = Math.min(start + PLAY_SPAN_MS, Date.now());
    if (end - start < 1000) {
      $('video-status').textContent = 'That moment is still being recorded: watch it live, or pick an earlier one.';
      return;
    }
    view.cursorMs = start;
    drawCursor();
    const name = view.name;
    try {
      const t = await mintToken(name, start, end);
      const v = $('video');
      view.playStartMs = start;
      v.src = mediaURL(name, start, end, t.token);
      $('video-status').textContent = `Playing from ${fmtTime(start)} to ${fmtTime(end)}.`;
      await v.play();
    } catch (err) {
      if (err.name === 'AbortError') return; // a newer click replaced this one
      $('video-status').textContent = 'Cannot play: ' + err.message;
    }
  }

  // explainVideoError fetches the failed URL to show the server's words.
  async function explainVideoError() {
    const v = $('video');
    if (!v.error || !v.currentSrc) return;
    let why = v.error.message || ['', 'aborted', 'network error', 'decoding failed', 'format not supported'][v.error.code] || 'error';
    try {
      const ctl = new AbortController();
      const resp = await fetch(v.currentSrc, { signal: ctl.signal });
      if (!resp.ok) why = await errorText(resp);
      ctl.abort();
    } catch (e) { /* keep the media error */ }
    $('video-status').textContent = 'Playback failed: ' + why;
  }

  async function setSelection(a, b) {
    if (b < a) [a, b] = [b, a];
    view.selection = [a, b];
    drawSelection();
    const dl = $('download');
    $('clip-range').textContent = `Clip: ${fmtTime(a)} – ${fmtTime(b)} (${fmtDuration(b - a)})`;
    if (b - a < 1000) { dl.hidden = true; $('download-more').replaceChildren(); return; }
    try {
      await refreshDownload();
    } catch (err) {
      dl.hidden = true;
      $('download-more').replaceChildren();
      $('clip-range').textContent = 'Cannot prepare the download: ' + err.message;
    }
  }

  // refreshDownload prepares the clip's links. One file holds one run of
  // the same codecs: where a camera restarted with another codec the
  // appliance ends the file (HEAD says where, from the index alone), and
  // the rest gets a link of its own.
  async function refreshDownload() {
    const [a, b] = view.selection;
    const name = view.name;
    const t = await mintToken(name, a, b);
    const fileName = (ms) => `${name}-${new Date(ms).toISOString().replace(/[:.]/g, '-')}.mp4`;
    const dl = $('download');
    dl.href = mediaURL(name, a, b, t.token);
    dl.download = fileName(a);
    dl.dataset.expires = String(Date.parse(t.expires));
    dl.hidden = false;
    const more = $('download-more');
    more.replaceChildren();
    let start = a;
    for (let part = 1; part <= MAX_CLIP_PARTS; part++) {
      const resp = await fetch(mediaURL(name, start, b, t.token), { method: 'HEAD' });
      const next = resp.ok ? resp.headers.get('X-Kinedge-Next-Start') : null;
      if (!next || view.name !== name) break;
      const nextMs = Date.parse(next);
      if (!(nextMs > start)) break;
      const codecs = (resp.headers.get('X-Kinedge-Truncated') || '').replace(/^.*codecs=/, '');
      const note = document.createElement('span');
      note.textContent = ` The codecs change to ${codecs} at ${fmtTime(nextMs)}; the rest is another file: `;
      const link = document.createElement('a');
      link.className = 'button download-part';
      link.href = mediaURL(name, nextMs, b, t.token);
      link.download = fileName(nextMs);
      link.textContent = `Download part ${part + 1}`;
      more.append(note, link);
      start = nextMs;
    }
  }

  function setupTimeline() {
    const t = $('timeline');
    t.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      t.focus();
      view.drag = { x: e.clientX, ms: xToMs(e.clientX), moved: false };
      e.preventDefault();
    });
    window.addEventListener('mousemove', (e) => {
      if (view.drag) {
        if (Math.abs(e.clientX - view.drag.x) > 4) view.drag.moved = true;
        if (view.drag.moved) {
          const a = view.drag.ms, b = xToMs(e.clientX);
          view.selection = a < b ? [a, b] : [b, a];
          drawSelection();
        }
      }
    });
    window.addEventListener('mouseup', (e) => {
      const d = view.drag;
      view.drag = null;
      if (!d) return;
      if (d.moved) {
        setSelection(d.ms, xToMs(e.clientX));
      } else {
        view.cursorMs = d.ms;
        drawCursor();
        playFrom(d.ms);
      }
    });
    // The timeline does not move under the pointer (see route's timer).
    t.addEventListener('mouseenter', () => { view.pointerInside = true; });
    t.addEventListener('mousemove', (e) => { view.pointerInside = true; hover(e.clientX, e.clientY); });
    t.addEventListener('mouseleave', () => { view.pointerInside = false; $('tl-hover').hidden = true; });
    t.addEventListener('keydown', (e) => {
      const step = view.windowMs / (e.shiftKey ? 10 : 100);
      switch (e.key) {
        case 'ArrowLeft': view.cursorMs -= step; break;
        case 'ArrowRight': view.cursorMs += step; break;
        case 'Home': view.cursorMs = windowRange()[0]; break;
        case 'End': view.cursorMs = windowRange()[1]; break;
        case 'PageUp': pan(-0.5); break;
        case 'PageDown': pan(0.5); break;
        case '+': case '=': zoom(view.windowMs / 10); break;
        case '-': zoom(view.windowMs * 10); break;
        case 'Enter': case ' ': playFrom(view.cursorMs); break;
        case '[': markIn(); break;
        case ']': markOut(); break;
        default: return;
      }
      e.preventDefault();
      const [s, en] = windowRange();
      if (view.cursorMs < s || view.cursorMs > en) {
        // Keep the cursor in view: move the window with it.
        view.endMs = view.cursorMs > en ? Math.min(view.cursorMs + view.windowMs / 2, Date.now()) : view.cursorMs + view.windowMs / 2;
        if (view.endMs >= Date.now()) view.endMs = null;
        loadTimeline();
      }
      drawCursor();
    });
    document.querySelectorAll('[data-window]').forEach((b) =>
      b.addEventListener('click', () => zoom(Number(b.dataset.window) * 1000)));
    $('tl-earlier').addEventListener('click', () => pan(-0.5));
    $('tl-later').addEventListener('click', () => pan(0.5));
    $('tl-now').addEventListener('click', () => { view.endMs = null; view.cursorMs = Date.now(); loadTimeline(); });
    $('mark-in').addEventListener('click', markIn);
    $('mark-out').addEventListener('click', markOut);
    $('download').addEventListener('click', (e) => {
      // A token lives 10 minutes: mint a fresh one for an old link.
      const dl = $('download');
      if (Number(dl.dataset.expires || 0) - Date.now() > 60000) return;
      e.preventDefault();
      refreshDownload().then(() => dl.click()).catch((err) => {
        $('clip-range').textContent = 'Cannot prepare the download: ' + err.message;
      });
    });
    const v = $('video');
    v.addEventListener('error', explainVideoError);
    v.addEventListener('timeupdate', () => {
      if (view.playStartMs === null) return;
      view.cursorMs = view.playStartMs + v.currentTime * 1000;
      drawCursor();
    });
  }

  function markIn() {
    const b = view.selection ? view.selection[1] : view.cursorMs;
    setSelection(view.cursorMs, Math.max(b, view.cursorMs));
  }

  function markOut() {
    const a = view.selection ? view.selection[0] : view.cursorMs;
    setSelection(Math.min(a, view.cursorMs), view.cursorMs);
  }

  function zoom(windowMs) {
    const [s, e] = windowRange();
    view.windowMs = Math.min(Math.max(windowMs, 60 * 1000), 7 * 86400 * 1000);
    document.querySelectorAll('[data-window]').forEach((b) =>
      b.setAttribute('aria-pressed', String(Number(b.dataset.window) * 1000 === view.windowMs)));
    // Keep the cursor where it is, if it was in view.
    if (view.endMs !== null && view.cursorMs >= s && view.cursorMs <= e) {
      view.endMs = Math.min(view.cursorMs + view.windowMs / 2, Date.now());
      if (view.endMs >= Date.now() - 1000) view.endMs = null;
    }
    loadTimeline();
  }

  function pan(f) {
    const [, e] = windowRange();
    const end = e + f * view.windowMs;
    view.endMs = end >= Date.now() ? null : end;
    loadTimeline();
  }

  let hoverTimer = null;
  function hover(x, y) {
    const box = $('tl-hover');
    const ms = xToMs(x);
    $('tl-hover-time').textContent = fmtTime(ms) + (rangeAt(ms) ? '' : ' · nothing recorded');
    box.style.left = Math.min(x + 12, window.innerWidth - 220) + 'px';
    box.style.top = Math.max(y - 160, 8) + 'px';
    box.hidden = false;
    const img = $('tl-hover-img');
    clearTimeout(hoverTimer);
    if (!rangeAt(ms) || !view.hoverToken) { img.hidden = true; return; }
    hoverTimer = setTimeout(() => {
      img.hidden = false;
      img.src = imageURL(view.name, ms, 320, view.hoverToken);
    }, 150);
  }

  async function refreshCamera() {
    if (!view.name) return;
    try {
      const st = await getJSON(`/v1/streams/${enc(view.name)}`);
      const lf = st.last_fragment;
      $('cam-state').textContent = stateWords(st) +
        (lf ? ` · ${fmtBitrate(lf.bitrate_bps)} · ${lf.codecs.join(', ')} · last fragment ${fmtAgo(Date.parse(lf.server_timestamp))}` : '');
      $('cam-state').className = 'state-' + st.state;
    } catch (err) {
      showError($('cam-error'), err);
    }
  }

  // ---- live view (WHEP) ----
  //
  // WHEP (draft-ietf-wish-whep): POST an SDP offer (recvonly video and
  // audio, ICE candidates gathered) to /whep/{name}, get 201 with the
  // answer and a Location; DELETE the Location to leave.

  // live: the WHEP peer connection and its resource, or the HLS attempt
  // (an identity object) and its hls.js player.
  const live = { pc: null, resource: null, hls: null, hlsPlayer: null };

  function waitIceGathering(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState !== 'complete') return;
        pc.removeEventListener('icegatheringstatechange', done);
        clearTimeout(timer);
        resolve();
      };
      // Host candidates come at once; do not wait forever for STUN.
      const timer = setTimeout(() => { pc.removeEventListener('icegatheringstatechange', done); resolve(); }, ms);
      pc.addEventListener('icegatheringstatechange', done);
    });
  }

  // answerSendsVideo reports whether an SDP answer has a video section
  // that sends.
  function answerSendsVideo(sdp) {
    return sdp.split(/\r?\n(?=m=)/).some((sec) => /^m=video [1-9]/.test(sec) && /^a=(sendonly|sendrecv)\r?$/m.test(sec));
  }

  async function startLive() {
    stopLive();
    const name = view.name;
    const status = $('live-status');
    status.textContent = 'Connecting…';
    $('live-start').hidden = true;
    $('live-hls').hidden = true;
    $('live-stop').hidden = false;
    const pc = new RTCPeerConnection();
    live.pc = pc;
    try {
      const t = await mintToken(name);
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.addEventListener('track', (e) => {
        stream.addTrack(e.track);
        $('live').srcObject = stream;
      });
      pc.addEventListener('connectionstatechange', () => {
        if (live.pc !== pc) return;
        const s = pc.connectionState;
        if (s === 'failed') {
          startLiveHLS('The WebRTC connection failed (UDP to the appliance blocked?).');
          return;
        }
        status.textContent = s === 'connected' ? 'Live.' : `Live: ${s}.`;
      });
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc, 3000);
      if (live.pc !== pc) return;
      const resp = await fetch(`/whep/${enc(name)}?token=${enc(t.token)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', 'X-CSRF-Token': csrf },
        body: pc.localDescription.sdp,
      });
      if (resp.status !== 201) {
        // HLS may do where WHEP cannot: 503 (WebRTC off, too many
        // viewers, or no source: HLS then says so too), 400 (the browser
        // cannot receive the camera's video, e.g. H.265), 500. Not a
        // refusal of the credentials or an unknown stream.
        const e = new Error(await errorText(resp));
        e.fallback = ![401, 403, 404].includes(resp.status);
        throw e;
      }
      let resource = null;
      const loc = resp.headers.get('Location');
      if (loc) {
        const u = new URL(loc, location.href);
        if (!u.searchParams.has('token')) u.searchParams.set('token', t.token);
        resource = u.toString();
      }
      const answer = await resp.text();
      if (live.pc !== pc) { leave(resource); return; } // left while connecting
      if (!answerSendsVideo(answer)) {
        // The answer sends no video: the camera's codec is not one WebRTC
        // carries (MJPEG; H.265 to a browser without it gets 400 above).
        // HLS carries every codec the recording has.
        leave(resource);
        const e = new Error('this camera\'s video codec is not sent over WebRTC');
        e.fallback = true;
        throw e;
      }
      live.resource = resource;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      if (live.pc !== pc) return;
      if (err.fallback || err instanceof TypeError) { // TypeError: fetch could not connect
        startLiveHLS('WebRTC: ' + err.message + '.');
        return;
      }
      status.textContent = 'Live view unavailable: ' + err.message;
      stopLive(true);
    }
  }

  // ---- live view over HLS (the fallback) ----
  //
  // Where WebRTC cannot reach the appliance (UDP blocked, WebRTC turned
  // off), live HLS over plain HTTP: /v1/streams/{name}/live.m3u8 with a
  // live media token redirects to a LIVE HLS session, a fragment or two
  // behind live. Safari plays HLS itself; other browsers through hls.js
  // (vendored, loaded on first use).

  let hlsLib = null;

  function loadHlsJs() {
    if (!hlsLib) {
      hlsLib = new Promise((resolve, reject) => {
        const el = document.createElement('script');
        el.src = '/ui/vendor/hls.light.min.js';
        el.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js did not load')));
        el.onerror = () => { hlsLib = null; reject(new Error('hls.js could not be loaded')); };
        document.head.appendChild(el);
      });
    }
    return hlsLib;
  }

  async function startLiveHLS(why) {
    stopLive();
    const name = view.name;
    const status = $('live-status');
    const attempt = {};
    live.hls = attempt;
    status.textContent = why ? `${why} Trying HLS…` : 'Connecting (HLS)…';
    $('live-start').hidden = true;
    $('live-hls').hidden = true;
    $('live-stop').hidden = false;
    const v = $('live');
    v.addEventListener('playing', () => {
      if (live.hls === attempt) status.textContent = 'Live over HLS (a few seconds behind).';
    }, { once: true });
    try {
      const t = await mintToken(name);
      if (live.hls !== attempt) return;
      const src = `/v1/streams/${enc(name)}/live.m3u8?token=${enc(t.token)}`;
      // hls.js wherever Media Source Extensions exist (the same player
      // everywhere; Chromium's own HLS, where it has one, stalled on
      // these live sessions), the browser's HLS only without them (iOS
      // Safari before 17.1).
      const Hls = await loadHlsJs().catch(() => null);
      if (live.hls !== attempt) return;
      if (!Hls || !Hls.isSupported()) {
        if (!v.canPlayType('application/vnd.apple.mpegurl')) throw new Error('this browser plays neither HLS nor Media Source Extensions');
        v.src = src;
        v.play().catch(() => {}); // a failure shows as the video's error
        return;
      }
      // (No worker: the page's CSP allows scripts from its origin only.)
      const h = new Hls({ enableWorker: false });
      live.hlsPlayer = h;
      h.on(Hls.Events.ERROR, (_, d) => {
        if (!d.fatal || live.hlsPlayer !== h) return;
        const code = d.response && d.response.code ? ` ${d.response.code}` : '';
        status.textContent = `Live view unavailable: ${why ? why + ' ' : ''}HLS: ${d.details}${code}.`;
        stopLive(true);
      });
      h.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
      h.loadSource(src);
      h.attachMedia(v);
    } catch (err) {
      if (live.hls === attempt) {
        status.textContent = `Live view unavailable: ${why ? why + ' ' : ''}HLS: ${err.message}`;
        stopLive(true);
      }
    }
  }

  function leave(resource) {
    if (!resource) return;
    fetch(resource, { method: 'DELETE', headers: { 'X-CSRF-Token': csrf }, keepalive: true }).catch(() => {});
  }

  function stopLive(keepStatus) {
    if (live.pc) { live.pc.close(); live.pc = null; }
    leave(live.resource);
    live.resource = null;
    if (live.hlsPlayer) { live.hlsPlayer.destroy(); live.hlsPlayer = null; }
    live.hls = null;
    const v = $('live');
    v.srcObject = null;
    if (v.hasAttribute('src')) { v.pause(); v.removeAttribute('src'); v.load(); }
    $('live-start').hidden = false;
    $('live-hls').hidden = false;
    $('live-stop').hidden = true;
    if (!keepStatus) $('live-status').textContent = '';
  }

  // resetPlayer unloads the recorded player (removing src alone keeps
  // the old media playing).
  function resetPlayer() {
    const v = $('video');
    view.playStartMs = null;
    if (!v.hasAttribute('src')) return;
    v.pause();
    v.removeAttribute('src');
    v.load();
    $('video-status').textContent = 'Click the timeline (or focus it and press Enter) to play from that moment.';
  }

  // ---- routing ----

  let timer = null;

  function route() {
    const m = location.hash.match(/^#\/cam\/(.+)$/);
    clearInterval(timer);
    stopLive();
    if (m) {
      const name = decodeURIComponent(m[1]);
      $('grid-view').hidden = true;
      $('camera-view').hidden = false;
      if (view.name !== name) {
        view.name = name;
        view.endMs = null;
        view.selection = null;
        view.playStartMs = null;
        view.timeline = null;
        view.cursorMs = Date.now();
        resetPlayer();
        $('download').hidden = true;
        $('download-more').replaceChildren();
        $('clip-range').textContent = 'Drag along the timeline, or mark in and out, to choose a clip.';
      }
      $('cam-name').textContent = name;
      document.title = `kinedge — ${name}`;
      zoom(view.windowMs);
      refreshCamera();
      timer = setInterval(() => { refreshCamera(); if (view.endMs === null && !view.drag && !view.pointerInside) loadTimeline(); }, POLL_MS);
    } else {
      view.name = null;
      resetPlayer();
      $('camera-view').hidden = true;
      $('grid-view').hidden = false;
      document.title = 'kinedge — cameras';
      refreshGrid();
      timer = setInterval(refreshGrid, POLL_MS);
    }
  }

  setupTimeline();
  $('live-start').addEventListener('click', startLive);
  $('live-hls').addEventListener('click', () => startLiveHLS());
  $('live-stop').addEventListener('click', () => stopLive());
  window.addEventListener('pagehide', () => stopLive());
  const lo = $('logout');
  if (lo) {
    lo.addEventListener('click', async () => {
      try {
        await api('/logout', { method: 'POST' });
      } catch (err) { /* the session is gone either way */ }
      location.href = '/';
    });
  }
  window.addEventListener('hashchange', route);
  route();
})();
