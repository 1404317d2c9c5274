// certhub web console: one ES module, no build step.  Every request goes through the same
// REST API and permissions as any other client; every value from a certificate is put on
// the page as text (textContent), never as markup.

let csrf = "";
let me = null;
let openPanel = null; // the details panel open on the screen shown (sidePanel), for Escape

// ---- the API
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  // A name typed with a space at either end (the server refuses one, to store what it was
  // sent): sent without, as the user meant it.  Names only: a password keeps every character.
  const trimNames = (k, v) => (typeof v === "string" && (k === "name" || k === "alias") ? v.trim() : v);
  if (body instanceof FormData) {
    for (const k of ["name", "alias"])
      if (typeof body.get(k) === "string") body.set(k, body.get(k).trim());
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body, trimNames);
  }
  // A change asked from a dialog: its submit buttons wait for the answer (a second press
  // would send it twice), and a dialog closed before the answer came is told what became of
  // the request, which the server carries out once sent (a CA with an RSA key takes seconds).
  const dlg = method !== "GET" ? document.getElementById("dialog") : null;
  const from = dlg?.open ? dlg.firstChild : null;
  const buttons = from ? [...from.querySelectorAll('button[type="submit"]')].filter((b) => !b.disabled) : [];
  const left = () => from && !(dlg.open && dlg.firstChild === from);
  let res, text;
  buttons.forEach((b) => { b.disabled = true; });
  try {
    res = await fetch("/api/v1/" + path, opts);
    text = await res.text();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401 && path !== "session") {
    showSignin("Your session has ended: sign in again.");
    throw new Error("signed out");
  }
  if (!res.ok) {
    const e = new Error(data?.error?.message || res.statusText);
    e.field = data?.error?.field;
    e.reason = data?.error?.reason;
    e.existing = data?.error?.existing_id; // (409: what is held already)
    e.status = res.status;
    if (left()) problem(`Closed before its answer came, the request was refused: ${e.message}`);
    throw e;
  }
  if (left()) {
    done(`Closed before its answer came, the request was carried out all the same (${method} ${path.split("?")[0]}${data?.name ? ": " + data.name : ""}): a request sent cannot be taken back.`);
  }
  return data;
}

// Every item of a list the API gives a page at a time, for the short lists shown whole
// (CAs and profiles in pickers, tokens, users, tenants, trusted certificates).
async function apiAll(path) {
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", `${path}${path.includes("?") ? "&" : "?"}limit=1000${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return { items, next_cursor: null };
}

// ---- small DOM helpers: text only
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  // Flattened to any depth: optional groups of rows sit in arrays inside arrays (a renewed
  // certificate's "Renewed by" showed as "[object HTMLElement]").
  for (const c of children.flat(Infinity)) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const canChange = () => me && me.role !== "viewer";
const day = (t) => (t || "").slice(0, 10);
// The day, and the time too when it is within two days (a certificate of an hour ends today).
const until = (t) => (t && Math.abs(Date.parse(t) - Date.now()) < 2 * 86400e3 ? `${day(t)} ${t.slice(11, 16)} UTC` : day(t));
const badge = (s) => el("span", { class: "badge " + s }, s);

// ---- sign in and out
function showSignin(why) {
  // A dialog left open would stand over the form (the modal one keeps the page from the user).
  const d = document.getElementById("dialog");
  if (d.open) d.close();
  document.getElementById("app").hidden = true;
  document.getElementById("signin").hidden = false;
  document.getElementById("si-error").textContent = why || "";
  document.getElementById("si-user").focus();
}

// What an action on the page could not do, said above the screen (any action whose error no
// dialog shows lands here), and the screen read again: what it showed may be gone.
// A refusal as it is read: the server's message, after the field's name only where the message
// does not name it already ("days: days must be ..." read the name twice).
function refusalText(e) {
  const f = e.field ? e.field.replace(/_/g, " ") : "";
  return f && !e.message.toLowerCase().includes(f) && !e.message.includes(e.field) ? `${f}: ${e.message}` : e.message;
}

function problem(message) {
  document.getElementById("problem-text").textContent = message;
  document.getElementById("problem").hidden = false;
}
function done(message) {
  const p = document.getElementById("done");
  p.textContent = message;
  p.hidden = false;
  clearTimeout(done.timer);
  done.timer = setTimeout(() => { p.hidden = true; }, 8000);
}
document.getElementById("problem-close").addEventListener("click", () => { document.getElementById("problem").hidden = true; });
window.addEventListener("unhandledrejection", (ev) => {
  const m = ev.reason?.message;
  if (!m || m === "signed out") return;
  ev.preventDefault();
  problem(m);
  route();
});

async function start() {
  try {
    me = await api("GET", "session");
    csrf = me.csrf_token;
    document.getElementById("signin").hidden = true;
    document.getElementById("app").hidden = false;
    const who = document.getElementById("who");
    who.replaceChildren(`${me.user} · ${me.tenant} · ${me.role}`);
    // Still the first start's password, which a file in the data directory holds for anyone
    // who can read it: its change asked for until it is done.
    document.getElementById("first-password").hidden = !me.first_password;
    // (a client that sends an API token has no password here to change)
    document.getElementById("password").hidden = /^token:/.test(me.user);
    if ((me.tenants || []).length > 1) {
      // The tenant switcher, for admins of several tenants.
      const sw = el("select", { id: "tenant-switch", "aria-label": "Tenant" }, me.tenants.map((t) => el("option", { value: t, selected: t === me.tenant }, t)));
      sw.addEventListener("change", async () => { await api("PATCH", "session", { tenant: sw.value }); await start(); });
      who.append(" ", sw);
    }
    route();
  } catch {
    showSignin();
  }
}

document.getElementById("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const err = document.getElementById("si-error");
  err.textContent = "";
  // A field left empty is said as such, and nothing is sent: the server would answer "wrong
  // user name or password", and count a failed attempt against the name.
  const empty = [["si-user", "user name", !f.get("username").trim()], ["si-password", "password", !f.get("password")]]
    .filter(([, , none]) => none);
  if (empty.length) {
    err.textContent = `The ${empty.map(([, what]) => what).join(" and the ")} ${empty.length > 1 ? "are" : "is"} empty.`;
    document.getElementById(empty[0][0]).focus();
    return;
  }
  try {
    const s = await api("POST", "session", { tenant: f.get("tenant"), username: f.get("username"), password: f.get("password") });
    csrf = s.csrf_token;
    ev.target.reset();
    await start();
  } catch (e) {
    err.textContent = e.message;
  }
});

// A password the console sets, typed twice: its two fields, and check(), which gives the
// password or throws, saying so, when the two differ (a slip in a field that shows dots locks
// one out of what the password protects), before anything is sent.
function passwordTwice(id, label, again = "Repeat the password") {
  const input = el("input", { id, type: "password", autocomplete: "new-password" });
  const second = el("input", { id: `${id}-again`, type: "password", autocomplete: "new-password" });
  return {
    input, second,
    rows: [el("label", { for: id }, label), input, el("label", { for: `${id}-again` }, again), second],
    check(what = "passwords") {
      if (input.value !== second.value) {
        second.focus();
        throw new Error(`The two ${what} typed differ: type the same in both fields.`);
      }
      return input.value;
    },
  };
}

function changePasswordDialog() {
  const pw = passwordTwice("pw-new", "New password (8 characters or more)", "Repeat the new password");
  formDialog("Change password", [
    el("label", { for: "pw-current" }, "Current password"), el("input", { id: "pw-current", type: "password", autocomplete: "current-password" }),
    pw.rows],
  "Change password", async (form, d) => {
    await api("POST", "session/password", { current_password: form.querySelector("#pw-current").value, new_password: pw.check() });
    d.close();
    document.getElementById("first-password").hidden = true;
    done("Your password was changed; your other sessions have ended.");
  }, "pw-error");
}
document.getElementById("password").addEventListener("click", changePasswordDialog);
document.getElementById("first-password-change").addEventListener("click", changePasswordDialog);

document.getElementById("signout").addEventListener("click", async () => {
  await api("DELETE", "session").catch(() => {});
  csrf = "";
  me = null;
  location.hash = "";
  showSignin();
});

// ---- dialogs
// The one dialog element, shown with content; what is returned acts on it only while it
// still shows that content: an action that ends after the user cancelled and opened another
// dialog does not close the other one.
function openDialog(content) {
  const d = document.getElementById("dialog");
  d.replaceChildren(content);
  if (!d.open) d.showModal();
  const mine = () => d.open && d.firstChild === content;
  return {
    close: () => { if (mine()) d.close(); },
    addEventListener: (...args) => d.addEventListener(...args),
    get returnValue() { return d.returnValue; },
    get open() { return mine(); },
  };
}

// extra: what the question offers beside it (a checkbox the action reads), under it.
function confirmDialog(question, action, verb = "Delete", extra = null) {
  const d = openDialog(el("form", { method: "dialog" },
    el("p", {}, question), extra,
    el("div", { class: "row-actions" },
      el("button", { class: "danger", value: "yes", type: "submit" }, verb),
      el("button", { class: "secondary", value: "no", type: "submit" }, "Cancel"))));
  d.addEventListener("close", () => { if (d.returnValue === "yes") action(); }, { once: true });
}

// A dialog of a form: a title, the fields, an error line and the submit and Cancel buttons.
// onSubmit(form, dialog) runs on submit; what it throws is told on the error line (errorId
// names it).  The first field takes the focus.
function formDialog(title, fields, submitLabel, onSubmit, errorId) {
  const err = el("p", { class: "error", role: "alert", id: errorId });
  const form = el("form", { method: "dialog", novalidate: true }, el("h2", {}, title), fields, err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, submitLabel),
      el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try { await onSubmit(form, d); } catch (x) { err.textContent = x.message; }
  });
  const d = openDialog(form);
  form.querySelector("input, select")?.focus();
  return d;
}
const roleSelect = (id) => el("select", { id }, ["viewer", "operator", "admin"].map((r) => el("option", { value: r }, r)));

// A file input with an area around it that takes a dropped file as if it was chosen (its
// change handlers run).
function dropArea(file, text) {
  const drop = el("div", { class: "drop" }, text, file);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    file.files = e.dataTransfer.files;
    file.dispatchEvent(new Event("change"));
  });
  return drop;
}

// ---- screens
const screens = {
  overview: overviewScreen,
  certificates: certificatesScreen,
  trusted: trustedScreen,
  // (one list of both kinds: the old address shows it narrowed to keystores)
  keystores: (screen) => certificatesScreen(screen, "keystore"),
  cas: casScreen,
  csrs: csrsScreen,
  devices: devicesScreen,
  audit: auditScreen,
  settings: settingsScreen,
};

function route() {
  openPanel = null;
  // (a screen's own query after "?": #/certificates?ca=ID)
  const name = (location.hash.replace(/^#\//, "") || "overview").split(/[/?]/)[0];
  const shown = name === "keystores" ? "certificates" : name;
  for (const a of document.querySelectorAll("nav a"))
    a.setAttribute("aria-current", a.getAttribute("href") === "#/" + shown ? "page" : "false");
  // Each visit draws into an element of its own: a screen still loading when the user moves
  // on (the overview reads many certificates) then fills a detached element instead of
  // replacing the screen the user went to.
  const screen = el("div", { class: "screen" }, el("p", {}, "Loading…"));
  document.getElementById("screen").replaceChildren(screen);
  (screens[name] || overviewScreen)(screen).catch((e) => screen.replaceChildren(el("p", { class: "error" }, e.message)));
}
window.addEventListener("hashchange", () => {
  // Another screen: what was open or said on the last one goes.
  const d = document.getElementById("dialog");
  if (d.open) d.close();
  document.getElementById("problem").hidden = true;
  route();
});

async function overviewScreen(screen) {
  // Counted by the server: right for any number of certificates.
  const o = await api("GET", "overview");
  // Said "active" in the text too: the word of its badges, and of each certificate's in the list.
  const { valid: active, expired, expiring_per_week: weeks } = o.certificates;
  const byStatus = { active, expired };
  // Bars with their axes: the count a bar stands for on the left (the tallest's and 0), the
  // day each fourth week begins under it, and its count above each bar that has one.
  const max = Math.max(1, ...weeks), L = 34, B = 22, W = L + 26 * 22, H = 140, T = 14;
  const at = Date.parse(o.at) || Date.now();
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(svg.namespaceURI, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  svg.setAttribute("viewBox", `0 0 ${W} ${T + H + B}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Certificates expiring per week for the next 26 weeks");
  add("line", { x1: L, y1: T, x2: W, y2: T, class: "grid" });
  add("line", { x1: L, y1: T + H, x2: W, y2: T + H, class: "axis" });
  add("text", { x: L - 4, y: T + 4, "text-anchor": "end", class: "label" }, String(max));
  add("text", { x: L - 4, y: T + H, "text-anchor": "end", class: "label" }, "0");
  weeks.forEach((n, i) => {
    const h = Math.round((n / max) * H), x = L + i * 22 + 2;
    const from = new Date(at + i * 7 * 86400e3);
    const r = add("rect", { x, y: T + H - h, width: 18, height: h });
    const t = document.createElementNS(svg.namespaceURI, "title");
    t.textContent = `week ${i + 1} (from ${from.toLocaleDateString(undefined, { month: "short", day: "numeric" })}): ${n}`;
    r.append(t);
    if (n > 0) add("text", { x: x + 9, y: T + H - h - 3, "text-anchor": "middle", class: "count" }, String(n));
    if (i % 4 === 0) {
      add("line", { x1: x, y1: T + H, x2: x, y2: T + H + 4, class: "axis" });
      add("text", { x, y: T + H + 16, class: "label" }, from.toLocaleDateString(undefined, { month: "short", day: "numeric" }));
    }
  });
  screen.replaceChildren(
    el("h1", {}, "Overview"),
    el("div", { class: "card" },
      el("p", {}, `${active} active, ${expired} expired certificates`),
      el("ul", { class: "counts", "aria-label": "Certificates per status" },
        Object.entries(byStatus).map(([k, n]) => el("li", {}, badge(k), ` ${n}`))),
      el("h2", {}, "Expiring per week, next 26 weeks"), svg));
}

// A download of what the API answered, under a file name: a name given here may hold what
// no file system takes (a slash, a colon, "<"), which each browser and system would replace
// its own way or refuse, so it is replaced here, the same everywhere.
function saveBlob(blob, name) {
  const file = name.replace(/[\\/:*?"<>|\u0000-\u001f\u007f]+/g, "_").replace(/^[\s.]+/, "") || "download";
  const a = el("a", { href: URL.createObjectURL(blob), download: file });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// The trust bundle as a Java or PKCS#12 truststore (the keystore seed's truststores): its
// password goes in the Certhub-Password header, as the API takes it for a GET.
function bundleTruststoreDialog() {
  const err = el("p", { class: "error", role: "alert" });
  const form = el("form", { method: "dialog" }, el("h2", {}, "Trust bundle as a truststore"),
    el("label", { for: "bt-format" }, "Format"), el("select", { id: "bt-format" }, el("option", { value: "jks" }, "JKS"), el("option", { value: "p12" }, "PKCS#12")),
    el("label", { for: "bt-pass" }, "Password of the truststore"), el("input", { id: "bt-pass", type: "password", autocomplete: "new-password" }),
    el("label", { for: "bt-pass2" }, "Repeat the password"), el("input", { id: "bt-pass2", type: "password", autocomplete: "new-password" }), err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Download"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const pass = form.querySelector("#bt-pass").value, fmt = form.querySelector("#bt-format").value;
    if (!pass) { err.textContent = "A truststore needs a password (keytool asks for it)."; return; }
    if (pass !== form.querySelector("#bt-pass2").value) { err.textContent = "The two passwords differ."; return; }
    // (a header carries bytes of Latin-1 alone: fetch refused the request without a word)
    if (/[^\x20-\x7e]/.test(pass)) { err.textContent = "Here the password is printable ASCII (certhub ca bundle takes any)."; return; }
    const res = await fetch(`/api/v1/bundles/default?format=${fmt}`, { headers: { "Certhub-Password": pass }, credentials: "same-origin" });
    if (!res.ok) { err.textContent = (await res.json().catch(() => null))?.error?.message || res.statusText; return; }
    saveBlob(await res.blob(), `${me.tenant === "default" ? "" : me.tenant + "-"}bundle-truststore.${fmt}`);
    d.close();
  });
  const d = openDialog(form);
}

async function download(method, path, body, name) {
  const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch("/api/v1/" + path, opts);
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    const e = new Error(data?.error?.message || res.statusText);
    e.field = data?.error?.field;
    throw e;
  }
  saveBlob(await res.blob(), name);
}

// What an export gives, as the dialog says it and as the file is named: the format (with
// "key" the private key alone), the options chosen, and whether it is one certificate's or a
// keystore's entries.  A truststore and a legacy P12 get names apart from the keystore with
// the key, so that one is not taken for the other once downloaded.
function exportGives(f, o, many) {
  const certs = many ? "every entry's certificate and chain" : "the certificate and its chain";
  const locked = o.password ? "encrypted with the password" : "in clear (no password)";
  if (f === "key") return ["-key.pem", `The private key alone, PEM (PKCS#8, nginx's ssl_certificate_key), ${locked}.`];
  if (f === "pem" && o.includeKey) return ["-with-key.pem", `The private key ${locked}, then ${certs}, in one PEM file (HAProxy, Vault's pem_bundle).`];
  if (f === "pem") return [".pem", `${certs[0].toUpperCase() + certs.slice(1)}, PEM text (nginx's ssl_certificate), no key.`];
  if (f === "der") return [".der", "The certificate alone, binary DER (Windows opens it as .cer), no key."];
  if (f === "p7b") return [".p7b", `${certs[0].toUpperCase() + certs.slice(1)}, PKCS#7 (Windows, IIS), no key.`];
  const kind = f === "jks" ? "A Java keystore (JKS)" : "A PKCS#12 file (PFX)";
  const legacy = f === "p12" && o.legacy ? ", in the older ciphers (3DES, RC2) old Java and Windows read (OpenSSL 3 opens it with -legacy)" : "";
  if (o.truststore) return [`-truststore${legacy ? "-legacy" : ""}.${f}`, `${kind} for those who check it: ${certs}, each a trusted entry (keytool -importcert), no private key${legacy}.`];
  return [`${legacy ? "-legacy" : ""}.${f}`, `${kind}: the private key with ${certs}${legacy}.`];
}

// The options of an export, each shown with the formats that take it: the private key in a
// PEM or not; a P12 or JKS as a truststore (the certificates alone) or a keystore with the
// key, and a P12 in the legacy ciphers; and the passwords, each typed twice.  The store's is
// required with P12 and JKS, but for a P12 none at all (the empty password, which Windows and
// Kubernetes secrets read) is asked for by its box and never taken from an empty field; with
// a key in PEM it is optional and encrypts the key.  A JKS key entry may have its own
// (keytool -keypass).  keys: whether the key may be in the file at all (certhub holds it and
// the account may export it); without, a P12 or JKS is a truststore and nothing else.
function exportOptions(id, format, keys, many) {
  const check = (name, text, attrs = {}) => {
    const box = el("input", { id: `${id}-${name}`, type: "checkbox", ...attrs });
    return [box, el("div", { hidden: true }, el("label", { class: "check" }, box, text))];
  };
  const [includeKey, includeKeyRow] = check("include-key", "With the private key (one file for nginx or HAProxy)");
  const [truststore, truststoreRow] = check("truststore", "Truststore: the certificates alone, no private key",
    keys ? {} : { checked: true, disabled: true });
  const [legacy, legacyRow] = check("legacy", "Legacy: the older ciphers (3DES, RC2) that old Java and Windows read");
  const [none, noneRow] = check("no-password", "No password: a P12 without one, as Windows and Kubernetes secrets take it (a key in it is not protected)");
  const store = passwordTwice(`${id}-password`, "Password");
  const key = passwordTwice(`${id}-key-password`, "Key password (JKS), when the key's is not the store's", "Repeat the key password");
  const password = store.input, keyPassword = key.input;
  password.setAttribute("aria-describedby", `${id}-error`);
  const storeLabel = store.rows[0];
  const pwRow = el("div", { hidden: true }, store.rows);
  const keyRow = el("div", { hidden: true }, key.rows);
  const gives = el("p", { class: "hint", id: `${id}-gives`, "aria-live": "polite" });
  format.setAttribute("aria-describedby", `${id}-gives`);
  const chosen = () => ({ includeKey: format.value === "pem" && includeKey.checked, truststore: truststore.checked,
    legacy: legacy.checked, password: password.value !== "" && !(format.value === "p12" && none.checked) });
  const show = () => {
    const f = format.value, o = chosen();
    const isStore = f === "p12" || f === "jks", keyInFile = f === "key" || o.includeKey;
    includeKeyRow.hidden = !(f === "pem" && keys);
    truststoreRow.hidden = !isStore;
    legacyRow.hidden = f !== "p12";
    noneRow.hidden = f !== "p12";
    pwRow.hidden = !(isStore || keyInFile);
    storeLabel.textContent = isStore ? `Password of the ${f.toUpperCase()}` : "Password to encrypt the key (none: the key in clear)";
    keyRow.hidden = f !== "jks" || o.truststore;
    password.disabled = store.second.disabled = f === "p12" && none.checked;
    gives.textContent = exportGives(f, o, many)[1];
  };
  for (const e of [format, includeKey, truststore, legacy, none]) e.addEventListener("change", show);
  password.addEventListener("input", show);
  show();
  return {
    rows: [gives, includeKeyRow, truststoreRow, legacyRow, pwRow, noneRow, keyRow],
    // What the file is named after: exportGives's suffix.
    suffix: () => exportGives(format.value, chosen(), many)[0],
    // The request's fields for the format chosen; a missing password said here.
    fields() {
      const f = format.value, o = chosen();
      if (f === "key" || (f === "pem" && o.includeKey)) {
        const pw = store.check();
        return { ...(f === "pem" ? { include_key: true } : {}), ...(pw ? { password: pw } : {}) };
      }
      if (f !== "p12" && f !== "jks") return {};
      const body = { ...(o.truststore ? { truststore: true } : {}), ...(f === "p12" && o.legacy ? { legacy: true } : {}) };
      if (f === "p12" && none.checked) return { ...body, password: "" };
      if (!password.value) throw new Error(f === "p12" ? 'Give a password, or tick "No password" for a P12 without one.' : "Give a password: a JKS needs one.");
      body.password = store.check();
      if (f === "jks" && !o.truststore && key.check("key passwords")) body.key_password = keyPassword.value;
      return body;
    },
  };
}

// The formats of an export, each saying what it is; "key" is the private key alone.
const exportFormats = { pem: "PEM (text)", der: "DER (binary, one certificate)", p7b: "P7B (PKCS#7)",
  p12: "P12 / PFX (PKCS#12)", jks: "JKS (Java keystore)", key: "Private key alone (PEM)" };
const formatSelect = (id, list, selected) =>
  el("select", { id }, list.map((f) => el("option", { value: f, selected: f === selected }, exportFormats[f])));
// Whether this account may export private keys (GET /session's keys_export: an operator's
// and a viewer's may not, and the API refuses them with a 403).
const mayExportKeys = () => !me || me.keys_export !== false;

function exportDialog(c) {
  // The key is offered where certhub holds one and the account may export it, rather than
  // refused after the click; without, P12 and JKS are still there as truststores (a CA whose
  // key is elsewhere, for Java to trust).
  const keys = c.has_private_key !== false && mayExportKeys();
  const format = formatSelect("ex-format", ["pem", "der", "p7b", "p12", "jks"].concat(keys ? ["key"] : []));
  const why = keys ? null : el("p", { class: "hint", id: "ex-why" }, c.has_private_key === false
    ? "certhub holds no private key for this certificate: its exports are the certificates alone, P12 and JKS as truststores."
    : "The private key, which this account may not export, is left out: P12 and JKS are truststores, PEM has no key.");
  const options = exportOptions("ex", format, keys, false);
  // The entry's alias in the keystore (Tomcat looks for "tomcat"): the certificate's name
  // unless another is given.
  const alias = el("input", { id: "ex-alias", placeholder: c.name, autocomplete: "off" });
  const aliasRow = el("div", { hidden: true }, el("label", { for: "ex-alias" }, "Alias of the entry (keytool lists it in lower case)"), alias);
  const err = el("p", { class: "error", id: "ex-error", role: "alert" });
  const showAlias = () => { aliasRow.hidden = !["p12", "jks"].includes(format.value); };
  format.addEventListener("change", showAlias);
  showAlias();
  const form = el("form", { method: "dialog" },
    el("h2", {}, `Export ${c.name}`),
    el("label", { for: "ex-format" }, "Format"), format, why, options.rows, aliasRow, err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Download"),
      el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const f = format.value, name = c.name + options.suffix();
    try {
      const body = options.fields();
      if (f === "key") await download("POST", `certificates/${c.id}/private-key`, body, name);
      else if (f === "p12" || f === "jks" || body.include_key) {
        if (alias.value && f !== "pem") body.alias = alias.value;
        await download("POST", `certificates/${c.id}/export`, { format: f, ...body }, name);
      } else await download("GET", `certificates/${c.id}/export?format=${f}`, null, name);
      d.close();
    } catch (e) { err.textContent = e.message; }
  });
  const d = openDialog(form);
  format.focus();
}

// The CA a form offers first: the tenant's default signer (settings' default_ca_id, the one a
// request naming none goes to), else one that can sign and has an issuer of its own (an
// issuing CA, not a root), else any that can sign.
function preferredSigner(cas, defaultId) {
  return (cas.find((c) => c.can_sign && c.id === defaultId) || cas.find((c) => c.can_sign && c.parent_id) ||
    cas.find((c) => c.can_sign) || {}).id;
}
// The tenant's default signer, or undefined (settings a viewer may read too).
const defaultSigner = async () => (await api("GET", "settings").catch(() => ({}))).default_ca_id || undefined;

// A lifetime is a number and a unit: days go as "days", hours and minutes as a "ttl" ("24h",
// "30m"), as a profile's go as default_days or default_ttl.
const LIFETIME_UNITS = [["d", "days"], ["h", "hours"], ["m", "minutes"]];
function lifetimeInputs(id, label, [value, unit], attrs = {}) {
  return [el("label", { for: id }, label), el("div", { class: "lifetime" },
    el("input", { id, name: id, type: "number", min: "1", value, ...attrs }),
    el("select", { id: `${id}-unit`, name: `${id}_unit`, "aria-label": `${label}: unit` },
      LIFETIME_UNITS.map(([v, t]) => el("option", { value: v, selected: v === unit }, t))))];
}
const lifetimeBody = (value, unit, days = "days", ttl = "ttl") =>
  (value === "" || value === undefined ? {} : unit === "d" ? { [days]: Number(value) } : { [ttl]: `${value}${unit}` });
// [number, unit] of a lifetime the API gives in days or as a ttl (in its largest whole unit).
function lifetimeOf(days, ttl) {
  const m = /^(\d+)([smhd])$/.exec(ttl || "");
  if (!m) return [days ? String(days) : "", "d"];
  return m[2] === "s" ? [String(Math.ceil(m[1] / 60)), "m"] : [m[1], m[2]];
}
function lifetimeText([n, u]) {
  const word = Object.fromEntries(LIFETIME_UNITS)[u];
  return n ? `${n} ${n === "1" ? word.slice(0, -1) : word}` : "";
}
const lifetimeWords = (days, ttl) => lifetimeText(lifetimeOf(days, ttl));

// The key types and digests certhub makes keys and signs with (TrueNAS: the key type, its bits
// or curve, and the digest, for certificates, CSRs and CAs alike).
const KEY_TYPES = [["p256", "EC P-256"], ["p384", "EC P-384"], ["p521", "EC P-521"], ["rsa2048", "RSA 2048"],
  ["rsa3072", "RSA 3072"], ["rsa4096", "RSA 4096"], ["ed25519", "Ed25519"]];
const DIGESTS = [["sha256", "SHA-256"], ["sha384", "SHA-384"], ["sha512", "SHA-512"]];
const digestText = (d) => (DIGESTS.find(([v]) => v === d) || [d, d])[1];
// The same key types as TrueNAS asks them in its wizard: the Key Type (RSA or EC; Ed25519 has
// neither a length nor a curve), then the RSA key's length or the EC key's curve, each a field
// of its own; the API takes them as one key_type.
const KEY_ALGS = [["ec", "EC"], ["rsa", "RSA"], ["ed25519", "Ed25519"]];
const RSA_BITS = [["2048", "2048"], ["3072", "3072"], ["4096", "4096"]];
const EC_CURVES = [["p256", "P-256 (secp256r1)"], ["p384", "P-384 (secp384r1)"], ["p521", "P-521 (secp521r1)"]];
const keyTypeOf = (alg, bits, curve) => (alg === "rsa" ? "rsa" + bits : alg === "ed25519" ? "ed25519" : curve);
// [algorithm, RSA length, EC curve] of a key_type (the two that do not apply at their first).
const keyParts = (t) => (t.startsWith("rsa") ? ["rsa", t.slice(3), "p256"] : t === "ed25519" ? ["ed25519", "2048", "p256"] : ["ec", "2048", t]);
const keyTypeText = (t) => (KEY_TYPES.find(([v]) => v === t) || [t, t])[1];
const options = (list, chosen) => list.map(([v, t]) => el("option", { value: v, selected: v === chosen }, t));
// The key type's fields as above, for the create wizard and the CA and CSR dialogs alike (one
// way to ask it on every screen that makes a key): ids and names p_alg, p_bits and p_curve,
// the length's and the curve's row shown only for the algorithm they belong to.  value() is
// the API's key_type; allow(profile) leaves out what a profile does not allow (an algorithm
// none of whose lengths or curves it allows, too), a choice it does not allow moving to the
// first it does.
function keyTypeFields(p, keyType) {
  const [alg0, bits0, curve0] = keyParts(keyType);
  const pick = (k, label, list, chosen) => {
    const s = el("select", { id: `${p}_${k}`, name: `${p}_${k}` }, options(list, chosen));
    return [s, [el("label", { for: s.id }, label), s]];
  };
  const [alg, algRow] = pick("alg", "Key type", KEY_ALGS, alg0);
  const [bits, bitsRow] = pick("bits", "Key length (bits)", RSA_BITS, bits0);
  const [curve, curveRow] = pick("curve", "EC curve", EC_CURVES, curve0);
  const bitsDiv = el("div", { id: `${p}-bits-row` }, bitsRow), curveDiv = el("div", { id: `${p}-curve-row` }, curveRow);
  const follow = () => {
    bitsDiv.hidden = alg.value !== "rsa";
    curveDiv.hidden = alg.value !== "ec";
  };
  alg.addEventListener("change", follow);
  follow();
  return {
    rows: [...algRow, bitsDiv, curveDiv],
    alg,
    value: () => keyTypeOf(alg.value, bits.value, curve.value),
    allow(profile) {
      const allowed = (t) => !(profile && profile.key_types && !profile.key_types.includes(t));
      for (const o of bits.options) o.disabled = !allowed("rsa" + o.value);
      for (const o of curve.options) o.disabled = !allowed(o.value);
      for (const o of alg.options)
        o.disabled = o.value === "rsa" ? [...bits.options].every((x) => x.disabled) : o.value === "ec" ? [...curve.options].every((x) => x.disabled) : !allowed(o.value);
      for (const sel of [alg, bits, curve])
        if (sel.selectedOptions[0]?.disabled) sel.value = [...sel.options].find((o) => !o.disabled)?.value || sel.value;
      follow();
    },
  };
}
// An Ed25519 key signs without a digest: its digest is not offered (the API refuses one).
function digestFollows(key, digest) {
  const follow = () => { digest.disabled = key.value === "ed25519"; };
  key.addEventListener("change", follow);
  follow();
}
const digestOf = (digest) => (digest.disabled ? undefined : digest.value);
// The subject's fields of a CSR or CA dialog (as the create wizard's Subject step): the
// organization's name, place and email beside the common name, ids prefixed with p.
const SUBJECT_FIELDS = [["common_name", "Common name"], ["organization", "Organization"], ["organizational_unit", "Organizational unit"],
  ["locality", "Locality"], ["state", "State"], ["country", "Country (2 letters)"], ["email", "Email"]];
const subjectFields = (p) => SUBJECT_FIELDS.flatMap(([k, label]) =>
  [el("label", { for: `${p}-${k}` }, label), el("input", { id: `${p}-${k}`, name: `${p}_${k}`, ...(k === "common_name" ? { required: true } : {}) })]);
const subjectOf = (form, p) => Object.fromEntries(SUBJECT_FIELDS.map(([k]) => [k, form.querySelector(`#${p}-${k}`).value.trim()]).filter(([, v]) => v));

// Every usage the API takes for a certificate or a profile, in its order.  key_cert_sign and
// crl_sign, which make a CA, are refused there (CAs are made on the CAs screen): not offered.
const KEY_USAGES = ["digital_signature", "non_repudiation", "key_encipherment", "data_encipherment", "key_agreement",
  "encipher_only", "decipher_only"];
const EXT_KEY_USAGES = ["server_auth", "client_auth", "code_signing", "email_protection", "time_stamping", "ocsp_signing"];

// The extensions the create wizard switches, by the API's names; all on at first, and critical
// as RFC 5280 advises (Basic Constraints and Key Usage; the AKI never, so it has no box).
const EXT_NAMES = { bc: "basic_constraints", aki: "authority_key_id", ku: "key_usage", eku: "ext_key_usage" };
const EXT_ON = { bc: true, aki: true, ku: true, eku: true };
const EXT_CRITICAL = { bc: true, ku: true, eku: false };

// A profile's name policy and key types, said where they are chosen: a name or key outside
// them is refused (422).
function namesAllowed(p) {
  const keys = p && p.key_types ? `Key types this profile allows: ${p.key_types.join(", ")}.` : "";
  if (!p || !p.allowed_domains) return keys;
  const domains = p.allowed_domains.length ? p.allowed_domains.join(", ") : "no DNS names";
  return `Names this profile allows: ${domains}${p.allow_subdomains ? " and the names below them" : ""}` +
    `${p.allow_wildcards ? "; wildcards" : ""}${p.allow_ip_sans ? "; IP addresses" : ""}${p.allow_uri_sans ? "; URIs" : ""}.` +
    (keys ? " " + keys : "");
}

// The create wizard: the storage seed's fields, a step at a time, Back and Next, review last.
async function createWizard(reload) {
  const [cas, profiles, signer] = await Promise.all([apiAll("cas"), apiAll("profiles"), defaultSigner()]);
  const v = { type: "internal", keep_as: "certificate", profile: "tls-server", key_type: "p256", digest: "sha256",
    ca_id: preferredSigner(cas.items, signer), ext: { ...EXT_ON }, crit: { ...EXT_CRITICAL } };
  {
    const p = profiles.items.find((x) => x.name === v.profile) || {};
    [v.lifetime, v.lifetime_unit] = p.default_ttl || p.default_days ? lifetimeOf(p.default_days, p.default_ttl) : ["365", "d"];
  }
  // (the key type's fields of the step shown, drawn from v.key_type and giving it back when saved)
  let keys = null;
  const field = (id, label, attrs = {}) => [el("label", { for: id }, label), el("input", { id, name: id, value: v[id] || "", ...attrs })];
  const select = (id, label, options) => [el("label", { for: id }, label),
    el("select", { id, name: id }, options.map(([val, text]) => el("option", { value: val, selected: v[id] === val }, text)))];
  const profileOf = (name) => profiles.items.find((p) => p.name === name);
  const steps = [
    // TrueNAS's first step (Identifier and Type, and the Profile that fills in what follows),
    // and the destination seed's "certificate name and type": one certificate, or a keystore
    // holding it.
    ["Identifier and type", () => [...field("name", "Identifier"),
      ...select("type", "Type", [["internal", "Internal certificate (key made here)"], ["import", "Import a certificate (and its key)"],
        ["csr", "Certificate for a CSR that exists on this system"],
        ["sign", "Sign an uploaded CSR (its key stays with whoever made it)"]]),
      el("div", { id: "internal-only", hidden: v.type !== "internal" },
        ...select("keep_as", "Store it as", [["certificate", "A certificate"], ["p12", "A keystore (PKCS#12) holding the certificate and its key"],
          ["jks", "A keystore (JKS) holding the certificate and its key"]]),
        el("p", { class: "hint", id: "keep-as-hint" }, keepAsHint())),
      // (the profile of what is issued here: a key made here, or a CSR uploaded)
      el("div", { id: "profile-row", hidden: v.type !== "internal" && v.type !== "sign" },
        ...select("profile", "Profile", profiles.items.filter((p) => !p.is_ca).map((p) => [p.name, `${p.name} — ${p.description}`])),
        el("p", { class: "hint", id: "profile-names" }, namesAllowed(profileOf(v.profile))))]],
    ["Certificate options", () => [
      el("p", { class: "hint" }, `Profile ${v.profile}: its lifetime and the key types it allows are filled in.`),
      ...(keys = keyTypeFields("key", v.key_type)).rows,
      ...select("digest", "Digest", DIGESTS),
      ...lifetimeInputs("lifetime", "Lifetime", [v.lifetime, v.lifetime_unit]),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "auto_renew", id: "auto_renew", checked: !!v.auto_renew }),
        "Renew automatically before it expires"),
      // (cert-manager's renewBefore; empty: the tenant's renewal point)
      ...field("renew_before", "Renew this long before it ends (such as 30d or 12h; empty: the tenant's renewal point)"),
      ...select("ca_id", "Signing CA", cas.items.filter((c) => c.can_sign).map((c) => [c.id, c.name]))]],
    ["Subject", () => [...field("common_name", "Common name"), ...field("organization", "Organization"),
      ...field("organizational_unit", "Organizational unit"), ...field("locality", "Locality"), ...field("state", "State"),
      ...field("country", "Country (2 letters)"), ...field("email", "Email"),
      ...field("sans", "Subject alternative names (dns:..., ip:..., comma separated)")]],
    // The storage seed's Extra Constraints: each extension switched on or off, and marked
    // critical or not (the AKI never is: RFC 5280 4.2.1.1).  This wizard issues leaf
    // certificates, which may go without Basic Constraints; a CA's may not.
    ["Extensions", () => [
      extSwitch("bc", "Basic Constraints", "Says the certificate is no CA; a leaf certificate may go without it."),
      extSwitch("aki", "Authority Key Identifier", "Names the key of the CA that signed it, so verifiers find that CA by more than its name (RFC 5280 asks for it)."),
      extSwitch("ku", "Key Usage", `What the key may do. Leave the usages unticked to take the profile's${usagesOf("key_usage")}.` +
        " encipher_only and decipher_only narrow key_agreement (RFC 5280 4.2.1.3).",
        KEY_USAGES.map((u) =>
          el("label", { class: "check" }, el("input", { type: "checkbox", name: "ku_" + u, checked: (v.ku || []).includes(u) }), u))),
      extSwitch("eku", "Extended Key Usage", `What the certificate is for. Leave the usages unticked to take the profile's${usagesOf("ext_key_usage")}; off, it serves any purpose.`,
        EXT_KEY_USAGES.map((u) =>
          el("label", { class: "check" }, el("input", { type: "checkbox", name: "eku_" + u, checked: (v.eku || []).includes(u) }), u)))]],
    // (every field of the subject given; the common name even when it is not, as the server
    // then makes it of the first DNS name or the identifier)
    ["Review", () => [el("dl", {}, [["Identifier", v.name], ["Stored as", keepAsText()], ["Profile", v.profile], ["Key type", keyTypeText(v.key_type)],
      ["Digest", digestText(v.digest)], ["Lifetime", lifetimeText([v.lifetime, v.lifetime_unit])],
      ["Signing CA", (cas.items.find((c) => c.id === v.ca_id) || {}).name],
      ...SUBJECT_FIELDS.filter(([k]) => k === "common_name" || (v[k] || "").trim()).map(([k, label]) => [label.replace(/ \(.*\)$/, ""), (v[k] || "").trim()]),
      ["Subject alternative names", v.sans],
      ["Basic constraints", extReview("bc", "on")], ["Authority key identifier", extReview("aki", "on")],
      ["Key usage", extReview("ku", (v.ku || []).join(", ") || "the profile's")],
      ["Extended key usage", extReview("eku", (v.eku || []).join(", ") || "the profile's")],
      ["Automatic renewal", v.auto_renew ? `on${v.renew_before ? `, ${v.renew_before} before its end` : ""}` : "off"]]
      .flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val || "—")]))]],
  ];
  // The profile's usages, said where they would be taken: " (a, b)".
  function usagesOf(key) {
    const u = profileOf(v.profile)?.[key];
    return u && u.length ? ` (${u.join(", ")})` : "";
  }
  function keepAsHint() {
    return v.keep_as === "certificate" ? "" : "The keystore holds the key sealed here, as the certificate does; its password is set when it is exported. Renewed (by hand or automatically), the keystore holds the renewal and its key, under the same alias.";
  }
  function keepAsText() {
    return { certificate: "a certificate", p12: "a keystore (PKCS#12)", jks: "a keystore (JKS)" }[v.keep_as];
  }
  // An extension's switch, its "critical" box (where it may be) and what it holds (usages),
  // shown while it is on.
  function extSwitch(key, label, hint, usages) {
    const on = el("input", { type: "checkbox", name: "ext_" + key, id: "ext_" + key, checked: v.ext[key] });
    const crit = key in EXT_CRITICAL ? el("label", { class: "check" },
      el("input", { type: "checkbox", name: "crit_" + key, "aria-label": `${label}: critical`, checked: v.crit[key] }), "Marked critical") : null;
    const body = el("div", { hidden: !v.ext[key] }, crit, usages || null);
    on.addEventListener("change", () => { body.hidden = !on.checked; });
    return el("fieldset", {}, el("legend", {}, el("label", { class: "check" }, on, label)), el("p", { class: "hint" }, hint), body);
  }
  const extReview = (key, what) => (v.ext[key] ? what + (v.crit[key] ? ", critical" : "") : "off (left out)");
  let step = 0;
  const err = el("p", { class: "error", role: "alert", id: "wz-error" });
  const form = el("form", { method: "dialog", novalidate: true });
  const d = openDialog(form);
  function save() {
    const boxes = form.querySelectorAll("input[type=checkbox][name^=ku_], input[type=checkbox][name^=eku_]");
    if (boxes.length) { v.ku = []; v.eku = []; }
    for (const e of form.querySelectorAll("input, select, textarea")) {
      if (e.name === "auto_renew") v.auto_renew = e.checked;
      else if (e.name.startsWith("ext_")) v.ext[e.name.slice(4)] = e.checked;
      else if (e.name.startsWith("crit_")) v.crit[e.name.slice(5)] = e.checked;
      else if (e.type !== "checkbox") v[e.name] = e.value;
      else if (e.checked) (e.name.startsWith("eku_") ? v.eku : v.ku).push(e.name.replace(/^e?ku_/, ""));
    }
    if (form.key_alg) v.key_type = keys.value();
  }
  // The steps of a type: the first step counts those of the type chosen there (it said 1/5 for
  // an import of 3).
  const stepsOf = (type) => [issuing[0], ...(type === "internal" ? issuing.slice(1) : type === "import" ? [importStep, reviewImportStep]
    : type === "sign" ? signSteps : [csrStep])];
  function show() {
    const [title, body] = steps[step];
    const heading = el("h2", {}, `Create certificate — ${title} (${step + 1}/${step === 0 ? stepsOf(v.type).length : steps.length})`);
    // (a step's optional parts are null when absent: as children they were written "null")
    form.replaceChildren(heading, ...[body()].flat(Infinity).filter((c) => c != null), err,
      el("div", { class: "row-actions" },
        step > 0 ? el("button", { type: "button", class: "secondary", onclick: () => { save(); step--; show(); } }, "Back") : null,
        el("button", { type: "submit" }, step === steps.length - 1 ? { internal: "Create", sign: "Sign" }[v.type] || "Import" : "Next"),
        el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
    // The keystore choice is for a certificate made here; an import keeps what its file is.
    form.type?.addEventListener("change", () => {
      heading.textContent = `Create certificate — ${title} (1/${stepsOf(form.type.value).length})`;
      form.querySelector("#internal-only").hidden = form.type.value !== "internal";
      form.querySelector("#profile-row").hidden = form.type.value !== "internal" && form.type.value !== "sign";
    });
    form.keep_as?.addEventListener("change", () => { v.keep_as = form.keep_as.value; form.querySelector("#keep-as-hint").textContent = keepAsHint(); });
    // A profile chosen on the first step fills in the steps after it: its lifetime (the form's
    // was 365 whatever the profile allowed) in the unit it gives it, and a key type it allows.
    form.profile?.addEventListener("change", () => {
      const p = profileOf(form.profile.value);
      if (p && (p.default_days || p.default_ttl)) [v.lifetime, v.lifetime_unit] = lifetimeOf(p.default_days, p.default_ttl);
      if (p?.key_types && !p.key_types.includes(v.key_type)) v.key_type = KEY_TYPES.map(([t]) => t).find((t) => p.key_types.includes(t)) || v.key_type;
      form.querySelector("#profile-names").textContent = namesAllowed(p);
    });
    if (form.key_alg) keys.allow(profileOf(v.profile));
    form.querySelector("input, select, button")?.focus();
  }
  // Import and CSR certificates take a step of their own instead of the issuing ones.
  // A PEM file fills the text box; any other (DER, P7B, PKCS#12, JKS) is sent as it is.
  let imFile = null;
  const imFileNote = el("p", { class: "muted", id: "im-file-note" });
  const importStep = ["Import", () => [
    el("label", { for: "im-cert" }, "Certificate (PEM), pasted or uploaded"), el("textarea", { id: "im-cert", name: "im_cert", rows: 6 }, v.im_cert || ""),
    dropArea(el("input", { type: "file", "aria-label": "Upload the certificate (PEM, DER, P7B, PKCS#12 or JKS)", onchange: async (e) => {
      const f = e.target.files[0];
      const pem = f ? await pemText(f) : null;
      if (pem !== null) {
        imFile = null;
        imFileNote.textContent = "";
        form.im_cert.value = pem;
      } else if (f) {
        imFile = f;
        form.im_cert.value = "";
        imFileNote.textContent = `${f.name} is sent as it is (give its password below if it has one).`;
      }
    } }), "Drop the file here, or browse: "), imFileNote,
    el("label", { for: "im-key" }, "Private key (PEM), optional"), el("textarea", { id: "im-key", name: "im_key", rows: 4 }, v.im_key || ""),
    el("label", { for: "im-pass" }, "Password (of the key, or of a PKCS#12 or JKS file)"), el("input", { id: "im-pass", name: "im_pass", type: "password", autocomplete: "off", value: v.im_pass || "" }),
    el("label", { for: "im-keypass" }, "Key password (a JKS key with a password of its own)"), el("input", { id: "im-keypass", name: "im_keypass", type: "password", autocomplete: "off", value: v.im_keypass || "" })]];
  // The import as it is sent: the file as it is, or the PEM pasted; preview asks what it would
  // store without storing it.
  const importBody = (preview) => {
    if (imFile && !v.im_cert) {
      const f = new FormData();
      f.append("file", imFile);
      if (v.name) f.append("name", v.name);
      if (v.im_key) f.append("private_key", v.im_key);
      if (v.im_pass) f.append("password", v.im_pass);
      if (v.im_keypass) f.append("key_password", v.im_keypass);
      if (preview) f.append("preview", "true");
      return f;
    }
    return { name: v.name || undefined, certificate: v.im_cert, private_key: v.im_key || undefined,
      password: v.im_pass || undefined, key_password: v.im_keypass || undefined, preview: preview || undefined };
  };
  // What the import would store, read by the server and nothing stored (the seed's "Review the
  // options, and then click Save"): Back to change the file or its password.
  let imPreview = null;
  const keyText = (d) => (!d || !d.key_algorithm ? "" : d.key_curve ? `${d.key_algorithm} ${d.key_curve}` : `${d.key_algorithm} ${d.key_bits}`);
  const reviewImportStep = ["Review the import", () => {
    const p = imPreview || {};
    return [el("dl", { id: "im-review" }, [["Identifier", v.name || p.name], ["Subject", p.subject], ["Issuer", p.issuer],
      ["Valid from", p.not_before && day(p.not_before)], ["Valid until", p.not_after && day(p.not_after)],
      ["Subject alternative names", (p.sans || []).join(", ")], ["Key type", keyText(p.details)],
      ["Private key", p.has_private_key ? "Private key included (kept sealed here)" : "Not included: the certificate alone"],
      ["Chain", p.chain_length ? `${p.chain_length} CA certificate${p.chain_length > 1 ? "s" : ""} with it` : "none in the file"],
      ["Status", p.status]]
      .flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val || "—")])),
      ...(p.notes || []).map((n) => el("p", { class: "hint", role: "note" }, `Note: ${n}.`))];
  }];
  const csrStep = ["CSR on this system", () => [
    csrs.some((c) => !c.certificate_id) ? null
      : el("p", { class: "error", role: "alert" }, "No CSR is waiting for its certificate: make one on the CSRs screen first."),
    el("label", { for: "im-csr" }, "CSR"), el("select", { id: "im-csr", name: "im_csr" }, csrs.filter((c) => !c.certificate_id).map((c) => el("option", { value: c.id }, `${c.name} (${c.subject})`))),
    el("label", { for: "im-signed" }, "Signed certificate (PEM)"), el("textarea", { id: "im-signed", name: "im_cert", rows: 6 }, v.im_cert || "")]];
  // A CSR from outside (a device or a server that made its own key), signed by a CA here: the
  // CSR pasted or its file (PEM or DER), then the signing options, then the review.
  const signSteps = [["CSR", () => [
    el("label", { for: "sg-csr" }, "CSR (PEM), pasted or uploaded"), el("textarea", { id: "sg-csr", name: "sg_csr", rows: 8 }, v.sg_csr || ""),
    dropArea(el("input", { type: "file", accept: ".csr,.pem,.req,.der", "aria-label": "Upload the CSR (PEM or DER)", onchange: async (e) => {
      if (e.target.files[0]) form.sg_csr.value = await certificatePem(e.target.files[0], "CERTIFICATE REQUEST");
    } }), "Drop the CSR file here, or browse: "),
    el("p", { class: "hint" }, "The certificate takes the CSR's subject, names and key; the profile chosen says what it may be used for.")]],
  ["Certificate options", () => [
    ...select("digest", "Digest", DIGESTS),
    ...lifetimeInputs("lifetime", "Lifetime", [v.lifetime, v.lifetime_unit]),
    ...select("ca_id", "Signing CA", cas.items.filter((c) => c.can_sign).map((c) => [c.id, c.name]))]],
  ["Review", () => [el("dl", {}, [["Identifier", v.name], ["Profile", v.profile], ["Digest", digestText(v.digest)],
    ["Lifetime", lifetimeText([v.lifetime, v.lifetime_unit])], ["Signing CA", (cas.items.find((c) => c.id === v.ca_id) || {}).name],
    ["CSR", (v.sg_csr || "").trim() ? "the one given (its subject and names are taken)" : ""]]
    .flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val || "—")]))]]];
  const csrs = (await api("GET", "csrs?limit=1000")).items;
  const issuing = steps.slice();
  // What a step cannot be left without, as [field id, what to say beside it]: checked on Next,
  // where the field is, not after the steps that follow it on the Review step.
  const optionsNeed = () => [
    !(Number(v.lifetime) >= 1) ? ["lifetime", "Give the lifetime: a whole number, 1 or more."] : null,
    !v.ca_id ? ["ca_id", "No CA here can sign: create or import one on the CAs screen first."] : null];
  // (a subject of other fields does without a common name; without any, the server makes it of
  // the first DNS name, else of the identifier)
  const dnsName = () => (v.sans || "").split(",").map((x) => x.trim()).some((x) => /^dns:./i.test(x) || (x && !/^[a-z]+:|^[\d.]+$|:.*:/i.test(x)));
  const needs = new Map([
    [issuing[1], optionsNeed], [signSteps[1], optionsNeed],
    [issuing[2], () => [!["common_name", "organization", "organizational_unit", "country", "email"].some((k) => v[k]) && !dnsName() && !v.name
      ? ["common_name", "Give the common name (or a DNS name below, or an identifier on the first step, which it then takes)."] : null]],
    [importStep, () => [!(v.im_cert || "").trim() && !imFile ? ["im-cert", "Paste the certificate, or upload its file."] : null]],
    [csrStep, () => [!v.im_csr ? ["im-csr", "Choose the CSR the certificate was signed for."] : null,
      !(v.im_cert || "").trim() ? ["im-signed", "Paste the signed certificate."] : null]],
    [signSteps[0], () => [!(v.sg_csr || "").trim() ? ["sg-csr", "Paste the CSR, or upload its file."] : null]]]);
  // Each missing field said beside it (under its input), marked invalid, the first focused.
  function complete() {
    const missing = (needs.get(steps[step])?.() || []).filter(Boolean);
    for (const [id, text] of missing) {
      const input = form.querySelector("#" + id);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${id}-error`);
      (input.closest(".lifetime") || input).after(el("p", { class: "error field-error", id: `${id}-error`, role: "alert" }, text));
    }
    if (missing.length) form.querySelector("#" + missing[0][0]).focus();
    return !missing.length;
  }
  // An import refused: a certificate held already is named as the inventory shows it (the
  // server's message ends in its internal id), with a button that opens it.
  async function refused(e) {
    const held = e.status === 409 && e.existing ? await api("GET", "certificates/" + encodeURIComponent(e.existing)).catch(() => null) : null;
    if (!held) { err.textContent = refusalText(e); return; }
    err.replaceChildren(`This certificate is held already, as "${held.name}". `,
      el("button", { type: "button", class: "secondary", onclick: () => { d.close(); reload(held.id); } }, `Open ${held.name}`));
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    save();
    err.textContent = "";
    if (step === 0) steps.splice(0, steps.length, ...stepsOf(v.type));
    for (const e of form.querySelectorAll("[aria-invalid]")) { e.removeAttribute("aria-invalid"); e.removeAttribute("aria-describedby"); }
    for (const e of form.querySelectorAll(".field-error")) e.remove();
    if (!complete()) return;
    if (v.type === "sign" && step === steps.length - 1) {
      let made;
      try {
        made = await api("POST", "certificates", { name: v.name || undefined, profile: v.profile, csr: v.sg_csr, digest: v.digest,
          ...lifetimeBody(v.lifetime, v.lifetime_unit), ca_id: v.ca_id });
      } catch (e) { err.textContent = refusalText(e); return; }
      d.close();
      done(`Signed "${made.name}" (${made.subject}), valid until ${until(made.not_after)}: Export gives it with its chain.`);
      return reload(made.id);
    }
    // Next from the file: the server reads it (a wrong password or a bad file is said here).
    if (steps[step] === importStep) {
      try {
        imPreview = await api("POST", "certificates/import", importBody(true));
      } catch (e) { return refused(e); }
      step++;
      return show();
    }
    if (v.type !== "internal" && step === steps.length - 1) {
      let made;
      try {
        if (v.type === "import")
          made = await api("POST", "certificates/import", importBody(false));
        else {
          made = await api("POST", `csrs/${v.im_csr}/certificate`, { certificate: v.im_cert });
          // The identifier given on the first step names it (it took the CSR's name).
          if (v.name && made.name !== v.name) made = await api("PATCH", `certificates/${made.id}`, { name: v.name });
        }
        d.close();
        // The key of a certificate held without one is added to it: said, as nothing new is listed.
        done(v.type === "import" && v.name && made.name !== v.name
          ? `This certificate was held already as "${made.name}": its key was added to it.`
          : `${v.type === "import" ? "Imported" : "Stored"} "${made.name}", valid until ${day(made.not_after)}.` +
            // (a chain that stops short of a root: the file was to hold it whole)
            (made.notes?.length ? ` Note: ${made.notes.join("; ")}.` : ""));
        reload(made.id);
      } catch (e) { await refused(e); }
      return;
    }
    if (step < steps.length - 1) { step++; return show(); }
    const subject = {};
    for (const k of ["common_name", "organization", "organizational_unit", "locality", "state", "country", "email"]) if (v[k]) subject[k] = v[k];
    // An extension switched off goes as false or [] (no usages); critical is sent when a box
    // differs from RFC 5280's advice, naming those on and critical.
    const usages = (key, list) => (!v.ext[key] ? [] : list && list.length ? list : undefined);
    const critical = Object.keys(EXT_CRITICAL).some((k) => v.ext[k] && v.crit[k] !== EXT_CRITICAL[k])
      ? Object.keys(EXT_CRITICAL).filter((k) => v.ext[k] && v.crit[k]).map((k) => EXT_NAMES[k]) : undefined;
    const body = { name: v.name || undefined, profile: v.profile, key_type: v.key_type, digest: v.digest,
      ...lifetimeBody(v.lifetime, v.lifetime_unit), ca_id: v.ca_id, subject,
      sans: v.sans ? v.sans.split(",").map((x) => x.trim()).filter(Boolean) : undefined,
      key_usage: usages("ku", v.ku), ext_key_usage: usages("eku", v.eku),
      basic_constraints: v.ext.bc ? undefined : false, authority_key_id: v.ext.aki ? undefined : false, critical,
      auto_renew: v.auto_renew || undefined, renew_before: v.renew_before?.trim() || undefined };
    let made;
    try {
      made = await api("POST", "certificates", body);
    } catch (e) { err.textContent = refusalText(e); return; }
    if (v.keep_as === "certificate") {
      d.close();
      done(`Created "${made.name}", valid until ${until(made.not_after)}.`);
      return reload(made.id); /* its details shown, as SAP BTP's screen shows the new certificate's */
    }
    // The keystore of it: a second request, so a refusal leaves the certificate made (and
    // said so), which a keystore can still take from its panel.
    try {
      const ks = await api("POST", "keystores", { name: made.name, format: v.keep_as, certificate_id: made.id });
      d.close();
      done(`Created the keystore "${ks.name}" (${ks.format.toUpperCase()}) holding the certificate "${made.name}", valid until ${until(made.not_after)}.`);
      reload({ keystore: ks.id, name: ks.name });
    } catch (e) {
      d.close();
      problem(`The certificate "${made.name}" was made, but not the keystore holding it: ${e.message}`);
      reload(made.id);
    }
  });
  show();
}

// The details of one item of a list in a panel beside it (the destination seed: "click on the
// certificate you want to view. A panel to the right will open with the details"); on a
// narrow window the panel takes the list's place.  list is what the panel stands beside (the
// toolbar, the table, "Show more"); element is the two together, for the screen.
//   show(key, title, fill): opens the panel on the item key, fill() giving its content, or
//     { title, body, focus } (the item read whole may have been renamed; focus: the element
//     the focus moves to once it is drawn); read again by refresh(), after a change.  The
//     focus moves to the panel's title at once.
//   view(fill): the panel's content from another fill (a keystore's entry, and back), the
//     content there kept until it is read.
//   close(): the focus goes back to the item's row (its Details button).
//   item(key, label, open): for a row of the list, a Details button (label names it for screen
//     readers) that opens (open()) and closes the panel on the item, and row(tr), which makes a
//     click anywhere on the row open it; both say whether the panel shows that item.
function sidePanel(...list) {
  const title = el("h2", { id: "panel-title", tabindex: "-1" });
  const body = el("div", { class: "panel-body details" });
  const aside = el("aside", { id: "panel", class: "panel card", "aria-labelledby": "panel-title", hidden: true },
    el("div", { class: "panel-head" }, title,
      el("button", { type: "button", class: "secondary", "aria-label": "Close the details", title: "Close (Escape)", onclick: () => ctl.close() }, "×")),
    body);
  const listPart = el("div", { class: "split-list" }, list);
  const element = el("div", { class: "split" }, listPart, aside);
  let fill = null, drawn = 0;
  // Whether each row of the list is the one shown (rows drawn again by a load included).
  const mark = () => {
    for (const row of listPart.querySelectorAll("[data-id]")) {
      const on = row.dataset.id === ctl.key;
      if (on) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
      row.querySelector("button[aria-controls=panel]")?.setAttribute("aria-expanded", String(on));
    }
  };
  const put = (nodes) => {
    // A button that had the focus gives it to the same button drawn again (after Edit, Disable...).
    const had = body.contains(document.activeElement) ? document.activeElement : null;
    const name = had && (had.getAttribute("aria-label") || had.textContent);
    body.replaceChildren(...[].concat(nodes));
    if (had && !body.contains(document.activeElement))
      ([...body.querySelectorAll("button")].find((b) => (b.getAttribute("aria-label") || b.textContent) === name) || title).focus();
  };
  async function draw(loading) {
    const mine = ++drawn;
    if (loading) body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    let nodes;
    try { nodes = await fill(); } catch (e) {
      if (e.message === "signed out") return;
      nodes = el("p", { class: "error", role: "alert" }, e.message);
    }
    if (mine !== drawn || ctl.key === null) return;
    const got = nodes?.body ? nodes : { body: nodes };
    if (got.title != null) title.textContent = got.title;
    put(got.body);
    got.focus?.focus();
  }
  const ctl = {
    element,
    key: null,
    show(key, name, f) {
      ctl.key = key;
      fill = f;
      title.textContent = name;
      aside.hidden = false;
      element.classList.add("open");
      openPanel = ctl;
      mark();
      title.focus();
      return draw(true);
    },
    refresh() { return ctl.key !== null ? draw(false) : undefined; },
    view(f) {
      fill = f;
      return draw(false);
    },
    close() {
      if (ctl.key === null) return;
      const key = ctl.key;
      ctl.key = null;
      drawn++;
      aside.hidden = true;
      element.classList.remove("open");
      body.replaceChildren();
      if (openPanel === ctl) openPanel = null;
      mark();
      const row = [...listPart.querySelectorAll("[data-id]")].find((r) => r.dataset.id === key);
      (row?.querySelector("button[aria-controls=panel]") || document.getElementById("screen")).focus();
    },
    item(key, label, open) {
      const on = key === ctl.key;
      const button = el("button", { class: "secondary", "aria-label": label, "aria-controls": "panel", "aria-expanded": String(on),
        onclick: () => (ctl.key === key ? ctl.close() : open()) }, "Details");
      const row = (tr) => {
        tr.dataset.id = key;
        tr.classList.add("pick");
        if (on) tr.setAttribute("aria-current", "true");
        // (not a click on one of its buttons, nor the end of selecting its text to copy it)
        tr.addEventListener("click", (ev) => {
          if (ev.target.closest("button, a, input, select, label") || getSelection().toString()) return;
          if (ctl.key !== key) open();
        });
        return tr;
      };
      return { button, row };
    },
  };
  return ctl;
}
// Escape closes the panel, unless a dialog is open (Escape closes that) or a field outside the
// panel has the focus (Escape empties a search box).
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "Escape" || ev.defaultPrevented || !openPanel || document.getElementById("dialog").open) return;
  if (ev.target.closest?.("input, select, textarea") && !ev.target.closest(".panel")) return;
  openPanel.close();
});

// A list read a page at a time: load() shows the first page, "Show more" (the API's
// next_cursor) the next ones, so a fleet of devices or years of audit entries never come as
// one answer.  path() is read at each load (a search may change it); rowsOf gives the rows
// of one item.  load() says whether it drew the list: the answer to a load asked before another
// (a filter changed again before it came) is dropped, as it may come last and show what the
// filter no longer asks.
function pagedList(body, id, limit, path, rowsOf) {
  const more = el("button", { class: "secondary", id, hidden: true }, "Show more");
  let next = null, loads = 0;
  async function load(append) {
    const mine = ++loads;
    const p = path();
    const page = append === true && next ? "&cursor=" + encodeURIComponent(next) : "";
    const list = await api("GET", `${p}${p.includes("?") ? "&" : "?"}limit=${limit}${page}`);
    if (mine !== loads) return false;
    const rows = list.items.flatMap(rowsOf);
    if (append === true) body.append(...rows);
    else body.replaceChildren(...rows);
    next = list.next_cursor;
    more.hidden = !next;
    return true;
  }
  more.addEventListener("click", () => load(true));
  return { load, more };
}

// Rename a certificate, switch its automatic renewal (where certhub can renew it) and give it a
// lead time of its own (cert-manager's renewBefore; empty: the tenant's renewal point).
function editCertDialog(c, reload) {
  const renewable = c.method !== "imported" && c.method !== "csr_signed" && !c.is_ca && !c.renewed_by;
  const fields = [el("label", { for: "ce-name" }, "Name"), el("input", { id: "ce-name", value: c.name, maxlength: 128 })];
  if (renewable)
    fields.push(el("label", { class: "check" }, el("input", { id: "ce-auto", type: "checkbox", checked: !!c.auto_renew }),
      " Renew automatically before it expires"),
      el("label", { for: "ce-before" }, "Renew this long before it ends (such as 30d or 12h; empty: the tenant's renewal point)"),
      el("input", { id: "ce-before", value: c.renew_before || "", placeholder: "the tenant's renewal point" }));
  formDialog(`Edit "${c.name}"`, fields, "Save", async (form, d) => {
    const body = {};
    const name = form.querySelector("#ce-name").value;
    if (name !== c.name) body.name = name;
    const auto = form.querySelector("#ce-auto");
    if (auto && auto.checked !== !!c.auto_renew) body.auto_renew = auto.checked;
    const before = form.querySelector("#ce-before")?.value.trim();
    if (before !== undefined && before !== (c.renew_before || "")) body.renew_before = before || null;
    if (Object.keys(body).length) await api("PATCH", "certificates/" + c.id, body);
    d.close();
    done(`Saved "${body.name || c.name}".`);
    reload();
  }, "ce-error");
}

// What can be done to a certificate, as buttons: in its row, and in the panel of its details
// (from the certificate read whole there).  changed() reads the list and the panel again.
function certActions(c, { notice, load, changed, panel }) {
  const actions = [el("button", { class: "secondary", onclick: () => exportDialog(c), "aria-label": `Export ${c.name}` }, "Export")];
  // (An outside CA signed what came in through a CSR or an upload: certhub cannot renew it.)
  if (canChange() && c.method !== "imported" && c.method !== "csr_signed" && !c.is_ca)
    // Renewed now: the same subject, SANs and profile under a new key, linked to this one.
    // (A CA's own certificate is renewed by rotating the CA, on the CAs screen.)
    actions.push(el("button", { class: "secondary", "aria-label": `Renew ${c.name}`, onclick: () => confirmDialog(
      `Renew "${c.name}" now? A new certificate is issued with the same subject, names and profile, and a new key.`,
      async () => {
        notice.textContent = "";
        document.getElementById("done").hidden = true; // (an earlier action's banner beside this one's notice)
        try {
          const n = await api("POST", `certificates/${c.id}/renew`, {});
          notice.textContent = `Renewed: ${n.name}, valid until ${until(n.not_after)}.`;
        } catch (e) { notice.textContent = e.message; }
        changed();
      }, "Renew") }, "Renew"));
  if (canChange())
    actions.push(el("button", { class: "secondary", "aria-label": `Edit ${c.name}`, onclick: () => editCertDialog(c, changed) }, "Edit"),
      el("button", { class: "danger", "aria-label": `Delete ${c.name}`, onclick: () => confirmDialog(`Delete the certificate "${c.name}"?`,
        async () => {
          const gone = await api("DELETE", "certificates/" + c.id);
          await load();
          if (panel.key === c.id) panel.close();
          // The newest renewal deleted: the one it renewed is in force again, and not renewed.
          if (gone?.renewal_stopped)
            done(`Deleted "${c.name}". The certificate it renewed is in force again, its automatic renewal off: switch it on in its Edit, or renew it.`);
        }) }, "Delete"));
  return actions;
}

// The certificates and keystores of the tenant in one list (the destination seed: "a table of
// all available certificates and keystores"), each opened in the panel beside it as its kind
// shows it.  The API pages each kind on its own cursor, and they share no order (certificates
// newest first, keystores oldest first), so the list is not interleaved: the keystores come
// first (a tenant holds few), a page at a time, then the certificates; "Show more" goes on
// with whichever is not read to its end.  The search and the state narrow certificates alone
// (keystores have neither), so with either the keystores are left out, and the list says so.
// kind: the kind shown first ("keystore" from #/keystores).  The address may narrow the list
// to what one CA issued (#/certificates?ca=ID, from that CA's details) and open one
// certificate's panel (?show=ID).
async function certificatesScreen(screen, kind0 = "") {
  const asked = new URLSearchParams(location.hash.split("?")[1] || "");
  const byCa = asked.get("ca");
  const notice = el("p", { role: "status", id: "cert-notice" });
  const search = el("input", { type: "search", id: "cert-search", placeholder: "Search name, subject, SAN", title: "Search subject, name or SAN (3 letters or more)", "aria-label": "Search certificates" });
  const body = el("tbody");
  // Which ones: all, those in force, those past their end, those ending within 30 days (in
  // force: a renewed one is replaced), those a renewal replaced, or CA certificates their CA's
  // rotation replaced.
  const which = el("select", { id: "cert-which", "aria-label": "Which certificates" },
    [["", "all"], ["active", "in force"], ["expiring", "ending within 30 days"], ["expired", "expired"], ["renewed", "replaced by a renewal"],
      ["rotated", "replaced by a CA rotation"]].map(([v, t]) => el("option", { value: v }, t)));
  const kind = el("select", { id: "cert-kind", "aria-label": "Kind" },
    [["", "certificates and keystores"], ["certificate", "certificates only"], ["keystore", "keystores only"]].map(([v, t]) => el("option", { value: v, selected: v === kind0 }, t)));
  const narrowed = el("p", { class: "hint", id: "cert-narrowed", role: "status" });
  // (the CA named, once read: its id until then, or if it is gone)
  const caName = el("strong", {}, byCa || "");
  const caFilter = byCa ? el("p", { id: "cert-by-ca", class: "toolbar" },
    el("span", {}, "Only the certificates issued by the CA ", caName, "."),
    el("a", { href: "#/certificates" }, "Show all certificates")) : null;
  if (byCa) api("GET", "cas/" + encodeURIComponent(byCa)).then((ca) => { caName.textContent = ca.name; }, () => {});
  const certPath = () => {
    const q = new URLSearchParams();
    if (search.value.length >= 3) q.set("search", search.value);
    if (byCa) q.set("ca_id", byCa);
    if (["active", "expired", "renewed", "rotated"].includes(which.value)) q.set("status", which.value);
    if (which.value === "expiring") {
      q.set("status", "active");
      q.set("expiring_before", new Date(Date.now() + 30 * 86400000).toISOString().slice(0, 19) + "Z");
    }
    return "certificates" + (q.toString() ? "?" + q.toString() : "");
  };
  const create = canChange() ? el("button", { id: "create-cert", onclick: () => createWizard(load) }, "Create certificate") : null;
  const upload = canChange() ? el("button", { id: "upload-keystore", class: "secondary", onclick: () => uploadKeystore(load) }, "Upload keystore") : null;
  const certRow = (c) => {
    const { button, row } = panel.item(c.id, `Details of ${c.name}`, () => showCert(c.id, c.name));
    const actions = el("div", { class: "row-actions" }, button, certActions(c, ctx));
    // The names a client checks, under the subject: the first three, and how many more.
    const sans = c.sans || [];
    const sanLine = sans.length ? el("div", { class: "muted sans" }, sans.slice(0, 3).join(", ") + (sans.length > 3 ? ` and ${sans.length - 3} more` : "")) : null;
    return row(el("tr", { "data-kind": "certificate" }, el("td", {}, c.name), el("td", { class: "kind" }, "Certificate"), el("td", {}, c.subject, sanLine),
      el("td", { class: "hide-narrow" }, c.issuer), el("td", { class: "day" }, until(c.not_after)),
      el("td", {}, badge(Date.parse(c.not_after) > Date.now() ? c.status : "expired")), el("td", {}, actions)));
  };
  const keystoreRow = (k) => {
    const { button, row } = panel.item(k.id, `Details of ${k.name}`, () => showKeystore(k.id, k.name));
    return row(el("tr", { "data-kind": "keystore" }, el("td", {}, k.name), el("td", { class: "kind" }, `Keystore (${k.format.toUpperCase()})`),
      el("td", { class: "muted" }, `created ${day(k.created_at)}`), el("td", { class: "hide-narrow" }), el("td", {}, "—"), el("td", {}),
      el("td", {}, el("div", { class: "row-actions" }, button, keystoreActions(k, load, panel)))));
  };
  // What is read, in order: [path, page size, row of an item]; the one at the front is read
  // from cursor next.
  const more = el("button", { class: "secondary", id: "cert-more", hidden: true }, "Show more");
  let queue = [], next = null, loads = 0;
  const filtered = () => search.value.length >= 3 || which.value !== "" || !!byCa;
  async function readPages(append) {
    const mine = ++loads;
    if (!append) {
      queue = [kind.value !== "certificate" && !filtered() ? ["keystores", 100, keystoreRow] : null,
        kind.value !== "keystore" ? [certPath(), 200, certRow] : null].filter(Boolean);
      next = null;
    }
    const rows = [];
    // On until a page of one kind has more after it, or every kind is read.
    while (queue.length) {
      const [path, limit, rowOf] = queue[0];
      const page = await api("GET", `${path}${path.includes("?") ? "&" : "?"}limit=${limit}${next ? "&cursor=" + encodeURIComponent(next) : ""}`);
      if (mine !== loads) return false; /* a later load (a search typed) replaced this one */
      rows.push(...page.items.map(rowOf));
      next = page.next_cursor;
      if (next) break;
      queue.shift();
    }
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    more.hidden = !queue.length;
    return true;
  }
  more.addEventListener("click", () => readPages(true));
  const panel = sidePanel(el("div", { class: "toolbar" }, search, which, kind, el("span", { class: "row-actions" }, create, upload)), caFilter, narrowed,
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Kind"), el("th", {}, "Subject"),
      el("th", { class: "hide-narrow" }, "Issuer"), el("th", {}, "Valid until"), el("th", {}, "Status"), el("th", {}, ""))), body), more);
  const changed = async () => { await load(); await panel.refresh(); };
  const ctx = { notice, load: () => load(), changed, panel };
  // The panel: everything the certificate says and how it came here, and its actions.
  const showCert = (id, name) => panel.show(id, name, async () => {
    const c = await api("GET", "certificates/" + id);
    return { title: c.name, body: [el("p", {}, badge(Date.parse(c.not_after) > Date.now() ? c.status : "expired")),
      el("div", { class: "row-actions" }, certActions(c, ctx)), certDetails(c)] };
  });
  // A keystore's: its entries (each opened whole from there), how it was made, its actions.
  const showKeystore = (id, name) => panel.show(id, name, async () => {
    const full = await api("GET", "keystores/" + id);
    return { title: full.name, ...keystoreView(full, keystoreActions(full, load, panel), panel) };
  });
  // An empty page says so (a bare heading looked like a screen still loading).
  // show: what opens once the list is read (one just made): a certificate's id, or
  // { keystore: id, name }.
  const load = async (show) => {
    // (a keystore is not searched: the search and the state are hidden for keystores alone)
    search.hidden = which.hidden = kind.value === "keystore";
    narrowed.textContent = kind.value === "" && filtered()
      ? `Keystores are not listed while certificates are searched or narrowed by ${byCa ? "CA" : "state"}.` : "";
    if (!(await readPages(false))) return;
    if (!body.children.length)
      body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" },
        kind.value === "keystore" ? "No keystores yet."
          : search.value.length >= 3 ? `No certificate's subject, name or SAN holds "${search.value}".`
            : which.value ? "No certificate is in that state." : byCa ? "This CA has issued no certificate." : kind.value ? "No certificates yet." : "No certificates or keystores yet.")));
    if (typeof show === "string") showCert(show, "");
    else if (show?.keystore) showKeystore(show.keystore, show.name);
  };
  // A term of three characters or more (the search index is of trigrams; a shorter one reads
  // every certificate), asked for once typing pauses.
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    // (under 3 letters the whole list again: the results of a longer term stayed up)
    typing = setTimeout(load, 250);
  });
  which.addEventListener("change", () => load());
  kind.addEventListener("change", () => load());
  screen.replaceChildren(el("h1", {}, "Certificates and keystores"), notice, panel.element);
  await load(asked.get("show") || undefined);
}

function caDialog(title, parent, reload) {
  const err = el("p", { class: "error", role: "alert" });
  const keys = keyTypeFields("ca-key", "p256");
  // (novalidate: a refusal is the dialog's own line, as in the other dialogs, not the browser's bubble)
  const form = el("form", { method: "dialog", novalidate: true }, el("h2", {}, title),
    el("label", { for: "ca-name" }, "Name"), el("input", { id: "ca-name", name: "name", required: true }),
    ...subjectFields("ca"),
    ...keys.rows,
    el("label", { for: "ca-digest" }, "Digest"), el("select", { id: "ca-digest", name: "digest" }, options(DIGESTS, "sha256")),
    ...lifetimeInputs("ca-lifetime", "Lifetime", [parent ? "1825" : "3650", "d"]),
    // Basic constraints: how many CA levels may follow it (empty: none for an intermediate,
    // any for a root, as the profiles say).
    el("label", { for: "ca-pathlen" }, "Path length (CAs it may sign below it; empty for the default)"),
    el("input", { id: "ca-pathlen", name: "pathlen", type: "number", min: "0", max: "64" }),
    // An intermediate whose key is elsewhere (a partner's, an HSM's): its CSR signed here, as
    // Vault's sign-intermediate signs one; the CA is held without its key.
    parent ? [el("label", { for: "ca-csr" }, "Or its CSR (PEM), when its key stays with its holder: the subject is the CSR's unless given, and this CA issues nothing here"),
      el("textarea", { id: "ca-csr", name: "csr", rows: 4 })] : null, err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Create CA"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const csr = parent ? form.csr.value.trim() : "";
    const subject = subjectOf(form, "ca");
    try {
      const ca = await api("POST", "cas", { name: form.name.value, type: parent ? "intermediate" : "root", parent_id: parent || undefined,
        subject: csr && !Object.keys(subject).length ? undefined : subject, key_type: csr ? undefined : keys.value(),
        csr: csr || undefined, digest: digestOf(form.digest),
        ...lifetimeBody(form["ca-lifetime"].value, form["ca-lifetime_unit"].value),
        path_len: form.pathlen.value === "" ? undefined : Number(form.pathlen.value) });
      // Said as other creations are (a dialog closed before the answer has had it said already).
      if (d.open) done(`Created the ${parent ? "intermediate" : "root"} CA "${ca.name}", valid until ${day(ca.not_after)}.` +
        (csr ? " Its key stays with its holder: it issues nothing here." : ""));
      d.close();
      reload();
    } catch (e) { err.textContent = e.message; }
  });
  digestFollows(keys.alg, form.digest);
  const d = openDialog(form);
  form.name.focus();
}

// An outside CA brought in.  Given no key, the server may find it all the same: the certificate
// was signed for a CSR made here (TrueNAS's "CSR exists on this system"), whose key the CA then
// signs with.  The dialog says so, naming the CSR, and stays open for it to be read: a CA the
// user took for one that cannot sign now signs.
function importCaDialog(reload, show) {
  const err = el("p", { class: "error", role: "alert" });
  // A file that is not PEM (a .cer in DER, a PKCS#12 .pfx with its key, as Windows and the
  // Azure seed's --from-file hand them out) goes as it is, in "data"; PEM fills the text box.
  let binary = null;
  const fileNote = el("p", { class: "hint", id: "ci-file-note", role: "status" });
  const fileInput = el("input", { type: "file", accept: ".pem,.crt,.cer,.der,.p12,.pfx,.p7b", "aria-label": "Upload the CA's file (PEM, DER, PKCS#12 or PKCS#7)", onchange: async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    const pem = await pemText(f);
    binary = null;
    fileNote.textContent = "";
    if (pem !== null) { form.cert.value = pem; return; }
    binary = await fileBase64(f);
    form.cert.value = "";
    fileNote.textContent = `${f.name} is sent as it is (DER, PKCS#12 or PKCS#7); a PKCS#12 file's password goes below.`;
  } });
  const form = el("form", { method: "dialog" }, el("h2", {}, "Import a CA (bring your own issuer)"),
    el("label", { for: "ci-name" }, "Name"), el("input", { id: "ci-name", name: "name" }),
    el("label", { for: "ci-cert" }, "Certificate (PEM), pasted or uploaded"),
    el("p", { class: "hint", id: "ci-cert-hint" }, "Its chain may follow it (the intermediates and root above it): each becomes a CA too, without its key."), el("textarea", { id: "ci-cert", name: "cert", rows: 6, "aria-describedby": "ci-cert-hint",
      oninput: () => { binary = null; fileNote.textContent = ""; } }),
    dropArea(fileInput, "Or drop its file here (PEM, DER .cer, PKCS#12 .pfx with its key): "), fileNote,
    el("label", { for: "ci-key" }, "Private key (PEM), optional: without it the CA cannot sign, unless it answers a CSR made here"),
    el("textarea", { id: "ci-key", name: "key", rows: 4 }),
    el("label", { for: "ci-pass" }, "Password (of the key, or of the PKCS#12 file)"), el("input", { id: "ci-pass", name: "pass", type: "password", autocomplete: "off" }), err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Import"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let ca;
    try {
      ca = await api("POST", "cas", { name: form.name.value, type: "import", certificate: binary ? undefined : form.cert.value,
        data: binary || undefined, private_key: form.key.value || undefined, password: form.pass.value || undefined });
    } catch (e) { err.textContent = e.message; return; }
    reload();
    // The server's notes: a CA held without its key that has it now (its own name kept), the
    // CAs made of the chain pasted after the CA's certificate.
    const noted = ca.notes?.length ? ` Note: ${ca.notes.join("; ")}.` : "";
    if (!ca.key_from_csr) {
      if (d.open) done(`Imported the CA "${ca.name}"${ca.can_sign ? "" : " (it cannot sign here: no key)"}.${noted}`);
      d.close();
      return;
    }
    const csr = await api("GET", "csrs/" + encodeURIComponent(ca.key_from_csr)).catch(() => null);
    const said = `Imported the CA "${ca.name}" with the private key of the CSR "${csr?.name || ca.key_from_csr}" made here: ` +
      "no key was given, and its certificate was signed for that CSR, so the CA signs with the CSR's key. The CSR now has this certificate." + noted;
    if (!d.open) return done(said);
    form.replaceChildren(el("h2", {}, `Imported "${ca.name}"`), el("p", { id: "ci-result", role: "status" }, said),
      el("div", { class: "row-actions" },
        el("button", { type: "button", onclick: () => { d.close(); show(ca.id, ca.name); } }, "Show its details"),
        el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Close")));
    form.querySelector("button").focus();
  });
  const d = openDialog(form);
  form.name.focus();
}

// A CA signed outside takes its renewal signed there: the certificate file (PEM or DER) the
// outside CA returned for a CSR made here; the CA keeps its id, the old certificate rotated.
function renewedOutsideDialog(ca, changed) {
  let data = null;
  const note = el("p", { class: "hint", id: "ro-file-note", role: "status" });
  const file = el("input", { type: "file", id: "ro-file", accept: ".pem,.crt,.cer,.der", "aria-label": `The renewed certificate of ${ca.name} (PEM or DER)`,
    onchange: async (e) => {
      const f = e.target.files[0];
      data = null;
      note.textContent = "";
      if (!f) return;
      data = await fileBase64(f);
      note.textContent = `${f.name} is sent as it is.`;
    } });
  formDialog(`Renewal of "${ca.name}" signed outside`, [
    el("p", { class: "hint" }, `Make a CSR here with the subject ${ca.subject} (CSRs, New CSR, as a CA), have its issuer sign it, and give the certificate it returns. ` +
      "The CA keeps its id and signs with the CSR's key; its old certificate stays in trust bundles for what it issued."),
    dropArea(file, "The renewed certificate (PEM or DER): "), note,
  ], "Take the renewal", async (form, d) => {
    if (!data) throw new Error("Choose the certificate file its issuer returned.");
    await api("POST", `cas/${ca.id}/rotate`, { data });
    d.close();
    await changed();
    done(`"${ca.name}" takes its renewal: it issues from the new certificate and the CSR's key.`);
  }, "ro-error");
}

// What can be done to a CA, as buttons: in its line of the tree and in the panel of its details.
// kids: the CAs it signed (one that has some is not deleted).  changed() reads the tree and
// the panel again.
function caActions(ca, kids, { load, changed, panel, parentOf }) {
  // A rotation signs the new certificate with the parent's key: one whose parent has none here
  // (imported with its chain) is rotated where that key is, said rather than offered (the
  // confirmation promised a new certificate, then a 422).
  const parent = ca.parent_id ? parentOf?.(ca) : null;
  // Signed outside (by a root that is no CA here, or by a parent whose key is elsewhere):
  // renewed at that issuer, its new certificate given here (a CSR made here, signed there).
  const outside = (!parent && ca.issuer && ca.issuer !== ca.subject) || (parent && !parent.can_sign);
  const rotatable = !outside;
  return [
    canChange() ? el("button", { class: "secondary", "aria-label": `Edit ${ca.name}`, onclick: () => editCaDialog(ca, changed) }, "Edit") : null,
    el("button", { class: "secondary", "aria-label": `Download the chain of ${ca.name}`, onclick: () => download("GET", `cas/${ca.id}/chain`, null, `${ca.name}-chain.pem`) }, "Chain"),
    // Its certificate's export: a CA whose key is elsewhere still goes out as a truststore.
    ca.certificate_id ? el("button", { class: "secondary", "aria-label": `Export ${ca.name}`,
      onclick: async () => exportDialog(await api("GET", `certificates/${ca.certificate_id}`)) }, "Export") : null,
    canChange() && ca.can_sign && ca.path_len !== 0 ? el("button", { class: "secondary", "aria-label": `Create an intermediate under ${ca.name}`, onclick: () => caDialog(`Intermediate CA under ${ca.name}`, ca.id, changed) }, "Create intermediate") : null,
    canChange() && ca.can_sign && !rotatable && (ca.status === "active" || ca.status === "expired")
      ? el("button", { class: "secondary", "aria-label": `Give ${ca.name} its renewal signed outside`,
        title: "Its issuer's key is not here: renew it at that issuer (a CSR made here with the CA's subject), then give the certificate it signed",
        onclick: () => renewedOutsideDialog(ca, changed) }, "Renewed outside") : null,
    canChange() && ca.can_sign && rotatable && (ca.status === "active" || ca.status === "expired") ? el("button", { class: "secondary", "aria-label": `Rotate ${ca.name}`, onclick: () => confirmDialog(
      `Rotate "${ca.name}"? It gets a new key and certificate and issues from them; the old certificate stays in trust bundles for what it issued.`,
      async () => { await api("POST", `cas/${ca.id}/rotate`); await changed(); done(`"${ca.name}" rotated: it issues from its new key and certificate.`); }, "Rotate") }, "Rotate") : null,
    // Refused while it has unexpired certificates (the answer says how many); then it can
    // be removed with them left as they are.
    canChange() && !kids.length ? el("button", { class: "danger", "aria-label": `Delete ${ca.name}`, onclick: () => confirmDialog(
      `Delete the CA "${ca.name}"? Its certificate stays in the inventory; it issues nothing more.`,
      async () => {
        const gone = async () => { await load(); if (panel.key === ca.id) panel.close(); };
        try { await api("DELETE", `cas/${ca.id}`); }
        catch (e) {
          if (e.status !== 409 || !/unexpired/.test(e.message)) throw e;
          // (the server's words name the API's and the CLI's way to force it: not this screen's)
          const live = /has (\d+) unexpired/.exec(e.message)?.[1] || "some";
          confirmDialog(`"${ca.name}" has ${live} unexpired certificate${live === "1" ? "" : "s"}. Delete the CA anyway? What it issued stays, and still verifies up to it.`,
            async () => { await api("DELETE", `cas/${ca.id}?force=true`); await gone(); }, "Delete anyway");
          return;
        }
        await gone();
      }) }, "Delete") : null];
}

// The URLs a CA writes into what it issues: the API's lists, and their labels here.
const CA_URLS = [["crl_urls", "CRL distribution points"], ["ocsp_urls", "OCSP responders"],
  ["ca_issuers_urls", "Where its certificate is published (CA issuers)"]];

// Rename a CA, switch its automatic rotation (the server refuses it, saying why, for a CA
// whose key or issuer is elsewhere), and set the URLs it writes into what it issues.
function editCaDialog(ca, changed) {
  const urlFields = CA_URLS.flatMap(([k, label]) => [el("label", { for: "cae-" + k }, label),
    el("input", { id: "cae-" + k, value: (ca[k] || []).join(", "), placeholder: "http://pki.example.com/…, up to 3, comma-separated" })]);
  formDialog(`Edit "${ca.name}"`, [
    el("label", { for: "cae-name" }, "Name"), el("input", { id: "cae-name", value: ca.name, maxlength: 128 }),
    el("label", { class: "check" }, el("input", { id: "cae-auto", type: "checkbox", checked: !!ca.auto_rotate }),
      " Rotate automatically when a third of its life is left"),
    el("p", { class: "hint" }, "Written into each certificate it issues from now on:"), ...urlFields], "Save", async (form, d) => {
    const body = {};
    const name = form.querySelector("#cae-name").value;
    if (name !== ca.name) body.name = name;
    const auto = form.querySelector("#cae-auto").checked;
    if (auto !== !!ca.auto_rotate) body.auto_rotate = auto;
    for (const [k] of CA_URLS) {
      const urls = form.querySelector("#cae-" + k).value.split(/[\s,]+/).filter(Boolean);
      if (urls.join(" ") !== (ca[k] || []).join(" ")) body[k] = urls;
    }
    if (Object.keys(body).length) await api("PATCH", "cas/" + encodeURIComponent(ca.id), body);
    d.close();
    done(`Saved "${body.name || ca.name}".`);
    changed();
  }, "cae-error");
}

// The CA's chain as the server sends it (PEM, up to its root).
async function chainOf(id) {
  const res = await fetch(`/api/v1/cas/${encodeURIComponent(id)}/chain`, { credentials: "same-origin" });
  if (!res.ok) throw new Error((await res.json().catch(() => null))?.error?.message || res.statusText);
  return (await res.text()).match(/-----BEGIN CERTIFICATE-----/g)?.length || 0;
}

const ISSUED_PAGE = 1000;

// Everything known of one CA, from what the API answers: the CA (GET /cas/{id}), its
// certificate whole, its chain, the certificates it issued (the list narrowed by ca_id), its
// rotations and creation (the audit log's entries on it), and whether it is the tenant's default
// signer.  list: the tenant's CAs (for the CAs above and below it).
async function caPanel(id, list, actions) {
  const q = encodeURIComponent(id);
  const ca = await api("GET", "cas/" + q);
  const [cert, issued, log, settings, chain, csrs] = await Promise.all([
    ca.certificate_id ? api("GET", "certificates/" + encodeURIComponent(ca.certificate_id)).catch(() => null) : null,
    api("GET", `certificates?ca_id=${q}&limit=${ISSUED_PAGE}`),
    api("GET", `audit?object_type=ca&object_id=${q}&order=desc&limit=100`).catch((e) => ({ error: e.message })),
    api("GET", "settings").catch(() => ({})),
    chainOf(id).catch(() => null),
    ca.can_sign ? apiAll("csrs").catch(() => ({ items: [] })) : { items: [] }]);
  const d = cert?.details || {};
  const list2 = (a) => (a && a.length ? a.join(", ") : "—");
  const byId = (x) => list.find((c) => c.id === x);
  // Its key: held here, and whose (a CSR made here signed as this CA's certificate).
  const csr = csrs.items.find((c) => c.certificate_id && c.certificate_id === ca.certificate_id);
  const csrName = (x) => { const c = csrs.items.find((y) => y.id === x); return c ? `"${c.name}"` : x; };
  const lifetime = cert ? Math.round((Date.parse(cert.not_after) - Date.parse(cert.not_before)) / 86400e3) : null;
  const details = el("dl", { id: "ca-details" },
    el("dt", {}, "Key"), el("dd", {}, ca.key || "—"),
    el("dt", {}, "Private key"), el("dd", {}, ca.can_sign ? `held here, sealed${csr ? `: that of the CSR "${csr.name}" made here` : ""}`
      : "not held here: it cannot sign (imported without its key)"),
    el("dt", {}, "Subject"), el("dd", {}, ca.subject || "—"),
    el("dt", {}, "Issuer"), el("dd", {}, cert?.issuer || "—"),
    el("dt", {}, "Serial"), el("dd", {}, ca.serial || "—"),
    el("dt", {}, "Valid from"), el("dd", {}, ca.not_before || "—"),
    el("dt", {}, "Valid until"), el("dd", {}, ca.not_after || "—"),
    // (a rotation gives the new certificate the lifetime of the old)
    el("dt", {}, "Lifetime"), el("dd", {}, lifetime != null ? `${lifetime} days, kept by a rotation` : "—"),
    el("dt", {}, "SHA-256"), el("dd", {}, ca.sha256 || "—"),
    el("dt", {}, "SHA-1"), el("dd", {}, d.sha1 || "—"),
    el("dt", {}, "Signature"), el("dd", {}, d.signature_algorithm || "—"),
    el("dt", {}, "Path length"), el("dd", {}, ca.path_len == null ? "no limit" : ca.path_len === 0 ? "0: it signs no CA"
      : `${ca.path_len}: up to ${ca.path_len} level${ca.path_len === 1 ? "" : "s"} of CAs below it`),
    el("dt", {}, "Key usage"), el("dd", {}, list2(d.key_usage)),
    el("dt", {}, "Subject key identifier"), el("dd", {}, d.ski || "—"),
    el("dt", {}, "Authority key identifier"), el("dd", {}, d.aki || "—"),
    el("dt", {}, "Default CA"), el("dd", {}, settings.default_ca_id === ca.id ? "yes: it signs certificates whose request names no CA" : "no"),
    el("dt", {}, "Automatic rotation"), el("dd", { id: "ca-auto-rotate" }, ca.auto_rotate
      ? "on: rotated by certhubd when a third of its life is left" : "off"),
    ...CA_URLS.flatMap(([k, label]) => [el("dt", {}, label), el("dd", { id: "ca-" + k }, list2(ca[k]))]));
  // The chain: the tenant's CAs from its root down to it, and the certificates the server sends.
  const path = [];
  for (let c = ca; c && path.length <= list.length; c = c.parent_id ? byId(c.parent_id) : null) path.unshift(c.name);
  const outside = ca.parent_id == null && cert && cert.subject !== cert.issuer;
  const chainText = [path.join(" → "), chain == null ? "" : `: ${chain} certificate${chain === 1 ? "" : "s"}${outside ? "" : ", up to the root"}`].join("") + ".";
  const chainPart = [el("p", { id: "ca-chain" }, chainText),
    outside ? el("p", { class: "hint" }, `Its issuer (${cert.issuer}) is not one of the tenant's CAs: import it to complete the chain.`) : null];
  // What it issued: counted from the list narrowed to it, opened there whole.
  const now = Date.now();
  const inForce = issued.items.filter((c) => c.status === "active" && Date.parse(c.not_after) > now).length;
  const count = issued.next_cursor ? `More than ${issued.items.length} certificates` : `${issued.items.length} certificate${issued.items.length === 1 ? "" : "s"}`;
  const kids = list.filter((c) => c.parent_id === ca.id);
  const issuedPart = [el("p", { id: "ca-issued" }, issued.items.length ? `${count}, ${inForce} of ${issued.next_cursor ? "the first " + issued.items.length : "them"} in force.` : "No certificate yet."),
    issued.items.length ? el("p", {}, el("a", { href: `#/certificates?ca=${q}`, id: "ca-issued-link" }, `Show the certificates ${ca.name} issued`)) : null,
    kids.length ? el("p", {}, `CAs under it: ${kids.map((c) => c.name).join(", ")}.`) : null];
  // Its rotations, newest first (the audit log's ca.rotate entries), and how it came here.
  let historyPart;
  if (log.error) historyPart = el("p", { class: "muted" }, `The audit log could not be read: ${log.error}`);
  else {
    const rotations = log.items.filter((e) => e.action === "ca.rotate");
    const made = log.items.find((e) => e.action === "ca.create" || e.action === "ca.import");
    const olds = await Promise.all(rotations.slice(0, 10).map((e) =>
      e.detail?.old_certificate_id ? api("GET", "certificates/" + encodeURIComponent(e.detail.old_certificate_id)).catch(() => null) : null));
    historyPart = el("dl", { id: "ca-history" },
      rotations.slice(0, 10).map((e, i) => {
        const old = olds[i];
        const current = e.detail?.certificate_id === ca.certificate_id;
        return [el("dt", {}, `Rotated ${until(e.at)} by ${e.actor}`),
          el("dd", {}, old ? ["Its certificate ", el("a", { href: `#/certificates?show=${encodeURIComponent(old.id)}` }, `serial ${old.serial}`),
            `, valid until ${day(old.not_after)}, ${Date.parse(old.not_after) > now ? "still in trust bundles for what it issued" : "expired"},`]
            : "Its certificate then (no longer held)", ` was replaced by ${current ? "the current one" : "a later one"}.`)];
      }),
      made ? [el("dt", {}, `${made.action === "ca.import" ? "Imported" : "Created"} ${until(made.at)} by ${made.actor}`),
        el("dd", {}, made.detail?.key_from_csr || made.detail?.csr_id ? `with the key of the CSR ${csrName(made.detail.key_from_csr || made.detail.csr_id)} made here`
          : made.action === "ca.import" ? (made.detail?.has_key ? "with its private key" : "without its private key") : "with a new key made here")] : null);
    if (!rotations.length) historyPart = [el("p", { id: "ca-rotations" }, ca.can_sign ? "Never rotated: its certificate is the one it was made with." : "Never rotated (it cannot be here: its key is elsewhere)."), historyPart];
    else historyPart = [el("p", { id: "ca-rotations" }, `Rotated ${rotations.length} time${rotations.length === 1 ? "" : "s"}; it issues from its current certificate.` +
      (rotations.length > 10 ? " The 10 latest rotations here, every one in the audit log." : "")), historyPart];
  }
  return { title: ca.name, body: [
    el("p", {}, badge(ca.status), ca.can_sign ? "" : " cannot sign: no key here"),
    el("div", { class: "row-actions" }, actions(ca, kids),
      ca.certificate_id ? el("a", { href: `#/certificates?show=${encodeURIComponent(ca.certificate_id)}` }, "Its certificate") : null),
    details, el("h3", {}, "Chain"), el("div", {}, chainPart), el("h3", {}, "Issued"), el("div", {}, issuedPart),
    el("h3", {}, "Rotations and history"), el("div", {}, historyPart)] };
}

// The tenant's CAs as a tree (each under the CA that signed it), each opened in the panel
// beside it with its details and the same actions as its line.
async function casScreen(screen) {
  const tree = el("ul", { class: "tree", role: "tree", "aria-label": "Certificate authorities" });
  let list = [];
  async function load() {
    list = (await apiAll("cas")).items;
    const node = (ca) => {
      const kids = list.filter((c) => c.parent_id === ca.id);
      const { button, row } = panel.item(ca.id, `Details of ${ca.name}`, () => show(ca.id, ca.name));
      return el("li", { role: "treeitem", "aria-expanded": kids.length ? "true" : null },
        row(el("div", { class: "ca" }, el("strong", {}, ca.name), " ", badge(ca.status), ca.can_sign ? "" : " (cannot sign: no key here)",
          ca.not_after ? el("span", { class: "muted" }, ` valid until ${day(ca.not_after)}`) : null, " ",
          el("span", { class: "row-actions" }, button, caActions(ca, kids, ctx)))),
        kids.length ? el("ul", { role: "group" }, kids.map(node)) : null);
    };
    tree.replaceChildren(...list.filter((c) => !c.parent_id || !list.some((p) => p.id === c.parent_id)).map(node));
    if (!list.length) tree.append(el("li", { role: "treeitem", class: "muted" }, "No CA yet."));
  }
  const panel = sidePanel(el("div", { class: "toolbar" }, el("span", {}, "The hierarchy of the tenant's CAs"),
    canChange() ? el("span", { class: "row-actions" }, el("button", { onclick: () => caDialog("Root CA", null, changed) }, "Create root CA"),
      el("button", { class: "secondary", onclick: () => importCaDialog(changed, (id, name) => show(id, name)) }, "Import CA")) : null),
  el("div", { class: "card" }, tree));
  const changed = async () => { await load(); await panel.refresh(); };
  // (list: a CA's parent, whose key its rotation needs, is looked up in it)
  const ctx = { load: () => load(), changed, panel, parentOf: (ca) => list.find((c) => c.id === ca.parent_id) };
  const show = (id, name) => panel.show(id, name, () => caPanel(id, list, (ca, kids) => caActions(ca, kids, ctx)));
  screen.replaceChildren(el("h1", {}, "Certificate authorities"), panel.element);
  await load();
}

// A CSR made here signed by one of the tenant's CAs: the certificate takes the CSR's key.
async function signHere(c, reload) {
  const [cas, profiles, signer] = await Promise.all([apiAll("cas"), apiAll("profiles"), defaultSigner()]);
  const signers = cas.items.filter((x) => x.can_sign);
  const preferred = preferredSigner(signers, signer);
  const err = el("p", { class: "error", role: "alert" });
  const form = el("form", { method: "dialog" }, el("h2", {}, `Sign ${c.name} here`),
    el("p", {}, `${c.subject}: the certificate keeps the key this CSR was made with.`),
    el("label", { for: "sign-ca" }, "Signing CA"),
    el("select", { id: "sign-ca", name: "ca" }, signers.map((x) => el("option", { value: x.id, selected: x.id === preferred }, x.name))),
    el("label", { for: "sign-profile" }, "Profile"),
    el("select", { id: "sign-profile", name: "profile" }, profiles.items.filter((p) => !p.is_ca).map((p) => el("option", { value: p.name, selected: p.name === "tls-server" }, p.name))),
    ...lifetimeInputs("sign-lifetime", "Lifetime", ["", "d"], { placeholder: "the profile's default" }), err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Sign"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const made = await api("POST", "certificates", { csr_id: c.id, ca_id: form.ca.value, profile: form.profile.value,
        ...lifetimeBody(form["sign-lifetime"].value, form["sign-lifetime_unit"].value), name: c.name });
      d.close();
      // (said as every other creation is: the dialog closed without a word)
      done(`Signed "${made.name}" with ${form.ca.selectedOptions[0]?.textContent || "the CA"}, valid until ${until(made.not_after)}: its certificate is linked from the CSR.`);
      reload();
    } catch (e) { err.textContent = refusalText(e); }
  });
  const d = openDialog(form);
  form.ca.focus();
}

// A file's text when it is PEM (its start is a BEGIN line), else null.
async function pemText(f) {
  const head = new TextDecoder().decode(await f.slice(0, 64).arrayBuffer());
  return head.trimStart().startsWith("-----BEGIN") ? f.text() : null;
}

// A file's bytes in standard base64, as the API's "data" fields take a file.
async function fileBase64(f) {
  let bin = "";
  for (const b of new Uint8Array(await f.arrayBuffer())) bin += String.fromCharCode(b);
  return btoa(bin);
}

// A certificate (or, by label, a CSR) file as PEM text: PEM as it is, DER (a .cer from a Windows CA) wrapped in its
// armour (as text it was bytes the API refused as JSON).
async function certificatePem(f, label = "CERTIFICATE") {
  const pem = await pemText(f);
  if (pem !== null) return pem;
  const b64 = (await fileBase64(f)).replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END ${label}-----\n`;
}

async function csrsScreen(screen) {
  const body = el("tbody");
  const list = pagedList(body, "csr-more", 100, () => "csrs", (c) => {
    const file = el("input", { type: "file", accept: ".pem,.crt,.cer,.der", "aria-label": `Signed certificate for ${c.name}`, hidden: true });
    file.addEventListener("change", async () => {
      try {
        const signed = await api("POST", `csrs/${c.id}/certificate`, { certificate: await certificatePem(file.files[0]) });
        await load();
        // (the row only turned "signed": what came of it, and where it is now)
        done(`Attached to "${c.name}": ${signed.name || "the certificate"}, valid until ${until(signed.not_after)}.`);
      } catch (e) { alertRow.textContent = e.message; }
    });
    const alertRow = el("span", { class: "error", role: "alert" });
    return el("tr", {}, el("td", {}, c.name), el("td", {}, c.subject),
      el("td", {}, badge(c.certificate_id ? "signed" : "waiting"),
        c.certificate_id ? [" ", el("a", { href: `#/certificates?show=${encodeURIComponent(c.certificate_id)}`, "aria-label": `The certificate of ${c.name}` }, "its certificate")] : null),
      el("td", {}, el("div", { class: "row-actions" },
        el("button", { class: "secondary", "aria-label": `Download ${c.name}`, onclick: () => download("GET", `csrs/${c.id}/export`, null, `${c.name}.csr`) }, "Download"),
        canChange() && !c.certificate_id ? el("button", { class: "secondary", "aria-label": `Sign ${c.name} here`, onclick: () => signHere(c, load) }, "Sign here") : null,
        canChange() && !c.certificate_id ? el("button", { class: "secondary", "aria-label": `Attach the signed certificate of ${c.name}`, onclick: () => file.click() }, "Attach signed certificate") : null,
        // Its key goes with it unless the certificate it was signed for holds it.
        canChange() ? el("button", { class: "danger", "aria-label": `Delete ${c.name}`, onclick: () => confirmDialog(
          c.certificate_id ? `Delete the CSR "${c.name}"? Its certificate stays, with its key.` : `Delete the CSR "${c.name}" and its key?`,
          async () => { await api("DELETE", "csrs/" + c.id); load(); }) }, "Delete") : null, file, alertRow)));
  });
  // An empty list says so (a bare heading looked like a screen still loading).
  const load = async () => {
    if ((await list.load()) && !body.children.length)
      body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" },
        "No CSR yet. New CSR makes one, its key kept here, for an outside CA to sign (or a CA here).")));
  };
  const create = canChange() ? el("button", { onclick: () => {
    const err = el("p", { class: "error", role: "alert" });
    const keys = keyTypeFields("csr-key", "p256");
    const form = el("form", { method: "dialog", novalidate: true }, el("h2", {}, "New CSR (the key stays here, sealed)"),
      el("label", { for: "csr-name" }, "Name"), el("input", { id: "csr-name", name: "name" }),
      ...subjectFields("csr"),
      el("label", { for: "csr-sans" }, "Subject alternative names (comma separated)"), el("input", { id: "csr-sans", name: "sans" }),
      ...keys.rows,
      el("label", { for: "csr-digest" }, "Digest"), el("select", { id: "csr-digest", name: "digest" }, options(DIGESTS, "sha256")),
      // The storage seed's "Extra Constraints" of a CSR: what the CA that signs it is asked for.
      el("fieldset", {}, el("legend", {}, "Key usage asked (none: the signing CA's choice)"),
        [...KEY_USAGES, "key_cert_sign", "crl_sign"].map((u) => el("label", { class: "check" }, el("input", { type: "checkbox", value: u, name: "csr_ku" }), u))),
      el("fieldset", {}, el("legend", {}, "Extended key usage asked"),
        EXT_KEY_USAGES.map((u) => el("label", { class: "check" }, el("input", { type: "checkbox", value: u, name: "csr_eku" }), u))),
      el("label", { class: "check" }, el("input", { type: "checkbox", id: "csr-ca", name: "ca" }), "A CA: ask for Basic Constraints CA:TRUE (for an outside CA to sign an intermediate)"),
      el("label", { for: "csr-path-len" }, "Path length asked (a CA, optional)"), el("input", { id: "csr-path-len", name: "path_len", type: "number", min: 0, max: 64 }), err,
      el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Create CSR"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ticked = (n) => [...form.querySelectorAll(`input[name=${n}]:checked`)].map((b) => b.value);
      try {
        const made = await api("POST", "csrs", { name: form.name.value || undefined, subject: subjectOf(form, "csr"), key_type: keys.value(), digest: digestOf(form.digest),
          sans: form.sans.value ? form.sans.value.split(",").map((x) => x.trim()) : undefined,
          key_usage: ticked("csr_ku").length ? ticked("csr_ku") : undefined, ext_key_usage: ticked("csr_eku").length ? ticked("csr_eku") : undefined,
          ca: form.ca.checked || undefined, path_len: form.path_len.value !== "" ? Number(form.path_len.value) : undefined });
        d.close();
        await load();
        done(`CSR "${made.name}" made, its key kept here: download it for the CA that is to sign it, or sign it here.`);
      } catch (e) { err.textContent = e.message; }
    });
    digestFollows(keys.alg, form.digest);
    const d = openDialog(form);
    form.name.focus();
  } }, "New CSR") : null;
  screen.replaceChildren(el("h1", {}, "Certificate signing requests"), el("div", { class: "toolbar" }, el("span", {}, "CSRs made here, to be signed by an outside CA or here"), create),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Subject"), el("th", {}, "State"), el("th", {}, ""))), body), list.more);
  await load();
}

async function keystoreExport(k) {
  // Its entries say what it can be: DER holds one certificate, and a key goes into the file
  // where an entry has one and the account may export it (else P12 and JKS are truststores).
  const { entries = [] } = await api("GET", `keystores/${k.id}`);
  const keys = mayExportKeys() && entries.some((e) => e.has_private_key);
  // (the format it is, P12 or JKS, chosen first)
  const format = formatSelect("kx-format", ["pem"].concat(entries.length === 1 ? ["der"] : [], ["p7b", "p12", "jks"]), k.format);
  const why = keys || !entries.some((e) => e.has_private_key) ? null
    : el("p", { class: "hint", id: "kx-why" }, "The private keys, which this account may not export, are left out: P12 and JKS are truststores, PEM has no key.");
  // Only P12 and JKS and a key in PEM are encrypted: the server refuses a password that would
  // go unused.  The entries keep their aliases.
  const options = exportOptions("kx", format, keys, true);
  const err = el("p", { class: "error", id: "kx-error", role: "alert" });
  const form = el("form", { method: "dialog" }, el("h2", {}, `Export ${k.name}`),
    el("label", { for: "kx-format" }, "Format"), format, why, options.rows, err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Download"), el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      // (a keystore's name is often its file's: "store.jks" exported as PEM is "store.pem")
      const base = k.name.replace(/\.(jks|jceks|p12|pfx|pkcs12|keystore|truststore|pem|der|cer|crt|p7b|p7c|pkcs7)$/i, "");
      await download("POST", `keystores/${k.id}/export`, { format: format.value, ...options.fields() }, base + options.suffix());
      d.close();
    } catch (e) { err.textContent = e.message; }
  });
  const d = openDialog(form);
  format.focus();
}

// The panel of a keystore (the destination seed's keystore view): how it came here and its
// entries, each one shown whole once chosen (the seed's entry details): its certificate as the
// certificates screen shows one, what the entry holds, and the chain after it.  k is the
// keystore read whole (GET keystores/{id}), actions its buttons.
function keystoreView(k, actions, panel, from) {
  const origins = [...new Set(k.entries.map((x) => originName(x.origin)))];
  const buttons = new Map();
  const entry = (x) => {
    const b = el("button", { type: "button", class: "entry", "aria-label": `Details of ${x.alias}`, onclick: () => panel.view(async () => {
      const full = await api("GET", `keystores/${k.id}/entries/${encodeURIComponent(x.alias)}`);
      const head = el("h3", { tabindex: "-1" }, `Entry ${x.alias}`);
      return { focus: head, body: [
        el("button", { type: "button", class: "secondary", "aria-label": `Back to the entries of ${k.name}`,
          onclick: () => panel.view(() => keystoreView(k, actions, panel, x.alias)) }, "← All entries"),
        head, certDetails(full.certificate, { origin: full.origin || x.origin, has_private_key: x.has_private_key }),
        full.chain.length ? el("p", {}, "The chain after it:") : "",
        full.chain.length ? el("ol", {}, full.chain.map((c) => el("li", {}, `${c.subject}, valid until ${day(c.not_after)}`))) : ""] };
    }) }, el("strong", {}, x.alias), el("span", {}, x.certificate?.subject || ""),
    el("span", { class: "muted" }, `valid until ${day(x.certificate?.not_after) || "—"} · ${x.has_private_key ? "private key (sealed)" : "certificate only"}`));
    buttons.set(x.alias, b);
    return el("li", {}, b, canChange() ? el("div", { class: "row-actions" },
      el("button", { type: "button", class: "secondary", "aria-label": `Rename ${x.alias}`, onclick: () => entryRename(k, x.alias, again) }, "Rename"),
      el("button", { type: "button", class: "danger", "aria-label": `Delete ${x.alias}`,
        onclick: () => confirmDialog(`Delete the entry "${x.alias}" from ${k.name}? Its certificate stays in the inventory.`, async () => {
          try {
            await api("DELETE", `keystores/${k.id}/entries/${encodeURIComponent(x.alias)}`);
            done(`Entry "${x.alias}" deleted from ${k.name}.`);
          } catch (e) { problem(e.message); }
          again();
        }) }, "Delete")) : null);
  };
  // The panel drawn again from the keystore as stored now (after a change of its entries).
  const again = (focusAlias) => panel.view(async () => keystoreView(await api("GET", "keystores/" + k.id), actions, panel, focusAlias));
  const add = canChange() ? el("button", { type: "button", "aria-label": `Add an entry to ${k.name}`, onclick: () => entryAdd(k, again) }, "Add entry") : null;
  const body = [el("div", { class: "row-actions" }, actions),
    el("dl", {}, el("dt", {}, "Format"), el("dd", {}, k.format.toUpperCase()),
      el("dt", {}, "Method"), el("dd", {}, origins.join(", ") || "uploaded"),
      el("dt", {}, "Created"), el("dd", {}, k.created_at)),
    el("h3", {}, `Entries (${k.entries.length})`), add,
    k.entries.length ? el("ul", { class: "entries" }, k.entries.map(entry)) : el("p", { class: "muted" }, "It holds no entry.")];
  // Back from an entry: the focus on that entry's button.
  return { body, focus: buttons.get(from) };
}

// How many matches the certificate picker shows at once (each answer carries the PEM).
const PICK_PAGE = 25;

// A certificate of the inventory added to keystore k as its last entry (keytool -importcert):
// its chain with it, and its key when certhub holds it; the alias the certificate's name unless
// one is given (unique in the keystore without regard to case).  then(alias) redraws the panel.
// The certificate is found by the server's search as one types, a page of matches at a time
// (the newest before a term is typed): an inventory holds more than a list can show.
function entryAdd(k, then) {
  const search = el("input", { type: "search", id: "ke-search", autocomplete: "off", "aria-controls": "ke-certificate",
    "aria-describedby": "ke-found", placeholder: "3 letters or more of its name, subject or a SAN" });
  const pick = el("select", { id: "ke-certificate", size: 8, "aria-describedby": "ke-found" });
  const found = el("p", { class: "hint", id: "ke-found", role: "status" });
  const alias = el("input", { id: "ke-alias", autocomplete: "off", placeholder: "the certificate's name" });
  // A term of three characters or more, as on the certificates screen (the search index is of
  // trigrams).  shown: the term the list holds the matches of.  The list shows the answer to the
  // last term asked (an earlier one may come after it), and while a term typed is not asked yet
  // nothing in it is chosen: Add would take a certificate the term no longer matches.
  const term = () => (search.value.trim().length >= 3 ? search.value.trim() : "");
  let typing = null, asked = 0, shown = null;
  const current = () => shown === term() && typing === null;
  async function find() {
    const t = term(), mine = ++asked;
    clearTimeout(typing);
    typing = null;
    pick.setAttribute("aria-busy", "true");
    let page, failed = null;
    try {
      page = await api("GET", `certificates?limit=${PICK_PAGE}${t ? "&search=" + encodeURIComponent(t) : ""}`);
    } catch (e) {
      page = { items: [] };
      failed = e.message;
    }
    if (mine !== asked) return;
    pick.removeAttribute("aria-busy");
    pick.replaceChildren(...page.items.map((c) => el("option", { value: c.id },
      `${c.name} — ${c.subject}${c.has_private_key ? " (with its private key)" : ""}`)));
    pick.selectedIndex = page.items.length ? 0 : -1;
    pick.disabled = !page.items.length;
    shown = t;
    const n = page.items.length, more = !!page.next_cursor;
    found.textContent = failed ? `The certificates could not be read: ${failed}`
      : t ? (!n ? `No certificate's name, subject or SAN holds "${t}".`
        : more ? `The first ${n} certificates that hold "${t}": type more of it to narrow them.`
          : n === 1 ? `One certificate holds "${t}".` : `${n} certificates hold "${t}".`)
        : (!n ? "The inventory holds no certificate yet: issue or import one first."
          : more ? `The newest ${n} certificates: type 3 letters or more of a name, subject or SAN to find another.`
            : n === 1 ? "The one certificate of the inventory." : `All ${n} certificates of the inventory.`);
  }
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = null;
    // (back to the term the list holds, or a letter or two or a space more: nothing to ask)
    if (term() === shown) {
      if (pick.selectedIndex < 0 && pick.options.length) pick.selectedIndex = 0;
      return;
    }
    pick.selectedIndex = -1;
    typing = setTimeout(find, 250);
  });
  // Down (or Enter) from the search to its matches, asked at once if typing had not paused; up
  // from the first match back to the search; Enter in the list adds the certificate chosen.
  search.addEventListener("keydown", async (ev) => {
    if (ev.isComposing || (ev.key !== "ArrowDown" && ev.key !== "Enter")) return;
    ev.preventDefault();
    if (!current()) await find();
    if (!pick.options.length) return;
    if (pick.selectedIndex < 0) pick.selectedIndex = 0;
    pick.focus();
  });
  pick.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowUp" && pick.selectedIndex <= 0) {
      ev.preventDefault();
      search.focus();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      pick.form.requestSubmit();
    }
  });
  formDialog(`Add an entry to ${k.name}`, [el("label", { for: "ke-search" }, "Find a certificate"), search,
    el("label", { for: "ke-certificate" }, "Certificate"), pick, found,
    el("label", { for: "ke-alias" }, "Alias (optional)"), alias], "Add", async (form, d) => {
    if (!current() || !pick.value) {
      throw new Error(current() ? "Choose a certificate in the list: type part of its name, subject or a SAN to find it."
        : "Choose a certificate once the list shows the matches of what was typed.");
    }
    const made = await api("POST", `keystores/${k.id}/entries`, { certificate_id: pick.value, ...(alias.value ? { alias: alias.value } : {}) });
    d.close();
    done(`Entry "${made.alias}" added to ${k.name}${made.has_private_key ? ", with its private key" : ""}.`);
    then(made.alias);
  }, "ke-error");
  find();
}

// An entry of keystore k renamed (keytool -changealias).
function entryRename(k, from, then) {
  const alias = el("input", { id: "kr-alias", autocomplete: "off", value: from });
  formDialog(`Rename ${from}`, [el("label", { for: "kr-alias" }, "New alias"), alias], "Rename", async (form, d) => {
    const made = await api("PATCH", `keystores/${k.id}/entries/${encodeURIComponent(from)}`, { alias: alias.value });
    d.close();
    done(`Entry "${from}" renamed "${made.alias}".`);
    then(made.alias);
  }, "kr-error");
}

// A keystore renamed: its exports are offered under its name.  The list is read again, and
// an open panel of it shows the new name.
function keystoreRename(k, load, panel) {
  const name = el("input", { id: "kn-name", autocomplete: "off", value: k.name });
  formDialog(`Rename ${k.name}`, [el("label", { for: "kn-name" }, "New name"), name], "Rename", async (form, d) => {
    const made = await api("PATCH", `keystores/${k.id}`, { name: name.value });
    d.close();
    done(`Keystore "${k.name}" renamed "${made.name}".`);
    await load();
    if (panel.key === k.id) panel.close();
  }, "kn-error");
}

// What can be done to a keystore, as buttons: in its row and in its panel.
function keystoreActions(k, load, panel) {
  return [el("button", { class: "secondary", "aria-label": `Export ${k.name}`, onclick: () => keystoreExport(k) }, "Export"),
    canChange() ? el("button", { class: "secondary", "aria-label": `Rename ${k.name}`, onclick: () => keystoreRename(k, load, panel) }, "Rename") : null,
    // (its entries' certificates and keys are the inventory's, which keeps them)
    canChange() ? el("button", { class: "danger", "aria-label": `Delete ${k.name}`, onclick: () => confirmDialog(`Delete the keystore "${k.name}"? ` +
      "Its certificates and their private keys stay in the inventory: delete them there too if they are to go.",
      async () => {
        await api("DELETE", "keystores/" + k.id);
        await load();
        if (panel.key === k.id) panel.close();
      }) }, "Delete") : null];
}

// A keystore file uploaded (JKS, PFX, P12, PEM...): stored entry by entry, keys sealed; then()
// reads the list again.  Any file may be chosen: the server reads what it is from its bytes,
// and keystores go by many names (.jceks, .keystore, .truststore, a JDK's cacerts).
function uploadKeystore(then) {
  const file = el("input", { type: "file", id: "ks-file", "aria-describedby": "ks-error" });
  const password = el("input", { type: "password", id: "ks-password", autocomplete: "off" });
  const keyPassword = el("input", { type: "password", id: "ks-key-password", autocomplete: "off" });
  const err = el("p", { class: "error", id: "ks-error", role: "alert" });
  const form = el("form", { method: "dialog" }, el("h2", {}, "Upload keystore"),
    el("label", { for: "ks-file" }, "Keystore file (JKS, JCEKS, PFX, P12, PEM, CER, CRT, DER, P7B; cacerts and the like too)"), dropArea(file, "Drop the file here, or browse: "),
    el("label", { for: "ks-password" }, "Password"), password,
    el("label", { for: "ks-key-password" }, "Key password, when the keys have their own"), keyPassword, err,
    el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Upload"),
      el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    if (!file.files[0]) { err.textContent = "Choose a keystore file."; return; }
    const f = new FormData();
    f.append("file", file.files[0]);
    if (password.value) f.append("password", password.value);
    if (keyPassword.value) f.append("key_password", keyPassword.value);
    try {
      const made = await api("POST", "keystores", f);
      d.close();
      // What the file held and was not kept (a JCEKS secret key, a key without its
      // certificate) is said, not dropped unseen, and so are the key entries whose chain stops
      // short of a root (the server's notes, as a certificate import's); so are the entries
      // that came without a key and have one all the same, a CSR's made here.
      const took = (made.keys_from_csr || []).map((k) => `entry "${k.alias}" has the private key of the CSR ${k.key_from_csr} made here, which its certificate was signed for`);
      done([`Keystore "${made.name}" uploaded`, ...took].join("; ") + "." +
        (made.notes?.length ? ` Note: ${made.notes.join("; ")}.` : ""));
      then();
    } catch (e) { err.textContent = e.message; }
  });
  const d = openDialog(form);
  file.focus();
}

// How a keystore's entry came there, in words (the API's origin): its keystore's method.
const originName = (o) => ({ generated: "made here", added: "added from the inventory" })[o] || o || "uploaded";

// How a certificate came here, in words (the API's method).
const methodName = (m) => ({ csr_signed: "signed for a CSR", issued: "issued for a public key sent" })[m] || m;

// Everything inspect shows, and how the certificate came to be here (no key, ever).
// An inventory certificate's details; with entry (a keystore's), what the entry holds and where
// it came from, in place of the inventory record's own (the same certificate may be held
// there otherwise: imported with a key, or by an earlier upload).
function certDetails(c, entry) {
  const d = c.details || {};
  const list = (a) => (a && a.length ? a.join(", ") : "—");
  const critical = (name) => ((d.critical || []).includes(name) ? " (critical)" : "");
  return el("dl", {},
    el("dt", {}, "Valid from"), el("dd", {}, c.not_before), el("dt", {}, "Valid until"), el("dd", {}, c.not_after),
    el("dt", {}, "Subject"), el("dd", {}, c.subject), el("dt", {}, "Issuer"), el("dd", {}, c.issuer),
    el("dt", {}, "Serial"), el("dd", {}, c.serial),
    el("dt", {}, "SHA-256"), el("dd", {}, c.sha256), el("dt", {}, "SHA-1"), el("dd", {}, d.sha1 || "—"),
    el("dt", {}, "Key"), el("dd", {}, `${d.key_algorithm || ""} ${d.key_curve || d.key_bits || ""}`),
    el("dt", {}, "Signature"), el("dd", {}, d.signature_algorithm || "—"),
    // Each extension a create wizard switches: absent ones shown as such, critical ones said.
    el("dt", {}, "Basic constraints"), el("dd", {}, (d.basic_constraints === false ? "absent"
      : d.is_ca ? `CA${d.path_len != null ? ", path length " + d.path_len : ""}` : "not a CA") + critical("basic_constraints")),
    el("dt", {}, "Key usage"), el("dd", {}, list(d.key_usage) + critical("key_usage")),
    el("dt", {}, "Extended key usage"), el("dd", {}, list(d.ext_key_usage) + critical("ext_key_usage")),
    el("dt", {}, "Subject key identifier"), el("dd", {}, d.ski || "—"),
    el("dt", {}, "Authority key identifier"), el("dd", {}, d.aki || "—"),
    el("dt", {}, "Subject alternative names"), el("dd", {}, list(d.sans)),
    entry ? [el("dt", {}, "In this keystore"), el("dd", {}, `${originName(entry.origin)}, ${entry.has_private_key ? "with its private key (sealed)" : "the certificate only"}`)]
      : [el("dt", {}, "Method"), el("dd", {}, `${methodName(c.method)}${c.profile ? " with profile " + c.profile : ""}`),
        el("dt", {}, "Created"), el("dd", {}, c.created_at),
        el("dt", {}, "Private key"), el("dd", {}, c.has_private_key ? "held here, sealed" : "not held here"),
        // (SAP BTP: "certificates added through Upload cannot be automatically renewed"; said
        // where the switch is looked for, as Edit offers none for them)
        el("dt", {}, "Automatic renewal"), el("dd", { id: "cert-auto-renew" }, c.auto_renew
          ? `on, due ${c.renew_at || ""}${c.renew_before ? ` (${c.renew_before} before its end)` : ""}`
          : c.method === "imported" ? "not possible: it was uploaded, and the CA that signed it renews it"
          : c.renewed_by ? "done: its renewal is renewed in its place" : "off"),
        // Why the last automatic renewal failed (it is tried again, or stopped when it cannot help).
        c.renew_error ? [el("dt", {}, "Last renewal failed"), el("dd", { class: "renew-error" }, c.renew_error)] : null,
        // Its lineage, each a link to that certificate's details: the one that renewed it, and
        // (a certificate of minutes is renewed every few) the newest, so nobody clicks through
        // hundreds of renewals to reach the one in use.
        c.renewed_by ? [el("dt", {}, "Renewed by"), el("dd", {}, certLink(c.renewed_by))] : null,
        c.newest_renewal && c.newest_renewal !== c.renewed_by ? [el("dt", {}, "Newest renewal"), el("dd", {}, certLink(c.newest_renewal))] : null,
        c.renews ? [el("dt", {}, "Renews"), el("dd", {}, certLink(c.renews))] : null]);
}

// A certificate's id as a link that opens its details.
const certLink = (id) => el("a", { href: `#/certificates?show=${encodeURIComponent(id)}`, class: "cert-link" }, id);

function trustedDetails(t) {
  const d = t.details || {};
  return el("dl", {},
    el("dt", {}, "Subject"), el("dd", {}, t.subject),
    el("dt", {}, "Issuer"), el("dd", {}, t.issuer),
    el("dt", {}, "Serial"), el("dd", {}, t.serial),
    el("dt", {}, "Valid from"), el("dd", {}, t.not_before),
    el("dt", {}, "Valid until"), el("dd", {}, t.not_after),
    el("dt", {}, "SHA-256"), el("dd", {}, t.sha256),
    el("dt", {}, "Key"), el("dd", {}, `${d.key_algorithm || ""} ${d.key_curve || d.key_bits || ""}`),
    el("dt", {}, "List"), el("dd", {}, listName(t.list) + (t.list === "issuer" ? " (helps build chains, authenticates nothing itself)" : "")),
    el("dt", {}, "Proof of possession"), el("dd", {}, t.verified ? "verified" : "not verified"));
}

// The two lists of trusted certificates (OPC UA's, Azure IoT Operations'): the trust list
// authenticates, the issuer list only completes chains up to it.
const listName = (l) => (l === "issuer" ? "Issuer list" : "Trust list");

// What can be done to a trusted certificate, as buttons: in its row and in its panel.
// changed() reads the list and the panel again.
function trustedActions(t, { load, changed, panel }) {
  if (!canChange()) return [];
  const other = t.list === "issuer" ? "trust" : "issuer";
  return [
    el("button", { class: "secondary", "aria-label": `${t.status === "enabled" ? "Disable" : "Enable"} ${t.name}`, onclick: async () => {
      await api("PATCH", "trusted-certificates/" + t.id, { status: t.status === "enabled" ? "disabled" : "enabled" });
      changed();
    } }, t.status === "enabled" ? "Disable" : "Enable"),
    el("button", { class: "secondary", "aria-label": `Move ${t.name} to the ${other} list`, onclick: async () => {
      await api("PATCH", "trusted-certificates/" + t.id, { list: other });
      done(`${t.name} is in the ${other} list now.`);
      changed();
    } }, t.list === "issuer" ? "To trust list" : "To issuer list"),
    el("button", { class: "danger", "aria-label": `Delete ${t.name}`, onclick: () => confirmDialog(`Delete the trusted certificate "${t.name}"? Devices using it can no longer connect.`,
      async () => {
        await api("DELETE", "trusted-certificates/" + t.id);
        await load();
        if (panel.key === t.id) panel.close();
      }) }, "Delete")];
}

// A trusted certificate's name and auto registration (the issuer list registers no device:
// its box is not offered there).  Nothing read from the certificate changes.
function editTrustedDialog(t, changed) {
  const auto = el("input", { id: "te-auto", type: "checkbox", checked: !!t.auto_registration, disabled: t.list === "issuer" });
  formDialog(`Edit "${t.name}"`, [el("label", { for: "te-name" }, "Certificate name"), el("input", { id: "te-name", value: t.name, maxlength: 128 }),
    el("label", { class: "check" }, auto, "Auto registration: devices it signed are registered on their first connection"),
    t.list === "issuer" ? el("p", { class: "hint" }, "A certificate of the issuer list registers no device.") : null],
  "Save", async (form, d) => {
    const body = {};
    const name = form.querySelector("#te-name").value.trim();
    if (!name) throw new Error("Give the certificate a name.");
    if (name !== t.name) body.name = name;
    if (t.list !== "issuer" && auto.checked !== !!t.auto_registration) body.auto_registration = auto.checked;
    if (Object.keys(body).length) await api("PATCH", "trusted-certificates/" + t.id, body);
    d.close();
    done(`Saved "${name}".`);
    changed();
  }, "te-error");
}

// The proof of possession of a trusted certificate (Cumulocity's and AWS IoT's): a code asked
// here, put as the common name of a certificate the CA's own key signs, uploaded back; then the
// certificate is "verified" (devices it vouches for can be let in even when the settings admit
// only verified ones).  The code is shown once asked; asking again replaces it.
function possessionPart(t, changed) {
  if (t.verified) return el("p", { id: "pop-state" }, "The holder of this CA's private key proved it: verified.");
  if (!canChange()) return el("p", { class: "muted", id: "pop-state" }, "No proof of possession was given for it.");
  const err = el("p", { class: "error", role: "alert", id: "pop-error" });
  const file = el("input", { type: "file", id: "pop-file", accept: ".pem,.crt,.cer,.der", "aria-describedby": "pop-error" });
  const code = el("p", {});
  const cmd = el("pre", { class: "cmd" });
  const steps = el("div", { hidden: true },
    el("p", { class: "hint" }, "Make a certificate whose common name is this code and sign it with this CA's private key (ca.pem and ca.key here), for instance:"),
    cmd, el("label", { for: "pop-file" }, "Verification certificate (PEM or DER)"), dropArea(file, "Drop it here, or browse: "));
  const ask = el("button", { type: "button", class: "secondary", onclick: async () => {
    err.textContent = "";
    let c;
    try { c = await api("POST", `trusted-certificates/${t.id}/verification-code`); } catch (e) { err.textContent = e.message; return; }
    code.replaceChildren("Verification code: ", el("code", { id: "pop-code" }, c.verification_code));
    cmd.textContent = "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n" +
      `  -keyout verify.key -subj "/CN=${c.verification_code}" -out verify.csr\n` +
      "openssl x509 -req -in verify.csr -CA ca.pem -CAkey ca.key -days 1 -out verify.pem";
    steps.hidden = false;
    ask.textContent = "Get a new code";
  } }, "Get a verification code");
  file.addEventListener("change", async () => {
    err.textContent = "";
    if (!file.files[0]) return;
    try {
      await api("POST", `trusted-certificates/${t.id}/verify`, { certificate: await certificatePem(file.files[0]) });
    } catch (e) {
      file.value = "";
      err.textContent = e.message;
      return;
    }
    done(`${t.name}: the proof of possession holds, it is verified.`);
    changed();
  });
  return el("div", { id: "pop" },
    el("p", { class: "hint" }, "Prove that whoever added it holds the CA's private key: ask for a code, sign a certificate naming it with that key, upload it."),
    ask, code, steps, err);
}

async function trustedScreen(screen) {
  const body = el("tbody");
  const which = el("select", { id: "tc-list", "aria-label": "Show list" },
    el("option", { value: "" }, "Both lists"), el("option", { value: "trust" }, "Trust list"), el("option", { value: "issuer" }, "Issuer list"));
  // The panel: what the certificate says, the devices it registered, and its actions.
  const show = (t) => panel.show(t.id, t.name, async () => {
    const [full, devs] = await Promise.all([api("GET", "trusted-certificates/" + t.id),
      api("GET", "devices?limit=50&trusted_id=" + encodeURIComponent(t.id))]);
    const names = devs.items.map((x) => x.device_id).join(", ");
    // (the Cumulocity seed: the name and the auto registration are changed in its details)
    const edit = canChange() ? el("button", { class: "secondary", "aria-label": `Edit ${full.name}`, onclick: () => editTrustedDialog(full, changed) }, "Edit") : null;
    return { title: full.name, body: [el("p", {}, badge(full.status)), el("div", { class: "row-actions" }, edit, trustedActions(full, ctx)),
      trustedDetails(full),
      el("h3", {}, "Proof of possession"), possessionPart(full, changed),
      el("h3", {}, "Devices"),
      el("p", {}, !devs.items.length ? "No device registered through it yet."
        : devs.next_cursor ? `Devices registered through it (the first ${devs.items.length}; all of them under Devices): ${names}`
          : `Devices registered through it (${devs.items.length}): ${names}`)] };
  });
  async function load() {
    const list = await apiAll("trusted-certificates" + (which.value ? "?list=" + which.value : ""));
    body.replaceChildren();
    if (!list.items.length)
      body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, which.value ? `Nothing in the ${listName(which.value).toLowerCase()}.` : "No trusted certificate yet.")));
    for (const t of list.items) {
      const { button, row } = panel.item(t.id, `Details of ${t.name}`, () => show(t));
      body.append(row(el("tr", {}, el("td", {}, t.name), el("td", {}, listName(t.list)), el("td", {}, badge(t.status)),
        el("td", {}, t.list === "issuer" ? "—" : t.auto_registration ? "on" : "off"), el("td", { class: "day" }, day(t.not_after)),
        el("td", {}, el("div", { class: "row-actions" }, button, trustedActions(t, ctx))))));
    }
  }
  which.addEventListener("change", load);
  const add = canChange() ? el("button", { id: "add-trusted", onclick: () => addTrustedDialog(load) }, "Add trusted certificate") : null;
  const panel = sidePanel(el("div", { class: "toolbar" }, el("span", {}, "CAs whose devices may connect over MQTT"), which, add),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "List"), el("th", {}, "Status"), el("th", {}, "Auto registration"),
      el("th", {}, "Valid until"), el("th", {}, ""))), body));
  const changed = async () => { await load(); await panel.refresh(); };
  const ctx = { load: () => load(), changed, panel };
  screen.replaceChildren(el("h1", {}, "Trusted certificates"), panel.element);
  await load();
}

function addTrustedDialog(reload) {
  const file = el("input", { type: "file", id: "tc-file", name: "file", accept: ".pem,.crt,.cer,.der", "aria-describedby": "tc-file-error" });
  const drop = dropArea(file, "Drop a PEM or DER file here, or browse: ");
  const errors = { name: el("p", { class: "error", id: "tc-name-error" }), certificate: el("p", { class: "error", id: "tc-file-error", role: "alert" }) };
  // The certificate's details once it is chosen, read and checked by the server without
  // storing it: what is about to be trusted is seen before it is added (Azure's "view the
  // certificate details ... before adding").
  const preview = el("div", { class: "details", id: "tc-preview" });
  // A file of several certificates (a chain, as certhub's own PEM export gives it; a CA
  // bundle) is added as the bulk upload adds it: each CA certificate on its own, named after
  // its subject, each reported on (the server's refusal pointed to a bulk upload the console
  // did not have).
  const several = (e) => e.reason === "several_certificates";
  const severalNote = (e) => {
    form.name.value = "";
    form.name.disabled = true;
    preview.replaceChildren(el("p", { class: "hint", id: "tc-several", role: "status" },
      `${e.message.replace(/^the/, "The").replace(/: add them.*$/, "")}: each CA certificate in it is added on its own, named after its subject, and reported on here (one that is not a CA is refused).`));
  };
  file.addEventListener("change", async () => {
    preview.replaceChildren();
    errors.certificate.textContent = "";
    form.name.disabled = false;
    if (!file.files[0]) return;
    const f = new FormData();
    f.append("file", file.files[0]);
    f.append("preview", "true");
    try {
      const t = await api("POST", "trusted-certificates", f);
      preview.replaceChildren(el("p", {}, "To be trusted:"), trustedDetails(t));
    } catch (e) {
      if (several(e)) severalNote(e);
      else errors.certificate.textContent = e.message;
    }
  });
  // Each certificate's outcome, in the dialog (a refusal of one is not the others').
  const bulk = async (f) => {
    f.delete("name");
    const r = await api("POST", "trusted-certificates/bulk", f);
    reload();
    form.replaceChildren(el("h2", {}, `Added ${r.added} of ${r.items.length} certificates`),
      el("ul", { id: "tc-bulk-result" }, r.items.map((i) => el("li", {}, `${i.subject}: `,
        i.result === "added" ? el("strong", {}, "added") : [el("strong", {}, "refused"), `: ${i.error.message}`]))),
      el("div", { class: "row-actions" }, el("button", { type: "button", onclick: () => d.close() }, "Close")));
    form.querySelector("button").focus();
  };
  const form = el("form", { method: "dialog", novalidate: true },
    el("h2", {}, "Add trusted certificate"),
    el("label", { for: "tc-name" }, "Certificate name"), el("input", { id: "tc-name", name: "name", "aria-describedby": "tc-name-error" }), errors.name,
    el("label", { for: "tc-file" }, "Certificate (PEM or DER)"), drop, errors.certificate, preview,
    el("label", { for: "tc-kind" }, "List"),
    el("select", { id: "tc-kind", name: "list" },
      el("option", { value: "trust" }, "Trust list: devices it signed may connect"),
      el("option", { value: "issuer" }, "Issuer list: only completes chains up to the trust list")),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "auto_registration", id: "tc-auto" }), "Auto registration"),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "enabled", id: "tc-enabled", checked: true }), "Enabled"),
    el("div", { class: "row-actions" }, el("button", { type: "submit", id: "tc-submit" }, "Add certificate"),
      el("button", { type: "button", class: "secondary", onclick: () => d.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.name.textContent = errors.certificate.textContent = "";
    const f = new FormData();
    if (form.name.value) f.append("name", form.name.value);
    if (!file.files[0]) { errors.certificate.textContent = "Choose a certificate file (PEM)."; return; }
    f.append("file", file.files[0]);
    f.append("auto_registration", form.auto_registration.checked ? "true" : "false");
    f.append("status", form.enabled.checked ? "enabled" : "disabled");
    f.append("list", form.list.value);
    try {
      if (form.name.disabled) return await bulk(f);
      await api("POST", "trusted-certificates", f);
      d.close();
      reload();
    } catch (e) {
      if (several(e)) {
        severalNote(e);
        try { return await bulk(f); } catch (e2) { e = e2; }
      }
      (errors[e.field] || errors.certificate).textContent = e.message;
    }
  });
  // The issuer list registers no device: its auto registration is off and cannot be chosen.
  form.list.addEventListener("change", () => {
    form.auto_registration.disabled = form.list.value === "issuer";
    if (form.list.value === "issuer") form.auto_registration.checked = false;
  });
  const d = openDialog(form);
  form.name.focus();
}

async function devicesScreen(screen) {
  const body = el("tbody");
  const status = el("select", { id: "dev-status", "aria-label": "Show devices" },
    el("option", { value: "" }, "All devices"), el("option", { value: "active" }, "Active"), el("option", { value: "blocked" }, "Blocked"));
  const list = pagedList(body, "dev-more", 100, () => "devices" + (status.value ? "?status=" + status.value : ""), (d) => {
    const actions = el("div", { class: "row-actions" });
    if (canChange())
      actions.append(
        el("button", { class: "secondary", "aria-label": `${d.status === "blocked" ? "Unblock" : "Block"} ${d.device_id}`, onclick: async () => {
          await api("PATCH", "devices/" + d.id, { status: d.status === "blocked" ? "active" : "blocked" });
          load();
        } }, d.status === "blocked" ? "Unblock" : "Block"),
        el("button", { class: "danger", "aria-label": `Forget ${d.device_id}`, onclick: () => confirmDialog(`Forget the device "${d.device_id}"? It registers again on its next connection if its trusted certificate allows.`,
          async () => { await api("DELETE", "devices/" + d.id); load(); }, "Forget") }, "Forget"));
    return el("tr", {}, el("td", {}, d.device_id), el("td", {}, badge(d.status)), el("td", {}, day(d.registered_at)), el("td", {}, d.last_seen),
      el("td", {}, actions));
  });
  const load = async () => {
    if ((await list.load()) && !body.children.length)
      body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, status.value === "blocked" ? "No device is blocked."
        : status.value ? "No active device." : "No device registered yet: a device registers on its first connection, through a trusted certificate with auto registration on.")));
  };
  status.addEventListener("change", load);
  // The latest decisions about the tenant's devices (those certhubd made for brokers asking
  // over HTTP), newest first: where to look first when a device cannot connect.
  const decBody = el("tbody");
  const result = el("select", { id: "dec-result", "aria-label": "Show decisions" },
    el("option", { value: "" }, "All decisions"), el("option", { value: "allow" }, "Let in"), el("option", { value: "deny" }, "Refused"));
  // The installation's admins also read those that named no tenant (a CA no tenant trusts, a
  // user name naming a tenant not there), kept apart by the server: where "my device cannot
  // connect" is answered when no tenant's list has it.  Others are refused them (403), so
  // the switch is not shown to them.
  const unattributed = me.installation_admin ? el("input", { type: "checkbox", id: "dec-unattributed", "aria-describedby": "dec-about" }) : null;
  const about = el("span", { id: "dec-about" });
  const aboutText = () => {
    about.textContent = unattributed?.checked
      ? "Decisions that named no tenant: a certificate no tenant trusts, or a user name naming a tenant that is not there (the last 1024, kept in memory)"
      : "Why devices were let in or refused (the last 1024, kept in memory)";
  };
  const decisions = pagedList(decBody, "dec-more", 50, () => {
    const q = new URLSearchParams();
    if (result.value) q.set("result", result.value);
    if (unattributed?.checked) q.set("unattributed", "true");
    return "device-decisions" + (q.toString() ? "?" + q : "");
  }, (d) => el("tr", {}, el("td", {}, d.at), el("td", {}, d.device_id), el("td", {}, badge(d.result)), el("td", {}, d.reason), el("td", {}, d.message)));
  const reloadDecisions = async () => {
    aboutText();
    if (!(await decisions.load())) return;
    if (!decBody.children.length) decBody.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No decision to show.")));
  };
  result.addEventListener("change", reloadDecisions);
  unattributed?.addEventListener("change", reloadDecisions);
  screen.replaceChildren(el("h1", {}, "Devices"), el("div", { class: "toolbar" }, el("span", {}, "Devices registered through trusted certificates"), status),
    el("table", { id: "dev-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Device"), el("th", {}, "Status"), el("th", {}, "Registered"), el("th", {}, "Last seen"), el("th", {}, ""))),
      body), list.more,
    el("h2", {}, "Recent decisions"), el("div", { class: "toolbar" }, about, result,
      unattributed ? el("label", { class: "check" }, unattributed, "Those that named no tenant (the installation's)") : null),
    el("table", { id: "dec-table" }, el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Device"), el("th", {}, "Result"), el("th", {}, "Reason"), el("th", {}, "Message"))),
      decBody), decisions.more);
  await Promise.all([load(), reloadDecisions()]);
}

// The audit log, newest first, narrowed as the API narrows it: by kind of action, by who, by
// object, by day.
async function auditScreen(screen) {
  const body = el("tbody");
  const kinds = [["", "every action"], ["certificate.*", "certificates"], ["key.export,keystore.export_keys", "key exports"], ["ca.*", "CAs"],
    ["csr.*", "CSRs"], ["keystore.*", "keystores"], ["trusted.*", "trusted certificates"], ["device.*", "devices"],
    ["profile.*", "profiles"], ["token.*", "tokens"], ["user.*", "users"], ["tenant.*", "tenants"], ["settings.*", "settings"]];
  const action = el("select", { id: "au-action", "aria-label": "Action" }, kinds.map(([v, t]) => el("option", { value: v }, t)));
  const actor = el("input", { id: "au-actor", placeholder: "who (user:NAME, token:ID)", "aria-label": "Who" });
  const object = el("input", { id: "au-object", placeholder: "object id", "aria-label": "Object" });
  const since = el("input", { id: "au-since", type: "date", "aria-label": "From (day)" });
  const until = el("input", { id: "au-until", type: "date", "aria-label": "Until (day, inclusive)" });
  const err = el("p", { class: "error", role: "alert", id: "au-error" });
  const path = () => {
    const q = new URLSearchParams({ order: "desc" });
    if (action.value) q.set("action", action.value);
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (object.value.trim()) q.set("object_id", object.value.trim());
    if (since.value) q.set("since", since.value + "T00:00:00Z");
    if (until.value) q.set("until", new Date(Date.parse(until.value + "T00:00:00Z") + 86400000).toISOString().slice(0, 19) + "Z");
    return "audit?" + q.toString();
  };
  // What each entry says besides its action (whose key, in which format, what changed): the
  // detail the API keeps with it, as "name: value" (a row of ids alone sent the reader to
  // other screens to learn what happened).
  const detailText = (d) => d === null || d === undefined ? "" : typeof d !== "object" ? String(d)
    : Object.entries(d).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v !== null && typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  const list = pagedList(body, "audit-more", 200, path,
    (a) => el("tr", {}, el("td", { class: "day" }, a.at), el("td", {}, a.actor), el("td", {}, a.action),
      el("td", {}, /^crt_/.test(a.object_id || "") ? certLink(a.object_id) : a.object_id || ""),
      el("td", { class: "detail" }, detailText(a.detail))));
  const load = async () => {
    err.textContent = "";
    let drawn;
    try { drawn = await list.load(); } catch (e) { err.textContent = e.message; return; }
    if (drawn && !body.children.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No entry matches.")));
  };
  let typing = null;
  for (const f of [action, since, until]) f.addEventListener("change", load);
  for (const f of [actor, object]) f.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(load, 300); });
  // (each field named where it stands: two bare date fields read alike)
  screen.replaceChildren(el("h1", {}, "Audit log"), el("div", { class: "toolbar filters" }, action, actor, object,
    el("label", { class: "check", for: "au-since" }, "From", since), el("label", { class: "check", for: "au-until" }, "until", until)), err,
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Who"), el("th", {}, "What"), el("th", {}, "Object"), el("th", {}, "Details"))), body), list.more);
  await load();
}

// The tenant's settings: its trust bundle (downloaded here, public or not), how devices are
// trusted, when certificates renew and where expiry alerts go.  Admins change them; others see
// them.  A refused value is told next to its field.
async function settingsScreen(screen) {
  const [st, cas] = await Promise.all([api("GET", "settings"), apiAll("cas")]);
  const admin = me.role === "admin";
  // The roots' fingerprints, for a machine's first contact (certhub ca bundle --fingerprint).
  const colons = (hex) => (hex || "").toUpperCase().match(/../g)?.join(":") || "";
  const roots = cas.items.filter((c) => !c.parent_id && c.sha256);
  const errors = {};
  const error = (field) => (errors[field] = el("p", { class: "error", id: `st-${field}-error`, role: "alert" }));
  const field = (field, label, input) => [el("label", { for: input.id }, label), input, error(field)];
  const publicBundle = el("input", { type: "checkbox", id: "st-public", checked: st.public_bundle, disabled: !admin, "aria-describedby": "st-public_bundle-error" });
  const unverified = el("input", { type: "checkbox", id: "st-unverified", checked: st.unverified_trusted_certificates_authenticate, disabled: !admin });
  const point = el("input", { id: "st-point", type: "number", min: "0.5", max: "0.9", step: "0.01", value: st.renewal_point.toFixed(2), disabled: !admin, "aria-describedby": "st-renewal_point-error" });
  const days = el("input", { id: "st-days", value: st.alert_thresholds_days.join(", "), disabled: !admin, "aria-describedby": "st-alert_thresholds_days-error" });
  // API tokens' lifetimes: the longest a new one may live, and how long before its end its
  // holder is alerted; each a number of days (1 to 3650), an empty field for none (null).
  const dayCount = (id, field, value) => el("input", { id, type: "number", min: "1", max: "3650", step: "1", value: value ?? "",
    placeholder: "none", disabled: !admin, "aria-describedby": `st-${field}-error` });
  const maxToken = dayCount("st-max-token-days", "max_token_days", st.max_token_days);
  const tokenAlert = dayCount("st-token-alert-days", "token_alert_days", st.token_alert_days);
  // Certificates long ended removed by certhubd each hour (Vault's tidy); empty: kept.
  const tidyDays = dayCount("st-tidy-days", "tidy_expired_days", st.tidy_expired_days);
  const tidyNow = el("button", { type: "button", class: "secondary", id: "st-tidy-now", disabled: !admin }, "Remove them now…");
  tidyNow.addEventListener("click", async () => {
    errors.tidy_expired_days.textContent = "";
    try {
      const days = tidyDays.value === "" ? undefined : Number(tidyDays.value);
      const seen = await api("POST", "tidy", { expired_days: days, dry_run: true });
      if (!seen.count) { errors.tidy_expired_days.textContent = `No certificate ended before ${seen.expired_before}.`; return; }
      confirmDialog(`Remove ${seen.count} certificate${seen.count === 1 ? "" : "s"} that ended before ${seen.expired_before}? ` +
        "CA certificates and those a keystore, a trusted certificate or a device holds stay; each removal is in the audit log.",
        async () => {
          const gone = await api("POST", "tidy", { expired_days: seen.expired_days });
          done(`${gone.count} certificate${gone.count === 1 ? "" : "s"} removed.`);
        }, "Remove");
    } catch (e) { errors.tidy_expired_days.textContent = e.message; }
  });
  // The CA that signs a request naming none (your own issuer beside the quickstart CAs).
  const signer = el("select", { id: "st-default-ca", disabled: !admin, "aria-describedby": "st-default_ca_id-error" },
    el("option", { value: "" }, "None: the one issuing CA, or each request names its CA"),
    cas.items.filter((c) => c.can_sign).map((c) => el("option", { value: c.id, selected: c.id === st.default_ca_id }, c.name)));
  // Up to four webhooks, a row each.  A secret is written, never read back: a row whose
  // secret is left empty is sent by its URL alone, and the server keeps the secret it has.
  const hookList = el("div", { id: "st-webhooks" });
  const hookRows = [];
  const drawHooks = () => {
    hookList.replaceChildren(...hookRows.flatMap((h, i) => {
      h.url.id = `st-url-${i}`; h.secret.id = `st-secret-${i}`;
      const remove = el("button", { type: "button", class: "secondary", disabled: !admin }, `Remove webhook ${i + 1}`);
      remove.addEventListener("click", () => { hookRows.splice(i, 1); drawHooks(); });
      return [el("div", { class: "webhook" },
        el("label", { for: h.url.id }, `Webhook ${i + 1} URL`), h.url,
        el("label", { for: h.secret.id }, `Webhook ${i + 1} secret (signs each alert)`), h.secret, remove)];
    }));
    addHook.disabled = !admin || hookRows.length >= 4;
  };
  const hookRow = (w) => ({ known: w.url, url: el("input", { type: "url", value: w.url, placeholder: "https://hooks.example/certhub", disabled: !admin, "aria-describedby": "st-webhooks-error" }),
    secret: el("input", { type: "password", autocomplete: "new-password", placeholder: w.url ? "(set; type to replace)" : "16 to 128 characters", disabled: !admin }) });
  const addHook = el("button", { type: "button", class: "secondary" }, "Add webhook");
  addHook.addEventListener("click", () => { hookRows.push(hookRow({ url: "" })); drawHooks(); hookRows.at(-1).url.focus(); });
  for (const w of st.webhooks) hookRows.push(hookRow(w));
  drawHooks();
  const saved = el("p", { role: "status" });
  const bundleLink = `${location.origin}/api/v1/bundles/default${me.tenant === "default" ? "" : "?tenant=" + encodeURIComponent(me.tenant)}`;
  const address = el("p", { class: "muted", hidden: !st.public_bundle }, "Public address: ", el("code", {}, bundleLink));
  const form = el("form", { class: "card", novalidate: true },
    el("h2", {}, "Trust bundle"),
    el("p", {}, "The tenant's valid CA certificates, old and new during a rotation. ",
      // Saved under the tenant's name (the server names the bundle, "default", which another
      // tenant's admin read as the default tenant's).
      el("a", { href: "/api/v1/bundles/default", id: "bundle-pem", onclick: async (ev) => {
        ev.preventDefault();
        const res = await fetch("/api/v1/bundles/default", { credentials: "same-origin" });
        if (!res.ok) throw new Error((await res.json().catch(() => null))?.error?.message || res.statusText);
        saveBlob(await res.blob(), `${me.tenant}-bundle.pem`);
      } }, "Download (PEM)"), " ",
      el("button", { type: "button", class: "secondary", id: "bundle-truststore", onclick: bundleTruststoreDialog }, "As a truststore (JKS or PKCS#12)")),
    el("label", { class: "check" }, publicBundle, "Public: anyone may download it without signing in"), error("public_bundle"),
    address,
    roots.length ? el("p", { class: "muted" }, "A machine that does not trust certhub yet checks the bundle against a root's SHA-256 fingerprint (certhub ca bundle --fingerprint):") : null,
    roots.length ? el("dl", { class: "details", id: "root-fingerprints" }, roots.flatMap((r) => [el("dt", {}, r.name), el("dd", {}, el("code", {}, colons(r.sha256)))])) : null,
    el("h2", {}, "Signing"),
    field("default_ca_id", "CA that signs a certificate whose request names none", signer),
    el("h2", {}, "Devices"),
    el("label", { class: "check" }, unverified, "Trusted certificates without a proof of possession let devices in"),
    el("h2", {}, "Renewal and expiry alerts"),
    field("renewal_point", "Renew automatically at this fraction of a certificate's life (0.5 to 0.9)", point),
    field("alert_thresholds_days", "Alert this many days before the end (comma-separated)", days),
    el("p", { class: "muted" }, "Alerts are POSTed to these webhooks, signed with each one's secret (HMAC-SHA256, X-Certhub-Signature)."),
    hookList, error("webhooks"), admin ? el("div", { class: "row-actions" }, addHook) : null,
    // (not "API tokens": the tokens' own card below has that heading)
    el("h2", {}, "Token lifetimes and alerts"),
    field("max_token_days", "Longest lifetime of a new token, in days (1 to 3650; empty: no bound, and tokens that never expire)", maxToken),
    field("token_alert_days", "Alert this many days before a token ends (1 to 3650; empty: no token alerts; to the webhooks above)", tokenAlert),
    el("h2", {}, "Expired certificates"),
    field("tidy_expired_days", "Remove certificates that ended more than this many days ago, each hour (1 to 3650; empty: keep them)", tidyDays),
    admin ? el("div", { class: "row-actions" }, tidyNow) : null,
    error("other"), admin ? el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Save settings")) : null, saved);
  publicBundle.addEventListener("change", () => { address.hidden = !publicBundle.checked; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const e of Object.values(errors)) e.textContent = "";
    saved.textContent = "";
    const change = {
      public_bundle: publicBundle.checked,
      unverified_trusted_certificates_authenticate: unverified.checked,
      renewal_point: Number(point.value),
    };
    if (signer.value !== (st.default_ca_id || "")) change.default_ca_id = signer.value || null;
    const list = days.value.split(/[,\s]+/).filter((d) => d !== "");
    if (list.some((d) => !/^\d+$/.test(d))) {
      errors.alert_thresholds_days.textContent = "whole numbers of days, such as 30, 14, 7, 1";
      return;
    }
    change.alert_thresholds_days = list.map(Number);
    // Sent when changed (tokens made before keep their expiry): a number the server checks,
    // null for an empty field; what a number field cannot read (as "7d") is said here, as it
    // would otherwise read as empty and turn the setting off.
    for (const [key, input] of [["max_token_days", maxToken], ["token_alert_days", tokenAlert], ["tidy_expired_days", tidyDays]]) {
      if (input.validity.badInput) {
        errors[key].textContent = "a whole number of days from 1 to 3650, or empty for none";
        return;
      }
      const value = input.value === "" ? null : Number(input.value);
      if (value !== (st[key] ?? null)) change[key] = value;
    }
    const hooks = hookRows.filter((h) => h.url.value !== "");
    const before = st.webhooks.map((w) => w.url).join(" ");
    if (hooks.map((h) => h.url.value).join(" ") !== before || hooks.some((h) => h.secret.value !== ""))
      change.webhooks = hooks.map((h) => (h.secret.value !== "" ? { url: h.url.value, secret: h.secret.value } : { url: h.url.value }));
    try {
      const now = await api("PATCH", "settings", change);
      saved.textContent = "Saved.";
      st.webhooks = now.webhooks;
      st.default_ca_id = now.default_ca_id;
      st.max_token_days = now.max_token_days;
      st.token_alert_days = now.token_alert_days;
      st.tidy_expired_days = now.tidy_expired_days;
      hookRows.splice(0, hookRows.length, ...now.webhooks.map(hookRow));
      drawHooks();
    } catch (e) {
      (errors[e.field] || errors.other).textContent = e.message;
    }
  });
  screen.replaceChildren(el("h1", {}, "Settings"), form);
  screen.append(await profilesCard());
  if (admin) screen.append(await usersCard(), await tokensCard());
  // The installation's admins manage the tenants (a tenant's own admin has its one tenant in
  // the session's list too, and would be refused each action).
  if (me.installation_admin) screen.append(await tenantsCard());
}

// Tenants (the installation's admins): made, revoked (their tokens and sessions end, their
// data stays) and restored.  The tenant switcher follows.
async function tenantsCard() {
  const card = el("section", { class: "card", "aria-labelledby": "tenants-h" });
  const err = el("p", { class: "error", id: "tenants-error", role: "alert" });
  const change = async (call) => {
    err.textContent = "";
    try { await call(); } catch (e) { err.textContent = e.message; return; }
    await start(); // the switcher and this screen drawn again
  };
  const { items } = await apiAll("tenants");
  const rows = items.map((t) => {
    const revoked = t.status === "revoked";
    const b = el("button", { class: revoked ? "secondary" : "danger", "aria-label": `${revoked ? "Restore" : "Revoke"} ${t.name}`,
      disabled: t.name === me.tenant }, revoked ? "Restore" : "Revoke");
    b.addEventListener("click", () => revoked
      ? change(() => api("PATCH", "tenants/" + encodeURIComponent(t.id), { status: "active" }))
      : confirmDialog(`Revoke the tenant ${t.name}? Its tokens and sessions end and nothing of it is let in; its data stays.`,
        () => change(() => api("DELETE", "tenants/" + encodeURIComponent(t.id))), "Revoke"));
    return el("tr", {}, el("td", {}, t.name), el("td", {}, day(t.created_at)), el("td", {}, badge(revoked ? "revoked" : "active")), el("td", {}, b));
  });
  const name = el("input", { id: "tn-name", autocomplete: "off", "aria-describedby": "tenants-error" });
  const form = el("form", { class: "inline", novalidate: true }, el("label", { for: "tn-name" }, "New tenant"), name, el("button", { type: "submit" }, "Create tenant"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    change(() => api("POST", "tenants", { name: name.value }));
  });
  card.replaceChildren(el("h2", { id: "tenants-h" }, "Tenants"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Created"), el("th", {}, "Status"), el("th", {}, ""))), el("tbody", {}, rows)),
    err, form);
  return card;
}

// Certificate profiles: the built-in ones and the tenant's own, which operators and admins
// make (usages, lifetimes, whether SANs are taken) and delete.

// A field of OIDs as the API takes it: left out when empty.
const oidList = (field, text) => {
  const oids = text.split(/[\s,]+/).filter(Boolean);
  return oids.length ? { [field]: oids } : {};
};

async function profilesCard() {
  const card = el("section", { class: "card", "aria-labelledby": "profiles-h" });
  const err = el("p", { class: "error", id: "profiles-error", role: "alert" });
  const draw = async () => {
    const { items } = await apiAll("profiles");
    const rows = items.map((p) => {
      let del = null;
      if (p.custom && canChange()) {
        del = el("button", { class: "danger", "aria-label": `Delete profile ${p.name}` }, "Delete");
        del.addEventListener("click", () => confirmDialog(`Delete the profile ${p.name}? Certificates issued from it stay.`, async () => {
          err.textContent = "";
          try { await api("DELETE", "profiles/" + encodeURIComponent(p.name)); } catch (e) { err.textContent = e.message; }
          await draw();
        }));
      }
      return el("tr", {}, el("td", {}, p.name, p.custom ? " " : null, p.custom ? badge("custom") : null),
        el("td", {}, [...p.key_usage, ...p.ext_key_usage, ...(p.ext_key_usage_oids || [])].join(", "),
          p.policy_identifiers ? el("div", { class: "muted" }, "Policies: " + p.policy_identifiers.join(", ")) : null),
        el("td", {}, `${lifetimeWords(p.default_days, p.default_ttl)} / ${lifetimeWords(p.max_days, p.max_ttl) || "—"}`), el("td", {}, del));
    });
    const add = canChange() ? el("button", {}, "Create profile") : null;
    add?.addEventListener("click", () => createDialog());
    card.replaceChildren(el("h2", { id: "profiles-h" }, "Certificate profiles"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Usages"), el("th", {}, "Lifetime (default / longest)"), el("th", {}, ""))), el("tbody", {}, rows)),
      err, add ? el("div", { class: "row-actions" }, add) : null);
  };
  const createDialog = () => {
    const errors = {};
    const error = (f) => (errors[f] = el("p", { class: "error", id: `np-${f}-error`, role: "alert" }));
    const boxes = (names, group) => el("fieldset", {}, el("legend", {}, group),
      names.map((n) => el("label", { class: "check" }, el("input", { type: "checkbox", value: n, name: group }), n)));
    formDialog("Create profile", [
      el("label", { for: "np-name" }, "Profile name (lower-case letters, digits, '.', '_', '-')"), el("input", { id: "np-name", autocomplete: "off" }), error("name"),
      el("label", { for: "np-description" }, "What it is for"), el("input", { id: "np-description" }),
      boxes(KEY_USAGES, "Key usage"), error("key_usage"), boxes(EXT_KEY_USAGES, "Extended key usage"), error("ext_key_usage"),
      ...lifetimeInputs("np-default", "Default lifetime", ["365", "d"]), error("default_days"),
      ...lifetimeInputs("np-max", "Longest lifetime", ["397", "d"]), error("max_days"),
      el("label", { class: "check" }, el("input", { type: "checkbox", id: "np-sans", checked: true }), "Certificates take SANs"),
      // (other usages and the policies as OIDs: what the boxes above do not name)
      el("label", { for: "np-eku-oids" }, "Other extended key usages, as OIDs (comma-separated, such as 1.3.6.1.4.1.311.20.2.2)"),
      el("input", { id: "np-eku-oids", autocomplete: "off" }), error("ext_key_usage_oids"),
      el("label", { for: "np-policies" }, "Certificate policies, as OIDs (comma-separated)"),
      el("input", { id: "np-policies", autocomplete: "off" }), error("policy_identifiers")],
    "Create", async (form, d) => {
      for (const e of Object.values(errors)) e.textContent = "";
      const checked = (group) => [...form.querySelectorAll(`input[name="${group}"]:checked`)].map((i) => i.value);
      try {
        await api("POST", "profiles", {
          name: form.querySelector("#np-name").value, description: form.querySelector("#np-description").value,
          key_usage: checked("Key usage"), ext_key_usage: checked("Extended key usage"),
          ...lifetimeBody(form.querySelector("#np-default").value, form.querySelector("#np-default-unit").value, "default_days", "default_ttl"),
          ...lifetimeBody(form.querySelector("#np-max").value, form.querySelector("#np-max-unit").value, "max_days", "max_ttl"),
          allow_sans: form.querySelector("#np-sans").checked,
          ...oidList("ext_key_usage_oids", form.querySelector("#np-eku-oids").value),
          ...oidList("policy_identifiers", form.querySelector("#np-policies").value),
        });
      } catch (x) {
        const at = errors[x.field] || errors[x.field?.replace(/_ttl$/, "_days")]; // (a ttl's under its field)
        if (!at) throw x; // told on the dialog's own line
        at.textContent = x.message;
        return;
      }
      d.close();
      await draw();
    }, "np-error");
  };
  await draw();
  return card;
}

// The tenant's API tokens (admins): made with a role, a name and an expiry, shown once, revoked.
// A token's expiry to the minute, in UTC as the server keeps it (one of 12 hours needs more
// than its day).
const expiry = (t) => t ? t.slice(0, 16).replace("T", " ") + " UTC" : "never";
// The lifetimes a new token is offered: those the server takes.  A tenant's max_token_days
// (GET /session says it) refuses "never" and anything longer, and adds the bound itself when it
// is none of the usual ones; the default is then 30 days, or the bound when that is less.
// Without a bound, "never" stays first, as it was.
function tokenLifetimes(max) {
  const all = [["", "never (until revoked)"], ["1d", "in 1 day"], ["7d", "in 7 days"], ["30d", "in 30 days"],
    ["90d", "in 90 days"], ["365d", "in 1 year"]];
  if (!max) return { options: all, chosen: "" };
  const within = all.filter(([v]) => v && parseInt(v, 10) <= max);
  if (!within.some(([v]) => parseInt(v, 10) === max)) within.push([`${max}d`, `in ${max} days (the longest allowed)`]);
  return { options: within, chosen: max >= 30 ? "30d" : `${max}d` };
}
async function tokensCard() {
  const card = el("section", { class: "card", "aria-labelledby": "tokens-h" });
  const err = el("p", { class: "error", id: "tokens-error", role: "alert" });
  const draw = async () => {
    const { items } = await apiAll("tokens");
    // The active tokens made from a token (by it, or by one made from it, through those ended
    // since), as the server's cascade finds them in the tenant; each token looked at once.
    const madeBy = new Map();
    for (const c of items) {
      if (!c.created_by) continue;
      if (!madeBy.has(c.created_by)) madeBy.set(c.created_by, []);
      madeBy.get(c.created_by).push(c);
    }
    const madeFrom = (id) => {
      const found = [], seen = new Set([id]), makers = [id];
      while (makers.length) {
        for (const c of madeBy.get(makers.shift()) || []) {
          if (seen.has(c.id)) continue;
          seen.add(c.id);
          makers.push(c.id);
          if (c.status === "active") found.push(c);
        }
      }
      return found;
    };
    // Revoked alone by default (a CI token rotated keeps what it made working); after a leak,
    // the tokens made from it with it.  A token revoked before is offered those tokens (a leak
    // found after it was revoked).
    const revokeDialog = (t, made) => {
      const name = t.name || t.id, n = made.length, s = n === 1 ? "" : "s";
      const cascade = el("input", { type: "checkbox", id: "rv-cascade" });
      const list = el("p", { class: "muted", id: "rv-made" }, `Made from it (by it, or by tokens it made): ${made.map((m) => m.name || m.id).join(", ")}.`);
      const extra = !n ? null : t.revoked_at ? list
        : el("div", {}, el("label", { class: "check" }, cascade, `Also revoke the ${n} active token${s} made from it`), list);
      confirmDialog(t.revoked_at ? `Revoke the ${n} active token${s} made from ${name}? ${name} itself is revoked already.`
        : `Revoke the token ${name}? Scripts using it are refused from now on.`, async () => {
        err.textContent = "";
        const all = n > 0 && (!!t.revoked_at || cascade.checked);
        try {
          const answer = await api("DELETE", "tokens/" + encodeURIComponent(t.id) + (all ? "?cascade=true" : ""));
          if (all) done(`${name} revoked, and ${answer.tokens_revoked} token${answer.tokens_revoked === 1 ? "" : "s"} made from it.`);
        } catch (e) { err.textContent = e.message; }
        await draw();
      }, "Revoke", extra);
    };
    const rows = items.map((t) => {
      const made = madeFrom(t.id);
      const revoke = !t.revoked_at ? el("button", { class: "danger", "aria-label": `Revoke ${t.name || t.id}` }, "Revoke")
        : made.length ? el("button", { class: "danger", "aria-label": `Revoke the tokens made from ${t.name || t.id}` }, "Revoke tokens made from it")
        : null;
      revoke?.addEventListener("click", () => revokeDialog(t, made));
      // A sync agent's token reads only what its scope names; a pipeline's issues, under the
      // profiles and CAs named (any when not), and reads what it issued.
      const issues = (i) => "issues" + (i.profiles ? ` under ${i.profiles.join(", ")}` : "") +
        (i.ca_ids ? ` with ${i.ca_ids.join(", ")}` : "") + ", and what it issued";
      const reach = !t.scope ? "the whole tenant"
        : [t.scope.objects?.join(", "), t.scope.issue && issues(t.scope.issue)].filter(Boolean).join("; ") +
          (t.scope.keys_export ? " (with keys)" : "");
      // Who made it: the console user while it exists, else the id kept (a user's, or the token
      // that made it); nobody for the first start's token and those made before makers were kept.
      const maker = t.created_by_name || t.created_by || "—";
      return el("tr", {}, el("td", {}, t.name || "—"), el("td", {}, t.role), el("td", {}, reach), el("td", {}, day(t.created_at)),
        el("td", {}, expiry(t.expires_at)), el("td", {}, badge(t.status)), el("td", {}, maker), el("td", {}, revoke));
    });
    const add = el("button", {}, "Create token");
    // The bound read when the dialog opens: an admin may have changed it since the page loaded.
    add.addEventListener("click", async () => {
      const [session, profiles, cas] = await Promise.all([api("GET", "session"), apiAll("profiles"), apiAll("cas")]);
      createDialog(session.max_token_days, profiles.items.filter((p) => !p.is_ca), cas.items.filter((c) => c.can_sign));
    });
    card.replaceChildren(el("h2", { id: "tokens-h" }, "API tokens"),
      el("p", { class: "muted" }, "For scripts and the certhub CLI: Authorization: Bearer <token>."),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Role"), el("th", {}, "Reads"), el("th", {}, "Created"), el("th", {}, "Expires"), el("th", {}, "Status"), el("th", {}, "Made by"), el("th", {}, ""))), el("tbody", {}, rows)),
      err, el("div", { class: "row-actions" }, add));
  };
  card.redraw = draw; // (for the users card: a user removed or demoted revokes the tokens it made)
  // A pipeline's token is limited to issuing: under the profiles and with the CAs ticked (any
  // when none is), reading what it issued; the keys certhub makes for it only when allowed.
  const createDialog = (max, profiles, cas) => {
    const { options, chosen } = tokenLifetimes(max);
    const issue = el("input", { type: "checkbox", id: "nt-issue" });
    const picks = (legend, group, items) => el("fieldset", {}, el("legend", {}, legend),
      items.map(([value, text]) => el("label", { class: "check" }, el("input", { type: "checkbox", name: group, value }), text)));
    const limits = el("div", { id: "nt-limits", hidden: true },
      picks("Profiles it issues under (none ticked: any)", "nt-profile", profiles.map((p) => [p.name, p.name])),
      picks("CAs it issues with (none ticked: any)", "nt-ca", cas.map((c) => [c.id, c.name])),
      el("label", { class: "check" }, el("input", { type: "checkbox", id: "nt-keys" }), "It may fetch the keys certhub makes for its certificates"));
    const role = roleSelect("nt-role");
    issue.addEventListener("change", () => {
      limits.hidden = !issue.checked;
      if (issue.checked && role.value === "viewer") role.value = "operator"; /* (a viewer issues nothing) */
    });
    return formDialog("Create API token", [
      el("label", { for: "nt-name" }, "Token name (what uses it)"), el("input", { id: "nt-name", autocomplete: "off" }),
      el("label", { for: "nt-role" }, "Role"), role,
      el("label", { for: "nt-expires" }, "Expires"), el("select", { id: "nt-expires", "aria-describedby": max ? "nt-bound" : null },
        options.map(([v, text]) => el("option", { value: v, selected: v === chosen }, text))),
      max ? el("p", { class: "muted", id: "nt-bound" }, `This tenant's tokens live at most ${max} days (its max_token_days setting).`) : null,
      el("label", { class: "check" }, issue, "Limited to issuing certificates (a pipeline's): it issues, and reads only what it issued"),
      limits],
    "Create", async (form, d) => {
      const lifetime = form.querySelector("#nt-expires").value;
      const ticked = (group) => [...form.querySelectorAll(`input[name="${group}"]:checked`)].map((i) => i.value);
      const scope = !issue.checked ? undefined : {
        issue: { ...(ticked("nt-profile").length ? { profiles: ticked("nt-profile") } : {}),
          ...(ticked("nt-ca").length ? { ca_ids: ticked("nt-ca") } : {}) },
        keys_export: form.querySelector("#nt-keys").checked };
      const t = await api("POST", "tokens", { name: form.querySelector("#nt-name").value || undefined, role: role.value,
        ...(lifetime ? { expires_in: lifetime } : {}), ...(scope ? { scope } : {}) });
      // Shown this once: only its hash is kept.
      const shown = el("input", { id: "nt-token", readonly: true, value: t.token, "aria-label": "The new token" });
      if (!d.open) return; /* (cancelled meanwhile: the token is listed, and can be revoked) */
      openDialog(el("form", { method: "dialog" }, el("h2", {}, "Token created"),
        el("p", {}, "Copy it now: it is not shown again." + (t.expires_at ? ` It is refused from ${expiry(t.expires_at)} on.` : "")), shown,
        el("div", { class: "row-actions" }, el("button", { type: "submit" }, "Done"))));
      shown.select();
      await draw();
    }, "nt-error");
  };
  await draw();
  return card;
}

// The tenant's console users (admins): added with a role and a password, their role changed
// or password reset (they are signed out), removed.
async function usersCard() {
  const card = el("section", { class: "card", "aria-labelledby": "users-h" });
  const err = el("p", { class: "error", id: "users-error", role: "alert" });
  const draw = async () => {
    const { items } = await apiAll("users");
    const rows = items.map((u) => {
      const role = el("select", { "aria-label": `Role of ${u.name}`, disabled: u.name === me.user },
        ["admin", "operator", "viewer"].map((r) => el("option", { value: r, selected: r === u.role }, r)));
      role.addEventListener("change", () => act(u.name, () => api("PATCH", "users/" + encodeURIComponent(u.name), { role: role.value })));
      const reset = el("button", { class: "secondary", "aria-label": `Reset the password of ${u.name}` }, "Reset password");
      reset.addEventListener("click", () => passwordDialog(u.name));
      const remove = el("button", { class: "danger", "aria-label": `Remove ${u.name}`, disabled: u.name === me.user }, "Remove");
      remove.addEventListener("click", () => confirmDialog(`Remove the user ${u.name}? Its sessions end, and the API tokens it made are revoked.`,
        () => act(u.name, () => api("DELETE", "users/" + encodeURIComponent(u.name)))));
      return el("tr", {}, el("td", {}, u.name), el("td", {}, role), el("td", {}, day(u.created_at)), el("td", {}, reset, " ", remove));
    });
    const add = el("button", {}, "Add user");
    add.addEventListener("click", () => addDialog());
    card.replaceChildren(el("h2", { id: "users-h" }, "Console users"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Role"), el("th", {}, "Created"), el("th", {}, ""))), el("tbody", {}, rows)),
      err, el("div", { class: "row-actions" }, add));
  };
  // A user removed, or given a lower role, takes with it the API tokens it made (those above its
  // new role): said, and the token list beside this card drawn again to show them revoked.
  const act = async (name, call) => {
    err.textContent = "";
    let answer;
    try { answer = await call(); } catch (e) { err.textContent = e.message; }
    if (answer?.tokens_revoked > 0) {
      done(`${name}: ${answer.tokens_revoked} API token${answer.tokens_revoked === 1 ? "" : "s"} it made revoked.`);
      await document.querySelector("section[aria-labelledby=tokens-h]")?.redraw?.();
    }
    await draw();
  };
  const addDialog = () => {
    const pw = passwordTwice("nu-password", "Password (8 characters or more)");
    formDialog("Add user", [
      el("label", { for: "nu-name" }, "User name"), el("input", { id: "nu-name", autocomplete: "off" }),
      el("label", { for: "nu-role" }, "Role"), roleSelect("nu-role"), pw.rows],
    "Add", async (form, d) => {
      await api("POST", "users", { name: form.querySelector("#nu-name").value, role: form.querySelector("#nu-role").value, password: pw.check() });
      d.close();
      await draw();
    }, "nu-error");
  };
  const passwordDialog = (name) => {
    const pw = passwordTwice("rp-password", "New password (8 characters or more)", "Repeat the new password");
    formDialog(`New password for ${name}`, pw.rows, "Set password", async (form, d) => {
      await api("PATCH", "users/" + encodeURIComponent(name), { password: pw.check() });
      d.close();
    }, "rp-error");
  };
  await draw();
  return card;
}

start();
