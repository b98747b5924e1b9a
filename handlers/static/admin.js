// budgetbot admin page. The page holds no data: it asks for the admin token, keeps it in sessionStorage
// (this tab only), and calls /admin/review, /admin/stats, /admin/reload, /admin/subscriptions,
// /admin/notifications and /admin/announce with "Authorization: Bearer ...".
// Every text from the server goes in with textContent, never innerHTML: questions are typed by the public.
"use strict";

(() => {
  const TOKEN_KEY = "budgetbot.adminToken";
  const TZ = "Asia/Bangkok";
  const KIND_LABELS = {
    fiscal_year_status: "สถานะปีงบประมาณ",
    guideline_match: "แนวทางที่เข้าข่าย",
    eligibility: "คุณสมบัติผู้ขอ",
    faq: "คำถามที่พบบ่อย",
    greeting: "คำทักทาย",
    help: "วิธีใช้งาน",
    guided_check: "ตรวจสอบโครงการทีละขั้น",
    fallback: "ตอบไม่ได้",
    did_you_mean: "ถามกลับว่าหมายถึงอะไร",
    subscription: "การรับแจ้งเตือน",
    notification: "การแจ้งเตือน",
  };
  const NOTIFICATION_LABELS = {
    window: "ประกาศช่วงรับคำขอ",
    opening: "วันเปิดรับ",
    reminder: "เตือนก่อนปิดรับ",
    announcement: "ประกาศ",
  };

  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {}

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function kindLabel(kind) {
    return KIND_LABELS[kind] || kind;
  }

  function percent(rate) {
    return (rate * 100).toLocaleString("th-TH", { maximumFractionDigits: 1 }) + "%";
  }

  function formatDay(iso) {
    // A Bangkok date "YYYY-MM-DD": noon Bangkok time cannot slip to another day in any display zone math.
    const date = new Date(iso + "T12:00:00+07:00");
    return date.toLocaleDateString("th-TH", { timeZone: TZ, day: "numeric", month: "short", year: "numeric" });
  }

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    return date.toLocaleString("th-TH", { timeZone: TZ, dateStyle: "medium", timeStyle: "short" });
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  async function api(path, method = "GET", body = undefined) {
    const headers = { Authorization: "Bearer " + token(), Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      cache: "no-store",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("โทเคนไม่ถูกต้อง กรุณาใส่โทเคนผู้ดูแลระบบอีกครั้ง");
      throw new AuthError("unauthorized");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data };
  }

  function showLogin(message) {
    $("dashboard").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("token").focus();
  }

  function showDashboard() {
    $("login").hidden = true;
    $("login-error").hidden = true;
    $("dashboard").hidden = false;
  }

  function showLoadError(message) {
    const box = $("load-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // --- rendering ------------------------------------------------------------------------------------------

  function renderStats(stats) {
    $("total").textContent = stats.questions.toLocaleString("th-TH");
    $("fallback-rate").textContent = `${percent(stats.fallback_rate)} (${stats.fallbacks.toLocaleString("th-TH")})`;
    $("low-rate").textContent = `${percent(stats.low_confidence_rate)} (${stats.low_confidence.toLocaleString("th-TH")})`;

    const body = $("per-day").querySelector("tbody");
    body.replaceChildren();
    const most = Math.max(1, ...stats.per_day.map((d) => d.questions));
    // Newest first: today is what an admin looks at.
    for (const day of [...stats.per_day].reverse()) {
      const row = el("tr");
      row.dataset.day = day.day;
      row.append(el("td", formatDay(day.day)), el("td", day.questions, "num"), el("td", day.fallbacks, "num"));
      const bar = el("progress");
      bar.max = most;
      bar.value = day.questions;
      bar.setAttribute("aria-label", `${day.questions} คำถาม`);
      const cell = el("td");
      cell.append(bar);
      row.append(cell);
      body.append(row);
    }

    fillTops($("top-entries"), stats.top_entries, (key) => key);
    fillTops($("top-kinds"), stats.top_kinds, kindLabel);
  }

  function fillTops(list, items, label) {
    list.replaceChildren();
    if (!items.length) {
      list.append(el("li", "ยังไม่มีข้อมูล", "muted"));
      return;
    }
    for (const item of items) {
      const li = el("li", label(item.key));
      li.append(el("span", `${item.count.toLocaleString("th-TH")} ครั้ง`, "count"));
      list.append(li);
    }
  }

  function renderReview(review) {
    const body = $("review-table").querySelector("tbody");
    body.replaceChildren();
    $("review-empty").hidden = review.groups.length > 0;
    for (const group of review.groups) {
      const row = el("tr");
      const question = el("td");
      question.append(el("div", group.representative, "question"));
      const others = group.variants.filter((v) => v !== group.representative);
      if (others.length) {
        const list = el("ul", null, "variants");
        for (const variant of others) list.append(el("li", variant));
        question.append(list);
      }
      row.append(
        question,
        el("td", group.count, "num"),
        el("td", formatTime(group.last_seen)),
        el("td", group.kinds.map(kindLabel).join(", ")),
      );
      body.append(row);
    }
  }

  function renderReload(status, data) {
    const box = $("reload-result");
    box.replaceChildren();
    const result = el("div", null, "result");
    if (data && data.ok === true) {
      result.classList.add("ok");
      result.append(
        el("div", data.changed ? "โหลดฐานความรู้ใหม่สำเร็จ" : "ไฟล์ไม่มีการเปลี่ยนแปลง ใช้เวอร์ชันเดิมต่อ"),
      );
      const version = el("div", "เวอร์ชันที่ใช้ตอบ: ");
      version.append(el("code", data.version));
      result.append(version);
    } else if (data && data.ok === false) {
      result.classList.add("bad");
      const head = el("div", "ไม่ได้โหลด: พบปัญหาในไฟล์ความรู้ ยังตอบด้วยเวอร์ชัน ");
      head.append(el("code", data.version));
      result.append(head);
      const list = el("ul");
      for (const problem of data.problems || []) {
        const where = problem.line ? `${problem.file}:${problem.line}` : problem.file;
        const item = el("li");
        item.dataset.testid = "problem";
        item.append(el("code", where), document.createTextNode(" — " + problem.message));
        list.append(item);
      }
      result.append(list);
    } else {
      result.classList.add("bad");
      result.append(el("div", `โหลดไม่สำเร็จ (HTTP ${status}) ลองใหม่อีกครั้ง`));
    }
    box.append(result);
  }

  function count(value) {
    return Number(value || 0).toLocaleString("th-TH");
  }

  function renderSubscriptions(data) {
    const body = $("subscriptions").querySelector("tbody");
    body.replaceChildren();
    const years = Object.keys(data.fiscal_years).sort();
    if (!years.length) {
      const empty = el("tr");
      empty.append(el("td", "ยังไม่มีผู้ติดตาม", "muted"));
      body.append(empty);
    }
    for (const year of years) {
      const row = el("tr");
      row.dataset.year = year;
      const byChannel = data.fiscal_years[year];
      row.append(el("td", year), el("td", count(byChannel.line), "num"), el("td", count(byChannel.telegram), "num"));
      body.append(row);
    }
    $("total-line").textContent = count(data.total.line);
    $("total-telegram").textContent = count(data.total.telegram);
  }

  function both(counts) {
    return `${count(counts.line)} / ${count(counts.telegram)}`;
  }

  function renderNotifications(data) {
    const body = $("notifications").querySelector("tbody");
    body.replaceChildren();
    $("notifications-empty").hidden = data.notifications.length > 0;
    for (const n of data.notifications) {
      const row = el("tr");
      row.dataset.status = n.status;
      const kind = el("td", NOTIFICATION_LABELS[n.kind] || n.kind);
      kind.title = n.text;
      row.append(
        el("td", formatTime(n.created_at)),
        kind,
        el("td", n.fiscal_year === null ? "ทุกปี" : n.fiscal_year),
        el("td", both(n.recipients), "num"),
        el("td", both(n.delivered), "num"),
        el("td", both(n.failed), "num"),
        el("td", both(n.held), "num"),
        el("td", both(n.pending), "num"),
        el("td", n.reasons.join("; ")),
      );
      body.append(row);
    }
  }

  // The announcement: a preview with the number of recipients (a dry run) first; sending is enabled only then,
  // for exactly what was previewed.
  let previewed = null;

  function announcement() {
    const year = $("announce-year").value.trim();
    return { text: $("announce-text").value, fiscal_year: year ? Number(year) : null };
  }

  function renderAnnounce(title, data, className) {
    const box = $("announce-result");
    box.replaceChildren();
    const result = el("div", null, "result " + className);
    result.append(el("div", title));
    if (data && data.recipients) {
      const who = el("div", `ผู้รับ: LINE ${count(data.recipients.line)} คน, Telegram ${count(data.recipients.telegram)} คน`);
      who.dataset.testid = "announce-count";
      result.append(who);
    }
    if (data && data.preview) {
      const preview = el("pre", data.preview, "preview");
      preview.dataset.testid = "announce-preview-text";
      result.append(preview);
    }
    box.append(result);
  }

  async function previewAnnouncement() {
    const body = { ...announcement(), dry_run: true };
    $("announce-send").disabled = true;
    previewed = null;
    try {
      const { ok, status, data } = await api("/admin/announce", "POST", body);
      if (!ok) {
        renderAnnounce(`ตรวจสอบไม่ผ่าน (HTTP ${status}): ข้อความต้องไม่ว่าง และปีงบประมาณเป็น พ.ศ.`, null, "bad");
        return;
      }
      previewed = JSON.stringify(announcement());
      renderAnnounce("ตัวอย่างข้อความ (ยังไม่ได้ส่ง)", data, "ok");
      $("announce-send").disabled = false;
    } catch (error) {
      if (!(error instanceof AuthError)) renderAnnounce("เชื่อมต่อเซิร์ฟเวอร์ไม่ได้", null, "bad");
    }
  }

  async function sendAnnouncement() {
    if (previewed !== JSON.stringify(announcement())) {
      $("announce-send").disabled = true;
      renderAnnounce("ข้อความเปลี่ยนไปหลังดูตัวอย่าง กรุณาดูตัวอย่างอีกครั้ง", null, "bad");
      return;
    }
    $("announce-send").disabled = true;
    try {
      const { ok, status, data } = await api("/admin/announce", "POST", { ...announcement(), dry_run: false });
      if (ok) {
        renderAnnounce("ส่งประกาศแล้ว (กำลังทยอยส่ง ดูสถานะในตารางด้านล่าง)", data, "ok");
        previewed = null;
        await loadNotifications();
      } else {
        renderAnnounce(`ส่งไม่สำเร็จ (HTTP ${status})`, null, "bad");
      }
    } catch (error) {
      if (!(error instanceof AuthError)) renderAnnounce("เชื่อมต่อเซิร์ฟเวอร์ไม่ได้", null, "bad");
    }
  }

  async function loadNotifications() {
    const [subs, notes] = await Promise.all([api("/admin/subscriptions"), api("/admin/notifications")]);
    if (subs.ok) renderSubscriptions(subs.data);
    if (notes.ok) renderNotifications(notes.data);
    return subs.ok && notes.ok;
  }

  // --- loading ----------------------------------------------------------------------------------------------

  async function loadVersion() {
    try {
      // /readyz needs no token; it answers 503 with the version still in it when the database is down.
      const response = await fetch("/readyz", { cache: "no-store" });
      const data = await response.json();
      if (data && data.knowledge) {
        $("version").textContent = data.knowledge.version;
        $("loaded-at").textContent = "(โหลดเมื่อ " + formatTime(data.knowledge.loaded_at) + ")";
      }
    } catch (_) {
      $("version").textContent = "-";
    }
  }

  async function loadAll() {
    const days = $("days").value;
    showLoadError("");
    try {
      const [stats, review, notifying] = await Promise.all([
        api(`/admin/stats?days=${encodeURIComponent(days)}`),
        api(`/admin/review?days=${encodeURIComponent(days)}`),
        loadNotifications(),
      ]);
      showDashboard();
      if (stats.ok) renderStats(stats.data);
      if (review.ok) renderReview(review.data);
      if (!stats.ok || !review.ok || !notifying) showLoadError("อ่านบันทึกคำถามไม่ได้ในขณะนี้ (ฐานข้อมูลอาจไม่พร้อม) ลองรีเฟรชอีกครั้ง");
    } catch (error) {
      if (!(error instanceof AuthError)) showLoadError("เชื่อมต่อเซิร์ฟเวอร์ไม่ได้ ลองรีเฟรชอีกครั้ง");
      return;
    }
    await loadVersion();
  }

  async function reload() {
    const button = $("reload");
    button.disabled = true;
    $("reload-result").replaceChildren(el("div", "กำลังโหลดฐานความรู้…", "muted"));
    try {
      const { status, data } = await api("/admin/reload", "POST");
      renderReload(status, data);
      await loadVersion();
    } catch (error) {
      if (!(error instanceof AuthError)) renderReload(0, null);
    } finally {
      button.disabled = false;
    }
  }

  // --- wiring -----------------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      loadAll();
    });
    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("");
    });
    $("refresh").addEventListener("click", () => loadAll());
    $("days").addEventListener("change", () => loadAll());
    $("reload").addEventListener("click", () => reload());
    $("announce-form").addEventListener("submit", (event) => {
      event.preventDefault();
      previewAnnouncement();
    });
    $("announce-send").addEventListener("click", () => sendAnnouncement());

    if (token()) loadAll();
    else showLogin("");
  });
})();
