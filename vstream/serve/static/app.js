// vstream's web page: search moments, play them, compose a branded reel, and play any stream
// the way its manifest says (overlay, reframe, captions from EXT-X-SESSION-DATA and the
// subtitles rendition). Plain DOM, no build step; hls.js comes from the npm registry.
"use strict";

const $ = (id) => document.getElementById(id);
const video = $("video");
const overlay = $("overlay");
const stage = $("stage");
const selected = new Map(); // key -> moment
const OVERLAY_MARGIN = 0.02; // of the frame width: the same geometry `vstream render` burns in
const TEXT_PADDING = 0.3; // of the font size: the box around a text, as `vstream render` draws it
const TEXT_FONTS = { sans: '"DejaVu Sans", sans-serif', serif: '"DejaVu Serif", serif', mono: '"DejaVu Sans Mono", monospace' };
let hls = null;
let overlays = [];
let texts = []; // [{spec, el}]: the manifest's texts and the boxes that show them

window.vstream = { state: "idle", url: null, error: null, overlays: [], reframe: null, texts: [], subtitles: null };

function fmt(t) {
  const m = Math.floor(t / 60), s = (t % 60).toFixed(1).padStart(4, "0");
  return `${m}:${s}`;
}

async function api(path, options = {}) {
  // A server with --secret hands out signed links only to its admin token: ask for it once.
  const token = sessionStorage.getItem("vstreamAdminToken");
  const headers = Object.assign({}, options.headers || {}, token ? { authorization: `Bearer ${token}` } : {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json();
  if (response.status === 401 && !options.retried) {
    const given = window.prompt("This server needs its admin token to hand out links:");
    if (given) {
      sessionStorage.setItem("vstreamAdminToken", given.trim());
      return api(path, Object.assign({}, options, { retried: true }));
    }
  }
  if (!response.ok) { throw new Error(body.error + (body.hint ? ` (${body.hint})` : "")); }
  return body;
}

// --- search ---------------------------------------------------------------------------------
$("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("q").value.trim();
  const person = $("person").value;
  if (!q && !person) { return; }
  $("status").textContent = "Searching…";
  try {
    const who = person ? `&person=${encodeURIComponent(person)}` : "";
    const data = await api(`/api/search?q=${encodeURIComponent(q)}&mode=${$("mode").value}&limit=12${who}`);
    showResults(data);
  } catch (err) {
    $("status").textContent = err.message;
    $("results").replaceChildren();
  }
});

function showResults(data) {
  const list = $("results");
  list.replaceChildren();
  $("status").textContent = data.moments.length
    ? `${data.moments.length} moments in ${Math.round(data.took_ms)} ms`
    : "No moments found.";
  data.moments.forEach((m, i) => {
    const key = `${m.video_id}@${m.start}-${m.end}`;
    const li = document.createElement("li");
    li.className = "card" + (selected.has(key) ? " selected" : "");
    li.dataset.video = m.video_id;
    li.dataset.start = m.start;
    li.dataset.end = m.end;
    li.innerHTML = `<img alt="" loading="lazy"><div class="meta"><label title="select for a reel">
      <input type="checkbox"></label><strong></strong> <span class="time"></span>
      <div class="snippet"></div></div>`;
    li.querySelector("img").src = m.thumbnail_url || "";
    li.querySelector("strong").textContent = m.live ? `${m.video_id} (live)` : m.video_id;
    li.querySelector(".time").textContent = `${fmt(m.start)}–${fmt(m.end)} · ${m.score.toFixed(2)}`;
    li.querySelector(".snippet").textContent = (m.people && m.people.length ? `[${m.people.join(", ")}] ` : "") +
      (m.text || m.kinds.join(", "));
    const box = li.querySelector("input");
    if (m.live) { // a live event is no library video yet: it plays as an instant clip, it cannot join a reel
      box.disabled = true;
      box.parentElement.title = "a live event: reels take library videos (it becomes one when it ends)";
      li.addEventListener("click", () => playLive(m.video_id, false, `&from=${m.start}&to=${m.end}`));
      list.appendChild(li);
      return;
    }
    box.checked = selected.has(key);
    box.addEventListener("click", (e) => e.stopPropagation());
    box.addEventListener("change", () => {
      if (box.checked) { selected.set(key, m); } else { selected.delete(key); }
      li.classList.toggle("selected", box.checked);
      $("selected-count").textContent = selected.size;
      $("make-reel").disabled = selected.size === 0;
    });
    li.addEventListener("click", () => playMoments([m], false));
    list.appendChild(li);
  });
}

// --- people ---------------------------------------------------------------------------------
async function loadPeople() {
  let data;
  // (no token prompt at page load: on a server with a secret, people are the admin's, asked for on a reel)
  try { data = await api("/api/people", { retried: true }); } catch (err) { $("people-box").hidden = true; return; }
  const list = $("people"), pick = $("person");
  const chosen = pick.value;
  list.replaceChildren();
  pick.replaceChildren(new Option("anyone", ""));
  $("people-box").hidden = data.people.length === 0;
  data.people.forEach((p) => {
    pick.appendChild(new Option(p.label, p.name || `p${p.id}`));
    const li = document.createElement("li");
    li.className = "person";
    li.dataset.person = p.id;
    li.innerHTML = `<img alt=""><input aria-label="name" placeholder="name…"><span class="muted"></span>`;
    li.querySelector("img").src = p.image;
    li.querySelector("img").title = `${p.label}: ${p.appearances} appearances in ${p.videos} videos`;
    li.querySelector("span").textContent = `${p.appearances}×`;
    const name = li.querySelector("input");
    name.value = p.name || "";
    name.addEventListener("change", async () => {
      try {
        await api("/api/people/name", { method: "POST", headers: { "content-type": "application/json" },
                                        body: JSON.stringify({ person: `p${p.id}`, name: name.value }) });
        loadPeople();
      } catch (err) { $("status").textContent = err.message; }
    });
    li.querySelector("img").addEventListener("click", () => {
      $("person").value = p.name || `p${p.id}`;
      $("q").value = "";
      $("search").requestSubmit();
    });
    list.appendChild(li);
  });
  pick.value = [...pick.options].some((o) => o.value === chosen) ? chosen : "";
}

// --- reels ----------------------------------------------------------------------------------
async function playMoments(moments, branded) {
  const body = { clips: moments.map((m) => ({ video_id: m.video_id, start: m.start, end: m.end })) };
  if (branded) {
    if ($("brand-image").value) {
      body.overlay = { image: $("brand-image").value, position: $("brand-position").value,
                       opacity: parseFloat($("brand-opacity").value), scale: 0.2 };
    }
    if ($("portrait").checked) { body.resolution = "608x1080"; }
    body.captions = $("captions").checked;
  }
  try {
    const reel = await api("/api/reels", { method: "POST", headers: { "content-type": "application/json" },
                                           body: JSON.stringify(body) });
    $("now").textContent = `${reel.clips} clip(s), ${reel.duration.toFixed(1)} s`;
    play(reel.url);
  } catch (err) {
    $("now").textContent = err.message;
  }
}

$("make-reel").addEventListener("click", () => playMoments([...selected.values()], true));

// --- the player -----------------------------------------------------------------------------
function sessionData(master) {
  const out = {};
  const re = /#EXT-X-SESSION-DATA:DATA-ID="([^"]+)",URI="data:application\/json;base64,([^"]+)"/g;
  let m;
  while ((m = re.exec(master))) { out[m[1]] = JSON.parse(atob(m[2])); }
  return out;
}

const CODEC_NAMES = { avc1: "H.264", hvc1: "HEVC (H.265)", hev1: "HEVC (H.265)", av01: "AV1", mp4a: "AAC" };

function unplayableCodecs(master) {
  // The CODECS the master playlist declares that this browser's Media Source cannot decode.
  const m = /CODECS="([^"]+)"/.exec(master);
  if (!m || !window.MediaSource || !MediaSource.isTypeSupported) { return []; }
  return m[1].split(",").map((c) => c.trim()).filter((c) => {
    const kind = c.startsWith("mp4a") ? "audio" : "video";
    return !MediaSource.isTypeSupported(`${kind}/mp4; codecs="${c}"`);
  }).map((c) => `${CODEC_NAMES[c.split(".")[0]] || c} (${c})`);
}

async function play(url) {
  window.vstream = { state: "loading", url, error: null, overlays: [], reframe: null, texts: [], subtitles: null };
  const master = await (await fetch(url)).text();
  const data = sessionData(master);
  overlays = data["dev.vstream.overlays"] || [];
  const reframe = data["dev.vstream.reframe"] || null;
  window.vstream.overlays = overlays.map(({ image, ...rest }) => rest);
  window.vstream.reframe = reframe;
  makeTexts(data["dev.vstream.text"] || []);
  subtitleMenu([], -1);
  stage.classList.toggle("reframed", !!reframe);
  stage.style.aspectRatio = reframe ? `${reframe.width} / ${reframe.height}` : "16 / 9";
  stage.style.maxWidth = reframe ? `${Math.round(360 * reframe.width / reframe.height)}px` : "";
  if (overlays.length) { overlay.src = overlays[0].image; }
  overlay.hidden = true;
  if (hls) { hls.destroy(); hls = null; }
  const missing = unplayableCodecs(master);
  if (missing.length) { // say so now, instead of failing at the first clip this browser cannot decode
    window.vstream.state = "error";
    window.vstream.error = "codecs";
    $("now").textContent = `This browser cannot play this stream: it has no decoder for ${missing.join(", ")}.`;
    return;
  }
  if (window.Hls && Hls.isSupported()) {
    hls = new Hls({ subtitleDisplay: true });
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (d.fatal) { window.vstream.state = "error"; window.vstream.error = d.details; $("now").textContent = `Playback failed: ${d.details}`; }
    });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
      // the rendition marked DEFAULT (vstream lists it first), unless the viewer picked another
      const tracks = hls.subtitleTracks.map((t) => ({ name: t.name, lang: t.lang, default: !!t.default }));
      const first = tracks.findIndex((t) => t.default);
      const chosen = tracks.length ? (first >= 0 ? first : 0) : -1;
      hls.subtitleDisplay = chosen >= 0;
      hls.subtitleTrack = chosen;
      subtitleMenu(tracks, chosen);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url; // Safari plays HLS itself
  } else {
    window.vstream.state = "error";
    $("now").textContent = "This browser cannot play HLS (hls.js did not load: run npm ci in the vstream checkout).";
    return;
  }
  video.play().catch(() => {});
}

function placeOverlay() {
  const o = overlays[0];
  const t = video.currentTime;
  const on = o && t >= (o.start || 0) && (o.end === undefined || t < o.end);
  overlay.hidden = !on;
  if (!on) { return; }
  const w = stage.clientWidth, h = stage.clientHeight;
  const ow = w * o.scale, m = w * OVERLAY_MARGIN;
  overlay.style.width = `${ow}px`;
  overlay.style.opacity = o.opacity;
  const oh = overlay.naturalWidth ? ow * overlay.naturalHeight / overlay.naturalWidth : 0;
  const left = { "top-left": m, "bottom-left": m, center: (w - ow) / 2 }[o.position] ?? w - ow - m;
  const top = { "top-left": m, "top-right": m, center: (h - oh) / 2 }[o.position] ?? h - oh - m;
  overlay.style.left = `${left}px`;
  overlay.style.top = `${top}px`;
}

// --- text on screen (dev.vstream.text) --------------------------------------------------------
// Each text is a box of plain text (textContent: never markup), sized by the stage's height and
// placed by its corner, as `vstream render` burns it in with drawtext.
function makeTexts(specs) {
  const layer = $("texts");
  layer.replaceChildren();
  texts = specs.map((spec, i) => {
    const el = document.createElement("div");
    el.className = "text";
    el.dataset.index = i;
    el.textContent = spec.text;
    el.style.color = spec.color;
    el.style.background = spec.background || "transparent";
    el.style.fontFamily = TEXT_FONTS[spec.font] || TEXT_FONTS.sans;
    el.hidden = true;
    layer.appendChild(el);
    return { spec, el };
  });
  window.vstream.texts = specs;
}

function placeTexts() {
  const t = video.currentTime;
  const w = stage.clientWidth, h = stage.clientHeight, m = w * OVERLAY_MARGIN;
  for (const { spec, el } of texts) {
    const on = t >= (spec.start || 0) && (spec.end === undefined || t < spec.end);
    el.hidden = !on;
    if (!on) { continue; }
    const size = Math.max(8, h * spec.size);
    el.style.fontSize = `${size}px`;
    el.style.padding = `${size * TEXT_PADDING}px`;
    const bw = el.offsetWidth, bh = el.offsetHeight;
    const where = spec.position || "";
    let left, top;
    if (spec.x !== undefined) {
      left = spec.x * w;
      top = spec.y * h;
    } else {
      left = where.endsWith("left") ? m : where.endsWith("right") ? w - bw - m : (w - bw) / 2;
      top = where.startsWith("top") ? m : where.startsWith("bottom") ? h - bh - m : (h - bh) / 2;
    }
    el.style.left = `${left}px`;
    el.style.top = `${top}px`;
  }
}

// --- the subtitle language menu ----------------------------------------------------------------
// One entry per subtitle rendition (hls.js subtitleTracks, named in their language), and Off.
function subtitleMenu(tracks, chosen) {
  const menu = $("subtitle-lang");
  menu.replaceChildren(new Option("Off", "-1"));
  tracks.forEach((t, i) => {
    const option = new Option(t.name || t.lang || `Track ${i + 1}`, String(i));
    option.lang = t.lang || "";
    menu.appendChild(option);
  });
  menu.value = String(chosen);
  $("subtitle-box").hidden = tracks.length === 0;
  window.vstream.subtitles = tracks.length ? { tracks, selected: chosen } : null;
}

$("subtitle-lang").addEventListener("change", () => {
  const chosen = parseInt($("subtitle-lang").value, 10);
  if (hls) {
    hls.subtitleDisplay = chosen >= 0;
    hls.subtitleTrack = chosen;
  } else { // Safari's own HLS: its text tracks, in the same order
    [...video.textTracks].forEach((track, i) => { track.mode = i === chosen ? "showing" : "disabled"; });
  }
  if (window.vstream.subtitles) { window.vstream.subtitles.selected = chosen; }
});

// A following reframe: the crop window's centre (fraction of the source width) at stream times,
// linear in between; CSS object-position moves the covered picture (the same window vstream render burns in).
function windowAt(path, t) {
  if (t <= path[0][0]) { return path[0][1]; }
  for (let i = 0; i + 1 < path.length; i++) {
    const [t0, x0] = path[i], [t1, x1] = path[i + 1];
    if (t >= t0 && t < t1) { return x0 + (x1 - x0) * (t - t0) / (t1 - t0); }
  }
  return path[path.length - 1][1];
}

function followSubject() {
  const r = window.vstream.reframe;
  if (r && r.path && r.path.length && video.videoWidth) {
    const crop = Math.min(1, (video.videoHeight * r.width / r.height) / video.videoWidth);
    const x = windowAt(r.path, video.currentTime);
    const pos = crop < 1 ? Math.max(0, Math.min(1, (x - crop / 2) / (1 - crop))) : 0.5;
    video.style.objectPosition = `${(pos * 100).toFixed(2)}% 50%`;
    window.vstream.window = x;
  } else {
    video.style.objectPosition = "";
  }
  if (!video.paused) { requestAnimationFrame(followSubject); }
}

video.addEventListener("timeupdate", () => { placeOverlay(); placeTexts(); });
video.addEventListener("play", followSubject);
video.addEventListener("seeked", () => { followSubject(); placeTexts(); });
video.addEventListener("playing", () => { window.vstream.state = "playing"; placeOverlay(); placeTexts(); });
video.addEventListener("ended", () => { window.vstream.state = "ended"; });
overlay.addEventListener("load", placeOverlay);
window.addEventListener("resize", () => { placeOverlay(); placeTexts(); });
// hls.js shows the rendition chosen in the menu (and hides the others); Safari's own HLS adds its
// tracks itself: show the default one and list them all
video.textTracks.addEventListener("addtrack", () => {
  if (hls) { return; }
  const tracks = [...video.textTracks];
  const chosen = window.vstream.subtitles ? window.vstream.subtitles.selected : 0; // the first: the default
  tracks.forEach((t, i) => { t.mode = i === chosen ? "showing" : "disabled"; });
  subtitleMenu(tracks.map((t, i) => ({ name: t.label, lang: t.language, default: i === 0 })), chosen);
});

// --- live events ----------------------------------------------------------------------------
async function playLive(id, highlights, range = "") {
  try {
    const link = await api(`/api/link?live=${encodeURIComponent(id)}&user=guest${highlights ? "&highlights=1" : ""}${range}`);
    $("now").textContent = highlights ? `highlights of ${id}` : range ? `${id}, a clip` : `${id}, live`;
    play(link.url);
  } catch (err) { $("now").textContent = err.message; }
}

async function loadLive() {
  let events = [];
  try { events = (await api("/api/live")).events; } catch (err) { return; }
  if ($("live-box").hidden && events.some((e) => e.live)) { $("live-box").open = true; } // an event is on: show it
  $("live-box").hidden = !events.length;
  const list = $("live");
  list.replaceChildren(...events.map((e) => {
    const li = document.createElement("li");
    li.dataset.event = e.id;
    const state = e.live ? `live, ${fmt(e.duration)}` : `${e.status}, ${fmt(e.duration)}`;
    li.append(`${e.id} (${state}; ${e.highlights} highlight${e.highlights === 1 ? "" : "s"}) `);
    const watch = document.createElement("button");
    watch.type = "button";
    watch.className = "watch";
    watch.textContent = e.live ? "watch live" : "watch";
    watch.addEventListener("click", () => playLive(e.id, false));
    li.appendChild(watch);
    if (e.highlights_published) {
      const best = document.createElement("button");
      best.type = "button";
      best.className = "highlights";
      best.textContent = "highlights";
      best.addEventListener("click", () => playLive(e.id, true));
      li.appendChild(best);
    }
    return li;
  }));
  if (events.some((e) => e.live)) { setTimeout(loadLive, 5000); } // while an event runs, keep the list current
}

// --- brands and recipes -----------------------------------------------------------------------
async function init() {
  loadPeople();
  loadLive();
  try {
    const brands = await api("/api/brands");
    for (const name of brands.brands) {
      const opt = document.createElement("option");
      opt.value = opt.textContent = name;
      $("brand-image").appendChild(opt);
    }
    if (brands.brands.length) { $("brand-image").value = brands.brands[0]; }
    const recipes = await api("/api/recipes");
    for (const r of recipes.recipes) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#";
      a.textContent = r.name;
      a.title = r.description || r.error || "";
      a.addEventListener("click", async (e) => {
        e.preventDefault();
        try {
          const link = await api(`/api/link?recipe=${encodeURIComponent(r.name)}&user=guest`);
          $("now").textContent = `recipe ${r.name}`;
          play(link.url);
        } catch (err) { $("now").textContent = err.message; }
      });
      li.appendChild(a);
      $("recipes").appendChild(li);
    }
  } catch (err) {
    $("status").textContent = err.message;
  }
  const params = new URLSearchParams(location.search);
  if (params.get("play")) { play(params.get("play")); }
  if (params.get("q")) { $("q").value = params.get("q"); $("search").requestSubmit(); }
}
init();
