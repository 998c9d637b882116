// The hotline wallboard's script: reads GET /api/v1/events and fills the page.
//
// The stream is read with fetch() and a streaming body reader rather than EventSource, which
// cannot send an Authorization header: with a token set (⚙ settings, kept in localStorage)
// every request carries `Authorization: Bearer <token>`; without one the page works as the
// API does on loopback. Every figure is written into an element carrying
// data-figure="<name>" (e.g. "answer_rate.today", "waiting.queue.12345"), which is also what
// the browser test reads. Labels are zh-CN by default, English on the switch.
"use strict";

(() => {
  // ---- labels ---------------------------------------------------------------------------

  const DICT = {
    zh: {
      title: "12345 政务服务便民热线 · 实时监控",
      answer_rate_today: "今日接通率",
      target: "目标",
      updated: "数据时间",
      settings: "设置",
      controls: "班长操作",
      token: "访问令牌",
      save: "保存",
      token_hint: "本机访问可留空；令牌保存在本浏览器中，随每个请求发送。",
      token_saved: "令牌已保存，正在重新连接",
      link_connecting: "连接中",
      link_live: "实时",
      link_reconnecting: "重连中",
      link_refused: "无权访问",
      rate_today: "今日接通率",
      rate_1h: "近1小时接通率",
      rate_24h: "近24小时接通率",
      within_today: "今日15秒接通率",
      within_1h: "近1小时15秒接通率",
      within_24h: "近24小时15秒接通率",
      waiting_now: "排队",
      longest_wait: "最长等待",
      waiting_calls: "排队最久的来电",
      call: "来电",
      waited: "已等待",
      none_waiting: "无排队来电",
      offered: "来电",
      answered: "接通",
      asa: "平均应答",
      lines_and_queues: "线路与队列",
      line: "线路",
      queue: "队列",
      waiting: "排队",
      longest_col: "最长等待",
      offered_today: "今日来电",
      rate_today_short: "今日接通率",
      seats: "坐席",
      pool: "坐席组",
      pool_intake: "话务受理",
      pool_support: "支撑",
      pool_surge: "应急席位",
      pool_expert: "专家",
      pool_leader: "领导",
      state_ready: "空闲",
      state_talking: "通话",
      state_ringing: "振铃",
      state_wrap_up: "话后",
      state_not_ready: "示忙",
      state_logged_out: "签出",
      col_ready: "空闲",
      col_talking: "通话",
      col_ringing: "振铃",
      col_wrap_up: "话后",
      col_not_ready: "示忙",
      col_logged_out: "签出",
      surge_pool: "高峰扩容",
      surge_is_open: "应急席位已开启",
      surge_is_closed: "应急席位未开启",
      surge_never: "启动以来未变化",
      surge_opened_at: "{time} 开启",
      surge_closed_at: "{time} 关闭",
      reason_longest_wait: "最长等待达 {value}",
      reason_calls_waiting: "排队达 {value} 人",
      reason_answer_rate: "近期15秒接通率降至 {value}",
      reason_manual: "班长手动操作",
      reason_calm: "话务平稳",
      transfers: "转接（启动以来）",
      target_col: "转接对象",
      total: "合计",
      completed: "成功",
      failed: "未成功",
      under_way: "进行中",
      chart_title: "今日每小时接通率",
      legend_rate: "接通率",
      legend_within: "15秒接通率",
      legend_target: "目标",
      no_calls_today: "今日暂无来电",
      surge_open: "开启应急席位",
      surge_close: "关闭应急席位",
      seat_state: "坐席状态",
      seat_id: "坐席号",
      reason: "原因",
      apply: "执行",
      seat_pools: "调整坐席组/技能",
      pools_hint: "坐席组，如 support",
      skills_hint: "技能，如 legal:7 民政:3",
      withdraw: "排队来电转坐席",
      no_waiting: "（无排队来电）",
      done: "已完成",
      failed_request: "失败",
    },
    en: {
      title: "12345 Government Service Hotline · Live",
      answer_rate_today: "Answer rate today",
      target: "target",
      updated: "Data at",
      settings: "Settings",
      controls: "Supervisor",
      token: "Access token",
      save: "Save",
      token_hint: "Leave empty on loopback; the token stays in this browser and is sent with every request.",
      token_saved: "Token saved, reconnecting",
      link_connecting: "connecting",
      link_live: "live",
      link_reconnecting: "reconnecting",
      link_refused: "not allowed",
      rate_today: "Answer rate today",
      rate_1h: "Answer rate 1 h",
      rate_24h: "Answer rate 24 h",
      within_today: "15-s rate today",
      within_1h: "15-s rate 1 h",
      within_24h: "15-s rate 24 h",
      waiting_now: "Waiting",
      longest_wait: "Longest wait",
      waiting_calls: "Longest waiting calls",
      call: "Call",
      waited: "Waited",
      none_waiting: "nobody waiting",
      offered: "Offered",
      answered: "answered",
      asa: "ASA",
      lines_and_queues: "Lines and queues",
      line: "Line",
      queue: "Queue",
      waiting: "Waiting",
      longest_col: "Longest",
      offered_today: "Offered",
      rate_today_short: "Rate today",
      seats: "Seats",
      pool: "Pool",
      pool_intake: "Intake",
      pool_support: "Support",
      pool_surge: "Surge",
      pool_expert: "Expert",
      pool_leader: "Leader",
      state_ready: "Ready",
      state_talking: "Talking",
      state_ringing: "Ringing",
      state_wrap_up: "Wrap-up",
      state_not_ready: "Not ready",
      state_logged_out: "Logged out",
      col_ready: "Ready",
      col_talking: "Talk",
      col_ringing: "Ring",
      col_wrap_up: "Wrap",
      col_not_ready: "Not rdy",
      col_logged_out: "Out",
      surge_pool: "Surge pool",
      surge_is_open: "Surge seats OPEN",
      surge_is_closed: "Surge seats closed",
      surge_never: "no change since start-up",
      surge_opened_at: "opened {time}",
      surge_closed_at: "closed {time}",
      reason_longest_wait: "longest wait reached {value}",
      reason_calls_waiting: "{value} callers waiting",
      reason_answer_rate: "recent 15-s rate fell to {value}",
      reason_manual: "by a supervisor",
      reason_calm: "traffic calm",
      transfers: "Transfers (since start-up)",
      target_col: "Target",
      total: "Total",
      completed: "Done",
      failed: "Failed",
      under_way: "Now",
      chart_title: "Answer rate per hour today",
      legend_rate: "answer rate",
      legend_within: "15-s rate",
      legend_target: "target",
      no_calls_today: "No calls yet today",
      surge_open: "Open surge",
      surge_close: "Close surge",
      seat_state: "Seat state",
      seat_id: "seat",
      reason: "reason",
      apply: "Apply",
      seat_pools: "Seat pools / skills",
      pools_hint: "pool, e.g. support",
      skills_hint: "skills, e.g. legal:7",
      withdraw: "Waiting call to seat",
      no_waiting: "(no call waiting)",
      done: "done",
      failed_request: "failed",
    },
  };

  const POOLS = ["intake", "support", "surge", "expert", "leader"];
  const STATES = ["ready", "talking", "ringing", "wrap_up", "not_ready", "logged_out"];
  const FAILED = ["busy", "rejected", "no_answer", "unreachable", "target_hung_up"];
  const WINDOWS = ["today", "1h", "24h"];
  /// GB/T 33358's 24-hour floor: below the target but above this is amber, below it red.
  const AMBER_BELOW_TARGET = 0.03;

  const store = {
    get(key) {
      try { return localStorage.getItem(key); } catch (_) { return null; }
    },
    set(key, value) {
      try { localStorage.setItem(key, value); } catch (_) { /* private mode: not kept */ }
    },
  };

  // `?lang=en` (or zh) picks the language for a kiosk URL, and is remembered.
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "en" || asked === "zh") store.set("hotline.lang", asked);
  let lang = (asked || store.get("hotline.lang")) === "en" ? "en" : "zh";
  let snapshot = null;
  let linkState = "connecting";

  function t(key, vars) {
    let text = (DICT[lang] && DICT[lang][key]) || DICT.zh[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
    return text;
  }

  const $ = (sel) => document.querySelector(sel);

  // ---- formats ---------------------------------------------------------------------------

  const pct = (r) => (r == null ? "—" : `${(r * 100).toFixed(1)}%`);
  const count = (n) => (n == null ? "0" : String(n));
  /// m:ss, or h:mm:ss from an hour on.
  function wait(ms) {
    if (ms == null) return "—";
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }
  /// Short durations (the average speed of answer) in seconds with a tenth.
  const seconds = (ms) => (ms == null ? "—" : ms < 60000 ? `${(ms / 1000).toFixed(1)}s` : wait(ms));
  const two = (n) => String(n).padStart(2, "0");
  /// A name without the number it starts with ("110 公安" under 110).
  const bare = (name, number) => (name.startsWith(`${number} `) ? name.slice(number.length + 1) : name);
  function clock(ms) {
    const d = new Date(ms);
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }
  function rateLevel(r, target) {
    if (r == null) return "none";
    if (r >= target) return "good";
    return r >= target - AMBER_BELOW_TARGET ? "warn" : "bad";
  }
  function waitLevel(ms, withinS) {
    if (ms == null) return "none";
    if (ms <= withinS * 1000) return "good";
    return ms <= 60000 ? "warn" : "bad";
  }

  // ---- writing figures ------------------------------------------------------------------

  /// Write `text` (and a colour level) into every element named `name`.
  function set(name, text, level) {
    for (const el of document.querySelectorAll(`[data-figure="${CSS.escape(name)}"]`)) {
      if (el.textContent !== text) el.textContent = text;
      if (level !== undefined) el.dataset.level = level;
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "figure") node.dataset.figure = v;
      else if (k === "level") node.dataset.level = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c));
    return node;
  }

  const win = (scope, w) => (scope && scope[w]) || {};

  function render(s) {
    const st = s.stats;
    const target = st.target_answer_rate;
    const within = st.answer_within_s;
    const platform = st.platform || {};
    for (const w of WINDOWS) {
      const f = win(platform, w);
      set(`answer_rate.${w}`, pct(f.answer_rate), rateLevel(f.answer_rate, target));
      set(`answered_within_rate.${w}`, pct(f.answered_within_rate),
        rateLevel(f.answered_within_rate, target));
      set(`offered.${w}`, count(f.offered));
    }
    const today = win(platform, "today");
    set("headline.answer_rate", pct(today.answer_rate), rateLevel(today.answer_rate, target));
    set("answered.today", count(today.answered));
    set("asa.today", seconds(today.asa_ms));
    set("target_answer_rate", `${Math.round(target * 1000) / 10}%`);
    set("waiting.total", count(today.waiting_now), today.waiting_now > 0 ? "warn" : "none");
    set("longest_wait.total", wait(today.longest_wait_ms), waitLevel(today.longest_wait_ms, within));
    set("updated", clock(st.at));
    renderQueues(s, target, within);
    renderSeats(s.seats || {});
    renderSurge(st);
    renderTransfers(st.transfers || []);
    renderWaiting(s.waiting_calls || [], within);
    renderWithdraw(s.waiting_calls || []);
    drawChart(st.today_by_hour || [], target);
  }

  function queueRow(kind, id, label, name, waiting, longest, f, target, within) {
    const row = el("tr", { class: `${kind}${waiting > 0 ? " busy" : ""}${f.offered ? "" : " idle"}` },
      el("td", {}, el("span", { class: "num-id" }, label), name ? el("span", { class: "name" }, name) : ""),
      el("td", { class: "num", figure: `waiting.${kind}.${id}` }, count(waiting)),
      el("td", { class: "num", figure: `longest_wait.${kind}.${id}`, level: waitLevel(longest, within) },
        wait(longest)),
      el("td", { class: "num", figure: `offered.${kind}.${id}` }, count(f.offered)),
      el("td", { class: "num", figure: `answer_rate.${kind}.${id}`, level: rateLevel(f.answer_rate, target) },
        pct(f.answer_rate)));
    return row;
  }

  function renderQueues(s, target, within) {
    const st = s.stats;
    const rows = [];
    for (const q of s.queues || []) {
      rows.push(queueRow("queue", q.name, `${t("queue")} ${q.name}`, "", q.waiting,
        q.longest_wait_ms, win(st.queues[q.name], "today"), target, within));
      for (const l of (s.lines || []).filter((l) => l.queue === q.name)) {
        const now = win(st.lines[l.number], "15m");
        rows.push(queueRow("line", l.number, l.number, bare(l.name, l.number), now.waiting_now,
          now.longest_wait_ms, win(st.lines[l.number], "today"), target, within));
      }
    }
    $("#queue-rows").replaceChildren(...rows);
  }

  function renderSeats(seats) {
    const pools = POOLS.filter((p) => seats[p]).concat(Object.keys(seats).filter((p) => !POOLS.includes(p)));
    $("#seat-head").replaceChildren(el("tr", {}, el("th", {}, t("pool")),
      ...STATES.map((state) => el("th", { class: "num" }, t(`col_${state}`)))));
    $("#seat-rows").replaceChildren(...pools.map((p) => el("tr", {},
      el("td", {}, t(`pool_${p}`)),
      ...STATES.map((state) => {
        const n = (seats[p] || {})[state] || 0;
        return el("td", { class: `num${n ? "" : " zero"}`, figure: `seats.${p}.${state}` }, count(n));
      }))));
  }

  function surgeValue(r) {
    if (r.value == null) return "";
    if (r.reason === "longest_wait") return wait(r.value);
    if (r.reason === "answer_rate") return pct(r.value);
    return String(r.value);
  }

  function renderSurge(st) {
    set("surge.open", st.surge_open ? t("surge_is_open") : t("surge_is_closed"),
      st.surge_open ? "warn" : "good");
    const r = st.surge_reason;
    if (!r) {
      set("surge.reason", t("surge_never"));
      return;
    }
    const when = t(r.open ? "surge_opened_at" : "surge_closed_at", { time: clock(r.at) });
    set("surge.reason", `${when} · ${t(`reason_${r.reason}`, { value: surgeValue(r) })}`);
  }

  function renderTransfers(transfers) {
    $("#transfer-rows").replaceChildren(...transfers.map((x) => {
      const o = x.outcomes || {};
      const total = Object.values(o).reduce((a, b) => a + b, 0);
      const failed = FAILED.reduce((a, k) => a + (o[k] || 0), 0);
      return el("tr", { class: total || x.under_way ? "" : "idle" },
        el("td", {}, el("span", { class: "num-id" }, x.number), el("span", { class: "name" }, bare(x.name, x.number))),
        el("td", { class: "num", figure: `transfers.${x.target}.total` }, count(total)),
        el("td", { class: "num", figure: `transfers.${x.target}.completed` }, count(o.completed)),
        el("td", { class: "num", figure: `transfers.${x.target}.failed`, level: failed ? "warn" : "none" },
          count(failed)),
        el("td", { class: "num", figure: `transfers.${x.target}.under_way` }, count(x.under_way)));
    }));
  }

  /// The few calls waiting longest (as many as the card has room for).
  function renderWaiting(calls, within) {
    const rows = calls.slice(0, 8).map((c) => el("tr", {},
      el("td", { figure: `waiting_call.${c.id}` }, `#${c.id}`),
      el("td", {}, c.line),
      el("td", { class: "num", level: waitLevel(c.waited_ms, within) }, wait(c.waited_ms))));
    if (!rows.length) rows.push(el("tr", { class: "idle" }, el("td", { colspan: "3" }, t("none_waiting"))));
    const body = $("#waiting-rows");
    body.replaceChildren(...rows);
    // No half rows: drop those the card cuts off.
    const bottom = $("#waiting").getBoundingClientRect().bottom;
    while (body.rows.length > 1 && body.lastElementChild.getBoundingClientRect().bottom > bottom - 4) {
      body.lastElementChild.remove();
    }
  }

  function renderWithdraw(calls) {
    const select = $("#withdraw-call");
    const chosen = select.value;
    const options = calls.map((c) => el("option", { value: String(c.id) },
      `#${c.id} · ${c.line} · ${wait(c.waited_ms)}`));
    if (!options.length) options.push(el("option", { value: "" }, t("no_waiting")));
    select.replaceChildren(...options);
    if (calls.some((c) => String(c.id) === chosen)) select.value = chosen;
  }

  // ---- the chart: hand-drawn SVG ---------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart(hours, target) {
    const root = $("#chart-svg");
    // 1600 units wide, as tall as the box is in proportion: the chart fills its card at any
    // screen size, and text keeps its size relative to the width.
    const box = root.getBoundingClientRect();
    const W = 1600;
    const H = box.width > 0 ? Math.max(200, Math.min(600, Math.round((W * box.height) / box.width))) : 260;
    const [left, right, top, bottom] = [90, W - 20, 14, H - 38];
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const rates = hours.flatMap((h) => [h.answer_rate, h.answered_within_rate]).filter((r) => r != null);
    // The scale starts at 80 % (or lower, in 5-point steps, to show a bad hour), so the
    // distance to the 98 % line stays visible.
    const lowest = Math.min(0.8, ...rates);
    const lo = Math.max(0, Math.floor(lowest * 20 + 1e-9) / 20);
    const x = (hour) => left + ((hour + 0.5) * (right - left)) / 24;
    const y = (r) => bottom - ((r - lo) / (1 - lo)) * (bottom - top);
    const parts = [svg("title", { id: "chart-title" }, t("chart_title"))];
    const step = 1 - lo > 0.25 ? 0.1 : 0.05;
    for (let r = lo; r <= 1.0001; r += step) {
      parts.push(svg("line", { class: "grid", x1: left, x2: right, y1: y(r), y2: y(r) }));
      parts.push(svg("text", { class: "axis", x: left - 12, y: y(r) + 7, "text-anchor": "end" },
        `${Math.round(r * 100)}%`));
    }
    for (let h = 0; h < 24; h += 2) {
      parts.push(svg("text", { class: "axis", x: x(h), y: H - 8, "text-anchor": "middle" }, two(h)));
    }
    parts.push(svg("line", { class: "goal", x1: left, x2: right, y1: y(target), y2: y(target) }));
    parts.push(svg("text", { class: "goal-label", x: right, y: y(target) - 8, "text-anchor": "end" },
      `${t("legend_target")} ${Math.round(target * 1000) / 10}%`));
    for (const [key, cls] of [["answered_within_rate", "within"], ["answer_rate", "rate"]]) {
      // A line through consecutive hours with calls; an hour without breaks it.
      let run = [];
      const flush = () => {
        if (run.length > 1) parts.push(svg("polyline", { class: cls, points: run.join(" ") }));
        run = [];
      };
      for (const h of hours) {
        if (h[key] == null) { flush(); continue; }
        run.push(`${x(h.hour).toFixed(1)},${y(h[key]).toFixed(1)}`);
      }
      flush();
    }
    const shown = hours.filter((h) => h.answer_rate != null);
    for (const h of shown) {
      parts.push(svg("circle", {
        class: `dot${h.answer_rate < target ? " low" : ""}`, cx: x(h.hour), cy: y(h.answer_rate), r: 8,
        "data-figure": `hour.${h.hour}.answer_rate`, "data-value": h.answer_rate,
      }));
    }
    if (shown.length) {
      const last = shown[shown.length - 1];
      const above = y(last.answer_rate) > top + 40;
      parts.push(svg("text", {
        class: "point-label", x: x(last.hour), y: y(last.answer_rate) + (above ? -18 : 34),
        "text-anchor": last.hour > 20 ? "end" : "middle",
      }, pct(last.answer_rate)));
    } else {
      parts.push(svg("text", { class: "empty", x: (left + right) / 2, y: (top + bottom) / 2, "text-anchor": "middle" },
        t("no_calls_today")));
    }
    root.replaceChildren(...parts);
  }

  // ---- language ------------------------------------------------------------------------

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = lang === "zh" ? "12345 热线实时监控" : "12345 hotline live";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    $("#lang").textContent = lang === "zh" ? "EN" : "中文";
    setLink(linkState);
    if (snapshot) render(snapshot);
  }

  // ---- the event stream ----------------------------------------------------------------

  function token() {
    return (store.get("hotline.token") || "").trim();
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    const tok = token();
    if (tok) h.Authorization = `Bearer ${tok}`;
    return h;
  }

  function setLink(state) {
    linkState = state;
    const node = $("#link");
    node.dataset.link = state;
    node.textContent = t(`link_${state}`);
  }

  /// `{"error": {"code", "message"}}` of a failed answer, as one line.
  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return `${res.status} ${body.error.code}: ${body.error.message}`;
    } catch (_) { /* not JSON */ }
    return `${res.status} ${res.statusText}`;
  }

  /// One server-sent event block (lines up to a blank line).
  function onBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line === "" || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (event !== "snapshot" || !data.length) return;
    snapshot = JSON.parse(data.join("\n"));
    render(snapshot);
  }

  const SILENCE = 40000; // longer than two keep-alives (15 s): the stream is dead
  let backoff = 1000;
  let current = null;

  async function connect() {
    const abort = new AbortController();
    current = abort;
    let watchdog = setTimeout(() => abort.abort(), SILENCE);
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), SILENCE);
    };
    let retry = true;
    try {
      const res = await fetch("/api/v1/events", {
        headers: headers({ Accept: "text/event-stream" }),
        cache: "no-store",
        signal: abort.signal,
      });
      if (!res.ok) {
        const why = await errorText(res);
        if (res.status === 401 || res.status === 403) {
          setLink("refused");
          $("#settings").hidden = false;
          $("#link").title = why;
        }
        throw new Error(why);
      }
      setLink("live");
      $("#link").title = "";
      backoff = 1000;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        alive();
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          onBlock(block);
        }
      }
    } catch (e) {
      if (abort !== current) retry = false; // replaced by a newer connection
      else if (e && e.name !== "AbortError") console.warn("wallboard stream:", e.message || e);
    } finally {
      clearTimeout(watchdog);
    }
    if (!retry) return;
    if (linkState !== "refused") setLink("reconnecting");
    // Exponential backoff with jitter, so a room of boards does not return all at once.
    const delay = backoff * (0.75 + Math.random() * 0.5);
    backoff = Math.min(backoff * 2, 30000);
    setTimeout(() => { if (abort === current) connect(); }, delay);
  }

  function reconnect() {
    if (current) {
      const old = current;
      current = null;
      old.abort();
    }
    backoff = 1000;
    connect();
  }

  // ---- supervisor controls -------------------------------------------------------------

  function showResult(ok, text) {
    const out = $("#control-result");
    out.dataset.ok = String(ok);
    out.textContent = `${t(ok ? "done" : "failed_request")}: ${text}`;
  }

  async function post(path, body) {
    try {
      const res = await fetch(path, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
        cache: "no-store",
      });
      if (res.ok) showResult(true, `${path} ${JSON.stringify(await res.json())}`);
      else showResult(false, `${path} → ${await errorText(res)}`);
    } catch (e) {
      showResult(false, `${path} → ${e.message || e}`);
    }
  }

  const list = (text) => text.split(/[\s,，]+/).filter(Boolean);
  const seatPath = (seat) => encodeURIComponent(seat.trim());

  function wireControls() {
    $("#form-surge").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const open = ev.submitter ? ev.submitter.value === "true" : true;
      post("/api/v1/pools/surge", { open });
    });
    $("#form-state").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target.elements;
      const body = { state: f.state.value };
      if (f.reason.value.trim()) body.reason = f.reason.value.trim();
      post(`/api/v1/seats/${seatPath(f.seat.value)}/state`, body);
    });
    $("#form-pools").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target.elements;
      // One pool; skills as "topic:level". An empty field keeps what the seat has.
      const body = {};
      if (f.pool.value.trim()) body.pool = f.pool.value.trim();
      if (f.skills.value.trim()) body.skills = list(f.skills.value);
      post(`/api/v1/seats/${seatPath(f.seat.value)}/pools`, body);
    });
    $("#form-withdraw").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const f = ev.target.elements;
      if (!f.call.value) {
        showResult(false, t("no_waiting"));
        return;
      }
      post(`/api/v1/calls/${encodeURIComponent(f.call.value)}/withdraw`, { seat: f.seat.value.trim() });
    });
  }

  // ---- start ---------------------------------------------------------------------------

  function start() {
    $("#lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      store.set("hotline.lang", lang);
      applyLang();
    });
    $("#settings-toggle").addEventListener("click", () => {
      const panel = $("#settings");
      panel.hidden = !panel.hidden;
      if (!panel.hidden) $("#token").value = token();
    });
    $("#controls-toggle").addEventListener("click", () => {
      $("#controls").hidden = !$("#controls").hidden;
    });
    $("#token-save").addEventListener("click", () => {
      store.set("hotline.token", $("#token").value.trim());
      $("#settings").hidden = true;
      showResult(true, t("token_saved"));
      reconnect();
    });
    wireControls();
    // A supervisor's bookmark can open the controls: /#controls.
    if (location.hash === "#controls") $("#controls").hidden = false;
    window.addEventListener("resize", () => {
      const st = snapshot && snapshot.stats;
      drawChart(st ? st.today_by_hour || [] : [], st ? st.target_answer_rate : 0.98);
    });
    const tick = () => set("clock", clock(Date.now()));
    tick();
    setInterval(tick, 1000);
    applyLang();
    drawChart([], 0.98);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
