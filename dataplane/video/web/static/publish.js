// kinedge publish page: this device's camera and microphone, published
// over WHIP (RFC 9725) to /whip/{name}. Plain JavaScript, no libraries.
//
// Authentication: the page is served to a logged-in session; WHIP takes a
// bearer, so the page asks POST /v1/streams/{name}/publish-token (the
// session's CSRF token in the header) for a short-lived publish token and
// sends that. The page never holds the publish password.
'use strict';

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  let media = null;    // the MediaStream of the chosen devices
  let pc = null;       // the RTCPeerConnection while publishing
  let resource = null; // the WHIP session URL (Location)
  let stream = '';     // the stream it publishes to

  function setState(text) { $('pub-state').textContent = text; }

  function showError(err) {
    const el = $('pub-error');
    if (!err) { el.hidden = true; el.textContent = ''; return; }
    el.hidden = false;
    el.textContent = err.message || String(err);
  }

  // errorText turns a failed response into words: the JSON message or
  // the body's first line.
  async function errorText(resp) {
    let text = '';
    try { text = await resp.text(); } catch (e) { /* unreadable */ }
    try {
      const j = JSON.parse(text);
      if (j && j.message) return j.message;
    } catch (e) { /* not JSON */ }
    if (resp.status === 401) return 'your session has ended: reload the page to log in again';
    return `${resp.status} ${resp.statusText}${text ? ': ' + text.trim().slice(0, 300) : ''}`;
  }

  async function publishToken(name) {
    let resp;
    try {
      resp = await fetch(`/v1/streams/${enc(name)}/publish-token`, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' },
      });
    } catch (e) {
      throw new Error('the appliance cannot be reached (' + e.message + ')');
    }
    if (!resp.ok) throw new Error('no publish token: ' + await errorText(resp));
    return (await resp.json()).token;
  }

  // listDevices fills the camera and microphone choices (labels only
  // once the browser has granted access).
  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [sel, kind, keep] of [[$('pub-camera'), 'videoinput', 1], [$('pub-mic'), 'audioinput', 2]]) {
      const chosen = sel.value;
      while (sel.options.length > keep) sel.remove(keep);
      let n = 0;
      for (const d of devices) {
        if (d.kind !== kind || !d.deviceId || d.deviceId === 'default') continue;
        n++;
        sel.add(new Option(d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${n}`, d.deviceId));
      }
      sel.value = [...sel.options].some((o) => o.value === chosen) ? chosen : '';
    }
  }

  async function openDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this browser gives no access to cameras here (a page needs https, or localhost, for that)');
    }
    stopDevices();
    const cam = $('pub-camera').value;
    const mic = $('pub-mic').value;
    setState('Asking for the camera…');
    try {
      media = await navigator.mediaDevices.getUserMedia({
        video: cam ? { deviceId: { exact: cam } } : true,
        audio: mic === 'none' ? false : (mic ? { deviceId: { exact: mic } } : true),
      });
    } catch (e) {
      throw new Error(`the camera could not be opened: ${e.name}: ${e.message}`);
    }
    $('pub-video').srcObject = media;
    await listDevices();
    setState('Preview: not publishing yet.');
  }

  function stopDevices() {
    if (media) media.getTracks().forEach((t) => t.stop());
    media = null;
    $('pub-video').srcObject = null;
  }

  // preferCodec puts the chosen video codec first in the transceiver's
  // list (its RTX and FEC entries stay), so the offer leads with it.
  function preferCodec(tr, mime) {
    if (!mime || !tr.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
    const caps = RTCRtpSender.getCapabilities('video');
    if (!caps) return;
    const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
    if (first.length === 0) throw new Error(`this browser cannot send ${mime.slice(6)}`);
    tr.setCodecPreferences(first.concat(caps.codecs.filter((c) => !first.includes(c))));
  }

  function gathered(p) {
    if (p.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (p.iceGatheringState !== 'complete') return;
        p.removeEventListener('icegatheringstatechange', done);
        resolve();
      };
      p.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, 3000); // publish with the candidates found so far
    });
  }

  async function start() {
    const name = $('pub-name').value.trim();
    if (!$('pub-name').checkValidity() || !name) throw new Error('choose a stream name: letters, digits, _ . -');
    if (!media) await openDevices();
    const p = new RTCPeerConnection();
    pc = p;
    stream = name;
    for (const track of media.getTracks()) {
      const tr = p.addTransceiver(track, { direction: 'sendonly', streams: [media] });
      if (track.kind === 'video') preferCodec(tr, $('pub-codec').value);
    }
    p.addEventListener('connectionstatechange', () => {
      if (pc !== p) return;
      switch (p.connectionState) {
        case 'connecting': setState(`Connecting to the appliance…`); break;
        case 'connected': setState(`Publishing to ${name}: recording.`); break;
        case 'disconnected': setState('The connection is interrupted; waiting for it to come back…'); break;
        case 'failed':
          setState('Not publishing.');
          showError(new Error('the connection to the appliance failed (is UDP port 8189 reachable?)'));
          stop(false);
          break;
      }
    });
    setState('Connecting to the appliance…');
    await p.setLocalDescription(await p.createOffer());
    await gathered(p);
    const token = await publishToken(name);
    let resp;
    try {
      resp = await fetch(`/whip/${enc(name)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: p.localDescription.sdp,
      });
    } catch (e) {
      throw new Error('the appliance cannot be reached (' + e.message + ')');
    }
    if (resp.status !== 201) throw new Error('the appliance refused: ' + await errorText(resp));
    const loc = resp.headers.get('Location');
    resource = loc ? new URL(loc, location.href).href : null;
    await p.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    $('pub-start').hidden = true;
    $('pub-stop').hidden = false;
  }

  // stop ends the WHIP session (DELETE with a fresh token) and the peer
  // connection; the devices stay open for the preview unless asked.
  async function stop(closeDevices) {
    const p = pc, res = resource, name = stream;
    pc = null;
    resource = null;
    $('pub-start').hidden = false;
    $('pub-stop').hidden = true;
    // DELETE first, then close: the appliance ends the session on the
    // DELETE (a closed peer connection would end it too, and the DELETE
    // would find it gone).
    if (res) {
      try {
        const token = await publishToken(name);
        await fetch(res, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` }, keepalive: true });
      } catch (e) { /* the appliance ends the session by itself when the media stops */ }
    }
    if (p) p.close();
    if (closeDevices) stopDevices();
  }

  $('pub-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showError(null);
    $('pub-start').disabled = true;
    start().catch((e) => {
      showError(e);
      setState('Not publishing.');
      stop(false);
    }).finally(() => { $('pub-start').disabled = false; });
  });
  $('pub-stop').addEventListener('click', () => {
    stop(false).then(() => setState('Stopped: not publishing.'));
  });
  $('pub-preview').addEventListener('click', () => {
    showError(null);
    openDevices().catch((e) => { showError(e); setState('Not publishing.'); });
  });
  for (const id of ['pub-camera', 'pub-mic']) {
    $(id).addEventListener('change', () => {
      if (!media || pc) return; // devices change between sessions
      openDevices().catch((e) => showError(e));
    });
  }
  window.addEventListener('pagehide', () => { stop(true); });
  const want = new URLSearchParams(location.search).get('stream');
  if (want) $('pub-name').value = want;
  listDevices().catch(() => {});
})();
