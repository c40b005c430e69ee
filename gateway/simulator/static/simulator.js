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
    state.session = null;
    setInSession(false);
    $("screen").textContent = "Call ended.";
    $("screen").lang = "en";
    $("kind").textContent = "idle";
    $("kind").dataset.kind = "";
    $("counter").textContent = "";
    $("dial").focus();
  });

  // ---- SMS from a phone ---------------------------------------------------------------------
  async function sendSms(phone, text, result) {
    result.textContent = "Sending...";
    try {
      const reply = await post(api.sms, { phone, text });
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
    if (await sendSms($("phone").value, box.value, $("sms-result"))) box.value = "";
  });

  // ---- inboxes ------------------------------------------------------------------------------
  function renderMessages(list, messages, lang) {
    const items = messages.map((m) => {
      const li = document.createElement("li");
      li.className = "message";
      const body = document.createElement("p");
      body.className = "body";
      body.textContent = m.body;
      body.lang = lang || guessLang(m.body);
      const meta = document.createElement("p");
      meta.className = "meta";
      const when = new Date(m.created * 1000).toLocaleTimeString();
      meta.textContent = [m.purpose, m.state, m.segments + " x " + m.encoding, when].join(" \u00b7 ");
      li.append(body, meta);
      return li;
    });
    list.replaceChildren(...items);
  }

  function signature(messages) {
    return messages.map((m) => m.id + ":" + m.state).join("|");
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
    data.responders.forEach((r, index) => {
      const box = responderInbox(r);
      // Keep order stable without re-creating (and so without stealing focus from) an inbox.
      if (container.children[index] !== box.article) {
        container.insertBefore(box.article, container.children[index] || null);
      }
      const sig = signature(r.messages);
      if (sig !== box.signature) {
        renderMessages(box.list, r.messages, r.lang);
        box.signature = sig;
      }
    });
    $("inboxes-empty").hidden = data.responders.length > 0;
    const own = data.phone ? data.phone.messages : [];
    const ownList = $("own-messages");
    const sig = signature(own);
    if (ownList.dataset.signature !== sig) {
      renderMessages(ownList, own, "");
      ownList.dataset.signature = sig;
    }
    $("own-empty").hidden = own.length > 0;
  }

  // One polling loop at a time: a restart (new number) orphans the loop in flight.
  async function poll(generation) {
    const phone = $("phone").value.trim();
    const query = phone ? "?phone=" + encodeURIComponent(phone) : "";
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
  if (!$("phone").value) $("phone").value = samplePhone();
  restartPolling();
})();
