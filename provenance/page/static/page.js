// The verify page. Everything a manifest says is shown with textContent, never parsed as HTML:
// whoever made the file wrote it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { file: null, galleryId: null, verdict: null, objectUrl: null, maxUpload: 0 };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function badge(outcome, text, small) {
    const b = el("span", "badge" + (small ? " badge-small" : ""), text);
    b.dataset.outcome = outcome;
    return b;
  }

  function fact(list, term, value, mono) {
    if (value === undefined || value === null || value === "") return;
    list.appendChild(el("dt", null, term));
    list.appendChild(el("dd", mono ? "mono" : null, value));
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0) + " MB";
  }

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function clipTime(ms) {
    const tenths = Math.round(ms / 100);
    const seconds = (tenths % 600) / 10;
    return Math.floor(tenths / 600) + ":" + (seconds < 10 ? "0" : "") + seconds.toFixed(1);
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") return body.detail;
    } catch (e) { /* not JSON */ }
    return response.status + " " + response.statusText;
  }

  // --- upload ---

  async function verifyFile(file) {
    if (state.maxUpload && file.size > state.maxUpload) {
      setStatus(file.name + " is " + megabytes(file.size) + ", over this server's limit of " +
                megabytes(state.maxUpload) + ".", "failed");
      return;
    }
    state.file = file;
    state.galleryId = null;
    setStatus("Checking " + file.name + " (" + megabytes(file.size) + ")…", "busy");
    try {
      const response = await fetch("api/verify?format=page&name=" + encodeURIComponent(file.name), {
        method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
      });
      if (!response.ok) {
        setStatus("Could not check " + file.name + ": " + await errorText(response), "failed");
        return;
      }
      const report = await response.json();
      if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
      state.objectUrl = URL.createObjectURL(file);
      show(report, state.objectUrl);
      setStatus("Checked " + file.name + ".", "");
    } catch (e) {
      setStatus("Could not reach the server: " + e.message, "failed");
    }
  }

  function wireUpload() {
    const zone = $("drop-zone");
    const input = $("file-input");
    input.addEventListener("change", () => {
      if (input.files && input.files.length) verifyFile(input.files[0]);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    }));
    ["dragleave", "dragend"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) verifyFile(files[0]);
    });
    // A file dropped beside the zone must not make the browser navigate away to it.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
    $("check-another").addEventListener("click", () => {
      $("result").hidden = true;
      input.focus();
    });
    $("download-json").addEventListener("click", () => {
      if (state.verdict) download(JSON.stringify(state.verdict, null, 2), reportName("verdict.json"));
    });
    $("download-crjson").addEventListener("click", downloadCrjson);
  }

  function reportName(suffix) {
    const base = (state.verdict && state.verdict.path) || "file";
    return base.replace(/[^A-Za-z0-9._-]+/g, "_") + "." + suffix;
  }

  function download(text, name) {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const link = el("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function downloadCrjson() {
    let response;
    if (state.galleryId !== null) {
      response = await fetch("api/gallery/" + state.galleryId + "?format=crjson");
    } else if (state.file) {
      setStatus("Reading the crJSON report of " + state.file.name + "…", "busy");
      response = await fetch("api/verify?format=crjson", {
        method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: state.file,
      });
    } else {
      return;
    }
    if (!response.ok) {
      setStatus("No crJSON: " + await errorText(response), "failed");
      return;
    }
    download(await response.text(), reportName("crjson.json"));
    setStatus("crJSON report saved.", "");
  }

  // --- the answer ---

  function show(report, mediaUrl) {
    const verdict = report.verdict;
    const words = report.explained;
    state.verdict = verdict;
    $("result").hidden = false;
    $("verdict-card").dataset.outcome = words.outcome;
    const b = $("badge");
    b.textContent = words.badge;
    b.dataset.outcome = words.outcome;
    $("result-file").textContent = verdict.path;
    $("sentence").textContent = words.sentence;
    $("meaning").textContent = capitalise(words.ingredient_problems || words.meaning);
    $("meaning").hidden = !$("meaning").textContent;

    showPlayer(report, mediaUrl);
    showFacts(verdict, words);
    showProblems(verdict, words);
    showSigner(words.signer);
    showIngredients(words);
    showRecovered(words.recovered);
    $("download-crjson").hidden = verdict.verdict === "error";
    $("result").scrollIntoView({ block: "start" });
  }

  function capitalise(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
  }

  function showPlayer(report, mediaUrl) {
    const video = $("player");
    const still = $("poster-only");
    const note = $("player-note");
    // An unreadable file without a frame has nothing to show: the facts take the whole width.
    const nothing = report.verdict.verdict === "error" && !report.poster;
    $("player-figure").hidden = nothing;
    $("columns").classList.toggle("single", nothing);
    note.textContent = "";
    still.hidden = true;
    video.hidden = false;
    video.removeAttribute("poster");
    if (report.poster) video.poster = report.poster;
    video.onerror = () => {
      video.hidden = true;
      if (report.poster) {
        still.src = report.poster;
        still.hidden = false;
      }
      note.textContent = "This browser cannot play this file" + (report.poster ? "; a frame of it is shown." : ".");
    };
    video.src = mediaUrl;
  }

  function showFacts(verdict, words) {
    const facts = $("facts");
    clear(facts);
    $("caution").textContent = capitalise(words.caution);
    $("caution").hidden = !words.caution;
    if (!verdict.manifest_label) {
      fact(facts, "Credentials", verdict.verdict === "error" ? "none could be read" : "none in the file");
      if (verdict.error) fact(facts, "Reason", verdict.error);
      if (words.recovered) fact(facts, "Found again", "yes, in the manifest repository: see below");
      if (verdict.verdict === "unsigned" && !words.recovered) {
        fact(facts, "What it means", "nothing in the file says who made it, or whether AI did; " +
             "credentials may also have been stripped from a copy");
      }
      return;
    }
    fact(facts, "AI-generated", words.ai);
    if (verdict.title) fact(facts, "Title", verdict.title);
    if (words.signer) fact(facts, "Signed by", words.signer.name);
    if (words.timestamp) {
      fact(facts, "Signed at", words.timestamp.time + " (" + words.timestamp.trust + " timestamp" +
           (words.timestamp.tsa ? " by " + words.timestamp.tsa : "") + ")");
    } else {
      fact(facts, "Signed at", "unknown (no trusted timestamp)");
    }
    fact(facts, "Signed with", verdict.claim_generator);
    fact(facts, "Manifest", verdict.manifest_source === "sidecar" ? "detached (.c2pa sidecar)" : "embedded in the file");
    fact(facts, "Judged against", words.trust_list);
  }

  function showProblems(verdict, words) {
    const list = $("problems");
    clear(list);
    const lines = words.problems.slice();
    if (words.warning) lines.push("Warning: " + words.warning);
    words.notes.forEach((n) => lines.push("Note: " + n));
    lines.forEach((line) => list.appendChild(el("li", null, line)));
    $("problems-section").hidden = lines.length === 0;
    $("problems-title").textContent = words.problems.length ? "What is wrong" : "Worth knowing";
    $("problems-section").classList.toggle("panel-alert", words.problems.length > 0);
  }

  function showSigner(signer) {
    $("signer-section").hidden = !signer;
    if (!signer) return;
    const facts = $("signer-facts");
    clear(facts);
    fact(facts, "Signer", signer.name);
    fact(facts, "Vouched for by", signer.vouched_by || "no trust list this server uses");
    fact(facts, "Valid", (signer.not_before || "?").slice(0, 10) + " to " + (signer.not_after || "?").slice(0, 10));
    fact(facts, "SHA-256", signer.sha256, true);
    const chain = $("chain");
    clear(chain);
    signer.chain.forEach((subject, i) => {
      const item = el("li");
      item.appendChild(el("span", "role", i === 0 ? "Signing certificate" : "Issued by"));
      item.appendChild(el("span", "mono", subject));
      chain.appendChild(item);
    });
  }

  function ingredientNode(ingredient) {
    const item = el("li");
    const row = el("div", "tree-node");
    if (ingredient.thumbnail) {
      const img = el("img", "tree-thumb");
      img.src = ingredient.thumbnail;
      img.alt = "Thumbnail of " + ingredient.title;
      row.appendChild(img);
    } else {
      row.appendChild(el("span", "tree-thumb tree-thumb-empty", "no image"));
    }
    const body = el("div");
    const head = el("div");
    head.appendChild(el("span", "tree-title", ingredient.title));
    if (ingredient.relation) head.appendChild(el("span", "tree-rel", ingredient.relation));
    body.appendChild(head);
    body.appendChild(badge(ingredient.verdict, ingredient.badge, true));
    if (ingredient.problem) body.appendChild(el("p", "tree-problem", "It " + ingredient.problem + "."));
    row.appendChild(body);
    item.appendChild(row);
    if (ingredient.ingredients.length) {
      const children = el("ul");
      ingredient.ingredients.forEach((child) => children.appendChild(ingredientNode(child)));
      item.appendChild(children);
    }
    return item;
  }

  function showIngredients(words) {
    const tree = $("ingredients");
    clear(tree);
    $("ingredients-section").hidden = words.ingredients.length === 0;
    words.ingredients.forEach((ingredient) => tree.appendChild(ingredientNode(ingredient)));
    const count = words.ingredients.length;
    $("ingredients-summary").textContent = count === 1 ? "This clip was made from 1 earlier file, with its own verdict."
      : "This clip was made from " + count + " earlier files, each with its own verdict.";
  }

  function showRecovered(recovered) {
    $("recovered-section").hidden = !recovered;
    if (!recovered) return;
    $("recovered-cause").textContent = capitalise(recovered.cause) + "; " + recovered.claim + ": " + recovered.ai +
      (recovered.generator ? " by " + recovered.generator : "") + ".";
    const facts = $("recovered-facts");
    clear(facts);
    fact(facts, "Match", recovered.match === "copy" ? "a copy of the signed clip" : "similar, not shown to be a copy");
    fact(facts, "In plain words", capitalise(recovered.statement) + ".");
    fact(facts, "Signed by", recovered.signer || "an unknown signer");
    const verdictLine = el("dd");
    verdictLine.appendChild(badge(recovered.verdict, recovered.badge, true));
    facts.appendChild(el("dt", null, capitalise(recovered.verdict_name)));
    facts.appendChild(verdictLine);
    fact(facts, "Fingerprint distance", String(recovered.distance));
    fact(facts, "Manifest", recovered.manifest_id, true);
    if (recovered.claimants > 1) fact(facts, "Claimants", recovered.claimants + " manifests claim this content");
    const block = $("timeline-block");
    block.hidden = !recovered.aligned;
    if (!recovered.aligned) return;
    const a = recovered.aligned;
    const draw = () => {
      const video = $("player");
      const fileMs = isFinite(video.duration) && video.duration > 0 ? video.duration * 1000 : 0;
      const total = Math.max(a.end_ms, fileMs, 1);
      const match = $("timeline-match");
      match.style.left = (100 * a.start_ms / total) + "%";
      match.style.width = Math.max(1, 100 * (a.end_ms - a.start_ms) / total) + "%";
      $("timeline-end").textContent = clipTime(total);
      $("timeline").setAttribute("aria-label", "Matched part of the signed clip: " + a.span);
    };
    $("timeline-caption").textContent = "The part of the signed clip this file is a copy of: " + a.span +
      " (" + a.in_place + " of " + a.segments + " segments in place).";
    draw();
    $("player").addEventListener("loadedmetadata", draw, { once: true });
  }

  // --- the gallery ---

  function galleryCard(item) {
    const li = el("li");
    const card = el("button", "gallery-card");
    card.type = "button";
    card.dataset.id = String(item.id);
    if (item.poster) {
      const img = el("img", "gallery-thumb");
      img.src = item.poster;
      img.alt = "";
      card.appendChild(img);
    } else {
      card.appendChild(el("span", "gallery-thumb"));
    }
    const body = el("span", "gallery-body");
    body.appendChild(el("span", "gallery-name", item.name));
    if (item.done) {
      body.appendChild(badge(item.verdict, item.badge, true));
      body.appendChild(el("span", "gallery-sentence", item.sentence));
    } else {
      body.appendChild(el("span", "pending", "Checking…"));
    }
    card.appendChild(body);
    card.disabled = !item.done;
    card.setAttribute("aria-label", item.name + ": " + (item.done ? item.badge : "being checked"));
    card.addEventListener("click", () => openGalleryItem(item));
    li.appendChild(card);
    return li;
  }

  async function openGalleryItem(item) {
    setStatus("Opening " + item.name + "…", "busy");
    const response = await fetch("api/gallery/" + item.id + "?format=page");
    if (!response.ok) {
      setStatus("Could not open " + item.name + ": " + await errorText(response), "failed");
      return;
    }
    state.file = null;
    state.galleryId = item.id;
    show(await response.json(), "api/gallery/" + item.id + "/media");
    setStatus("", "");
  }

  async function pollGallery() {
    const response = await fetch("api/gallery");
    if (!response.ok) return;
    const gallery = await response.json();
    $("gallery-section").hidden = false;
    $("gallery-title").textContent = "Media in " + gallery.folder;
    const progress = $("gallery-progress");
    progress.max = Math.max(gallery.total, 1);
    progress.value = gallery.done;
    $("gallery-progress-text").textContent = gallery.done === gallery.total
      ? gallery.total + " files checked" : "Checked " + gallery.done + " of " + gallery.total + " files…";
    const list = $("gallery");
    clear(list);
    gallery.items.forEach((item) => list.appendChild(galleryCard(item)));
    if (gallery.done < gallery.total) setTimeout(pollGallery, 700);
  }

  async function start() {
    wireUpload();
    try {
      const info = await (await fetch("api/info")).json();
      state.maxUpload = info.max_upload;
      $("drop-limit").textContent = "MP4, MOV, WebM, AVI and anything else C2PA can carry, up to " +
        megabytes(info.max_upload);
      $("footer-text").textContent = "Checked by provenance " + info.version +
        " against the official C2PA trust lists or the trust anchors this server was given.";
      if (info.gallery) pollGallery();
    } catch (e) {
      setStatus("Could not reach the server: " + e.message, "failed");
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
