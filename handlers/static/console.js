// budgetbot web console: talks to POST /api/ask. All answer text goes in with textContent, never parsed as HTML.
"use strict";

(function () {
  const SESSION_KEY = "budgetbot.session";
  const MAX_CHARS = 2000;
  const THAI_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."];
  const EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // Shown only when the welcome request fails: normally the examples come from the knowledge base.
  const FALLBACK_EXAMPLES = [
    "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร",
    "ตอนนี้เปิดรับคำของบประมาณปีไหน",
    "โครงการของฉันเข้าแนวทางไหน",
  ];

  const messages = document.getElementById("messages");
  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const sendButton = document.getElementById("send");
  let busy = false;
  let memorySession = null; // used when sessionStorage is unavailable (privacy modes)

  function loadSession() {
    try {
      return window.sessionStorage.getItem(SESSION_KEY) || memorySession;
    } catch (e) {
      return memorySession;
    }
  }

  // The tab's conversation id, made here so the very first question is remembered too (the API keeps
  // no conversation for a request without one). getRandomValues works on plain http, randomUUID does not.
  function ensureSession() {
    let id = loadSession();
    if (!id) {
      const bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      id = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
      saveSession(id);
    }
    return id;
  }

  function saveSession(id) {
    memorySession = id;
    try {
      window.sessionStorage.setItem(SESSION_KEY, id);
    } catch (e) {
      /* keep the in-memory copy */
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function scrollToEnd() {
    messages.scrollTop = messages.scrollHeight;
  }

  function formatDate(iso, english) {
    // "2025-09-12" -> "12 ก.ย. 2568" (Buddhist Era, as Thai documents date themselves)
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return iso || "";
    const year = Number(m[1]);
    const month = Number(m[2]) - 1;
    const day = Number(m[3]);
    if (english) return day + " " + EN_MONTHS[month] + " " + year;
    return day + " " + THAI_MONTHS[month] + " " + (year + 543);
  }

  function addUser(text) {
    const bubble = el("div", "msg user", text);
    bubble.dataset.testid = "question";
    messages.appendChild(bubble);
    scrollToEnd();
  }

  function badgesFor(answer, en) {
    const line = el("div", "badges");
    line.dataset.testid = "badges";
    if (answer.fiscal_year) {
      line.appendChild(el("span", "badge", (en ? "FY " : "ปีงบประมาณ ") + answer.fiscal_year));
    }
    if (answer.accepting === true) {
      line.appendChild(el("span", "badge open", en ? "accepting requests" : "เปิดรับคำของบประมาณ"));
    } else if (answer.accepting === false) {
      line.appendChild(el("span", "badge closed", en ? "not accepting requests" : "ไม่อยู่ในช่วงรับคำขอ"));
    } else if (answer.kind === "fiscal_year_status") {
      // null: the sources say nothing about this year; say so rather than show nothing.
      line.appendChild(el("span", "badge", en ? "no information" : "ไม่มีข้อมูลการรับคำขอ"));
    }
    if (answer.guideline) {
      line.appendChild(el("span", "badge", (en ? "Guideline " : "แนวทางที่ ") + answer.guideline));
    }
    return line.childElementCount ? line : null;
  }

  function sourcesFor(answer, en) {
    if (!Array.isArray(answer.sources) || answer.sources.length === 0) return null;
    const box = el("div", "sources");
    box.dataset.testid = "sources";
    box.appendChild(el("div", "sources-label", en ? "Sources:" : "ที่มา:"));
    const list = el("ul");
    for (const src of answer.sources) {
      let label = src.title || src.id || "";
      if (src.posted) label += (en ? " (posted " : " (ลงวันที่ ") + formatDate(src.posted, en) + ")";
      list.appendChild(el("li", null, label));
    }
    box.appendChild(list);
    return box;
  }

  function suggestionsFor(items) {
    if (!Array.isArray(items) || items.length === 0) return null;
    const row = el("div", "suggestions");
    for (const text of items) {
      const button = el("button", null, text);
      button.type = "button";
      button.dataset.testid = "suggestion";
      button.addEventListener("click", function () {
        ask(text);
      });
      row.appendChild(button);
    }
    return row;
  }

  // Answer text written for plain-text channels ends with a one-line "ที่มา: ..." paragraph; the console lists
  // the sources (with titles) under the answer instead, so that line would only repeat them.
  const TRAILING_SOURCE_LINE = /\n\n(?:ที่มา|Sources?): [^\n]*\s*$/;

  function answerText(answer) {
    const text = answer.text || "";
    if (!Array.isArray(answer.sources) || answer.sources.length === 0) return text;
    return text.replace(TRAILING_SOURCE_LINE, "");
  }

  function answerBubble(answer, en, suggestions) {
    const bubble = el("div", "msg bot");
    bubble.dataset.testid = "answer";
    if (answer.kind) bubble.dataset.kind = answer.kind;
    if (answer.title) bubble.appendChild(el("div", "title", answer.title));
    bubble.appendChild(el("div", "text", answerText(answer)));
    for (const part of [badgesFor(answer, en), sourcesFor(answer, en), suggestionsFor(suggestions)]) {
      if (part) bubble.appendChild(part);
    }
    return bubble;
  }

  function addAnswer(answer) {
    const en = answer.language === "en";
    const parts = Array.isArray(answer.parts) ? answer.parts : [];
    if (parts.length === 0) {
      messages.appendChild(answerBubble(answer, en, answer.suggestions));
    } else {
      // Several questions in one message: one bubble per answer, in order; the suggestions under the last.
      parts.forEach(function (part, i) {
        const bubble = answerBubble(part, en, i === parts.length - 1 ? answer.suggestions : null);
        bubble.classList.add("part");
        bubble.dataset.testid = "answer-part";
        bubble.insertBefore(el("div", "part-label", (i + 1) + "/" + parts.length), bubble.firstChild);
        messages.appendChild(bubble);
      });
    }
    scrollToEnd();
  }

  // A message from the page itself (not an answer): an error, or the offline welcome.
  function addNotice(text, examples, isError) {
    const bubble = el("div", isError ? "msg error" : "msg bot");
    bubble.dataset.testid = isError ? "error" : "welcome";
    bubble.appendChild(el("div", "text", text));
    const row = suggestionsFor(examples);
    if (row) bubble.appendChild(row);
    messages.appendChild(bubble);
    scrollToEnd();
  }

  function showTyping() {
    const bubble = el("div", "msg bot typing", "กำลังตอบ...");
    bubble.dataset.testid = "typing";
    messages.appendChild(bubble);
    scrollToEnd();
    return bubble;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    for (const b of messages.querySelectorAll("button[data-testid='suggestion']")) b.disabled = value;
  }

  function politeError(status) {
    if (status === 422 || status === 400) {
      return "ขออภัย ไม่สามารถรับคำถามนี้ได้ กรุณาพิมพ์คำถามให้สั้นลง (ไม่เกิน 2,000 ตัวอักษร) แล้วลองใหม่อีกครั้ง";
    }
    if (status === 429) return "ขออภัย มีคำถามเข้ามาถี่เกินไป กรุณารอสักครู่แล้วลองใหม่อีกครั้ง";
    if (status === 503) return "ขออภัย ระบบกำลังเริ่มทำงาน กรุณาลองใหม่ในอีกสักครู่";
    if (status === 0) return "ขออภัย ไม่สามารถเชื่อมต่อกับระบบได้ กรุณาตรวจสอบการเชื่อมต่อแล้วลองใหม่อีกครั้ง";
    return "ขออภัย ระบบขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้ง";
  }

  // Returns the answer, or throws {status}. status 0 means the network failed.
  async function callApi(question) {
    const body = { question: question, session: ensureSession() };
    let response;
    try {
      response = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw { status: 0 };
    }
    if (!response.ok) throw { status: response.status };
    const answer = await response.json();
    if (answer.session) saveSession(answer.session);
    return answer;
  }

  // The greeting and its example questions, from the knowledge base; a page load is not logged as a question.
  async function welcome() {
    try {
      const response = await fetch("/api/welcome", { headers: { Accept: "application/json" } });
      if (!response.ok) throw { status: response.status };
      addAnswer(await response.json());
    } catch (e) {
      addNotice("สวัสดี ถามเรื่องแผนงานบูรณาการรัฐบาลดิจิทัลได้เลย เช่น", FALLBACK_EXAMPLES, false);
    }
  }

  async function ask(question) {
    const text = (question || "").trim();
    if (busy || !text) return;
    addUser(text);
    setBusy(true);
    const typing = showTyping();
    try {
      const answer = await callApi(text.slice(0, MAX_CHARS));
      typing.remove();
      addAnswer(answer);
    } catch (err) {
      typing.remove();
      const status = err && typeof err.status === "number" ? err.status : -1;
      addNotice(politeError(status), null, true);
    } finally {
      setBusy(false);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // Enter in the input and the send button both land here
    const text = input.value;
    if (busy || !text.trim()) return;
    input.value = "";
    ask(text);
    input.focus();
  });

  welcome();
  input.focus();
})();
