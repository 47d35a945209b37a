// okrbot web chat: plain JavaScript, no build step.
// Every string from the server reaches the page through textContent, value or a data: URI,
// never through innerHTML, so text people typed is shown as typed and never run.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const state = {
    workspace: params.get("workspace") || "demo",
    user: null,
    members: [],
    source: null,
    client: Math.random().toString(36).slice(2, 12),
    active: "channel",
  };
  const $ = (id) => document.getElementById(id);
  const storageKey = () => `okrbot.webchat.user.${state.workspace}`;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function spans(parent, list) {
    for (const span of list || []) {
      parent.append(el("span", span.user ? "user-text" : span.mention ? "mention" : "", span.text));
    }
    return parent;
  }

  function time() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function memberName(id) {
    const found = state.members.find((m) => m.id === id);
    return found ? found.name : id;
  }

  // ----- messages ------------------------------------------------------------------------

  function entry(pane, who, { bot = false, note = "" } = {}) {
    const item = el("li", bot ? "msg from-bot" : "msg from-person");
    const avatar = el("div", "avatar", bot ? "◎" : (who || "?").slice(0, 1).toUpperCase());
    const body = el("div", "msg-body");
    const meta = el("div", "msg-meta");
    meta.append(el("span", "msg-author", who), el("span", "msg-time", time()));
    if (note) meta.append(el("span", "msg-note", note));
    body.append(meta);
    item.append(avatar, body);
    const log = $(`log-${pane}`);
    log.append(item);
    if (pane !== state.active) bump(pane);
    requestAnimationFrame(() => { log.scrollTop = log.scrollHeight; });
    return body;
  }

  function said(pane, who, text) {
    entry(pane, memberName(who)).append(el("div", "said", text));
  }

  function system(pane, text) {
    const item = el("li", "system", text);
    $(`log-${pane}`).append(item);
  }

  function reply(pane, message, note) {
    const visible = pane === "channel" && message.visibility === "private" ? "only visible to you" : "";
    const body = entry(pane, "okrbot", { bot: true, note: note || visible });
    body.append(card(message, pane, body));
  }

  // The blocks of one reply. `host` is the message they sit in: a prompt's No change button or
  // its form, once answered, redraws that message instead of adding one below it. Buttons that
  // follow a form join its Check in button, so a prompt reads as one choice; and a message that
  // holds the form needs no Check in on each key result's line.
  function card(message, pane, host) {
    const where = { pane, host, lineButtons: !message.blocks.some((b) => b.type === "form") };
    const node = el("div", message.error ? "card error" : "card");
    for (const block of message.blocks) {
      const last = node.lastElementChild;
      if (block.type === "actions" && last && last.matches("form.b-form")) {
        besideSubmit(last, block, where);
        continue;
      }
      const child = render(block, where);
      if (child) node.append(child);
    }
    return node;
  }

  // A message answered where it stands: its card becomes the answer's, and it says so.
  function answerInPlace({ pane, host }, message) {
    host.querySelector(":scope > .card").replaceWith(card(message, pane, host));
    host.parentElement.classList.add("answered");
    const meta = host.querySelector(".msg-meta");
    const note = meta.querySelector(".msg-answered") || meta.appendChild(el("span", "msg-note msg-answered"));
    note.textContent = `· answered ${time()}`;
  }

  function render(block, where) {
    switch (block.type) {
      case "header": return spans(el("h3", "b-header"), block.text);
      case "text": return spans(el("p", block.strong ? "b-text strong" : "b-text"), block.text);
      case "context": return spans(el("p", "b-context"), block.text);
      case "divider": return el("hr", "b-divider");
      case "fields": return fields(block);
      case "progress": return progress(block, where);
      case "actions": return actions(block, where);
      case "form": return form(block, where);
      case "image": return image(block);
      case "file": return file(block);
      default: return null;
    }
  }

  function fields(block) {
    const list = el("dl", "b-fields");
    for (const item of block.items) {
      list.append(el("dt", "", item.label), spans(el("dd"), item.value));
    }
    return list;
  }

  function progress(block, { pane, lineButtons }) {
    const row = el("div", "b-progress");
    row.append(spans(el("div", "kr-label"), block.label));
    const line = el("div", "kr-line");
    const bar = el("div", "bar");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    const percent = Math.round(block.fraction * 100);
    bar.setAttribute("aria-valuenow", String(percent));
    const fill = el("div", `fill ${block.colour}`);
    fill.style.width = `${percent}%`;
    bar.append(fill);
    line.append(bar, el("span", "kr-detail", `${percent}% · ${block.detail}`));
    if (block.confidence !== null && block.confidence !== undefined) {
      const conf = el("span", `confidence ${block.colour}`, `${block.confidence}/10`);
      conf.title = { red: "off track", yellow: "at risk", green: "on track" }[block.colour] || "confidence";
      line.append(conf);
    }
    if (block.ref && lineButtons) {
      const button = el("button", "small", "Check in");
      button.type = "button";
      button.addEventListener("click", () => run(pane, "checkin", { only: block.ref, shown: `checkin ${block.ref}` }));
      line.append(button);
    }
    row.append(line);
    return row;
  }

  function actions(block, where) {
    const row = el("div", "b-actions");
    for (const b of block.buttons) row.append(button(b, where));
    return row;
  }

  function button(b, where) {
    const node = el("button", b.style, b.label);
    node.type = "button";
    node.title = b.command;
    node.addEventListener("click", () => (b.replaces ? runInPlace(where, b.command) : run(where.pane, b.command)));
    return node;
  }

  // A button that answers its message (No change): nothing is echoed, the reply takes the
  // message's place. An error goes below instead, leaving the message there to answer again.
  async function runInPlace(where, text) {
    busy(where.host, true);
    const answer = await post("/api/webchat/command", { pane: where.pane, text });
    busy(where.host, false);
    if (!answer) return;
    if (answer.message.error) reply(where.pane, answer.message);
    else answerInPlace(where, answer.message);
  }

  // While an answer is on its way, the message's buttons wait: a second click would send it twice.
  function busy(host, on) {
    for (const control of host.querySelectorAll(".card button")) control.disabled = on;
  }

  function image(block) {
    if (!String(block.src).startsWith("data:image/png;base64,")) return null;
    const figure = el("figure", "b-image");
    const img = el("img");
    img.src = block.src;
    img.alt = block.alt;
    figure.append(img, el("figcaption", "", block.alt));
    return figure;
  }

  function file(block) {
    const box = el("div", "b-file");
    const link = el("a", "download", `Download ${block.name}`);
    link.href = URL.createObjectURL(new Blob([block.content], { type: block.mime }));
    link.download = block.name;
    const details = el("details");
    details.append(el("summary", "", "Preview"), el("pre", "", block.content.split("\n").slice(0, 30).join("\n")));
    box.append(link, details);
    return box;
  }

  function form(block, where) {
    const node = el("form", "b-form");
    node.noValidate = true;
    node.append(el("div", "form-title", block.title));
    for (const group of block.groups) {
      const set = el("fieldset", "form-group");
      set.append(spans(el("legend"), group.title));
      for (const f of group.fields) {
        const label = el("label", f.error ? "form-field invalid" : "form-field");
        label.append(el("span", "field-label", f.optional ? `${f.label} (optional)` : f.label));
        let input;
        if (f.kind === "choice") {
          input = el("select");
          for (const choice of f.choices) {
            const option = el("option", "", choice);
            option.value = choice;
            input.append(option);
          }
        } else {
          input = el("input");
          input.type = "text";
          if (f.kind === "number") input.inputMode = "decimal";
        }
        input.name = f.name;
        input.value = f.initial;
        const error = el("span", "field-error", f.error || "");
        error.dataset.field = f.name;
        label.append(input, error);
        set.append(label);
      }
      node.append(set);
    }
    const row = el("div", "form-buttons");
    const submit = el("button", "primary", block.submit);
    submit.type = "submit";
    row.append(submit);
    node.append(row);
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      if (node.classList.contains("folded")) unfold(node);
      else submitForm(node, block.action, where);
    });
    return node;
  }

  // A form with other answers beside it (a prompt's No change) starts folded to its buttons:
  // Check in opens the fields, and a second Check in sends them. Its message already says what
  // it is, so the form shows no title of its own.
  function besideSubmit(node, block, where) {
    const row = node.querySelector(".form-buttons");
    for (const b of block.buttons) row.append(button(b, where));
    node.classList.add("folded", "beside");
    row.querySelector('button[type="submit"]').setAttribute("aria-expanded", "false");
  }

  function unfold(node) {
    node.classList.remove("folded");
    node.querySelector('button[type="submit"]').setAttribute("aria-expanded", "true");
    const first = node.querySelector("input, select");
    if (first) first.focus();
  }

  // Saved: the reply (the new values) takes the form's message's place. Wrong values: the form
  // stays, with a sentence next to each wrong field.
  async function submitForm(node, action, where) {
    const values = {};
    for (const input of node.querySelectorAll("input, select")) values[input.name] = input.value;
    busy(where.host, true);
    const answer = await post("/api/webchat/form", { action, values, pane: where.pane });
    busy(where.host, false);
    if (!answer) return;
    if (showErrors(node, answer.errors || {})) return;
    if (answer.message.error) reply(where.pane, answer.message);
    else answerInPlace(where, answer.message);
  }

  function showErrors(node, errors) {
    for (const span of node.querySelectorAll(".field-error")) {
      const sentence = errors[span.dataset.field] || "";
      span.textContent = sentence;
      span.parentElement.classList.toggle("invalid", Boolean(sentence));
    }
    const first = node.querySelector(".invalid input, .invalid select");
    if (first) first.focus();
    return Object.keys(errors).length > 0;
  }

  // ----- talking to the server -----------------------------------------------------------

  async function post(path, body) {
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ workspace: state.workspace, user: state.user, client: state.client, ...body }),
      });
      const answer = await response.json().catch(() => ({ error: `okrbot answered ${response.status}.` }));
      if (answer.error) {
        system(body.pane || "channel", answer.error);
        return null;
      }
      return answer;
    } catch (err) {
      system(body.pane || "channel", "okrbot cannot be reached; is `okrbot serve` still running?");
      return null;
    }
  }

  async function run(pane, text, { only = "", shown = "" } = {}) {
    said(pane, state.user, `/okr ${(shown || text).replace(/^\s*\/?okr\b\s*/i, "")}`);
    const answer = await post("/api/webchat/command", { pane, text, only });
    if (answer) reply(pane, answer.message);
    if (!state.members.some((m) => m.id === state.user.toLowerCase())) loadMembers();
  }

  function onEvent(data) {
    const pane = data.pane === "direct" ? "direct" : "channel";
    if (data.kind === "reply") {
      if (data.client === state.client) return; // shown already, from the POST's answer
      said(pane, data.from, `/okr ${data.said}`);
      reply(pane, data.message);
    } else {
      const where = pane === "channel" && data.channel !== "general" ? `posted to #${data.channel}` : "scheduled";
      reply(pane, data.message, where);
    }
  }

  function connect() {
    if (state.source) state.source.close();
    const query = new URLSearchParams({ workspace: state.workspace, user: state.user, after: "0" });
    const source = new EventSource(`/api/webchat/events?${query}`);
    source.addEventListener("message", (event) => onEvent(JSON.parse(event.data)));
    source.addEventListener("open", () => status("live", "live"));
    source.addEventListener("error", () => status("reconnecting", "reconnecting…"));
    state.source = source;
  }

  function status(kind, text) {
    const node = $("status");
    node.dataset.state = kind;
    node.textContent = text;
  }

  // ----- who am I ------------------------------------------------------------------------

  async function loadMembers() {
    const query = new URLSearchParams({ workspace: state.workspace });
    const response = await fetch(`/api/webchat/workspace?${query}`);
    const answer = await response.json();
    if (answer.error) {
      system("channel", answer.error);
      return;
    }
    state.members = answer.members;
    $("workspace-name").textContent = answer.name;
    document.title = `okrbot · ${answer.name}`;
    fillSwitcher();
  }

  function fillSwitcher() {
    const select = $("whoami");
    select.replaceChildren();
    const people = [...state.members];
    if (state.user && !people.some((m) => m.id === state.user.toLowerCase())) {
      people.unshift({ id: state.user, name: `${state.user} (new)`, admin: false });
    }
    for (const member of people) {
      const option = el("option", "", member.admin ? `${member.name} · admin` : member.name);
      option.value = member.id;
      select.append(option);
    }
    select.value = state.user ? state.user.toLowerCase() : "";
    if (state.user && select.value !== state.user.toLowerCase()) select.value = state.user;
  }

  function become(user) {
    state.user = user;
    localStorage.setItem(storageKey(), user);
    const query = new URLSearchParams({ workspace: state.workspace, user });
    history.replaceState(null, "", `?${query}`);
    $("log-channel").replaceChildren();
    $("log-direct").replaceChildren();
    $("dm-with").textContent = `· with ${memberName(user.toLowerCase())}`;
    fillSwitcher();
    system("channel", `You are ${memberName(user.toLowerCase())} in #general.`);
    system("direct", "Your direct messages with okrbot. Try checkin, list mine or help.");
    connect();
  }

  // ----- panes ---------------------------------------------------------------------------

  function bump(pane) {
    const badge = document.querySelector(`.nav-item[data-pane="${pane}"] .badge`);
    badge.textContent = String(Number(badge.textContent || "0") + 1);
    badge.hidden = false;
  }

  function show(pane) {
    state.active = pane;
    for (const node of document.querySelectorAll("[data-pane]")) {
      if (node.classList.contains("pane") || node.classList.contains("nav-item")) {
        node.classList.toggle("active", node.dataset.pane === pane);
      }
    }
    const badge = document.querySelector(`.nav-item[data-pane="${pane}"] .badge`);
    badge.textContent = "";
    badge.hidden = true;
    document.querySelector(`.composer[data-pane="${pane}"] input`).focus();
  }

  async function start() {
    for (const item of document.querySelectorAll(".nav-item")) {
      item.addEventListener("click", () => show(item.dataset.pane));
    }
    for (const composer of document.querySelectorAll(".composer")) {
      composer.addEventListener("submit", (event) => {
        event.preventDefault();
        const input = composer.querySelector("input");
        const text = input.value.trim();
        if (!text) return;
        input.value = "";
        show(composer.dataset.pane);
        run(composer.dataset.pane, text);
      });
      composer.querySelector("input").addEventListener("focus", () => {
        if (state.active !== composer.dataset.pane) show(composer.dataset.pane);
      });
    }
    $("whoami").addEventListener("change", (event) => become(event.target.value));
    $("newname").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("newname-input");
      if (!input.checkValidity() || !input.value) {
        input.reportValidity();
        return;
      }
      become(input.value);
      input.value = "";
    });
    await loadMembers();
    const wanted = params.get("user") || localStorage.getItem(storageKey());
    become(wanted || (state.members[0] ? state.members[0].id : "guest"));
  }

  start();
})();
