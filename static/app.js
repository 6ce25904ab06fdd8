// Slotlens pages work without JavaScript; this script only makes them livelier.

// The words this script writes come from the server in the page's language (base.html
// renders them as JSON in body[data-texts]); numbers are written as that language writes them.
const TEXTS = JSON.parse(document.body.dataset.texts || "{}");
const say = (key) => TEXTS[key] ?? key;
const LANGUAGE = document.documentElement.lang || "en";
const formatNumber = (value) => new Intl.NumberFormat(LANGUAGE).format(value);
const formatPercent = (share) => new Intl.NumberFormat(LANGUAGE, { style: "percent", maximumFractionDigits: 0 }).format(share);

// A form submitted twice in a row (a double click, an impatient second click)
// is sent once. The server refuses duplicate exports too; this spares the round trip.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.submitting) {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "yes";
  setTimeout(() => delete form.dataset.submitting, 3000);
});

// Coming back with the Back button shows the page as it was: forms are usable again.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-submitting]").forEach((form) => delete form.dataset.submitting);
});

// The page at `url`, parsed, or null if it could not be had.
async function fetchPage(url) {
  const response = await fetch(url, { headers: { "X-Requested-With": "fetch" } });
  if (!response.ok) return null;
  return new DOMParser().parseFromString(await response.text(), "text/html");
}

// Replace the element with this id by its counterpart in `page`.
function replaceFrom(page, id) {
  const fresh = page.getElementById(id);
  const current = document.getElementById(id);
  if (fresh && current) current.replaceWith(fresh);
  return fresh;
}

// Replace the element with this id by its counterpart in the page at `url`.
async function refresh(id, url) {
  const page = await fetchPage(url);
  return page && replaceFrom(page, id);
}

// Analytics: the preview follows the filters (so Show is not needed), and the address
// follows the preview, so that a reload or a shared link opens the same view; quick
// periods fill From and To.
const filters = document.getElementById("filters");
if (filters) {
  filters.querySelector("button[name=action][value=preview]").hidden = true;
  filters.querySelector(".live-note").hidden = false;
  // What the preview shows; the EXPORT panel's subscription and alert fields are no part of it.
  const shown = ["agents", "date_from", "date_to", "channels", "outcomes", "view", "focus", "compare"];
  let pending = null;
  const updatePreview = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      // The Paths focus pickers live in the preview, tied to the form by form="filters".
      const params = new URLSearchParams([...new FormData(filters)].filter(([name, value]) => shown.includes(name) && value !== ""));
      // getAttribute: the form has fields named "action", which shadow form.action.
      const address = `${filters.getAttribute("action")}?${params}`;
      const page = await fetchPage(address);
      if (!page) return;
      history.replaceState(null, "", address);
      const focused = document.activeElement?.id;
      replaceFrom(page, "preview");
      if (focused && !filters.contains(document.activeElement)) document.getElementById(focused)?.focus();
      // What is wrong with the filters shows beside them, as after clicking Show.
      filters.querySelectorAll(".field-errors").forEach((errors) => replaceFrom(page, errors.id));
    }, 250);
  };
  document.addEventListener("change", (event) => {
    if (event.target.form === filters && !filters.contains(event.target)) updatePreview();
  });
  const presets = filters.querySelector(".presets");
  // The chip of the period the dates now make is marked as pressed.
  const markPreset = () => {
    for (const chip of presets.querySelectorAll("button[data-from]")) {
      const chosen = chip.dataset.from === filters.elements.date_from.value && chip.dataset.to === filters.elements.date_to.value;
      chip.setAttribute("aria-pressed", String(chosen));
    }
  };
  // Email me regularly offers the report on show, until the person picks reports themselves.
  const reports = [...filters.querySelectorAll("input[name=kinds]")];
  reports.forEach((report) => report.addEventListener("change", () => { report.dataset.picked = "yes"; }));
  const offerShownReport = () => {
    if (reports.some((report) => report.dataset.picked)) return;
    reports.forEach((report) => { report.checked = report.value === filters.elements.view.value; });
  };
  filters.addEventListener("change", (event) => {
    if (!shown.includes(event.target.name)) return;
    if (event.target.name === "view") offerShownReport();
    markPreset();
    updatePreview();
  });
  presets.hidden = false;
  presets.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-from]");
    if (!button) return;
    filters.elements.date_from.value = button.dataset.from;
    filters.elements.date_to.value = button.dataset.to;
    markPreset();
    updatePreview();
  });
}

// Exports: while a report is queued or building, the list updates itself.
const poll = async () => {
  const list = document.getElementById("export-list");
  if (!list || list.dataset.live !== "true") return;
  await refresh("export-list", window.location.href);
  setTimeout(poll, 2000);
};
setTimeout(poll, 2000);

// Tables of class "sortable": each column header with data-sort becomes a button
// that sorts by that column (again: the other way), with aria-sort for screen readers.
document.addEventListener("click", (event) => {
  const button = event.target.closest("th[data-sort] > button");
  if (!button) return;
  const header = button.parentElement;
  const table = header.closest("table");
  const column = [...header.parentElement.children].indexOf(header);
  const descending = header.getAttribute("aria-sort") !== "descending";
  const value = (row) => row.children[column].dataset.value;
  const numeric = header.dataset.sort === "number";
  const rows = [...table.tBodies[0].rows].sort((a, b) => {
    const order = numeric ? Number(value(a)) - Number(value(b)) : value(a).localeCompare(value(b));
    return descending ? -order : order;
  });
  table.tBodies[0].append(...rows);
  table.querySelectorAll("th[data-sort]").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", descending ? "descending" : "ascending");
});
// A header's words (its .label, beside a "?" definition, or all of its text) go into the button.
const makeSortable = () => document.querySelectorAll("table.sortable th[data-sort]:not(:has(> button))").forEach((th) => {
  const button = document.createElement("button");
  button.type = "button";
  const label = th.querySelector(":scope > .label");
  button.textContent = (label || th).textContent.trim();
  if (label) {
    label.replaceWith(button);
  } else {
    th.textContent = "";
    th.append(button);
  }
});
// A table wider than the screen scrolls inside its frame (words stay whole): say so above it.
const hintScrolling = () => document.querySelectorAll(".table-wrap").forEach((wrap) => {
  const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
  const hint = wrap.previousElementSibling?.classList.contains("scroll-hint") ? wrap.previousElementSibling : null;
  if (scrolls && !hint) {
    wrap.before(Object.assign(document.createElement("p"), { className: "hint scroll-hint", textContent: say("scrollSideways") }));
  } else if (!scrolls && hint) {
    hint.remove();
  }
});
makeSortable();
hintScrolling();
new MutationObserver(() => { makeSortable(); hintScrolling(); }).observe(document.body, { childList: true, subtree: true });
window.addEventListener("resize", hintScrolling);

// Admin → Import: the job's progress and counts follow the worker until it ends, and
// a removal of its data until it is done.
const importJob = document.getElementById("import-job");
if (importJob && importJob.dataset.live === "true") {
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  const follow = async () => {
    const response = await fetch(importJob.dataset.progress);
    if (response.ok) {
      const job = await response.json();
      const finished = job.state === "done" || job.state === "failed";
      if (!finished) {
        const bar = document.getElementById("import-progress");
        bar.max = job.total || 1;
        bar.value = job.done;
        show("import-percent", formatPercent(bar.value / bar.max));
        show("import-state", { queued: say("importQueued"), running: say("importRunning") }[job.state]);
        show("import-imported", formatNumber(job.imported));
        show("import-duplicates", formatNumber(job.duplicates));
        show("import-skipped", formatNumber(job.skipped));
      } else if (!job.removing) {
        // The page as the server renders it has the outcome, the reasons and the error, escaped.
        await refresh("import-job", window.location.href);
        return;
      }
    }
    setTimeout(follow, 1000);
  };
  setTimeout(follow, 1000);
}

// Admin → Import: the CSV columns matter only for a CSV log.
const importForm = document.getElementById("import-form");
if (importForm) {
  const mapping = document.getElementById("csv-mapping");
  const showMapping = () => { mapping.hidden = importForm.elements.kind.value !== "csv"; };
  importForm.addEventListener("change", showMapping);
  showMapping();
  enhanceCsvMapping(importForm, mapping);
}

// The header and rows of the first bytes of a CSV file, read by importers/csv_log.py's
// rules: UTF-8 with or without a BOM, the delimiter the one of , ; TAB | the header
// line has most of (the first of them on a tie; a comma if it has none), RFC 4180
// quotes. A row cut by the end of the bytes is left out unless the file ends there.
function readCsvStart(bytes, whole) {
  const text = new TextDecoder("utf-8").decode(bytes);  // drops a BOM, as utf-8-sig does
  const firstLine = text.split("\n", 1)[0];
  const count = (d) => firstLine.split(d).length - 1;
  const delimiter = [",", ";", "\t", "|"].reduce((best, d) => (count(d) > count(best) ? d : best));
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') { field += '"'; i++; }
      else quoted = false;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (whole && (field || row.length)) rows.push([...row, field]);
  const filled = rows.filter((r) => r.length > 1 || r[0] !== "");
  return { header: filled[0] || [], rows: filled.slice(1) };
}

// Admin → Import, a CSV log: once a file is chosen, its header and first rows are read
// here, each column field becomes a choice of the file's columns (guessed by name, or
// as chosen before the form came back), the first rows show, and each sender value
// found gets a choice that writes Sender values. The form sends the same fields as
// without JavaScript, and the server checks them as ever.
function enhanceCsvMapping(form, mapping) {
  const guesses = JSON.parse(mapping.dataset.guesses);
  const fields = Object.keys(guesses.columns);
  const senders = [...Object.keys(guesses.senders), guesses.skip];
  const preview = document.getElementById("csv-preview");
  const senderChoices = document.getElementById("sender-choices");
  let file = { header: [], rows: [] };

  const option = (value, label, selected) => new Option(label, value, selected, selected);
  const columnChoice = (name) => {
    const current = form.elements[name];
    const guess = file.header.find((column) => guesses.columns[name].includes(column.toLowerCase()));
    const chosen = file.header.includes(current.value) ? current.value : guess || "";
    const select = document.createElement("select");
    select.name = name;
    select.id = current.id;
    select.append(option("", guesses.required.includes(name) ? say("chooseColumn") : say("noColumn"), chosen === ""));
    file.header.forEach((column) => select.append(option(column, column, column === chosen)));
    current.replaceWith(select);
  };
  const cell = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
  const showRows = () => {
    const table = document.createElement("table");
    table.append(cell("caption", say("firstRows")));
    table.createTHead().insertRow().append(...file.header.map((column) => Object.assign(cell("th", column), { scope: "col" })));
    const body = table.createTBody();
    file.rows.slice(0, 5).forEach((row) => body.insertRow().append(...row.map((value) => cell("td", value))));
    preview.replaceChildren(table);
    preview.hidden = false;
  };
  // "user=client,skip=notice" -> {client: "user", notice: "skip"}, as parse_sender_values reads it.
  const written = () => Object.fromEntries(form.elements.sender_values.value.split(",").map((part) => part.trim())
    .filter((part) => part.includes("=")).map((part) => { const at = part.indexOf("="); return [part.slice(at + 1).trim(), part.slice(0, at).trim()]; }));
  const writeSenderValues = () => {
    const chosen = { ...written() };
    senderChoices.querySelectorAll("select").forEach((select) => { chosen[select.dataset.value] = select.value; });
    form.elements.sender_values.value = Object.entries(chosen).filter(([value, sender]) => value !== sender)
      .map(([value, sender]) => `${sender}=${value}`).join(",");
  };
  const showSenders = () => {
    const column = file.header.indexOf(form.elements.sender.value);
    const values = column < 0 ? [] : [...new Set(file.rows.map((row) => row[column]).filter((value) => value !== undefined && value !== ""))];
    const before = written();
    const list = senderChoices.querySelector("ul");
    list.replaceChildren(...values.map((value, n) => {
      const guess = senders.find((sender) => (guesses.senders[sender] || []).includes(value.toLowerCase())) || guesses.skip;
      const chosen = before[value] || guess;
      const select = Object.assign(document.createElement("select"), { id: `sender-value-${n}` });
      select.dataset.value = value;
      senders.forEach((sender) => select.append(option(sender, TEXTS.senders?.[sender] ?? sender, sender === chosen)));
      const label = Object.assign(cell("label", value), { htmlFor: select.id });
      const item = document.createElement("li");
      item.append(label, " ", select);
      return item;
    }));
    senderChoices.hidden = values.length === 0;
    writeSenderValues();
  };
  const read = async () => {
    const chosen = form.elements.upload.files[0];
    if (!chosen || form.elements.kind.value !== "csv") return;
    const bytes = await chosen.slice(0, 64 * 1024).arrayBuffer();
    file = readCsvStart(bytes, chosen.size <= 64 * 1024);
    fields.forEach(columnChoice);
    showRows();
    showSenders();
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "upload" || event.target.name === "kind") read();
    else if (event.target.name === "sender") showSenders();
    else if (event.target.closest("#sender-choices")) writeSenderValues();
  });
  read();  // a file still chosen (the Back button)
}

// Email me regularly: say in words when the first email would come, as the fields change.
const when = document.getElementById("subscription-when");
if (when) {
  const fields = ["frequency", "weekday", "day", "at"];
  when.closest("form").addEventListener("change", async (event) => {
    if (!fields.includes(event.target.name)) return;
    const params = new URLSearchParams();
    for (const name of fields) params.set(name, new FormData(when.closest("form")).get(name) ?? "");
    const response = await fetch(`${when.dataset.url}?${params}`);
    if (response.ok) when.textContent = await response.text();
  });
}

// Admin → agent: Copy buttons put a key or a command on the clipboard; where the
// browser allows no clipboard (plain HTTP off localhost), the text is selected instead.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = say("copied");
    } catch {
      window.getSelection().selectAllChildren(source);
      button.textContent = say("selected");
    }
    setTimeout(() => { button.textContent = say("copy"); }, 3000);
  });
});

// Admin → agent → Outcomes: each rule shows only the fields its condition uses (without
// JavaScript all show, and the server ignores the others), and while the agent's dialogs
// are being recomputed the progress bar follows the worker. The edited rules are never
// replaced: only the status above them is.
// Subscriptions and alerts: Weekday shows only for Weekly, Day of month only for Monthly
// (without JavaScript both show, each saying when it applies).
const showWhenChosen = () => document.querySelectorAll("[data-shown-when]").forEach((element) => {
  const [name, value] = element.dataset.shownWhen.split("=");
  const chosen = document.querySelector(`input[name="${name}"]:checked`);
  element.hidden = Boolean(chosen) && chosen.value !== value;
});
document.addEventListener("change", showWhenChosen);
showWhenChosen();

// Alert me: picking what to watch picks the direction in which it gets worse
// (an exit rate rises; Containment and Completion fall). The person may still change it.
document.querySelectorAll("input[name$='watch'][type=radio]").forEach((radio) => {
  radio.addEventListener("change", () => {
    const direction = radio.form.elements[radio.name.replace("watch", "direction")];
    if (direction) direction.value = radio.value === "exit-rate" ? "rises" : "falls";
  });
});

function enhanceOutcomeRules() {
  const uses = { reaches: ["slots"], ends_at: ["slots"], shows: ["slots", "times"], reaches_type: ["type"] };
  document.querySelectorAll(".outcome-rule").forEach((rule) => {
    const condition = rule.querySelector("select[name$='-condition']");
    const showFields = () => rule.querySelectorAll("[data-field]").forEach((field) => {
      field.hidden = !(uses[condition.value] || []).includes(field.dataset.field);
    });
    condition.addEventListener("change", showFields);
    showFields();
  });
  const follow = async () => {
    const status = document.getElementById("outcomes-status");
    if (!status || status.dataset.live !== "true") return;
    const fresh = (await fetchPage(status.dataset.url))?.getElementById("outcomes-status");
    if (fresh) {  // the same live region, new words: screen readers announce them
      status.replaceChildren(...fresh.childNodes);
      status.dataset.live = fresh.dataset.live;
    }
    setTimeout(follow, 2000);
  };
  setTimeout(follow, 2000);
}
enhanceOutcomeRules();
