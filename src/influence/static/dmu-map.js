/*
 * The deal map: draws one deal's DMU (the JSON of influence.dmu_map.deal_map) as an SVG network with a side
 * panel of ranked people, coverage gaps and next-best contacts. Plain JavaScript, no framework, no network
 * access of its own: the same file is served by the API (/static/dmu-map.js) and inlined in `influence report`.
 *
 * The layout comes precomputed in the JSON (x, y in [0, 1], a seeded spring layout in Python), so a deal is
 * always drawn the same way. Data is only ever inserted with textContent / setAttribute, never as HTML.
 */
(function (global) {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";

  // Okabe-Ito colours (colour-blind safe) plus a two-letter code drawn inside every node, so colour is never the
  // only cue. Dark fills get white text.
  var PROFILE_STYLE = {
    executive_sponsor: { abbr: "ES", color: "#D55E00", text: "#000" },
    budget_holder: { abbr: "BH", color: "#E69F00", text: "#000" },
    procurement: { abbr: "PR", color: "#CC79A7", text: "#000" },
    technical_gatekeeper: { abbr: "TG", color: "#0072B2", text: "#fff" },
    end_user: { abbr: "EU", color: "#56B4E9", text: "#000" },
    silent_influencer: { abbr: "SI", color: "#000000", text: "#fff" },
    digital_researcher: { abbr: "DR", color: "#009E73", text: "#000" },
    political_gatekeeper: { abbr: "PG", color: "#F0E442", text: "#000" },
    external_advisor: { abbr: "EA", color: "#FFFFFF", text: "#000" },
    peripheral: { abbr: "PE", color: "#BBBBBB", text: "#000" }
  };
  var NO_PROFILE = { abbr: "?", color: "#FFFFFF", text: "#333" };
  var STATUS_TEXT = {
    engaged: "\u2713 engaged",
    weak: "\u25CB weakly engaged",
    not_engaged: "\u2717 not engaged",
    missing: "\u2717 missing",
    unknown: "? unknown"
  };
  var R_MIN = 11;
  var R_SPAN = 17;
  var SELLER_HALF = 9;
  var CROWDED = 40;
  var LABELLED_WHEN_CROWDED = 15;

  function label(profile) {
    return profile ? String(profile).replace(/_/g, " ") : "no profile";
  }

  function pct(value) {
    return value === null || value === undefined ? "\u2013" : Math.round(100 * value) + "%";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function sv(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = String(v);
      else if (k === "class") node.setAttribute("class", v);
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
  }

  function append(node, children) {
    if (children === null || children === undefined) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
  }

  function radius(node) {
    if (node.side === "seller") return SELLER_HALF;
    var inf = typeof node.influence === "number" ? Math.max(0, Math.min(1, node.influence)) : 0;
    return R_MIN + R_SPAN * Math.sqrt(inf);
  }

  function styleOf(node) {
    return (node.profile && PROFILE_STYLE[node.profile]) || NO_PROFILE;
  }

  function shortName(name) {
    var s = String(name || "");
    return s.length > 24 ? s.slice(0, 23) + "\u2026" : s;
  }

  function nodeTooltip(n) {
    var lines = [n.name + (n.title ? " \u2014 " + n.title : "")];
    if (n.side === "seller") lines.push("our team (seller side)");
    else {
      if (n.side === "partner") lines.push("partner / external");
      if (n.scored) {
        lines.push("rank " + n.influence_rank + ", influence " + pct(n.influence));
        lines.push("profile: " + label(n.profile) + (n.profile_confidence !== null ? " (" + pct(n.profile_confidence) + ")" : ""));
        if (n.engagement) lines.push("engagement: " + n.engagement);
      } else lines.push("not scored");
    }
    lines.push(n.emails_sent + " e-mails sent, " + n.emails_received + " received, " + n.meetings + " meetings");
    return lines.join("\n");
  }

  function edgeWidth(weight) {
    return Math.min(9, 1 + 1.6 * Math.log(1 + weight));
  }

  // -- the graph ---------------------------------------------------------------------------------------------
  function drawGraph(svg, map, state) {
    var box = svg.getBoundingClientRect();
    var W = Math.max(480, Math.round(box.width || 960));
    var H = Math.max(320, Math.round(box.height || 600));
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var padX = 70;
    var padTop = 42;
    var padBottom = 40;
    var byId = {};
    map.nodes.forEach(function (n) {
      byId[n.id] = {
        node: n,
        x: padX + n.x * (W - 2 * padX),
        y: padTop + n.y * (H - padTop - padBottom)
      };
    });
    svg.appendChild(sv("title", { text: "DMU network of deal " + map.deal.deal_id }));
    var edges = sv("g", { class: "dmu-edges" });
    state.edgeEls = [];
    map.edges.forEach(function (e) {
      var a = byId[e.source];
      var b = byId[e.target];
      if (!a || !b) return;
      var seller = a.node.side === "seller" || b.node.side === "seller";
      var line = sv("line", {
        class: "dmu-edge" + (seller ? " seller" : ""),
        x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1),
        "stroke-width": edgeWidth(e.weight).toFixed(2),
        "data-source": e.source,
        "data-target": e.target
      }, sv("title", {
        text: a.node.name + " \u2014 " + b.node.name + ": " + e.emails + " e-mail" + (e.emails === 1 ? "" : "s") +
          ", " + e.meetings + " shared meeting" + (e.meetings === 1 ? "" : "s")
      }));
      state.edgeEls.push(line);
      edges.appendChild(line);
    });
    svg.appendChild(edges);

    var nodes = sv("g", { class: "dmu-nodes" });
    var crowded = map.nodes.length > CROWDED;
    state.nodeEls = {};
    // Draw the most influential last, so it is on top where circles touch.
    map.nodes.slice().reverse().forEach(function (n) {
      var p = byId[n.id];
      var r = radius(n);
      var st = styleOf(n);
      var classes = ["dmu-node", n.side === "seller" ? "seller" : (n.side === "partner" ? "partner" : "buyer")];
      if (!n.scored && n.side !== "seller") classes.push("unscored");
      if (n.top) classes.push("top");
      var ariaParts = [n.name];
      if (n.side === "seller") ariaParts.push("seller side");
      else if (n.scored) ariaParts.push("rank " + n.influence_rank, "influence " + pct(n.influence), label(n.profile));
      var g = sv("g", {
        class: classes.join(" "),
        transform: "translate(" + p.x.toFixed(1) + " " + p.y.toFixed(1) + ")",
        "data-id": n.id,
        "data-side": n.side,
        "data-rank": n.scored ? n.influence_rank : null,
        "data-profile": n.profile || null,
        "data-top": n.top ? "true" : null,
        tabindex: "0",
        role: "button",
        "aria-label": ariaParts.join(", ")
      });
      g.appendChild(sv("title", { text: nodeTooltip(n) }));
      if (n.side === "seller") {
        g.appendChild(sv("rect", { class: "shape", x: -r, y: -r, width: 2 * r, height: 2 * r, rx: 2 }));
        g.appendChild(sv("rect", { class: "sel-ring", x: -r - 4, y: -r - 4, width: 2 * r + 8, height: 2 * r + 8, rx: 3 }));
      } else {
        g.appendChild(sv("circle", { class: "shape", r: r.toFixed(1), fill: n.scored ? st.color : "#fff" }));
        g.appendChild(sv("text", { class: "abbr", fill: n.scored ? st.text : "#555", text: n.scored ? st.abbr : "\u2013" }));
        g.appendChild(sv("circle", { class: "sel-ring", r: (r + (n.top ? 9 : 4)).toFixed(1) }));
      }
      if (n.top) {
        g.appendChild(sv("circle", { class: "top-ring", r: (r + 5).toFixed(1) }));
        g.appendChild(sv("text", { class: "top-badge", x: 0, y: (-r - 10).toFixed(1), "text-anchor": "middle",
          text: "\u2605 #1 influence" }));
      }
      // A crowded deal keeps the picture readable: names of the most influential people and of our team only;
      // the others show theirs on hover, focus or selection.
      var minor = crowded && n.side !== "seller" && !(n.scored && n.influence_rank <= LABELLED_WHEN_CROWDED);
      g.appendChild(sv("text", { class: "label" + (minor ? " minor" : ""), x: 0, y: (r + 13).toFixed(1),
        text: shortName(n.name) }));
      g.addEventListener("click", function (ev) { ev.stopPropagation(); state.select(n.id); });
      g.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); state.select(n.id); }
      });
      state.nodeEls[n.id] = g;
      nodes.appendChild(g);
    });
    svg.appendChild(nodes);
    if (state.selected) state.select(state.selected, { keep: true, noScroll: true });
  }

  function legend(map) {
    var present = {};
    map.nodes.forEach(function (n) { if (n.scored && n.profile) present[n.profile] = true; });
    var items = [];
    (map.profiles || Object.keys(PROFILE_STYLE)).forEach(function (p) {
      if (!present[p]) return;
      var st = PROFILE_STYLE[p] || NO_PROFILE;
      items.push(el("span", { class: "item", "data-profile": p }, [
        swatch(st), label(p)
      ]));
    });
    var hasPrior = map.nodes.some(function (n) { return n.scored && !n.profile; });
    if (hasPrior) items.push(el("span", { class: "item" }, [swatch(NO_PROFILE), "no profile (too little data)"]));
    items.push(el("span", { class: "item" }, [shapeIcon("seller"), "our team (seller)"]));
    if (map.nodes.some(function (n) { return n.side === "partner"; })) {
      items.push(el("span", { class: "item" }, [shapeIcon("partner"), "partner / external"]));
    }
    items.push(el("span", { class: "item" }, [shapeIcon("top"), "top-ranked person"]));
    items.push(el("span", { class: "item" }, "size = influence \u00B7 line width = e-mails + shared meetings"));
    return el("div", { class: "dmu-legend", role: "list", "aria-label": "legend" }, items.map(function (i) {
      i.setAttribute("role", "listitem");
      return i;
    }));
  }

  function swatch(st) {
    var s = sv("svg", { width: 22, height: 18, "aria-hidden": "true" }, [
      sv("circle", { cx: 9, cy: 9, r: 8, fill: st.color, stroke: "#222", "stroke-width": 1.2 }),
      sv("text", { x: 9, y: 9, "font-size": 8, "font-weight": 700, "text-anchor": "middle",
        "dominant-baseline": "central", fill: st.text, text: st.abbr })
    ]);
    return s;
  }

  function shapeIcon(kind) {
    var shape;
    if (kind === "seller") {
      shape = sv("rect", { x: 3, y: 3, width: 12, height: 12, rx: 2, fill: "#8a8a8a", stroke: "#3f3f3f" });
    } else if (kind === "partner") {
      shape = sv("circle", { cx: 9, cy: 9, r: 7, fill: "#fff", stroke: "#222", "stroke-width": 1.6,
        "stroke-dasharray": "3 2" });
    } else {
      return sv("svg", { width: 22, height: 18, "aria-hidden": "true" }, [
        sv("circle", { cx: 9, cy: 9, r: 4.5, fill: "#ddd", stroke: "#222" }),
        sv("circle", { cx: 9, cy: 9, r: 7.5, fill: "none", stroke: "#111", "stroke-width": 2.2 })
      ]);
    }
    return sv("svg", { width: 22, height: 18, "aria-hidden": "true" }, shape);
  }

  // -- the side panel ----------------------------------------------------------------------------------------
  function profileChip(profile, confidence) {
    var st = (profile && PROFILE_STYLE[profile]) || NO_PROFILE;
    return el("span", { class: "chip", title: "DMU profile" }, [
      el("span", { class: "sw", style: "background:" + st.color }),
      label(profile) + (confidence !== null && confidence !== undefined ? " " + pct(confidence) : "")
    ]);
  }

  function panel(map, state) {
    var ranked = map.nodes.filter(function (n) { return n.scored; })
      .sort(function (a, b) { return a.influence_rank - b.influence_rank; });
    var list = el("ol", { class: "ranked", "aria-label": "people ranked by influence" });
    state.itemEls = {};
    ranked.forEach(function (n) {
      var reasons = el("details", null, [
        el("summary", { text: "why (" + n.reasons.length + " reason" + (n.reasons.length === 1 ? "" : "s") + ")" }),
        n.reasons.length ? el("ul", null, n.reasons.map(function (r) { return el("li", { text: r }); }))
          : el("p", { class: "empty", text: "no reasons given" })
      ]);
      if (n.top) reasons.open = true;
      var li = el("li", { class: n.top ? "top" : null, "data-id": n.id, "data-rank": n.influence_rank }, [
        el("div", { class: "row1" }, [
          el("span", { class: "rank", text: "#" + n.influence_rank }),
          el("button", { class: "name", type: "button", text: n.name,
            onclick: function () { state.select(n.id, { noScroll: true }); } }),
          el("span", { class: "infl", title: "influence: probability of being a key influencer", text: pct(n.influence) })
        ]),
        el("div", { class: "title", text: n.title || "(no title)" }),
        el("div", { class: "chips" }, [
          profileChip(n.profile, n.profile_confidence),
          n.engagement ? el("span", { class: "chip eng-" + n.engagement, title: "our engagement with this person",
            text: "engagement: " + n.engagement }) : null,
          n.side === "partner" ? el("span", { class: "chip", text: "partner" }) : null,
          n.method === "prior" ? el("span", { class: "chip", title: "too few features known: network-only prior",
            text: "network prior" }) : null
        ]),
        el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: "width:" + pct(n.influence) })),
        reasons
      ]);
      state.itemEls[n.id] = li;
      list.appendChild(li);
    });
    var sellers = map.nodes.filter(function (n) { return n.side === "seller"; });

    var gaps = map.gaps.length
      ? el("ul", { class: "gaps" }, map.gaps.map(function (g) { return el("li", { text: g }); }))
      : el("ul", { class: "gaps none" }, el("li", { text: "\u2713 no coverage gap found" }));
    var cover = el("table", { class: "cover", "aria-label": "DMU coverage by profile" }, el("tbody", null,
      (map.coverage || []).map(function (c) {
        return el("tr", { "data-profile": c.profile }, [
          el("td", null, profileChip(c.profile, null)),
          el("td", null, el("span", { class: "status " + c.status, text: STATUS_TEXT[c.status] || c.status })),
          el("td", { text: c.full_name || (c.important ? "" : "(optional)") })
        ]);
      })));

    var nbc = map.next_best_contacts.length
      ? el("ol", { class: "nbc" }, map.next_best_contacts.map(function (c) {
        return el("li", { "data-id": c.person_id }, [
          el("div", null, [
            el("strong", { text: "#" + c.rank + " " }),
            el("button", { class: "name", type: "button", text: c.full_name || c.person_id,
              onclick: function () { state.select(c.person_id); } }),
            c.title ? el("span", { class: "meta", text: " \u2014 " + c.title }) : null
          ]),
          el("div", { class: "chips" }, [profileChip(c.profile, null),
            el("span", { class: "chip", text: "influence " + pct(c.influence) }),
            c.engagement ? el("span", { class: "chip eng-" + c.engagement, text: "engagement: " + c.engagement }) : null]),
          el("div", { class: "angle" }, [el("strong", { text: "Angle: " }), c.angle || "\u2013"]),
          c.why ? el("div", { class: "why", text: "Why: " + c.why }) : null
        ]);
      }))
      : el("p", { class: "empty", text: "no next-best contact: everyone who matters is engaged, or nobody is known yet" });

    var heads = {
      people: el("h3", { text: "Ranked people (" + ranked.length + ")" }),
      gaps: el("h3", { text: "Coverage gaps (" + map.gaps.length + ")" }),
      nbc: el("h3", { text: "Next-best contacts (" + map.next_best_contacts.length + ")" })
    };
    function jump(key, text) {
      return el("button", { type: "button", class: "jump", text: text,
        onclick: function () { heads[key].scrollIntoView({ block: "start" }); } });
    }
    var jumps = el("div", { class: "jumps", role: "navigation", "aria-label": "panel sections" }, [
      jump("people", "People " + ranked.length),
      jump("gaps", "Gaps " + map.gaps.length),
      jump("nbc", "Next-best " + map.next_best_contacts.length)
    ]);
    return el("aside", { class: "dmu-panel", "aria-label": "deal summary" }, [
      jumps,
      heads.people,
      ranked.length ? list : el("p", { class: "empty", text: "nobody on the buyer side has been scored" }),
      sellers.length ? el("p", { class: "meta", text: "Our team on this deal: " +
        sellers.map(function (s) { return s.name; }).join(", ") }) : null,
      heads.gaps,
      gaps,
      cover,
      heads.nbc,
      nbc
    ]);
  }

  function header(map) {
    var d = map.deal || {};
    var bits = [];
    if (d.account_name || d.account_id) bits.push((d.account_name || "") + (d.account_id ? " (" + d.account_id + ")" : ""));
    if (d.stage || d.outcome) bits.push([d.stage, d.outcome].filter(Boolean).join(" \u00B7 "));
    if (d.amount !== null && d.amount !== undefined) bits.push(Number(d.amount).toLocaleString("en") + " " + (d.currency || ""));
    var s = map.summary || {};
    bits.push(s.people + " people (" + s.seller + " ours) \u00B7 " + s.ties + " ties \u00B7 " + s.emails + " e-mails \u00B7 " +
      s.meetings + " meetings");
    if (map.as_of) bits.push("as of " + map.as_of);
    if (map.model_version) bits.push("model " + map.model_version);
    return el("div", { class: "dmu-head" }, [
      el("h2", { text: "Deal " + d.deal_id }),
      el("span", { class: "meta", text: bits.join("  |  ") })
    ]);
  }

  /**
   * Render the map JSON into `container` (emptied first). Returns a controller {select(id), map}.
   */
  function render(container, map) {
    container.textContent = "";
    container.classList.add("dmu");
    container.setAttribute("data-deal", map.deal.deal_id);
    var state = { selected: null, nodeEls: {}, itemEls: {}, edgeEls: [], map: map };
    var svg = sv("svg", { class: "dmu-svg", role: "group", "aria-label": "DMU network of deal " + map.deal.deal_id,
      "data-nodes": map.nodes.length, "data-edges": map.edges.length });
    state.select = function (id, opts) {
      opts = opts || {};
      if (state.selected === id && !opts.keep) id = null;
      state.selected = id;
      var neighbours = {};
      if (id) {
        neighbours[id] = true;
        map.edges.forEach(function (e) {
          if (e.source === id) neighbours[e.target] = true;
          if (e.target === id) neighbours[e.source] = true;
        });
      }
      Object.keys(state.nodeEls).forEach(function (k) {
        state.nodeEls[k].classList.toggle("selected", k === id);
        state.nodeEls[k].classList.toggle("dim", !!id && !neighbours[k]);
      });
      state.edgeEls.forEach(function (line) {
        var on = !!id && (line.getAttribute("data-source") === id || line.getAttribute("data-target") === id);
        line.classList.toggle("hl", on);
        line.classList.toggle("dim", !!id && !on);
      });
      Object.keys(state.itemEls).forEach(function (k) {
        state.itemEls[k].classList.toggle("selected", k === id);
      });
      var item = id && state.itemEls[id];
      if (item) {
        var det = item.querySelector("details");
        if (det) det.open = true;
        if (!opts.noScroll && item.scrollIntoView) item.scrollIntoView({ block: "nearest" });
      }
    };
    svg.addEventListener("click", function () { if (state.selected) state.select(state.selected); });
    var figure = el("figure", { class: "dmu-figure" }, [svg, legend(map)]);
    container.appendChild(header(map));
    container.appendChild(el("div", { class: "dmu-body" }, [figure, panel(map, state)]));
    drawGraph(svg, map, state);
    if (global.ResizeObserver) {
      var last = "";
      new global.ResizeObserver(function () {
        var b = svg.getBoundingClientRect();
        var key = Math.round(b.width) + "x" + Math.round(b.height);
        if (key !== last && b.width > 0) { last = key; drawGraph(svg, map, state); }
      }).observe(svg);
    }
    return state;
  }

  // -- pages served by the API -------------------------------------------------------------------------------
  var KEY_STORE = "influence.apiKey";

  function apiKey() {
    try { return global.sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
  }

  function notice(target, kind, title, items) {
    target.textContent = "";
    if (!title) return;
    var box = el("div", { class: "notice" + (kind === "error" ? " error" : ""), role: kind === "error" ? "alert" : "status" },
      [el("strong", { text: title })]);
    if (items && items.length) box.appendChild(el("ul", null, items.map(function (t) { return el("li", { text: t }); })));
    target.appendChild(box);
  }

  function problemLines(payload) {
    if (!payload) return [];
    var d = payload.detail;
    if (Array.isArray(d)) {
      return d.map(function (p) { return (p.path || (p.loc || []).join(".")) + ": " + p.msg; });
    }
    return d ? [String(d)] : [];
  }

  function askKey(target, retry) {
    notice(target, "error", "This server needs an API key (X-API-Key).");
    var input = el("input", { type: "password", "aria-label": "API key", placeholder: "API key" });
    var form = el("form", { class: "notice" }, [
      el("label", null, ["API key: ", input]), " ",
      el("button", { type: "submit", text: "Use key" })
    ]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      try { global.sessionStorage.setItem(KEY_STORE, input.value); } catch (e) { /* private mode */ }
      target.textContent = "";
      retry();
    });
    target.appendChild(form);
    input.focus();
  }

  /** fetch JSON from the API with the stored key; rejects with {status, payload}. */
  function api(url, options) {
    options = options || {};
    var headers = options.headers || {};
    var key = apiKey();
    if (key) headers["X-API-Key"] = key;
    options.headers = headers;
    return global.fetch(url, options).then(function (res) {
      return res.text().then(function (text) {
        var payload = null;
        try { payload = text ? JSON.parse(text) : null; } catch (e) { payload = { detail: text }; }
        if (!res.ok) throw { status: res.status, payload: payload };
        return payload;
      });
    });
  }

  function failure(target, err, retry, what) {
    if (err && err.status === 401) { askKey(target, retry); return; }
    if (err && err.status) {
      notice(target, "error", what + " failed (HTTP " + err.status + ")", problemLines(err.payload));
    } else {
      notice(target, "error", what + " failed: " + (err && err.message ? err.message : String(err)));
    }
  }

  function dealPage() {
    var app = document.getElementById("app");
    var msg = document.getElementById("messages");
    var picker = document.getElementById("deal-picker");
    var parts = global.location.pathname.split("/");
    var dealId = decodeURIComponent(parts[parts.length - 1] || "");
    document.title = "Deal " + dealId + " \u00B7 DMU map";
    function load() {
      notice(msg, "info", "Scoring deal " + dealId + "\u2026");
      api("/v1/dataset/deals/" + encodeURIComponent(dealId) + "/map").then(function (map) {
        notice(msg);
        global.dmuMap = render(app, map);
        document.body.setAttribute("data-ready", "true");
      }, function (err) { failure(msg, err, load, "Loading deal " + dealId); });
      api("/v1/dataset/deals").then(function (index) {
        picker.textContent = "";
        index.deals.forEach(function (d) {
          var text = d.deal_id + " \u2014 " + (d.account_name || d.account_id) + (d.outcome ? " (" + d.outcome + ")" : "");
          picker.appendChild(el("option", { value: d.deal_id, text: text, selected: d.deal_id === dealId }));
        });
        picker.hidden = false;
      }, function () { /* the picker is a convenience */ });
    }
    picker.addEventListener("change", function () {
      global.location.href = "/deals/" + encodeURIComponent(picker.value);
    });
    load();
  }

  function indexPage() {
    var msg = document.getElementById("messages");
    var body = document.getElementById("deal-rows");
    function load() {
      api("/v1/dataset/deals").then(function (index) {
        notice(msg);
        document.getElementById("dataset").textContent = index.dataset + " \u2014 " + index.deals.length + " deals";
        index.deals.forEach(function (d) {
          body.appendChild(el("tr", null, [
            el("td", null, el("a", { href: "/deals/" + encodeURIComponent(d.deal_id), text: d.deal_id })),
            el("td", { text: d.account_name || "" }),
            el("td", { text: d.account_id }),
            el("td", { text: d.outcome || "" }),
            el("td", { text: d.stage || "" }),
            el("td", { text: d.created_at ? d.created_at.slice(0, 10) : "" })
          ]));
        });
        document.body.setAttribute("data-ready", "true");
      }, function (err) { failure(msg, err, load, "Listing the deals"); });
    }
    load();
  }

  function mapPage() {
    var app = document.getElementById("app");
    var msg = document.getElementById("messages");
    var text = document.getElementById("deal-json");
    var file = document.getElementById("deal-file");
    var form = document.getElementById("map-form");
    function submit() {
      var body = text.value.trim();
      if (!body) { notice(msg, "error", "Paste a deal (the JSON body of POST /v1/deals/score) or choose a file."); return; }
      try { JSON.parse(body); } catch (e) {
        notice(msg, "error", "That is not valid JSON: " + e.message);
        return;
      }
      notice(msg, "info", "Scoring\u2026");
      api("/v1/deals/map", { method: "POST", headers: { "Content-Type": "application/json" }, body: body })
        .then(function (map) {
          notice(msg);
          global.dmuMap = render(app, map);
          document.body.setAttribute("data-ready", "true");
        }, function (err) { failure(msg, err, submit, "Scoring the deal"); });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) return;
      var reader = new global.FileReader();
      reader.onload = function () { text.value = String(reader.result); submit(); };
      reader.onerror = function () { notice(msg, "error", "Could not read " + f.name); };
      reader.readAsText(f);
    });
  }

  // -- the self-contained report -----------------------------------------------------------------------------
  function reportPage() {
    var data = JSON.parse(document.getElementById("dmu-data").textContent);
    var done = {};
    function draw(details) {
      var id = details.getAttribute("data-deal");
      if (done[id] || !details.open) return;
      var map = data.maps[id];
      var slot = details.querySelector(".dmu-slot");
      if (!map || !slot) return;
      done[id] = render(slot, map);
    }
    var sections = document.querySelectorAll("details.deal-section");
    Array.prototype.forEach.call(sections, function (d) {
      d.addEventListener("toggle", function () { draw(d); });
      draw(d);
    });
    document.body.setAttribute("data-ready", "true");
  }

  global.DmuMap = {
    PROFILE_STYLE: PROFILE_STYLE,
    render: render,
    pages: { deal: dealPage, index: indexPage, map: mapPage, report: reportPage }
  };
})(window);
