// Phone simulator page: her USSD session and SMS on the left, responders' inboxes on the right.
// Plain DOM, no framework; every text from the server is set with textContent, never as HTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);

  const api = document.body.dataset;
  const state = { session: null, inputs: [], timer: null, generation: 0 };
  const inboxes = new Map(); // responder phone -> {article, list, signature}

  // Tajik-only letters mark Tajik; other Cyrillic is most likely Russian; else leave it open.
  const TAJIK = /[\u0492\u0493\u049A\u049B\u04B2\u04B3\u04B6\u04B7\u04E2\u04E3\u04EE\u04EF]/;
  const CYRILLIC = /[\u0400-\u04FF]/;
  function guessLang(text) {
    if (TAJIK.test(text)) return "tg";
    if (CYRILLIC.test(text)) return "ru";
    return "";
  }

  function samplePhone() {
    const n = 1 + Math.floor(Math.random() * 99);
    return "+9929000097" + String(n).padStart(2, "0");
  }

  function newSession() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "sim-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || "the simulator answered " + response.status);
    return data;
  }

  function showError(element, message) {
    element.textContent = message;
    element.hidden = !message;
  }

  // ---- her phone: USSD --------------------------------------------------------------------
  function setInSession(active) {
    $("answer").disabled = !active;
    $("send-answer").disabled = !active;
    $("hang-up").disabled = !active;
  }

  function showScreen(reply) {
    const screen = $("screen");
    screen.textContent = reply.screen;
    screen.lang = guessLang(reply.screen);
    $("kind").textContent = reply.kind || "HTTP " + reply.status;
    $("kind").dataset.kind = reply.kind || "error";
    const counter = $("counter");
    counter.textContent = reply.length + "/" + reply.budget + " " + reply.encoding;
    counter.classList.toggle("over", reply.length > reply.budget);
    if (reply.length > reply.budget) counter.textContent += " over budget";
  }

  // After an error nothing of the last screen stays up: it would read as the current one.
  function clearScreen(kind) {
    state.session = null;
    setInSession(false);
    $("screen").textContent = "";
    $("screen").lang = "en";
    $("kind").textContent = kind;
    $("kind").dataset.kind = kind === "idle" ? "" : "error";
    $("counter").textContent = "";
    $("counter").classList.remove("over");
  }

  async function hop() {
    showError($("ussd-error"), "");
    try {
      const reply = await post(api.ussd, {
        phone: $("phone").value,
        session: state.session,
        text: state.inputs.join("*"),
      });
      showScreen(reply);
      if (reply.status !== 200) {
        showError($("ussd-error"), "The USSD endpoint answered " + reply.status + ".");
      }
      const open = reply.kind === "CON";
      setInSession(open);
      if (open) {
        $("answer").focus();
      } else {
        state.session = null;
        $("dial").focus();
      }
    } catch (error) {
      clearScreen("error");
      showError($("ussd-error"), error.message);
    }
  }

  $("dial-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.session = newSession();
    state.inputs = [];
    restartPolling();
    hop();
  });

  $("answer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.session) return;
    state.inputs.push($("answer").value.trim());
    $("answer").value = "";
    hop();
  });

  $("hang-up").addEventListener("click", () => {
    clearScreen("idle");
    $("screen").textContent = "Call ended.";
    $("dial").focus();
  });

  // ---- SMS from a phone ---------------------------------------------------------------------
  async function sendSms(phone, text, result, to) {
    result.textContent = "Sending...";
    try {
      const reply = await post(api.sms, { phone, text, to: to || "" });
      result.textContent =
        reply.status === 200 ? "Delivered to the gateway." : "Refused: " + reply.detail;
      return reply.status === 200;
    } catch (error) {
      result.textContent = error.message;
      return false;
    }
  }

  // Enter sends, as in the other boxes; Shift+Enter keeps a line break.
  $("sms-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("sms-form").requestSubmit();
    }
  });

  $("sms-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("sms-text");
    const sent = await sendSms($("phone").value, box.value, $("sms-result"), $("sms-to").value);
    if (sent) box.value = "";
  });

  // ---- inboxes ------------------------------------------------------------------------------
  function item(className, text, lang, metaParts) {
    const li = document.createElement("li");
    li.className = className;
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = text;
    body.lang = lang || guessLang(text);
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = metaParts.filter(Boolean).join(" \u00b7 ");
    li.append(body, meta);
    return li;
  }

  const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString();

  function received(m, lang) {
    const size = m.segments + " x " + m.encoding;
    return item("message in", m.body, lang, [m.purpose, m.state, size, clock(m.created)]);
  }

  function sent(e) {
    if (e.kind === "ussd") {
      const typed = "Typed " + (e.typed === "" ? "(nothing)" : e.typed);
      const shown = e.screen ? "\n\u2192 " + e.end + " " + e.screen : "";
      return item("message out", typed + shown, "", ["USSD", "HTTP " + e.status, clock(e.at)]);
    }
    const to = e.to ? "to " + e.to : "";
    return item("message out", e.typed, "", ["Sent SMS", to, "HTTP " + e.status, clock(e.at)]);
  }

  // Newest first: what the phone received and what it sent, in one list.
  function renderTimeline(list, messages, transcript, lang) {
    const rows = [
      ...messages.map((m) => [m.created, () => received(m, lang)]),
      ...(transcript || []).map((e) => [e.at, () => sent(e)]),
    ];
    rows.sort((a, b) => b[0] - a[0]);
    list.replaceChildren(...rows.map((row) => row[1]()));
  }

  function signature(messages, transcript) {
    const inbound = messages.map((m) => m.id + ":" + m.state).join("|");
    return inbound + "/" + (transcript || []).map((e) => e.at).join("|");
  }

  function responderInbox(r) {
    let box = inboxes.get(r.phone);
    if (box) return box;
    const article = $("inbox-template").content.firstElementChild.cloneNode(true);
    const slug = r.id.replace(/[^A-Za-z0-9_-]/g, "-");
    article.id = "inbox-" + slug;
    article.dataset.phone = r.phone;
    article.querySelector(".who").textContent = r.name;
    article.querySelector(".meta").textContent =
      r.role + ", tier " + r.tier + " \u00b7 " + r.phone + " \u00b7 " + r.lang;
    const label = article.querySelector("label");
    const input = article.querySelector("input");
    input.id = "reply-" + slug;
    label.htmlFor = input.id;
    label.textContent = "Reply as " + r.name;
    input.placeholder = label.textContent; // its label is hidden while the phone is quiet
    const result = article.querySelector(".result");
    article.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await sendSms(r.phone, input.value, result)) input.value = "";
    });
    box = { article, list: article.querySelector(".messages"), signature: "" };
    inboxes.set(r.phone, box);
    return box;
  }

  function renderInboxes(data) {
    const container = $("inboxes");
    // A card that gets its first message moves up: whoever was typing in it keeps typing.
    const focused = container.contains(document.activeElement) ? document.activeElement : null;
    const caret = focused && "selectionStart" in focused ? focused.selectionStart : null;
    data.responders.forEach((r, index) => {
      const box = responderInbox(r);
      // Keep order stable without re-creating (and so without stealing focus from) an inbox.
      if (container.children[index] !== box.article) {
        container.insertBefore(box.article, container.children[index] || null);
      }
      const sig = signature(r.messages, r.transcript);
      if (sig !== box.signature) {
        renderTimeline(box.list, r.messages, r.transcript, r.lang);
        box.article.classList.toggle("quiet", !r.messages.length && !r.transcript.length);
        box.signature = sig;
      }
    });
    if (focused && document.activeElement !== focused && container.contains(focused)) {
      focused.focus();
      if (caret !== null) focused.setSelectionRange(caret, caret);
    }
    $("inboxes-empty").hidden = data.responders.length > 0;
    const own = data.phone ? data.phone.messages : [];
    const typed = data.phone ? data.phone.transcript : [];
    const lists = [
      [$("own-messages"), own, [], $("own-empty")],
      [$("own-transcript"), [], typed, $("typed-empty")],
    ];
    for (const [list, messages, transcript, empty] of lists) {
      const sig = signature(messages, transcript);
      if (list.dataset.signature !== sig) {
        renderTimeline(list, messages, transcript, "");
        list.dataset.signature = sig;
      }
      empty.hidden = messages.length + transcript.length > 0;
    }
  }

  // One polling loop at a time: a restart (new number) orphans the loop in flight.
  async function poll(generation) {
    const params = new URLSearchParams();
    const phone = $("phone").value.trim();
    const ref = $("ref").value.trim();
    if (phone) params.set("phone", phone);
    if (ref) params.set("ref", ref);
    const query = params.size ? "?" + params : "";
    try {
      const response = await fetch(api.inboxes + query, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || "inboxes answered " + response.status);
      if (generation === state.generation) renderInboxes(data);
      showError($("poll-error"), "");
    } catch (error) {
      showError($("poll-error"), "Inboxes: " + error.message);
    }
    if (generation === state.generation) {
      state.timer = setTimeout(() => poll(generation), POLL_MS);
    }
  }

  function restartPolling() {
    clearTimeout(state.timer);
    state.generation += 1;
    poll(state.generation);
  }

  $("phone").addEventListener("change", restartPolling);
  $("ref").addEventListener("input", restartPolling);
  $("case-form").addEventListener("submit", (event) => event.preventDefault());

  // ---- training tools: reset, and a case's next timer now ---------------------------------
  $("reset").addEventListener("click", async () => {
    const result = $("tools-result");
    try {
      const cleared = await post(api.reset, {});
      clearScreen("idle");
      $("screen").textContent = $("dial").textContent + " to start.";
      showError($("ussd-error"), "");
      result.textContent =
        "Reset: " + cleared.outbox + " messages and " + cleared.sessions + " sessions cleared.";
      restartPolling();
    } catch (error) {
      result.textContent = error.message;
    }
  });

  $("fast-forward").addEventListener("click", async () => {
    const result = $("tools-result");
    const ref = $("ref").value.trim();
    if (!ref) {
      result.textContent = "Type a case reference first.";
      $("ref").focus();
      return;
    }
    try {
      const timer = await post(api.fastForward, { ref });
      result.textContent =
        "Case " + timer.ref + ": its next timer (due " + clock(timer.due) + ") runs now.";
    } catch (error) {
      result.textContent = error.message;
    }
  });

  // ---- tabs (narrow screens): her phone or the responders' phones --------------------------
  const tabs = [$("tab-her"), $("tab-responders")];
  function showTab(tab) {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
    }
    document.body.dataset.tab = tab.getAttribute("aria-controls");
  }
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => showTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      showTab(next);
      next.focus();
    });
  });
  if (!$("phone").value) $("phone").value = samplePhone();
  restartPolling();
})();
