// The web console in a real browser: Debian's Chromium (headless) driven by playwright-core,
// against a certhubd started by tests/integration/test_console_e2e.sh.
//   node console.mjs URL DATA_DIR WORK_DIR SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";

const [url, data, work, shots] = process.argv.slice(2);
const password = readFileSync(`${data}/admin-password`, "utf8").trim();
let checks = 0;
const ok = (what) => console.log(`ok ${++checks} - ${what}`);
// The details panel beside a list: its title, and each of its labels with its value.
const panelOf = (p) => p.locator("#panel");
// The sign-in form's fields: a label of the same words in a dialog left in the page (its content
// stays once it is closed) is no match.
const signinOf = (p) => p.locator("#signin");
const panelFields = (p) => p.evaluate(() => Object.fromEntries([...document.querySelectorAll("#panel dt")]
  .map((dt) => [dt.textContent, dt.nextElementSibling?.textContent])));
const focusIn = (p, sel) => p.evaluate((s) => !!document.activeElement?.closest(s), sel);
// The words of an element's text that a line break cuts in two (a column squeezed narrower
// than its words: "Nam e").
const brokenWords = (loc) => loc.evaluate((root) => {
  const out = [];
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n; (n = walk.nextNode());)
    for (const m of n.data.matchAll(/\S+/g)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) out.push(m[0]);
    }
  return out;
});

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(e.message));
page.on("dialog", (d) => { problems.push("a browser dialog opened: " + d.message()); d.dismiss(); });

await page.goto(url);
// Empty fields are said as such, before anything is sent.
const signinSent = [];
const onSignin = (r) => { if (new URL(r.url()).pathname === "/api/v1/session" && r.method() === "POST") signinSent.push(r.url()); };
page.on("request", onSignin);
await page.getByRole("button", { name: "Sign in" }).click();
await page.locator("#si-error").getByText("The user name and the password are empty.", { exact: true }).waitFor();
await signinOf(page).getByLabel("User name").fill("admin");
await page.getByRole("button", { name: "Sign in" }).click();
await page.locator("#si-error").getByText("The password is empty.", { exact: true }).waitFor();
assert.ok(await focusIn(page, "#si-password"));
page.off("request", onSignin);
assert.deepEqual(signinSent, []);
ok("a sign-in with an empty field says which is empty, nothing sent");
await signinOf(page).getByLabel("Password", { exact: true }).fill("not the password");
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("wrong user name or password").waitFor();
ok("a wrong password is refused with a message");
await signinOf(page).getByLabel("Password", { exact: true }).fill(password);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("admin · default · admin").waitFor();
ok("signed in");
// Signed in with the first start's password: asked to change it, from a banner.
await page.locator("#first-password").getByText("password made at the first start").waitFor();
ok("signed in with the first start's password: a banner invites its change");
const cookies = await context.cookies();
const session = cookies.find((c) => c.name === "certhub_session");
assert.ok(session && session.httpOnly && session.secure && session.sameSite === "Strict");
ok("the session cookie is HttpOnly, Secure, SameSite=Strict");
await page.getByText(/^\d+ active, \d+ expired certificates$/).waitFor();
// (its badges say the same words as its text, and as the certificates' badges)
assert.deepEqual(await page.getByRole("list", { name: "Certificates per status" }).locator(".badge").allTextContents(), ["active", "expired"]);
ok("the overview counts the certificates");
// Its chart has axes: the tallest bar's count and 0, the day every fourth week begins, and
// over each bar its count, the server's.
{
  const labels = await page.locator("svg.chart text.label").allTextContents();
  const weeks = await page.evaluate(async () => (await (await fetch("/api/v1/overview")).json()).certificates.expiring_per_week);
  assert.deepEqual(labels.slice(0, 2), [String(Math.max(1, ...weeks)), "0"]);
  assert.equal(labels.length, 2 + 7);
  assert.deepEqual(await page.locator("svg.chart text.count").allTextContents(), weeks.filter((n) => n > 0).map(String));
}
ok("the overview's chart has its axes and counts");
await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

await page.getByRole("link", { name: "Trusted certificates" }).click();
await page.getByRole("heading", { name: "Trusted certificates", exact: true }).waitFor();
await page.getByRole("button", { name: "Add trusted certificate" }).click();
await page.getByLabel("Certificate name").fill("Broken");
await page.locator("#tc-file").setInputFiles(`${work}/garbage.pem`);
await page.getByRole("button", { name: "Add certificate" }).click();
await page.locator("#tc-file-error").getByText("not an X.509 certificate in PEM format").waitFor();
ok("a bad upload shows its error next to the certificate field");
await page.locator("#tc-file").setInputFiles(`${work}/v1.pem`);
await page.getByRole("button", { name: "Add certificate" }).click();
await page.locator("#tc-file-error").getByText("not in version 3").waitFor();
ok("a version 1 certificate: its own error");
await page.screenshot({ path: `${shots}/trusted-add-error.png` });
await page.getByLabel("Certificate name").fill("Fleet root");
const trustedCount = () => page.evaluate(async () => (await (await fetch("/api/v1/trusted-certificates")).json()).items.length);
const trustedBefore = await trustedCount();
await page.locator("#tc-file").setInputFiles(`${work}/fleet.pem`);
// Seen before it is added: its details, read by the server, nothing stored yet.
await page.locator("#tc-preview").getByText("To be trusted:").waitFor();
await page.locator("#tc-preview").getByText(/CN=Fleet Root CA/).first().waitFor();
assert.equal(await trustedCount(), trustedBefore);
ok("a chosen certificate's details are shown before it is added, nothing stored yet");
await page.getByLabel("Auto registration").check();
await page.getByRole("button", { name: "Add certificate" }).click();
const row = page.locator("tr", { hasText: "Fleet root" });
await row.waitFor();
assert.match(await row.innerText(), /enabled/);
assert.match(await row.innerText(), /on/);
ok("the uploaded certificate is in the list, enabled, auto registration on");
for (const [file, message] of [["leaf.pem", "does not contain BasicConstraints CA:true"], ["fleet.pem", "already been uploaded"],
  ["old.pem", "has expired"], ["future.pem", "not valid yet"]]) {
  await page.getByRole("button", { name: "Add trusted certificate" }).click();
  await page.locator("#tc-file").setInputFiles(`${work}/${file}`);
  await page.getByRole("button", { name: "Add certificate" }).click();
  await page.locator("#tc-file-error").getByText(message).waitFor();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
}
ok("every validation error of an upload is shown (not PEM, v1, not a CA, already there, expired, not yet valid)");
await row.getByRole("button", { name: "Details of Fleet root" }).click();
await panelOf(page).getByRole("heading", { name: "Fleet root" }).waitFor();
await panelOf(page).getByText("CN=Fleet Root CA").first().waitFor();
assert.equal((await panelFields(page))["Proof of possession"], "not verified");
assert.equal(await row.getByRole("button", { name: "Details of Fleet root" }).getAttribute("aria-expanded"), "true");
ok("the row's Details opens the panel with the details read from the certificate");
// 1280 px wide, the panel beside the list: the column headings keep their words whole.
await page.setViewportSize({ width: 1280, height: 800 });
assert.deepEqual(await brokenWords(page.locator("#screen thead")), []);
await page.setViewportSize({ width: 1200, height: 800 });
ok("the trusted certificates' column headings break no word beside the panel");
await page.screenshot({ path: `${shots}/trusted.png`, fullPage: true });
await row.getByRole("button", { name: "Disable" }).click();
await page.locator("tr", { hasText: "Fleet root" }).getByText("disabled").waitFor();
await panelOf(page).getByRole("button", { name: "Enable Fleet root" }).waitFor();
ok("disabled from the row, and the panel says so (it offers Enable)");
await panelOf(page).getByRole("button", { name: "Enable Fleet root" }).click();
await page.locator("tr", { hasText: "Fleet root" }).getByText("enabled").waitFor();
await panelOf(page).getByRole("button", { name: "Disable Fleet root" }).waitFor();
assert.ok(await focusIn(page, "#panel"));
ok("enabled again from the panel, the focus kept in it");
await panelOf(page).getByRole("button", { name: "Disable Fleet root" }).click();
await page.locator("tr", { hasText: "Fleet root" }).getByText("disabled").waitFor();

// The issuer list: chosen when adding (auto registration cannot be), shown, and narrowed to.
await page.getByRole("button", { name: "Add trusted certificate" }).click();
await page.getByLabel("Certificate name").fill("Plant issuing");
await page.locator("#tc-file").setInputFiles(`${work}/imp.pem`);
await page.getByLabel("List", { exact: true }).selectOption("issuer");
assert.equal(await page.getByLabel("Auto registration").isDisabled(), true);
await page.getByRole("button", { name: "Add certificate" }).click();
const issuerRow = page.locator("tr", { hasText: "Plant issuing" });
await issuerRow.getByText("Issuer list").waitFor();
ok("a certificate added to the issuer list, shown as such, its auto registration not offered");
await page.locator("#tc-list").selectOption("issuer");
await page.locator("tr", { hasText: "Fleet root" }).waitFor({ state: "detached" });
assert.equal(await issuerRow.count(), 1);
await page.locator("#tc-list").selectOption("trust");
await issuerRow.waitFor({ state: "detached" });
await page.locator("tr", { hasText: "Fleet root" }).waitFor();
ok("the list narrowed to the issuer list, then the trust list");
await page.locator("#tc-list").selectOption("");
// (the move reads the list, then the panel open on Fleet root, again: waited for, as the panel
// drawn anew after the code below was asked would take the code away)
const panelRead = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/devices" && r.url().includes("trusted_id="));
await page.locator("tr", { hasText: "Plant issuing" }).getByRole("button", { name: "Move Plant issuing to the trust list" }).click();
await page.locator("tr", { hasText: "Plant issuing" }).getByText("Trust list").waitFor();
await (await panelRead).finished();
ok("moved to the trust list from its row");

// The proof of possession (the Cumulocity seed's trusted certificates), from the panel: a code
// asked, a certificate naming it that another key signed refused, one the CA's key signed taken.
const fleetDetails = page.locator("tr", { hasText: "Fleet root" }).getByRole("button", { name: "Details of Fleet root" });
if ((await fleetDetails.getAttribute("aria-expanded")) !== "true") await fleetDetails.click();
await panelOf(page).getByRole("button", { name: "Get a verification code" }).click();
const popCode = await panelOf(page).locator("#pop-code").innerText();
assert.match(await panelOf(page).locator("pre").innerText(), new RegExp(`/CN=${popCode}`));
const popCert = (out, ca) => {
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/pop.key`,
    "-subj", `/CN=${popCode}`, "-out", `${work}/pop.csr`], { stdio: "ignore" });
  execFileSync("openssl", ["x509", "-req", "-in", `${work}/pop.csr`, "-days", "1", "-out", `${work}/${out}`,
    ...(ca ? ["-CA", `${work}/${ca}.pem`, "-CAkey", `${work}/${ca}.key`] : ["-signkey", `${work}/pop.key`])], { stdio: "ignore" });
};
popCert("pop-wrong.pem", null);
popCert("pop.pem", "fleet");
await page.locator("#pop-file").setInputFiles(`${work}/pop-wrong.pem`);
await page.locator("#pop-error").getByText("not signed by this trusted certificate's key").waitFor();
assert.equal((await panelFields(page))["Proof of possession"], "not verified");
await page.locator("#pop-file").setInputFiles(`${work}/pop.pem`);
await panelOf(page).getByText("The holder of this CA's private key proved it: verified.").waitFor();
assert.equal((await panelFields(page))["Proof of possession"], "verified");
ok("a proof of possession given from the panel: a wrong one refused saying why, the right one verifies it");
// Its name and auto registration changed in its details (the seed's "To edit a trusted certificate").
await panelOf(page).getByRole("button", { name: "Edit Fleet root" }).click();
await page.locator("#te-name").fill("Fleet root renamed");
await page.locator("#te-auto").uncheck();
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await panelOf(page).getByRole("heading", { name: "Fleet root renamed" }).waitFor();
assert.match(await page.locator("tr", { hasText: "Fleet root renamed" }).innerText(), /\boff\b/);
await panelOf(page).getByRole("button", { name: "Edit Fleet root renamed" }).click();
await page.locator("#te-name").fill("Fleet root");
await page.locator("#te-auto").check();
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await panelOf(page).getByRole("heading", { name: "Fleet root", exact: true }).waitFor();
assert.match(await page.locator("tr", { hasText: "Fleet root" }).innerText(), /\bon\b/);
ok("a trusted certificate renamed and its auto registration switched from its details");

// A subject holding markup is shown as text.
await page.getByRole("button", { name: "Add trusted certificate" }).click();
await page.locator("#tc-file").setInputFiles(`${work}/xss.pem`);
await page.getByRole("button", { name: "Add certificate" }).click();
await page.getByText("<img src=x onerror=alert(1)>", { exact: true }).first().waitFor();
assert.equal(await page.locator("#screen img").count(), 0);
ok("a subject holding HTML is shown as text");

// A file of several certificates (a leaf and a CA, as a chain export holds them): each added
// on its own, and each reported on in the dialog (the server's refusal pointed to a bulk
// upload the console did not have).
await page.getByRole("button", { name: "Add trusted certificate" }).click();
await page.locator("#tc-file").setInputFiles(`${work}/chain.pem`);
await page.locator("#tc-several").getByText(/^The file holds 2 certificates: each CA certificate in it is added on its own/).waitFor();
assert.equal(await page.getByLabel("Certificate name").isDisabled(), true);
await page.getByRole("button", { name: "Add certificate" }).click();
await page.getByRole("dialog").getByRole("heading", { name: "Added 1 of 2 certificates" }).waitFor();
assert.match(await page.locator("#tc-bulk-result").innerText(), /orphan\.example: refused: /);
assert.match(await page.locator("#tc-bulk-result").innerText(), /Chain Root CA: added/);
await page.getByRole("dialog").getByRole("button", { name: "Close" }).click();
await page.locator("tr", { hasText: "Chain Root CA" }).waitFor();
ok("a file of several certificates: each CA added on its own, each outcome said in the dialog");

// Delete with confirmation.
await page.locator("tr", { hasText: "Fleet root" }).getByRole("button", { name: "Delete" }).click();
await page.getByRole("dialog").getByText("Delete the trusted certificate").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
assert.equal(await page.locator("tr", { hasText: "Fleet root" }).count(), 1);
assert.equal(await panelOf(page).getByRole("heading", { name: "Fleet root" }).count(), 1);
await page.locator("tr", { hasText: "Fleet root" }).getByRole("button", { name: "Delete" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await page.locator("tr", { hasText: "Fleet root" }).waitFor({ state: "detached" });
await panelOf(page).waitFor({ state: "hidden" });
ok("deleted after confirming (and kept when cancelled); its panel closed with it");

// A server certificate through the wizard, exported as PKCS#12 and read back by openssl.
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("web.example");
await page.getByLabel("Profile", { exact: true }).selectOption("tls-server");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.equal(await page.getByLabel("Lifetime: unit").inputValue(), "d");
await page.getByLabel("Lifetime", { exact: true }).fill("90");
await page.getByLabel("Renew automatically before it expires").check();
await page.getByLabel(/^Renew this long before it ends/).fill("20d");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Common name").fill("web.example");
await page.getByLabel("Organization", { exact: true }).fill("Example");
await page.getByLabel(/Subject alternative names/).fill("dns:web.example, ip:10.0.0.5");
await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
assert.equal(await page.getByLabel("Lifetime", { exact: true }).inputValue(), "90");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.equal(await page.getByLabel("Common name").inputValue(), "web.example");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText("Extensions").waitFor();
await page.getByLabel("server_auth").check();
await page.getByLabel("client_auth").check();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText("Review").waitFor();
await page.getByRole("dialog").getByText("server_auth, client_auth").waitFor();
await page.getByRole("dialog").getByText("on, 20d before its end").waitFor();
await page.screenshot({ path: `${shots}/certificate-wizard.png` });
await page.getByRole("dialog").getByRole("button", { name: "Create", exact: true }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" }).catch(async () => {
  throw new Error("the wizard did not create the certificate: " + (await page.locator("#wz-error").innerText()));
});
// (one row: a second would be a certificate made twice)
const web = page.locator("tr", { hasText: "web.example" }).filter({ hasText: "Example" });
await web.waitFor();
ok("a server certificate created through the wizard (with Back keeping what was typed)");
await web.getByText("dns:web.example, ip:10.0.0.5").waitFor();
ok("its row shows the names it holds under its subject");
assert.equal(await page.evaluate(async () => (await (await fetch("/api/v1/certificates?search=web.example")).json()).items[0].renew_before), "20d");
ok("its own lead time given in the wizard (20 days before its end) is the certificate's");
// Made, its details are shown at once (SAP BTP: "its detail view is shown").
await panelOf(page).getByRole("heading", { name: "web.example" }).waitFor();
await page.waitForFunction(() => document.querySelector('button[aria-label="Details of web.example"]')?.getAttribute("aria-expanded") === "true");
await panelOf(page).getByText("generated with profile tls-server").waitFor();
await panelOf(page).getByText("held here, sealed").waitFor();
await panelOf(page).getByText(/^on, due /).waitFor();
assert.equal(await page.getByText("BEGIN PRIVATE KEY").count(), 0);
ok("a certificate's details: validity, names, fingerprints, extensions, how it was created; never its key");
// A renewal that failed says why in the details (the shell test wrote one into the store).
await page.getByRole("button", { name: "Details of certhubd server" }).click();
await panelOf(page).getByText("Last renewal failed").waitFor();
await panelOf(page).getByText("the issuing CA is gone (set by the test)").waitFor();
assert.equal(await panelOf(page).getByText("Last renewal failed").count(), 1);
await page.getByRole("button", { name: "Details of web.example" }).click();
await panelOf(page).getByRole("heading", { name: "web.example" }).waitFor();
// (the title is set at the click, the details once read: counted in those, not in "Loading…")
await panelOf(page).getByText("Automatic renewal").waitFor();
assert.equal(await panelOf(page).getByText("Last renewal failed").count(), 0);
ok("a failed automatic renewal's reason is in the certificate's details, and only in its own");
// A lead time of its own (renew_before), from Edit: a bad one refused in the dialog, a good one
// said in the details; emptied, the tenant's renewal point again.
await panelOf(page).getByRole("button", { name: "Edit web.example" }).click();
await page.getByRole("dialog").getByLabel(/^Renew this long before it ends/).fill("3 weeks");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await page.getByRole("dialog").getByText(/renew_before/).waitFor();
await page.getByRole("dialog").getByLabel(/^Renew this long before it ends/).fill("21d");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await panelOf(page).locator("#cert-auto-renew").getByText(/\(21d before its end\)$/).waitFor();
const leadOf = () => page.evaluate(async () => (await (await fetch("/api/v1/certificates?search=web.example")).json()).items
  .filter((c) => !c.renewed_by).map((c) => c.renew_before ?? null)[0]);
assert.equal(await leadOf(), "21d");
await panelOf(page).getByRole("button", { name: "Edit web.example" }).click();
assert.equal(await page.getByRole("dialog").getByLabel(/^Renew this long before it ends/).inputValue(), "21d");
await page.getByRole("dialog").getByLabel(/^Renew this long before it ends/).fill("");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await panelOf(page).locator("#cert-auto-renew").getByText(/^on, due [^(]*$/).waitFor();
assert.equal(await leadOf(), null);
ok("a certificate's own lead time set from Edit (a malformed one refused there), said in its details, and emptied");
// A password set for an export is typed twice, and two that differ are said so before anything
// is sent (the server logs each key export: none is logged).
const keyExports = () => page.evaluate(async () => (await (await fetch("/api/v1/audit?action=key.export&limit=1000")).json()).items.length);
const exportsBefore = await keyExports();
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("p12");
await page.getByLabel(/^Password of the (P12|JKS)$/).fill("s3cret-p12");
await page.getByLabel("Repeat the password").fill("s3cret-p21");
await page.getByRole("dialog").getByRole("button", { name: "Download" }).click();
await page.locator("#ex-error").getByText("The two passwords typed differ: type the same in both fields.").waitFor();
assert.ok(await focusIn(page, "#ex-password-again"));
assert.equal(await keyExports(), exportsBefore);
ok("an export's two passwords that differ: said in the dialog, the focus on the second, nothing exported");
await page.getByLabel("Repeat the password").fill("s3cret-p12");
const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await dl.saveAs(`${work}/web.p12`);
const p12 = execFileSync("openssl", ["pkcs12", "-in", `${work}/web.p12`, "-passin", "pass:s3cret-p12", "-nodes"]).toString();
assert.match(p12, /subject=O = Example, CN = web.example/);
assert.match(p12, /BEGIN PRIVATE KEY/);
const leafPem = p12.slice(p12.indexOf("-----BEGIN CERTIFICATE-----"), p12.indexOf("-----END CERTIFICATE-----") + 25);
const text = execFileSync("openssl", ["x509", "-noout", "-ext", "extendedKeyUsage,subjectAltName"], { input: leafPem }).toString();
assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
assert.match(text, /IP Address:10\.0\.0\.5/);
ok("exported as P12 and read back with openssl pkcs12 (certificate and key)");
// What a keystore's user asks of the export: the entry's alias with P12 and JKS (not PEM), a
// key password of its own with JKS alone, and a P12 without a password only by its box.
const quiet = { stdio: ["ignore", "pipe", "ignore"] }; // (keytool's warnings about JKS on stderr)
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("pem");
assert.ok(await page.locator("#ex-alias").isHidden());
await page.getByLabel("Format", { exact: true }).selectOption("jks");
await page.getByLabel(/^Password of the (P12|JKS)$/).fill("s3cret-jks");
await page.getByLabel("Repeat the password").fill("s3cret-jks");
await page.getByLabel(/^Alias of the entry/).fill("tomcat");
await page.getByLabel(/^Key password \(JKS\)/).fill("key-s3cret");
await page.getByLabel("Repeat the key password").fill("key-s3cert");
assert.ok(await page.locator("#ex-no-password").isHidden());
await page.getByRole("dialog").getByRole("button", { name: "Download" }).click();
await page.locator("#ex-error").getByText("The two key passwords typed differ").waitFor();
assert.equal(await keyExports(), exportsBefore + 1);
await page.getByLabel("Repeat the key password").fill("key-s3cret");
ok("a JKS export's two key passwords that differ: said, nothing exported");
const [jksDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await jksDl.saveAs(`${work}/web.jks`);
assert.match(execFileSync("keytool", ["-list", "-keystore", `${work}/web.jks`, "-storepass", "s3cret-jks"], quiet).toString(),
  /^tomcat, .*PrivateKeyEntry/m);
execFileSync("keytool", ["-importkeystore", "-srckeystore", `${work}/web.jks`, "-srcstorepass", "s3cret-jks", "-srcalias", "tomcat",
  "-srckeypass", "key-s3cret", "-destkeystore", `${work}/web-key.p12`, "-deststoretype", "PKCS12", "-deststorepass", "changeit",
  "-noprompt"], quiet);
assert.match(execFileSync("openssl", ["pkcs12", "-in", `${work}/web-key.p12`, "-passin", "pass:changeit", "-nocerts", "-nodes"]).toString(),
  /BEGIN PRIVATE KEY/);
ok("exported as JKS with an alias and a key password: keytool lists the alias and opens the key with that password");
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("p12");
assert.ok(await page.locator("#ex-key-password").isHidden());
await page.getByLabel(/^Alias of the entry/).fill("Tomcat");
await page.getByRole("dialog").getByRole("button", { name: "Download" }).click();
await page.locator("#ex-error").getByText('tick "No password"').waitFor();
await page.getByLabel(/^No password/).check();
assert.ok(await page.getByLabel(/^Password of the (P12|JKS)$/).isDisabled());
const [bareDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await bareDl.saveAs(`${work}/web-bare.p12`);
const noPass = execFileSync("openssl", ["pkcs12", "-in", `${work}/web-bare.p12`, "-passin", "pass:", "-nodes", "-info"], quiet).toString();
assert.match(noPass, /friendlyName: Tomcat/);
assert.match(noPass, /BEGIN PRIVATE KEY/);
ok("a P12 without a password asked for by its box (an empty field is said to be missing), with its alias: openssl opens it with none");
// The key in PEM, for nginx or HAProxy: with the certificate and its chain in one file, or
// alone and encrypted (its password typed twice); each under a name that says what it holds.
const publicKeyOf = (args, file) => execFileSync("openssl", [...args, "-in", file], quiet).toString();
const webCertKey = () => publicKeyOf(["x509", "-noout", "-pubkey"], `${work}/web-with-key.pem`);
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("pem");
await page.locator("#ex-gives").getByText("no key").waitFor();
await page.getByLabel(/^With the private key/).check();
await page.locator("#ex-gives").getByText("The private key in clear (no password), then the certificate and its chain").waitFor();
assert.ok(await page.locator("#ex-alias").isHidden());
const [pemKeyDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(pemKeyDl.suggestedFilename(), "web.example-with-key.pem");
await pemKeyDl.saveAs(`${work}/web-with-key.pem`);
const withKey = readFileSync(`${work}/web-with-key.pem`, "utf8");
assert.match(withKey, /^-----BEGIN PRIVATE KEY-----/);
assert.ok((withKey.match(/BEGIN CERTIFICATE/g) || []).length >= 2, "the chain is in the file");
assert.equal(publicKeyOf(["pkey", "-pubout"], `${work}/web-with-key.pem`), webCertKey());
ok("exported as PEM with the key (web.example-with-key.pem): the key, then the certificate and chain; the key is the certificate's");
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("key");
await page.getByLabel("Password to encrypt the key").fill("pem-s3cret");
await page.getByLabel("Repeat the password").fill("pem-s3cert");
await page.getByRole("dialog").getByRole("button", { name: "Download" }).click();
await page.locator("#ex-error").getByText("The two passwords typed differ").waitFor();
await page.getByLabel("Repeat the password").fill("pem-s3cret");
await page.locator("#ex-gives").getByText("The private key alone, PEM (PKCS#8, nginx's ssl_certificate_key), encrypted with the password.").waitFor();
const [keyDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(keyDl.suggestedFilename(), "web.example-key.pem");
await keyDl.saveAs(`${work}/web-key.pem`);
assert.match(readFileSync(`${work}/web-key.pem`, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
assert.equal(publicKeyOf(["pkey", "-pubout", "-passin", "pass:pem-s3cret"], `${work}/web-key.pem`), webCertKey());
ok("the private key alone (web.example-key.pem), encrypted with the password typed twice: openssl opens it, the certificate's key");
// The legacy P12 old Java and Windows read: the older ciphers, named apart.
await web.getByRole("button", { name: "Export web.example" }).click();
await page.getByLabel("Format", { exact: true }).selectOption("p12");
await page.getByLabel(/^Legacy/).check();
await page.locator("#ex-gives").getByText("the older ciphers (3DES, RC2)").waitFor();
await page.getByLabel(/^Password of the P12$/).fill("old-s3cret");
await page.getByLabel("Repeat the password").fill("old-s3cret");
const [legacyDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(legacyDl.suggestedFilename(), "web.example-legacy.p12");
await legacyDl.saveAs(`${work}/web-legacy.p12`);
// (-info tells the ciphers on stderr)
const legacyInfo = spawnSync("openssl", ["pkcs12", "-legacy", "-in", `${work}/web-legacy.p12`, "-passin", "pass:old-s3cret", "-nodes", "-info"]);
assert.equal(legacyInfo.status, 0, String(legacyInfo.stderr));
assert.match(String(legacyInfo.stdout), /BEGIN PRIVATE KEY/);
assert.match(String(legacyInfo.stderr), /pbeWithSHA1And3-KeyTripleDES-CBC/);
assert.doesNotMatch(String(legacyInfo.stderr), /PBES2|AES/);
ok("a legacy P12 (web.example-legacy.p12): openssl pkcs12 -legacy opens it, its key in it, no AES");
await web.getByRole("button", { name: "Renew web.example" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Renew" }).click();
await page.locator("#cert-notice").getByText(/^Renewed: web\.example, valid until /).waitFor();
await page.waitForFunction(() => [...document.querySelectorAll("tr")].filter((r) => r.textContent.includes("CN=web.example")).length === 2);
const renewed = await page.evaluate(async () => (await (await fetch("/api/v1/certificates?search=web.example")).json()).items.map((c) => c.method));
assert.equal(renewed.length, 2);
ok("renewed now from its row: a second web.example, the first kept");
// The first one's details link to its successor.
const renewedIds = await page.evaluate(async () => (await (await fetch("/api/v1/certificates?search=web.example")).json()).items.map((c) => [c.id, c.renewed_by || ""]));
const [oldId, newId] = renewedIds.find(([, by]) => by) || [];
assert.ok(newId, "the renewed certificate names its successor");
// (Which row is the old one the list does not say: each is opened in turn.)
let renewedBy = 0;
for (const row of await page.locator("tr", { hasText: "CN=web.example" }).all()) {
  // (the Details of the row the panel shows already would close it)
  const details = row.getByRole("button", { name: "Details of web.example" });
  if (await details.getAttribute("aria-expanded") !== "true") await details.click();
  await panelOf(page).getByText("Automatic renewal").waitFor();
  if (await panelOf(page).getByText("Renewed by").count()) {
    await panelOf(page).getByText(newId).waitFor();
    // (a link to the successor's details; with one renewal it is the newest, not said twice)
    assert.equal(await panelOf(page).getByRole("link", { name: newId }).getAttribute("href"), `#/certificates?show=${encodeURIComponent(newId)}`);
    assert.equal(await panelOf(page).getByText("Newest renewal").count(), 0);
    renewedBy++;
  }
  assert.equal(await panelOf(page).getByText("[object").count(), 0);
}
assert.equal(renewedBy, 1);
ok("the renewed one's details name the certificate that renewed it");
// Renewed again: the first one's details add the newest of its lineage, a link that opens it.
const newestId = await page.evaluate(async (id) => {
  const s = await (await fetch("/api/v1/session")).json();
  const res = await fetch(`/api/v1/certificates/${encodeURIComponent(id)}/renew`, { method: "POST", body: "{}",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token } });
  return (await res.json()).id;
}, newId);
assert.ok(newestId && newestId !== newId, "the renewal was renewed");
await page.evaluate((id) => { location.hash = "#/certificates?show=" + encodeURIComponent(id); }, oldId);
await panelOf(page).getByText("Newest renewal").waitFor();
await panelOf(page).getByRole("link", { name: newestId }).click();
await panelOf(page).getByRole("link", { name: newId }).waitFor(); /* the newest's "Renews" */
assert.equal(await panelOf(page).getByText("Renewed by").count(), 0);
ok("after a second renewal the first one's details link to the newest, which opens its own");
// A step's required fields are checked when it is left (Next), each said beside its field, the
// wizard staying on that step: not on the Review step, two Backs away.
await page.getByRole("button", { name: "Create certificate" }).click();
const wz = page.getByRole("dialog");
await wz.getByRole("button", { name: "Next" }).click();
await wz.getByLabel("Lifetime", { exact: true }).fill("");
await wz.getByRole("button", { name: "Next" }).click();
await wz.locator("#lifetime-error").getByText("Give the lifetime: a whole number, 1 or more.").waitFor();
assert.equal(await wz.getByLabel("Lifetime", { exact: true }).getAttribute("aria-invalid"), "true");
await wz.getByRole("heading", { name: /Certificate options/ }).waitFor();
await wz.getByLabel("Lifetime", { exact: true }).fill("30");
await wz.getByRole("button", { name: "Next" }).click();
await wz.getByRole("heading", { name: /Subject/ }).waitFor();
await wz.getByRole("button", { name: "Next" }).click();
await wz.locator("#common_name-error").getByText(/^Give the common name/).waitFor();
assert.ok(await focusIn(page, "#common_name"));
await wz.getByRole("heading", { name: /Subject/ }).waitFor();
assert.equal(await page.locator("#wz-error").innerText(), "");
await wz.getByLabel("Common name").fill("checked.example");
await wz.getByRole("button", { name: "Next" }).click();
await wz.getByRole("heading", { name: /Extensions/ }).waitFor();
await wz.getByRole("button", { name: "Cancel" }).click();
ok("the wizard says a missing lifetime or subject beside its field when its step is left");
// The wizard's extension switches (the storage seed's Extra Constraints): a certificate without
// the Authority Key Identifier and Basic Constraints, its EKU critical; its details and openssl
// agree.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("bare.example");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Common name").fill("bare.example");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText("Extensions").waitFor();
for (const x of ["Basic Constraints", "Authority Key Identifier", "Key Usage", "Extended Key Usage"])
  assert.equal(await page.getByLabel(x, { exact: true }).isChecked(), true, x);
assert.equal(await page.getByLabel("Basic Constraints: critical", { exact: true }).isChecked(), true);
assert.equal(await page.getByLabel("Key Usage: critical", { exact: true }).isChecked(), true);
assert.equal(await page.getByLabel("Extended Key Usage: critical", { exact: true }).isChecked(), false);
assert.equal(await page.getByLabel("Authority Key Identifier: critical", { exact: true }).count(), 0);
await page.getByLabel("Key Usage", { exact: true }).uncheck();
assert.equal(await page.getByLabel("digital_signature").isVisible(), false);
await page.getByLabel("Key Usage", { exact: true }).check();
assert.equal(await page.getByLabel("digital_signature").isVisible(), true);
ok("the Extensions step: each extension on, Basic Constraints and Key Usage critical, the AKI never; usages shown while on");
await page.getByLabel("Authority Key Identifier", { exact: true }).uncheck();
await page.getByLabel("Basic Constraints", { exact: true }).uncheck();
await page.getByLabel("Extended Key Usage: critical", { exact: true }).check();
await page.screenshot({ path: `${shots}/certificate-extensions.png` });
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText("Review").waitFor();
const review = await page.getByRole("dialog").locator("dl").innerText();
assert.match(review, /Basic constraints\s+off \(left out\)/);
assert.match(review, /Authority key identifier\s+off \(left out\)/);
assert.match(review, /Key usage\s+the profile's, critical/);
assert.match(review, /Extended key usage\s+the profile's, critical/);
await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
assert.equal(await page.getByLabel("Authority Key Identifier", { exact: true }).isChecked(), false);
assert.equal(await page.getByLabel("Extended Key Usage: critical", { exact: true }).isChecked(), true);
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
ok("the review says which extensions are left out and which are critical, and Back keeps the switches");
await page.getByRole("dialog").getByRole("button", { name: "Create", exact: true }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" }).catch(async () => {
  throw new Error("the wizard did not create the certificate: " + (await page.locator("#wz-error").innerText()));
});
const bare = page.locator("dl", { hasText: "CN=bare.example" });
await bare.waitFor();
const dd = (term) => bare.locator("dt", { hasText: term }).locator("xpath=following-sibling::dd[1]");
assert.equal(await dd("Authority key identifier").innerText(), "—");
assert.equal(await dd("Basic constraints").innerText(), "absent");
assert.equal(await dd("Extended key usage").innerText(), "server_auth (critical)");
assert.match(await dd("Subject key identifier").innerText(), /^[0-9a-f]{40}$/);
ok("made with the AKI off, its details show no authority key identifier (nor Basic Constraints; the EKU critical)");
const barePem = await page.evaluate(async () => {
  const id = (await (await fetch("/api/v1/certificates?search=bare.example")).json()).items[0].id;
  return (await (await fetch("/api/v1/certificates/" + id)).json()).pem;
});
const bareText = execFileSync("openssl", ["x509", "-noout", "-text"], { input: barePem }).toString();
assert.doesNotMatch(bareText, /Authority Key Identifier/);
assert.doesNotMatch(bareText, /Basic Constraints/);
assert.match(bareText, /X509v3 Key Usage: critical/);
assert.match(bareText, /X509v3 Extended Key Usage: critical/);
ok("openssl agrees: no AKI, no Basic Constraints, Key Usage and EKU critical");
// Every usage the API takes is offered (its 400 for an unknown one lists them; key_cert_sign
// and crl_sign make a CA, which this wizard does not), and the review shows all that was
// chosen: each field of the subject, the key, the lifetime, the CA, the profile, the usages.
const acceptedUsages = (field) => page.evaluate(async (f) => {
  const token = (await (await fetch("/api/v1/session")).json()).csrf_token;
  const r = await fetch("/api/v1/certificates", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
    body: JSON.stringify({ profile: "tls-server", key_type: "p256", subject: { common_name: "usages.example" }, [f]: ["no_such_usage"] }) });
  return (await r.json()).error.message.replace(/^.*accepted: /, "").split(", ");
}, field);
const apiKu = (await acceptedUsages("key_usage")).filter((u) => u !== "key_cert_sign" && u !== "crl_sign");
const apiEku = await acceptedUsages("ext_key_usage");
assert.ok(apiKu.includes("data_encipherment") && apiEku.includes("ocsp_signing"), `the API's usages: ${apiKu} / ${apiEku}`);
await page.getByRole("button", { name: "Create certificate" }).click();
const rv = page.getByRole("dialog");
await rv.getByLabel("Identifier", { exact: true }).fill("review.example");
await rv.getByLabel("Profile", { exact: true }).selectOption("tls-server");
await rv.getByRole("button", { name: "Next" }).click();
await rv.getByLabel("Key type", { exact: true }).selectOption("rsa");
await rv.getByLabel("Key length (bits)").selectOption("3072");
await rv.getByLabel("Lifetime", { exact: true }).fill("30");
const rvCa = await rv.getByLabel("Signing CA").evaluate((s) => s.selectedOptions[0].textContent);
await rv.getByRole("button", { name: "Next" }).click();
const rvSubject = [["Common name", "review.example"], ["Organization", "Example"], ["Organizational unit", "Operations"],
  ["Locality", "Berlin"], ["State", "Land Berlin"], ["Country", "DE"], ["Email", "ops@review.example"]];
for (const [label, value] of rvSubject) await rv.getByLabel(label === "Country" ? "Country (2 letters)" : label, { exact: true }).fill(value);
await rv.getByLabel(/Subject alternative names/).fill("dns:review.example");
await rv.getByRole("button", { name: "Next" }).click();
const offeredUsages = (prefix) => rv.locator(`input[name^="${prefix}"]`).evaluateAll((es, p) => es.map((e) => e.name.slice(p.length)), prefix);
assert.deepEqual((await offeredUsages("ku_")).sort(), [...apiKu].sort());
assert.deepEqual((await offeredUsages("eku_")).sort(), [...apiEku].sort());
ok("the Extensions step offers every key usage and extended key usage the API takes for a certificate");
// (an RSA key's usages: key_agreement is an EC key's, RFC 3279)
for (const u of ["digital_signature", "non_repudiation", "data_encipherment", "server_auth", "time_stamping", "ocsp_signing"])
  await rv.getByLabel(u, { exact: true }).check();
await rv.getByRole("button", { name: "Next" }).click();
await rv.getByRole("heading", { name: /— Review \(/ }).waitFor();
const rvReview = Object.fromEntries(await rv.locator("dl dt").evaluateAll((dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
for (const [label, value] of rvSubject) assert.equal(rvReview[label], value, label);
assert.equal(rvReview["Subject alternative names"], "dns:review.example");
assert.equal(rvReview["Profile"], "tls-server");
assert.equal(rvReview["Key type"], "RSA 3072");
assert.equal(rvReview["Digest"], "SHA-256");
assert.equal(rvReview["Lifetime"], "30 days");
assert.equal(rvReview["Signing CA"], rvCa);
assert.equal(rvReview["Key usage"], "digital_signature, non_repudiation, data_encipherment, critical");
assert.equal(rvReview["Extended key usage"], "server_auth, time_stamping, ocsp_signing");
ok("the review shows every field of the subject, the key, digest, lifetime, CA, profile and the usages chosen");
await rv.getByRole("button", { name: "Create", exact: true }).click();
await rv.waitFor({ state: "hidden" }).catch(async () => {
  throw new Error("the wizard did not create the certificate: " + (await page.locator("#wz-error").innerText()));
});
const rvPem = await page.evaluate(async () => {
  const id = (await (await fetch("/api/v1/certificates?search=review.example")).json()).items[0].id;
  return (await (await fetch("/api/v1/certificates/" + id)).json()).pem;
});
const rvText = execFileSync("openssl", ["x509", "-noout", "-text", "-nameopt", "RFC2253"], { input: rvPem }).toString();
for (const part of ["CN=review.example", "O=Example", "OU=Operations", "L=Berlin", "ST=Land Berlin", "C=DE", "emailAddress=ops@review.example"])
  assert.ok(rvText.includes(part), `${part} in ${rvText.match(/Subject: .*/)}`);
assert.match(rvText, /Digital Signature, Non Repudiation, Data Encipherment/);
assert.match(rvText, /TLS Web Server Authentication, Time Stamping, OCSP Signing/);
assert.match(rvText, /Public-Key: \(3072 bit\)/);
ok("openssl reads the certificate as reviewed: its subject, key and usages");
// A lifetime in hours, as step-ca's and Vault's short-lived certificates: sent as a ttl, and
// what openssl reads is that many hours (and the minute it starts early).
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("hourly.example");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Lifetime", { exact: true }).fill("2");
await page.getByLabel("Lifetime: unit").selectOption("h");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Common name").fill("hourly.example");
await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
assert.deepEqual([await page.getByLabel("Lifetime", { exact: true }).inputValue(), await page.getByLabel("Lifetime: unit").inputValue()], ["2", "h"]);
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.match(await page.getByRole("dialog").locator("dl").innerText(), /Lifetime\s+2 hours/);
await page.getByRole("dialog").getByRole("button", { name: "Create", exact: true }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" }).catch(async () => {
  throw new Error("the wizard did not create the certificate: " + (await page.locator("#wz-error").innerText()));
});
await page.getByText(/^Created "hourly\.example", valid until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.$/).waitFor();
const hourlyPem = await page.evaluate(async () => {
  const id = (await (await fetch("/api/v1/certificates?search=hourly.example")).json()).items[0].id;
  return (await (await fetch("/api/v1/certificates/" + id)).json()).pem;
});
const hourlyDates = execFileSync("openssl", ["x509", "-noout", "-dates"], { input: hourlyPem }).toString();
const [, from, to] = /notBefore=(.*)\nnotAfter=(.*)/.exec(hourlyDates);
assert.equal((Date.parse(to) - Date.parse(from)) / 1000, 2 * 3600 + 60);
ok("a lifetime in hours from the wizard: 2 hours by openssl, and the time it ends said with its day");
// Import through the wizard: a certificate and its key, pasted.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("imported-one");
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Certificate (PEM), pasted or uploaded").fill(readFileSync(`${work}/imp.pem`, "utf8"));
await page.getByLabel("Private key (PEM), optional").fill(readFileSync(`${work}/imp.key`, "utf8"));
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
// Reviewed before it is stored (the seed's "Review the options, and then click Save"): read by
// the server, nothing kept yet.
const imReview = page.locator("#im-review");
await imReview.getByText("CN=imported.example").first().waitFor();
await imReview.getByText(/private key included/i).waitFor();
await imReview.getByText("EC P-256").waitFor();
assert.equal(await page.evaluate(async () =>
  (await (await fetch("/api/v1/certificates?search=imported.example")).json()).items.length), 0);
await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
await page.getByLabel("Private key (PEM), optional").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await imReview.getByText(/private key included/i).waitFor();
ok("an import reviewed before it is stored: its subject, key type and private key shown, nothing stored, Back and Next again");
await page.getByRole("dialog").getByRole("button", { name: "Import", exact: true }).click();
await page.locator("tr", { hasText: "imported-one" }).waitFor();
await page.locator("tr", { hasText: "imported-one" }).getByRole("button", { name: "Export imported-one" }).waitFor();
assert.equal(await page.locator("tr", { hasText: "imported-one" }).getByRole("button", { name: /^Renew/ }).count(), 0);
await page.locator("#done").getByText('Imported "imported-one"').waitFor();
ok("a certificate and its key imported through the wizard (one certhub did not issue offers no renewal), and said so");
// Renamed from the panel its import opened (one certhub cannot renew offers no automatic
// renewal); the list and the panel follow.
await panelOf(page).getByRole("heading", { name: "imported-one" }).waitFor();
await panelOf(page).getByRole("button", { name: "Edit imported-one" }).click();
assert.equal(await page.getByRole("dialog").getByLabel("Renew automatically before it expires").count(), 0);
await page.getByRole("dialog").getByLabel("Name").fill("imported-renamed");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await page.locator("tr", { hasText: "imported-renamed" }).waitFor();
await panelOf(page).getByRole("heading", { name: "imported-renamed" }).waitFor();
ok("a certificate renamed from its panel: its row and the panel's title follow");
// The same certificate imported again: refused at its review, naming the one held (not its
// internal id), which a button opens.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Certificate (PEM), pasted or uploaded").fill(readFileSync(`${work}/imp.pem`, "utf8"));
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.locator("#wz-error").getByText('This certificate is held already, as "imported-renamed".').waitFor();
assert.doesNotMatch(await page.locator("#wz-error").innerText(), /crt_/);
await page.locator("#wz-error").getByRole("button", { name: "Open imported-renamed" }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" });
await panelOf(page).getByRole("heading", { name: "imported-renamed" }).waitFor();
ok("a certificate imported again is refused by the name it is held under, with a button that opens it");
// One sent without its chain (the destination seed: an uploaded file is to hold the whole
// chain): imported, and the note of where its chain stops said with it.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("orphan");
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Certificate (PEM), pasted or uploaded").fill(readFileSync(`${work}/orphan.pem`, "utf8"));
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText(/^Note: the chain ends at "O=Example,CN=Fleet Root CA"/).waitFor();
await page.locator("#im-review").getByText(/^Not included/).waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Import", exact: true }).click();
await page.locator("#done").getByText(/^Imported "orphan", valid until .*\. Note: the chain ends at "O=Example,CN=Fleet Root CA", whose certificate is neither in the file nor held here/).waitFor();
await panelOf(page).getByRole("heading", { name: "orphan" }).waitFor();
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });
ok("a certificate imported without its chain: the wizard says where its chain stops");
// An action the server refuses says why above the screen (it did nothing visible): a CA's
// own certificate is deleted with its CA.
const caCert = await page.evaluate(async () => {
  const cas = (await (await fetch("/api/v1/cas")).json()).items;
  const c = await (await fetch("/api/v1/certificates/" + cas[0].certificate_id)).json();
  return c.name;
});
await page.getByLabel("Search certificates").fill(caCert.slice(0, 20));
await page.getByRole("button", { name: `Delete ${caCert}` }).first().click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await page.locator("#problem").getByText(/delete the CA instead/).waitFor();
await page.getByRole("button", { name: "Dismiss" }).click();
await page.getByLabel("Search certificates").fill("");
ok("a refused action is said above the screen, with the server's reason");
// A profile that allows some key types: the wizard says so and offers no other.
assert.equal(await page.evaluate(async (token) => (await fetch("/api/v1/profiles", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
  body: JSON.stringify({ name: "keyed-e2e", key_usage: ["digital_signature"], ext_key_usage: ["server_auth"], key_types: ["ed25519", "p384"] }) })).status,
  await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token)), 201);
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("keyed");
await page.getByLabel("Profile", { exact: true }).selectOption("keyed-e2e");
await page.locator("#profile-names").getByText(/^Key types this profile allows: /).waitFor();
assert.deepEqual((await page.locator("#profile-names").innerText()).replace(/^Key types this profile allows: |\.$/g, "").split(", ").sort(),
  ["ed25519", "p384"]);
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
// TrueNAS's Key Type, and the EC curve beside it (the RSA key length hidden): the profile's
// first allowed type chosen, the others not offered.
assert.equal(await page.getByLabel("Key type", { exact: true }).inputValue(), "ec");
assert.equal(await page.getByLabel("EC curve").inputValue(), "p384");
assert.ok(await page.getByLabel("Key length (bits)").isHidden());
assert.equal(await page.locator('#key_alg option[value="rsa"]').isDisabled(), true);
assert.equal(await page.locator('#key_alg option[value="ed25519"]').isDisabled(), false);
assert.equal(await page.locator('#key_curve option[value="p256"]').isDisabled(), true);
await page.getByRole("dialog").getByRole("button", { name: "Back" }).click();
await page.getByLabel("Profile", { exact: true }).selectOption("tls-server");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.equal(await page.locator('#key_alg option[value="rsa"]').isDisabled(), false);
assert.equal(await page.locator('#key_curve option[value="p521"]').isDisabled(), false); // (TrueNAS offers SECP521R1)
await page.getByLabel("Key type", { exact: true }).selectOption("rsa");
assert.ok(await page.getByLabel("EC curve").isHidden());
assert.equal(await page.locator('#key_bits option[value="2048"]').isDisabled(), false);
await page.keyboard.press("Escape");
await page.getByRole("dialog").waitFor({ state: "hidden" });
ok("a profile's key types said in the wizard, the others not offered");
// A profile with a name policy: the wizard says which names it allows, and a built-in says none.
assert.equal(await page.evaluate(async (token) => (await fetch("/api/v1/profiles", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
  body: JSON.stringify({ name: "named-e2e", key_usage: ["digital_signature"], ext_key_usage: ["server_auth"],
    allowed_domains: ["example.com", "example.net"], allow_subdomains: true, allow_wildcards: true }) })).status,
  await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token)), 201);
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("named");
await page.getByLabel("Profile", { exact: true }).selectOption("named-e2e");
await page.locator("#profile-names").getByText(/^Names this profile allows: /).waitFor();
assert.equal(await page.locator("#profile-names").innerText(),
  "Names this profile allows: example.com, example.net and the names below them; wildcards.");
await page.getByLabel("Profile", { exact: true }).selectOption("tls-server");
assert.equal(await page.locator("#profile-names").innerText(), "");
await page.keyboard.press("Escape");
await page.getByRole("dialog").waitFor({ state: "hidden" });
ok("a profile's name policy said in the wizard where the profile is chosen");
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("from-p12");
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Upload the certificate (PEM, DER, P7B, PKCS#12 or JKS)").setInputFiles(`${work}/bundle.p12`);
await page.locator("#im-file-note").getByText("bundle.p12 is sent as it is").waitFor();
await page.getByLabel("Password (of the key, or of a PKCS#12 or JKS file)").fill("wrong-pw");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.locator("#wz-error").getByText(/password/).waitFor();
await page.getByLabel("Password (of the key, or of a PKCS#12 or JKS file)").fill("bundle-pw");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.locator("#im-review").getByText("CN=bundled.example").first().waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Import", exact: true }).click();
await page.locator("tr", { hasText: "from-p12" }).waitFor();
const fromP12 = await page.evaluate(async () =>
  (await (await fetch("/api/v1/certificates?search=from-p12")).json()).items[0]);
assert.equal(fromP12.has_private_key, true);
assert.equal(fromP12.subject, "CN=bundled.example");
ok("a PKCS#12 file imported through the wizard, with its key; a wrong password shown first");
// A JKS whose key has a password of its own (keytool -keypass): asked for, then taken.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("own-keypass");
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Upload the certificate (PEM, DER, P7B, PKCS#12 or JKS)").setInputFiles(`${work}/own-keypass.jks`);
await page.getByLabel("Password (of the key, or of a PKCS#12 or JKS file)").fill("changeit");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.locator("#wz-error").getByText(/key password/).waitFor();
await page.getByLabel("Key password (a JKS key with a password of its own)").fill("own-key-pw");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.locator("#im-review").getByText(/private key included/i).waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Import", exact: true }).click();
await page.locator("tr", { hasText: "own-keypass" }).waitFor();
const ownKeypass = await page.evaluate(async () =>
  (await (await fetch("/api/v1/certificates?search=own-keypass")).json()).items[0]);
assert.equal(ownKeypass.has_private_key, true);
assert.equal(ownKeypass.subject, "CN=own-keypass.example");
ok("a JKS whose key has its own password imported through the wizard: the key password asked for, then its key in");
// A file dropped on the wizard's import step is taken as if chosen (SAP BTP's "select (or drag
// and drop) the certificate file"): a PEM one fills the text box.
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Type", { exact: true }).selectOption("import");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
const dropped = await page.evaluateHandle((text) => {
  const dt = new DataTransfer();
  dt.items.add(new File([text], "dropped.pem", { type: "application/x-pem-file" }));
  return dt;
}, readFileSync(`${work}/imp.pem`, "utf8"));
await page.getByRole("dialog").locator(".drop").dispatchEvent("drop", { dataTransfer: dropped });
await page.waitForFunction(() => document.querySelector("#im-cert").value.startsWith("-----BEGIN CERTIFICATE-----"));
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
ok("a certificate file dropped on the import step is read as if chosen");
await page.screenshot({ path: `${shots}/certificates.png`, fullPage: true });
// A click on a certificate's row opens the panel beside the list (the destination seed's
// "View a Certificate"): validity, subject and issuer DNs, how it was made; Escape closes it
// and the focus goes back to the row.
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });
const importedRow = page.locator("tr", { hasText: "imported-renamed" });
await importedRow.locator("td").nth(1).click();
await panelOf(page).getByRole("heading", { name: "imported-renamed" }).waitFor();
await panelOf(page).getByText("CN=imported.example").first().waitFor();
let fields = await panelFields(page);
assert.equal(fields.Subject, "CN=imported.example");
assert.equal(fields.Issuer, "CN=imported.example");
assert.equal(fields.Method, "imported");
assert.equal(fields["Automatic renewal"], "not possible: it was uploaded, and the CA that signed it renews it");
assert.match(fields["Valid until"], /^\d{4}-\d{2}-\d{2}T/);
assert.match(fields["SHA-256"], /^[0-9a-f]{64}$/i);
assert.equal(await importedRow.getAttribute("aria-current"), "true");
assert.ok(await focusIn(page, "#panel"), "the focus is not in the panel");
const panelBox = await panelOf(page).boundingBox(), tableBox = await page.locator("#screen table").boundingBox();
assert.ok(panelBox.x >= tableBox.x + tableBox.width, `the panel is not right of the list: ${JSON.stringify([panelBox, tableBox])}`);
for (const name of ["Export imported-renamed", "Edit imported-renamed", "Delete imported-renamed"])
  await panelOf(page).getByRole("button", { name }).waitFor();
ok("a click on a certificate's row opens the panel at its right: subject, issuer, method, validity, fingerprint, that it cannot be renewed here, its actions");
await page.screenshot({ path: `${shots}/certificate-panel.png`, fullPage: true });
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });
assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Details of imported-renamed");
assert.equal(await importedRow.getAttribute("aria-current"), null);
ok("Escape closes the panel and the focus goes back to the certificate's row");
// The keyboard alone: the row's Details button opens it, the close button closes it.
await page.keyboard.press("Enter");
await panelOf(page).getByRole("heading", { name: "imported-renamed" }).waitFor();
assert.ok(await focusIn(page, "#panel"));
await panelOf(page).getByRole("button", { name: "Close the details" }).focus();
await page.keyboard.press("Enter");
await panelOf(page).waitFor({ state: "hidden" });
assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Details of imported-renamed");
ok("with the keyboard: Details opens the panel, its close button closes it, the focus back on the row");
// Escape in a dialog opened from the panel closes the dialog only.
await importedRow.locator("td").first().click();
await panelOf(page).getByRole("button", { name: "Export imported-renamed" }).click();
await page.getByRole("dialog").getByLabel("Format", { exact: true }).waitFor();
await page.keyboard.press("Escape");
await page.getByRole("dialog").waitFor({ state: "hidden" });
assert.ok(await panelOf(page).isVisible());
ok("Escape in a dialog opened from the panel closes the dialog, not the panel");

// The CA hierarchy: a root and an intermediate under it, its chain downloaded.
await page.getByRole("link", { name: "CAs", exact: true }).click();
await page.getByRole("button", { name: "Create root CA" }).click();
await page.getByLabel("Name", { exact: true }).fill("Lab Root");
await page.getByLabel("Common name").fill("Lab Root CA");
await page.getByLabel(/^Path length/).fill("1"); // (TrueNAS: "Basic Constraints ... limits the path length")
// TrueNAS's CA options: the subject's organization and place, the key type and the digest;
// the key type asked as the create wizard asks it (Key type, then the RSA length or the EC
// curve, each shown for its own algorithm alone).
await page.getByLabel("Organization", { exact: true }).fill("Lab");
await page.getByLabel("Locality").fill("Berlin");
await page.getByLabel("Country (2 letters)").fill("DE");
assert.deepEqual([await page.getByLabel("Key type", { exact: true }).inputValue(), await page.getByLabel("EC curve").inputValue()], ["ec", "p256"]);
assert.ok(await page.getByLabel("Key length (bits)").isHidden());
await page.getByLabel("Key type", { exact: true }).selectOption("ed25519");
assert.ok(await page.getByLabel("EC curve").isHidden());
assert.ok(await page.getByLabel("Key length (bits)").isHidden());
assert.equal(await page.getByLabel("Digest").isDisabled(), true); // (Ed25519 signs without one)
await page.getByLabel("Key type", { exact: true }).selectOption("rsa");
assert.ok(await page.getByLabel("EC curve").isHidden());
assert.equal(await page.getByLabel("Digest").isDisabled(), false);
await page.getByLabel("Key length (bits)").selectOption("3072");
await page.getByLabel("Digest").selectOption("sha384");
await page.getByRole("button", { name: "Create CA" }).click();
await page.locator("#done").getByText(/^Created the root CA "Lab Root", valid until \d{4}-\d{2}-\d{2}\.$/).waitFor();
await page.getByRole("button", { name: "Create an intermediate under Lab Root" }).click();
// (typed with spaces at its ends, which the server refuses in a name: the console sends it without)
await page.getByLabel("Name", { exact: true }).fill("  Lab Issuing ");
await page.getByLabel("Common name").fill("Lab Issuing CA");
await page.getByRole("button", { name: "Create CA" }).click();
await page.locator("#done").getByText('Created the intermediate CA "Lab Issuing"').waitFor();
await page.locator("li", { hasText: "Lab Root" }).locator("ul li", { hasText: "Lab Issuing" }).waitFor();
ok("the CA tree shows an intermediate under its root; each CA made is said, by name");
// An intermediate whose key stays with its holder (a partner's): its CSR signed here.
await page.getByRole("button", { name: "Create an intermediate under Lab Root" }).click();
await page.getByLabel("Name", { exact: true }).fill("Partner Sub");
await page.locator("#ca-csr").fill(readFileSync(`${work}/partner-sub.csr`, "utf8"));
await page.getByRole("button", { name: "Create CA" }).click();
await page.locator("#done").getByText(/^Created the intermediate CA "Partner Sub", valid until .*\. Its key stays with its holder: it issues nothing here\.$/).waitFor();
const partnerSub = await page.evaluate(async () => (await (await fetch("/api/v1/cas?limit=1000")).json()).items.find((c) => c.name === "Partner Sub"));
assert.deepEqual([partnerSub.subject, partnerSub.can_sign], ["CN=Partner Sub CA", false]);
ok("an intermediate made from its holder's CSR, its subject the CSR's, held without its key");
// A dialog closed while its request is on its way (held back here, as a CA with an RSA key
// takes seconds): the button waits meanwhile, and what became of the request is said.
await page.route("**/api/v1/cas", async (r) => { await new Promise((ok) => setTimeout(ok, 1500)); await r.continue(); });
await page.getByRole("button", { name: "Create root CA" }).click();
await page.getByLabel("Name", { exact: true }).fill("Slow Root");
await page.getByLabel("Common name").fill("Slow Root CA");
await page.getByRole("button", { name: "Create CA" }).click();
assert.equal(await page.getByRole("button", { name: "Create CA" }).isDisabled(), true);
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
await page.locator("#done").getByText(/carried out all the same \(POST cas: Slow Root\)/).waitFor();
await page.locator("li", { hasText: "Slow Root" }).waitFor(); // (one: the button waited, nothing sent twice)
await page.unroute("**/api/v1/cas");
ok("a CA dialog closed before its answer: the button waited, and the CA made all the same is said and shown");
assert.equal(await page.evaluate(async () => (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Lab Root").path_len), 1);
const labRoot = await page.evaluate(async () => {
  const ca = (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Lab Root");
  return (await (await fetch("/api/v1/certificates/" + ca.certificate_id)).json());
});
assert.equal(labRoot.subject, "CN=Lab Root CA,O=Lab,L=Berlin,C=DE");
assert.deepEqual([labRoot.details.key_algorithm, labRoot.details.key_bits], ["RSA", 3072]);
assert.equal(labRoot.details.signature_algorithm, "sha384WithRSAEncryption");
ok("the root made with the path length, subject, key type and digest given");
await page.locator("li", { hasText: "Lab Root" }).getByText(/valid until \d{4}-\d{2}-\d{2}/).first().waitFor();
assert.equal(await page.getByRole("button", { name: "Create an intermediate under Lab Issuing" }).count(), 0);
ok("each CA shows when it expires, and an issuing CA (path length 0) offers no intermediate");
const certOf = (name) => page.evaluate(async (n) =>
  (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === n).certificate_id, name);
const before = await certOf("Lab Issuing");
await page.getByRole("button", { name: "Rotate Lab Issuing" }).click();
await page.getByRole("dialog").getByText("gets a new key and certificate").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Rotate" }).click();
await page.waitForFunction(async ([n, old]) =>
  (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === n).certificate_id !== old, ["Lab Issuing", before]);
ok("a CA rotated from the tree, after confirming: a new certificate");
const [chain] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download the chain of Lab Issuing" }).click()]);
await chain.saveAs(`${work}/lab-chain.pem`);
assert.equal((readFileSync(`${work}/lab-chain.pem`, "utf8").match(/BEGIN CERTIFICATE/g) || []).length, 2);
ok("its chain downloads as two certificates");
// A CA without children deleted from the tree: refused while it has unexpired certificates,
// then deleted anyway once confirmed.
await page.evaluate(async (csrf) => {
  const cas = (await (await fetch("/api/v1/cas")).json()).items;
  const lab = cas.find((c) => c.name === "Lab Issuing");
  await fetch("/api/v1/certificates", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ ca_id: lab.id, subject: { common_name: "lab-leaf" } }) });
}, await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token));
// A CA's details, opened from its line of the tree: what GET /cas/{id} and its certificate say,
// its chain, what it issued (linked to the list narrowed to it) and its rotation, with the
// tree's actions.
const labIssuing = await page.evaluate(async () => {
  const ca = (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Lab Issuing");
  return { ca, cert: await (await fetch("/api/v1/certificates/" + ca.certificate_id)).json() };
});
await page.getByRole("button", { name: "Details of Lab Issuing" }).click();
await panelOf(page).locator("#ca-details").waitFor();
assert.equal(await panelOf(page).getByRole("heading", { level: 2 }).textContent(), "Lab Issuing");
{
  const f = await panelFields(page);
  assert.deepEqual([f["Key"], f["Private key"], f["Subject"], f["Issuer"], f["Serial"], f["SHA-256"], f["SHA-1"], f["Path length"], f["Valid until"]],
    [labIssuing.ca.key, "held here, sealed", "CN=Lab Issuing CA", labRoot.subject, labIssuing.ca.serial, labIssuing.ca.sha256,
      labIssuing.cert.details.sha1, "0: it signs no CA", labIssuing.ca.not_after]);
}
assert.equal(await panelOf(page).locator("#ca-chain").textContent(), "Lab Root → Lab Issuing: 2 certificates, up to the root.");
assert.equal(await panelOf(page).locator("#ca-issued").textContent(), "1 certificate, 1 of them in force.");
await panelOf(page).locator("#ca-rotations").getByText("Rotated 1 time;").waitFor();
await panelOf(page).locator("#ca-history").getByText("Created").waitFor();
const firstRotated = await page.evaluate(async (old) => (await (await fetch("/api/v1/certificates/" + old)).json()).serial, before);
await panelOf(page).locator("#ca-history").getByRole("link", { name: `serial ${firstRotated}` }).waitFor();
ok("a CA's details open from the tree: key, fingerprints, validity, subject, issuer, path length, chain, what it issued and its rotation");
// Its actions there too: rotated from the panel, which is read again.
assert.equal(await panelOf(page).getByRole("button", { name: "Download the chain of Lab Issuing" }).count(), 1);
await panelOf(page).getByRole("button", { name: "Rotate Lab Issuing" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Rotate" }).click();
await panelOf(page).locator("#ca-rotations").getByText("Rotated 2 times;").waitFor();
assert.notEqual(await certOf("Lab Issuing"), labIssuing.ca.certificate_id);
ok("a CA rotated from its details: the panel shows the second rotation");
// Its automatic rotation switched on from there (PATCH /cas/{id}), the panel read again.
assert.equal((await panelFields(page))["Automatic rotation"], "off");
await panelOf(page).getByRole("button", { name: "Edit Lab Issuing" }).click();
await page.getByRole("dialog").getByLabel(/Rotate automatically/).check();
await page.getByRole("dialog").getByLabel(/CA issuers/).fill("http://pki.example.com/lab.der, http://mirror.example.com/lab.der");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await panelOf(page).locator("#ca-auto-rotate").getByText(/^on: rotated by certhubd/).waitFor();
await panelOf(page).locator("#ca-ca_issuers_urls").getByText("http://pki.example.com/lab.der, http://mirror.example.com/lab.der").waitFor();
const labCa = await page.evaluate(async () => (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Lab Issuing"));
assert.equal(labCa.auto_rotate, true);
assert.deepEqual(labCa.ca_issuers_urls, ["http://pki.example.com/lab.der", "http://mirror.example.com/lab.der"]);
assert.deepEqual(labCa.crl_urls, []);
// A URL the server refuses: its message in the dialog, nothing changed.
await panelOf(page).getByRole("button", { name: "Edit Lab Issuing" }).click();
await page.getByRole("dialog").getByLabel(/CRL distribution/).fill("ftp://pki.example.com/lab.crl");
await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
await page.getByRole("dialog").getByText(/http:\/\/, https:\/\/ or ldap:\/\//).waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
assert.deepEqual(await page.evaluate(async () => (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Lab Issuing").crl_urls), []);
ok("a CA's automatic rotation switched on and where its certificate is published set from its details, which then say so; a URL refused is said in the dialog");
// What it issued, listed from there: the certificate list narrowed to it.
await panelOf(page).getByRole("link", { name: "Show the certificates Lab Issuing issued" }).click();
await page.locator("#cert-by-ca").getByText("Lab Issuing", { exact: true }).waitFor();
await page.locator("tbody tr", { hasText: "lab-leaf" }).waitFor();
assert.equal(await page.locator('tbody tr[data-kind="certificate"]').count(), 1);
await page.locator("#cert-by-ca").getByRole("link", { name: "Show all certificates" }).click();
await page.locator("#cert-by-ca").waitFor({ state: "detached" });
ok("a CA's issued certificates open as the certificate list narrowed to it, and the whole list is a link away");
await page.getByRole("link", { name: "CAs", exact: true }).click();
await page.getByRole("tree", { name: "Certificate authorities" }).waitFor();
await page.getByRole("button", { name: "Delete Lab Issuing" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await page.getByRole("dialog").getByText(/unexpired certificate/).waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Delete anyway" }).click();
await page.getByRole("button", { name: "Delete Lab Issuing" }).waitFor({ state: "detached" });
ok("a CA deleted from the tree: told it has an unexpired certificate, then deleted anyway");
// A CA whose key is not here (imported without it), exported from the tree as a Java
// truststore: P12 and JKS offered without the key, the key alone not at all.
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/outside-ca.key`,
  "-subj", "/CN=Outside Root CA", "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", `${work}/outside-ca.pem`], quiet);
// (as Windows hands a CA out: a .cer in DER, uploaded as its file and sent as it is)
execFileSync("openssl", ["x509", "-in", `${work}/outside-ca.pem`, "-outform", "DER", "-out", `${work}/outside-ca.cer`], quiet);
await page.getByRole("button", { name: "Import CA" }).click();
await page.getByLabel("Name", { exact: true }).fill("Outside Root");
await page.getByLabel("Upload the CA's file (PEM, DER, PKCS#12 or PKCS#7)").setInputFiles(`${work}/outside-ca.cer`);
await page.locator("#ci-file-note").getByText("outside-ca.cer is sent as it is").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Import" }).click();
await page.locator("li", { hasText: "Outside Root" }).getByText("cannot sign").waitFor();
ok("a CA imported from its DER file, uploaded");
await page.getByRole("button", { name: "Export Outside Root" }).click();
await page.locator("#ex-why").getByText("certhub holds no private key for this certificate").waitFor();
assert.deepEqual(await page.locator("#ex-format option").evaluateAll((os) => os.map((o) => o.value)), ["pem", "der", "p7b", "p12", "jks"]);
await page.getByLabel("Format", { exact: true }).selectOption("jks");
assert.ok(await page.getByLabel(/^Truststore/).isChecked());
assert.ok(await page.getByLabel(/^Truststore/).isDisabled());
assert.ok(await page.locator("#ex-key-password").isHidden());
await page.getByLabel(/^Password of the JKS$/).fill("trust-s3cret");
await page.getByLabel("Repeat the password").fill("trust-s3cret");
await page.getByLabel(/^Alias of the entry/).fill("outside");
const [trustDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(trustDl.suggestedFilename(), "Outside Root-truststore.jks");
await trustDl.saveAs(`${work}/outside-trust.jks`);
const trustList = execFileSync("keytool", ["-list", "-keystore", `${work}/outside-trust.jks`, "-storepass", "trust-s3cret"], quiet).toString();
assert.match(trustList, /^outside, .*trustedCertEntry/m);
assert.doesNotMatch(trustList, /PrivateKeyEntry/);
ok("a CA without its key here, exported from the tree as a JKS truststore: keytool lists its trusted entry, no key");
// An issuing CA pasted with its root after it (a PKI's bundle) and its key: the root becomes a
// CA too, under which the issuing CA sits in the tree, and the message names it.
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/bundle-root.key`,
  "-subj", "/CN=Bundle Root CA", "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", `${work}/bundle-root.pem`], quiet);
execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/bundle-issuing.key`,
  "-subj", "/CN=Bundle Issuing CA", "-out", `${work}/bundle-issuing.csr`], quiet);
writeFileSync(`${work}/bundle-issuing.ext`, "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
execFileSync("openssl", ["x509", "-req", "-in", `${work}/bundle-issuing.csr`, "-CA", `${work}/bundle-root.pem`, "-CAkey", `${work}/bundle-root.key`,
  "-days", "20", "-extfile", `${work}/bundle-issuing.ext`, "-out", `${work}/bundle-issuing.pem`], quiet);
await page.getByRole("button", { name: "Import CA" }).click();
await page.getByLabel("Name", { exact: true }).fill("Bundle Issuing");
await page.getByLabel("Certificate (PEM), pasted").fill(readFileSync(`${work}/bundle-issuing.pem`, "utf8") + readFileSync(`${work}/bundle-root.pem`, "utf8"));
await page.getByLabel(/^Private key \(PEM\)/).fill(readFileSync(`${work}/bundle-issuing.key`, "utf8"));
await page.getByRole("dialog").getByRole("button", { name: "Import" }).click();
await page.locator("#done").getByText(/Imported the CA "Bundle Issuing"\. Note: the file held 1 more CA certificate \(its chain\), imported as a CA without its key: "Bundle Root CA"/).waitFor();
await page.locator("li", { hasText: "Bundle Root CA" }).locator("li", { hasText: "Bundle Issuing" }).waitFor();
ok("an issuing CA pasted with its root: the root becomes a CA, the issuing CA under it in the tree, and the message says so");
// An outside CA signs, as an issuing CA, a CSR made here; its certificate imported without a
// key takes the CSR's (the answer's key_from_csr), and the dialog says so, naming the CSR.
const partnerCsr = await page.evaluate(async (csrf) => (await (await fetch("/api/v1/csrs", { method: "POST",
  headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
  body: JSON.stringify({ name: "partner-issuing-request", subject: { common_name: "Partner Issuing CA" } }) })).json()),
await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token));
writeFileSync(`${work}/partner-issuing.csr`, partnerCsr.pem);
writeFileSync(`${work}/partner-issuing.ext`, "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
execFileSync("openssl", ["x509", "-req", "-in", `${work}/partner-issuing.csr`, "-CA", `${work}/outside-ca.pem`, "-CAkey", `${work}/outside-ca.key`,
  "-days", "20", "-extfile", `${work}/partner-issuing.ext`, "-out", `${work}/partner-issuing.pem`], quiet);
await page.getByRole("button", { name: "Import CA" }).click();
await page.getByLabel("Name", { exact: true }).fill("Partner Issuing");
await page.getByLabel("Certificate (PEM), pasted").fill(readFileSync(`${work}/partner-issuing.pem`, "utf8"));
await page.getByRole("dialog").getByRole("button", { name: "Import" }).click();
await page.locator("#ci-result").getByText('with the private key of the CSR "partner-issuing-request" made here').waitFor();
assert.ok(await page.getByRole("dialog").isVisible());
await page.getByRole("dialog").getByRole("button", { name: "Show its details" }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" });
await panelOf(page).locator("#ca-details").waitFor();
{
  const f = await panelFields(page);
  assert.deepEqual([f["Private key"], f["Issuer"], f["Path length"]],
    ['held here, sealed: that of the CSR "partner-issuing-request" made here', "CN=Outside Root CA", "0: it signs no CA"]);
}
// (linked under the outside root imported before it: its chain goes up to that root)
assert.equal(await panelOf(page).locator("#ca-chain").textContent(), "Outside Root → Partner Issuing: 2 certificates, up to the root.");
assert.equal(await page.locator("li", { hasText: "Partner Issuing" }).last().getByText("cannot sign").count(), 0);
ok("a CA imported without its key that answers a CSR made here: the dialog names the CSR whose key it took, and its details say so");
// The CSR removed (the CSRs screen starts empty below): the CA keeps the key it signs with.
assert.equal(await page.evaluate(async ([id, csrf]) => {
  await fetch("/api/v1/csrs/" + id, { method: "DELETE", headers: { "X-CSRF-Token": csrf } });
  return (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Partner Issuing").can_sign;
}, [partnerCsr.id, await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token)]), true);
// Its renewal, signed by the outside root for a new CSR made here, given through "Renewed
// outside" (offered in place of Rotate, which certhub cannot do for it): the same CA, a new
// certificate, the old one kept rotated.
{
  const csrf = await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token);
  const renewCsr = await page.evaluate(async (c) => (await (await fetch("/api/v1/csrs", { method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": c },
    body: JSON.stringify({ name: "partner-issuing-renewal", subject: { common_name: "Partner Issuing CA" } }) })).json()), csrf);
  writeFileSync(`${work}/partner-renewal.csr`, renewCsr.pem);
  execFileSync("openssl", ["x509", "-req", "-in", `${work}/partner-renewal.csr`, "-CA", `${work}/outside-ca.pem`, "-CAkey", `${work}/outside-ca.key`,
    "-days", "25", "-extfile", `${work}/partner-issuing.ext`, "-outform", "DER", "-out", `${work}/partner-renewal.cer`], quiet);
  const before = await page.evaluate(async () => (await (await fetch("/api/v1/cas")).json()).items.find((c) => c.name === "Partner Issuing"));
  assert.equal(await page.getByRole("button", { name: "Rotate Partner Issuing" }).count(), 0);
  await page.getByRole("button", { name: "Give Partner Issuing its renewal signed outside" }).first().click();
  await page.getByLabel("The renewed certificate of Partner Issuing (PEM or DER)").setInputFiles(`${work}/partner-renewal.cer`);
  await page.locator("#ro-file-note").getByText("partner-renewal.cer is sent as it is").waitFor();
  await page.getByRole("dialog").getByRole("button", { name: "Take the renewal" }).click();
  await page.locator("#done").getByText('"Partner Issuing" takes its renewal').waitFor();
  const oldStatus = await page.evaluate(async (cid) => (await (await fetch("/api/v1/certificates/" + cid)).json()).status, before.certificate_id);
  const now = await page.evaluate(async (id) => (await (await fetch("/api/v1/cas/" + id)).json()).certificate_id, before.id);
  assert.notEqual(now, before.certificate_id);
  assert.equal(oldStatus, "rotated");
  // (its CSR removed, as the first's was: the CSRs screen starts empty below; the CA keeps its key)
  assert.equal(await page.evaluate(async ([id, c]) => {
    await fetch("/api/v1/csrs/" + id, { method: "DELETE", headers: { "X-CSRF-Token": c } });
    return (await (await fetch("/api/v1/cas")).json()).items.find((x) => x.name === "Partner Issuing").can_sign;
  }, [renewCsr.id, csrf]), true);
  ok("a CA signed outside takes its renewal signed there through Renewed outside (no Rotate offered): the same CA, a new certificate, the old one rotated");
}
await page.screenshot({ path: `${shots}/cas.png`, fullPage: true });

// A CSR made here, downloaded and checked by openssl.  None yet: the list says so.
await page.getByRole("link", { name: "CSRs", exact: true }).click();
await page.getByText("No CSR yet.", { exact: false }).waitFor();
ok("an empty list of CSRs says so");
await page.getByRole("button", { name: "New CSR" }).click();
await page.getByLabel("Name", { exact: true }).fill("partner");
await page.getByLabel("Common name").fill("partner.example");
// TrueNAS's CSR takes the subject, key type and digest its certificates do.
await page.getByLabel("Organization", { exact: true }).fill("Partner Ltd");
await page.getByLabel("Country (2 letters)").fill("DE");
await page.getByLabel("Email", { exact: true }).fill("pki@partner.example");
await page.getByLabel("Key type", { exact: true }).selectOption("ed25519");
assert.equal(await page.getByLabel("Digest").isDisabled(), true);
assert.ok(await page.getByLabel("EC curve").isHidden());
await page.getByLabel("Key type", { exact: true }).selectOption("rsa");
assert.ok(await page.getByLabel("Key length (bits)").isVisible());
await page.getByLabel("Key type", { exact: true }).selectOption("ec");
assert.ok(await page.getByLabel("Key length (bits)").isHidden());
assert.equal(await page.getByLabel("Digest").isDisabled(), false);
await page.getByLabel("EC curve").selectOption("p384");
await page.getByLabel("Digest").selectOption("sha512");
// The usages asked of the CA that signs it (TrueNAS's "Extra Constraints").
await page.getByRole("group", { name: /^Key usage asked/ }).getByLabel("digital_signature").check();
await page.getByRole("group", { name: "Extended key usage asked" }).getByLabel("client_auth").check();
await page.getByRole("button", { name: "Create CSR" }).click();
const [csrDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download partner" }).click()]);
await csrDl.saveAs(`${work}/partner.csr`);
const csrText = execFileSync("openssl", ["req", "-in", `${work}/partner.csr`, "-noout", "-verify", "-text"], { stdio: ["ignore", "pipe", "pipe"] }).toString();
assert.match(csrText, /Subject: .*CN ?= ?partner\.example/);
assert.match(csrText, /O ?= ?Partner Ltd/);
assert.match(csrText, /C ?= ?DE/);
assert.match(csrText, /emailAddress ?= ?pki@partner\.example/);
assert.match(csrText, /NIST CURVE: P-384/);
assert.match(csrText, /Signature Algorithm: ecdsa-with-SHA512/);
assert.match(csrText, /X509v3 Key Usage: critical\s+Digital Signature/);
assert.match(csrText, /X509v3 Extended Key Usage:\s+TLS Web Client Authentication/);
ok("a CSR made in the console with its organization, country, email, an EC key on the P-384 curve and SHA-512 (no digest offered for Ed25519), and the usages asked, verifies with openssl");
// A signed certificate that is none: the error under the row's buttons, the name beside them
// not squeezed to a letter a line.
await page.getByLabel("Signed certificate for partner").setInputFiles(`${work}/garbage.pem`);
const csrRow = page.locator("tr", { hasText: "partner.example" });
await csrRow.getByRole("alert").filter({ hasText: /./ }).waitFor();
assert.deepEqual([await brokenWords(csrRow.locator("td").first()), await brokenWords(csrRow.locator("td").nth(2)),
  await brokenWords(page.locator("#screen thead"))], [[], [], []]);
ok("a row's error on the CSRs screen leaves the name, the state and the headings whole");
await page.getByRole("button", { name: "Sign partner here" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Sign", exact: true }).click();
await page.locator("tr", { hasText: "partner.example" }).getByText("signed", { exact: true }).waitFor();
await page.locator("#done").getByText(/^Signed "partner" with .*, valid until .*: its certificate is linked from the CSR\.$/).waitFor();
const signed = await page.evaluate(async () => {
  const csr = (await (await fetch("/api/v1/csrs?limit=1000")).json()).items.find((x) => x.name === "partner");
  return (await (await fetch("/api/v1/certificates/" + csr.certificate_id)).json());
});
assert.equal(signed.has_private_key, true);
assert.equal(signed.method, "csr_signed");
assert.equal(signed.details.key_curve, "P-384"); // (the CSR's key, as the server stored it)
ok("a CSR signed here from its row: the certificate holds the CSR's key");
await page.screenshot({ path: `${shots}/csrs.png`, fullPage: true });
await page.getByRole("button", { name: "Delete partner" }).click();
await page.getByRole("dialog").getByText("Its certificate stays, with its key.").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await page.getByRole("button", { name: "Download partner" }).waitFor({ state: "detached" });
assert.equal(await page.evaluate(async (id) => (await (await fetch("/api/v1/certificates/" + id)).json()).has_private_key, signed.id), true);
ok("a signed CSR deleted from its row: its certificate keeps the key");

// A CSR made elsewhere (a device keeps its key), uploaded in the wizard as a DER file and
// signed by a CA here with the profile chosen: the certificate takes its subject and names.
execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/sensor.key`,
  "-subj", "/CN=sensor-7.example", "-addext", "subjectAltName=DNS:sensor-7.example", "-outform", "DER", "-out", `${work}/sensor.der`], { stdio: "ignore" });
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.getByRole("button", { name: "Create certificate" }).click();
const wizard = page.getByRole("dialog");
await wizard.locator("#name").fill("sensor-7");
await wizard.locator("#type").selectOption("sign");
await wizard.locator("#profile").selectOption("tls-client");
await wizard.getByRole("button", { name: "Next" }).click();
await wizard.getByRole("button", { name: "Next" }).click();
await page.locator("#sg-csr-error").getByText("Paste the CSR, or upload its file.").waitFor();
await wizard.getByLabel("Upload the CSR (PEM or DER)").setInputFiles(`${work}/sensor.der`);
await page.waitForFunction(() => document.querySelector("#sg-csr").value.startsWith("-----BEGIN CERTIFICATE REQUEST-----"));
await wizard.getByRole("button", { name: "Next" }).click();
await wizard.getByRole("button", { name: "Next" }).click();
await wizard.getByRole("button", { name: "Sign", exact: true }).click();
await panelOf(page).getByRole("heading", { name: "sensor-7" }).waitFor();
await page.waitForFunction(() => [...document.querySelectorAll("#panel dt")].some((dt) => dt.textContent === "Extended key usage"));
const sensor = await panelFields(page);
assert.equal(sensor.Subject, "CN=sensor-7.example");
assert.equal(sensor["Subject alternative names"], "dns:sensor-7.example");
assert.equal(sensor["Extended key usage"], "client_auth");
ok("a CSR uploaded in the wizard (DER) is signed here with the profile chosen, a missing one said at its step");
await panelOf(page).getByRole("button", { name: "Delete sensor-7" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await page.locator("tr", { hasText: "sensor-7" }).waitFor({ state: "detached" });

// A JKS uploaded, shown entry by entry, in the one list of certificates and keystores.
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.getByRole("button", { name: "Upload keystore" }).click();
await page.locator("#ks-file").setInputFiles(`${work}/store.jks`);
await page.locator("#ks-password").fill("changeit");
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
const ks = page.locator("tr", { hasText: "store.jks" });
await ks.waitFor();
await ks.locator("td").first().click();
await panelOf(page).getByRole("heading", { name: "store.jks" }).waitFor();
await panelOf(page).getByText("tomcat", { exact: true }).waitFor();
await panelOf(page).getByText("private key (sealed)").first().waitFor();
fields = await panelFields(page);
assert.deepEqual([fields.Format, fields.Method], ["JKS", "uploaded"]);
assert.equal(await panelOf(page).locator(".entries li").count(), 1);
for (const name of ["Export store.jks", "Delete store.jks"]) await panelOf(page).getByRole("button", { name }).waitFor();
ok("a JKS uploaded; a click on its row opens the panel: its entries, format, method and actions");
// The destination seed's one table of certificates and keystores: the keystores first, each
// row saying its kind; narrowed to one kind, and the old address of the keystores to them.
const kinds = () => page.locator("#screen tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.kind));
let shownKinds = await kinds();
assert.equal(shownKinds[0], "keystore");
assert.ok(shownKinds.includes("certificate"));
assert.equal(shownKinds.lastIndexOf("keystore") < shownKinds.indexOf("certificate"), true);
assert.equal(await ks.locator("td").nth(1).innerText(), "Keystore (JKS)");
assert.equal(await page.locator("tr", { hasText: "imported-renamed" }).locator("td").nth(1).innerText(), "Certificate");
await page.getByLabel("Kind").selectOption("keystore");
await page.locator('tr[data-kind="certificate"]').first().waitFor({ state: "detached" });
assert.ok(await page.getByLabel("Search certificates").isHidden());
assert.equal(await ks.count(), 1);
await page.getByLabel("Kind").selectOption("certificate");
await ks.waitFor({ state: "detached" });
await page.locator("tr", { hasText: "imported-renamed" }).waitFor();
await page.getByLabel("Kind").selectOption("");
await ks.waitFor();
await page.getByLabel("Search certificates").fill("imported");
await page.locator("#cert-narrowed").getByText("Keystores are not listed while certificates are searched").waitFor();
await ks.waitFor({ state: "detached" });
await page.getByLabel("Search certificates").fill("");
await ks.waitFor();
await page.evaluate(() => { location.hash = "#/keystores"; });
await page.locator('tr[data-kind="certificate"]').first().waitFor({ state: "detached" });
assert.equal(await page.getByLabel("Kind").inputValue(), "keystore");
assert.equal(await page.getByRole("link", { name: "Certificates and keystores" }).getAttribute("aria-current"), "page");
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.locator('tr[data-kind="certificate"]').first().waitFor();
ok("certificates and keystores in one list, keystores first, each row's kind said; narrowed to a kind; a search leaves keystores out, saying so");
await ks.locator("td").first().click();
await panelOf(page).getByRole("heading", { name: "store.jks" }).waitFor();
await page.screenshot({ path: `${shots}/keystores.png`, fullPage: true });
await panelOf(page).getByRole("button", { name: "Details of tomcat" }).click();
await panelOf(page).getByRole("heading", { name: "Entry tomcat" }).waitFor();
fields = await panelFields(page);
assert.equal(fields.Subject, "CN=tomcat.example");
assert.equal(fields["In this keystore"], "uploaded, with its private key (sealed)");
assert.ok(fields.Signature && fields["SHA-256"]);
assert.ok(await focusIn(page, "#panel h3"));
ok("an entry shown whole from the panel: its certificate's details, and what the entry holds");
await page.screenshot({ path: `${shots}/keystore-entry.png`, fullPage: true });
await panelOf(page).getByRole("button", { name: "Back to the entries of store.jks" }).click();
await panelOf(page).getByRole("heading", { name: "Entries (1)" }).waitFor();
assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Details of tomcat");
ok("and back to the keystore's entries, the focus on the entry");
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });
assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Details of store.jks");
ok("Escape closes the keystore's panel, the focus back on its row");
await page.getByRole("button", { name: "Upload keystore" }).click();
await page.locator("#ks-file").setInputFiles(`${work}/apart.jks`);
await page.locator("#ks-password").fill("changeit");
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
await page.locator("#ks-error").getByText("give the key's own as the key password").waitFor();
await page.getByLabel("Key password, when the keys have their own").fill("key-of-its-own");
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
await page.locator("tr", { hasText: "apart.jks" }).waitFor();
ok("a JKS whose key has a password of its own: refused saying so, then uploaded with it");
// Deleted from its row in the list, as a certificate is; gone from the server too.
await page.locator("tr", { hasText: "apart.jks" }).getByRole("button", { name: "Delete apart.jks" }).click();
await page.getByRole("dialog").getByText('Delete the keystore "apart.jks"?').waitFor();
await page.getByRole("dialog").getByText("Its certificates and their private keys stay in the inventory").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await page.locator("tr", { hasText: "apart.jks" }).waitFor({ state: "detached" });
assert.deepEqual(await page.evaluate(async () => (await (await fetch("/api/v1/keystores")).json()).items.map((k) => k.name)), ["store.jks"]);
ok("a keystore deleted from its row in the list, and from the server");
assert.deepEqual(await page.evaluate(async () => (await (await fetch("/api/v1/certificates?search=apart.example")).json()).items
  .map((c) => c.has_private_key)), [true]);
ok("its certificate and key stay in the inventory, as the confirmation said");
// Any file may be chosen: keystores go by names no accept list foresees (a JDK's cacerts).
await page.getByRole("button", { name: "Upload keystore" }).click();
assert.equal(await page.locator("#ks-file").getAttribute("accept"), null);
await page.locator("#ks-file").setInputFiles(`${work}/cacerts`);
await page.locator("#ks-password").fill("changeit");
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
await page.locator("tr[data-kind=keystore]", { hasText: "cacerts" }).waitFor();
// Renamed from its row (PATCH keystores/{id}): the list shows the new name.
await page.locator("tr[data-kind=keystore]", { hasText: "cacerts" }).getByRole("button", { name: "Rename cacerts" }).click();
await page.getByLabel("New name").fill("jdk-truststore");
await page.getByRole("dialog").getByRole("button", { name: "Rename", exact: true }).click();
await page.locator("#done").getByText('Keystore "cacerts" renamed "jdk-truststore".').waitFor();
await page.locator("tr[data-kind=keystore]", { hasText: "jdk-truststore" }).waitFor();
ok("a keystore renamed from its row");
await page.locator("tr[data-kind=keystore]", { hasText: "jdk-truststore" }).getByRole("button", { name: "Delete jdk-truststore" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await page.locator("tr[data-kind=keystore]", { hasText: "jdk-truststore" }).waitFor({ state: "detached" });
ok("the keystore file picker takes any file: a truststore named cacerts, without an extension, uploaded");
await ks.getByRole("button", { name: "Export store.jks" }).click();
await page.locator("#kx-format").selectOption("pem");
const [ksDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await ksDl.saveAs(`${work}/store.pem`);
assert.match(readFileSync(`${work}/store.pem`, "utf8"), /BEGIN CERTIFICATE/);
ok("a keystore exported (PEM)");
await ks.getByRole("button", { name: "Export store.jks" }).click();
assert.equal(await page.getByRole("dialog").locator("#kx-format").inputValue(), "jks"); // (what it is, first)
assert.equal(await page.getByRole("dialog").getByLabel(/^Alias/).count(), 0); // its entries keep theirs
await page.locator("#kx-password").fill("store-s3cret");
await page.locator("#kx-password-again").fill("store-s3cret");
await page.locator("#kx-key-password").fill("key-s3cret");
await page.locator("#kx-key-password-again").fill("key-s3cret");
const [ksJks] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await ksJks.saveAs(`${work}/store-out.jks`);
execFileSync("keytool", ["-importkeystore", "-srckeystore", `${work}/store-out.jks`, "-srcstorepass", "store-s3cret", "-srcalias", "tomcat",
  "-srckeypass", "key-s3cret", "-destkeystore", `${work}/store-key.p12`, "-deststoretype", "PKCS12", "-deststorepass", "changeit",
  "-noprompt"], quiet);
ok("a keystore exported as JKS with a key password: keytool opens its key with it, under its own alias");
// A keystore's keys in PEM, and the keystore as a truststore, each named for what it holds.
await ks.getByRole("button", { name: "Export store.jks" }).click();
await page.locator("#kx-format").selectOption("pem");
await page.getByLabel(/^With the private key/).check();
const [ksKeyDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(ksKeyDl.suggestedFilename(), "store-with-key.pem");
await ksKeyDl.saveAs(`${work}/store-with-key.pem`);
assert.equal(publicKeyOf(["pkey", "-pubout"], `${work}/store-with-key.pem`), publicKeyOf(["x509", "-noout", "-pubkey"], `${work}/store-with-key.pem`));
await ks.getByRole("button", { name: "Export store.jks" }).click();
await page.getByLabel(/^Truststore/).check();
assert.ok(await page.locator("#kx-key-password").isHidden());
await page.locator("#kx-password").fill("trust-s3cret");
await page.locator("#kx-password-again").fill("trust-s3cret");
const [ksTrustDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(ksTrustDl.suggestedFilename(), "store-truststore.jks");
await ksTrustDl.saveAs(`${work}/store-trust.jks`);
const storeTrust = execFileSync("keytool", ["-list", "-keystore", `${work}/store-trust.jks`, "-storepass", "trust-s3cret"], quiet).toString();
assert.match(storeTrust, /^tomcat, .*trustedCertEntry/m);
assert.doesNotMatch(storeTrust, /PrivateKeyEntry/);
ok("a keystore exported as PEM with its key (store-with-key.pem, the key its certificate's) and as a JKS truststore (no key)");

// The keystore changed entry by entry from its panel: a certificate of the inventory added, an
// entry renamed (an alias taken in another case refused, saying so), one deleted.
await ks.locator("td").first().click();
await panelOf(page).getByRole("heading", { name: "Entries (1)" }).waitFor();
// The certificate is found by the server's search as one types (asked once typing pauses) and
// chosen from the keyboard; a term nothing holds is said so, and Add then refused.
const searched = [];
const onAsk = (r) => { const q = new URL(r.url()).searchParams; if (r.url().includes("/api/v1/certificates?") && q.has("search")) searched.push(q.get("search")); };
page.on("request", onAsk);
await panelOf(page).getByRole("button", { name: "Add an entry to store.jks" }).click();
await page.locator("#ke-found").getByText(/certificates? of the inventory|^The newest/).waitFor();
assert.ok(await focusIn(page, "#ke-search"));
assert.ok(await page.locator("#ke-certificate option").count() > 0);
await page.getByLabel("Find a certificate").pressSequentially("nothing holds this");
await page.locator("#ke-found").getByText(`No certificate's name, subject or SAN holds "nothing holds this".`).waitFor();
assert.equal(await page.locator("#ke-certificate option").count(), 0);
assert.ok(await page.locator("#ke-certificate").isDisabled());
await page.getByRole("dialog").getByRole("button", { name: "Add", exact: true }).click();
await page.locator("#ke-error").getByText("Choose a certificate in the list").waitFor();
ok("the certificate picker: the newest before a term is typed; a term nothing holds said so, and Add refused");
searched.length = 0;
await page.getByLabel("Alias (optional)").fill("Web-Entry");
await page.getByLabel("Find a certificate").fill("");
await page.getByLabel("Find a certificate").pressSequentially("web.exa");
await page.locator("#ke-found").getByText(/holds? "web\.exa"\.$/).waitFor();
assert.equal(searched.at(-1), "web.exa");
assert.ok(searched.length < 5, `asked at each letter typed: ${searched.join(", ")}`);
await page.keyboard.press("ArrowDown");
assert.ok(await focusIn(page, "#ke-certificate"));
assert.match(await page.locator("#ke-certificate option:checked").innerText(), /^web\.example — /);
await page.keyboard.press("Enter");
await panelOf(page).getByRole("heading", { name: "Entries (2)" }).waitFor();
await panelOf(page).getByRole("button", { name: "Details of Web-Entry" }).waitFor();
page.off("request", onAsk);
ok("an entry added from the panel: part of a certificate's name typed, the match chosen from the keyboard, under the alias given");
await panelOf(page).getByRole("button", { name: "Rename Web-Entry" }).click();
await page.getByLabel("New alias").fill("TOMCAT");
await page.getByRole("dialog").getByRole("button", { name: "Rename", exact: true }).click();
await page.locator("#kr-error").getByText("without regard to case").waitFor();
await page.getByLabel("New alias").fill("web-renamed");
await page.getByRole("dialog").getByRole("button", { name: "Rename", exact: true }).click();
await panelOf(page).getByRole("button", { name: "Details of web-renamed" }).waitFor();
assert.equal(await panelOf(page).getByRole("button", { name: "Details of Web-Entry" }).count(), 0);
ok("an entry renamed from the panel (an alias taken in another case refused, saying so)");
await panelOf(page).getByRole("button", { name: "Delete web-renamed" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await panelOf(page).getByRole("heading", { name: "Entries (1)" }).waitFor();
const ksEdits = await page.evaluate(async () => {
  const k = (await (await fetch("/api/v1/keystores")).json()).items.find((x) => x.name === "store.jks");
  const entries = (await (await fetch(`/api/v1/keystores/${k.id}/entries`)).json()).items.map((e) => e.alias);
  const audit = (await (await fetch("/api/v1/audit?action=keystore.entry_*&limit=100")).json()).items.map((a) => a.action);
  return { entries, audit: audit.sort() };
});
assert.deepEqual(ksEdits, { entries: ["tomcat"], audit: ["keystore.entry_add", "keystore.entry_delete", "keystore.entry_rename"] });
ok("an entry deleted from the panel; each change audited");
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });

// Generated as a keystore (the destination seed's "certificate name and type"), through the
// wizard as TrueNAS's: the profile chosen on the first step fills in the lifetime and the key
// types it allows; the Key Type RSA shows the key length, EC the curve.
assert.equal(await page.evaluate(async (token) => (await fetch("/api/v1/profiles", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
  body: JSON.stringify({ name: "ks-e2e", description: "keystore servers", key_usage: ["digital_signature", "key_encipherment"], ext_key_usage: ["server_auth"],
    default_days: 45, key_types: ["rsa3072", "rsa4096", "p256"] }) })).status,
  await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token)), 201);
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("made-store");
await page.getByLabel("Store it as").selectOption("jks");
await page.locator("#keep-as-hint").getByText("its password is set when it is exported").waitFor();
await page.getByLabel("Profile", { exact: true }).selectOption("ks-e2e");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.equal(await page.getByLabel("Lifetime", { exact: true }).inputValue(), "45");
assert.equal(await page.getByLabel("Key type", { exact: true }).inputValue(), "ec");
assert.equal(await page.getByLabel("EC curve").inputValue(), "p256");
assert.equal(await page.locator('#key_alg option[value="ed25519"]').isDisabled(), true);
assert.equal(await page.locator('#key_curve option[value="p384"]').isDisabled(), true);
await page.getByLabel("Key type", { exact: true }).selectOption("rsa");
assert.ok(await page.getByLabel("EC curve").isHidden());
assert.equal(await page.getByLabel("Key length (bits)").inputValue(), "3072"); // (2048 it does not allow)
assert.equal(await page.locator('#key_bits option[value="2048"]').isDisabled(), true);
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByLabel("Common name").fill("made-store.example");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
await page.getByRole("dialog").getByText("Leave the usages unticked to take the profile's (digital_signature, key_encipherment).").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
const madeReview = await page.getByRole("dialog").locator("dl").innerText();
assert.match(madeReview, /Stored as\s+a keystore \(JKS\)/);
assert.match(madeReview, /Key type\s+RSA 3072/);
assert.match(madeReview, /Lifetime\s+45 days/);
await page.getByRole("dialog").getByRole("button", { name: "Create", exact: true }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" }).catch(async () => {
  throw new Error("the wizard did not create the keystore: " + (await page.locator("#wz-error").innerText()));
});
await page.locator("#done").getByText(/^Created the keystore "made-store" \(JKS\) holding the certificate "made-store"/).waitFor();
await panelOf(page).getByRole("heading", { name: "made-store" }).waitFor();
await panelOf(page).getByRole("heading", { name: "Entries (1)" }).waitFor();
fields = await panelFields(page);
assert.deepEqual([fields.Format, fields.Method], ["JKS", "made here"]);
const madeRow = page.locator('tr[data-kind="keystore"]', { hasText: "made-store" });
assert.equal(await madeRow.locator("td").nth(1).innerText(), "Keystore (JKS)");
assert.equal(await page.locator('tr[data-kind="certificate"]', { hasText: "made-store" }).count(), 1);
await panelOf(page).getByRole("button", { name: "Details of made-store" }).click();
await panelOf(page).getByRole("heading", { name: "Entry made-store" }).waitFor();
fields = await panelFields(page);
assert.equal(fields["In this keystore"], "made here, with its private key (sealed)");
assert.equal(fields.Key, "RSA 3072");
const madeStored = await page.evaluate(async () => {
  const k = (await (await fetch("/api/v1/keystores")).json()).items.find((x) => x.name === "made-store");
  const full = await (await fetch("/api/v1/keystores/" + k.id)).json();
  const c = await (await fetch("/api/v1/certificates/" + full.entries[0].certificate_id)).json();
  return { format: full.format, entries: full.entries.map((e) => [e.alias, e.origin, e.has_private_key]), key: [c.details.key_algorithm, c.details.key_bits],
    profile: c.profile, days: Math.round((Date.parse(c.not_after) - Date.parse(c.not_before)) / 86400e3) };
});
assert.deepEqual(madeStored, { format: "jks", entries: [["made-store", "generated", true]], key: ["RSA", 3072], profile: "ks-e2e", days: 45 });
ok("a certificate generated as a JKS keystore from the wizard: the profile's lifetime and key types filled in, RSA 3072 chosen as TrueNAS asks it; its keystore's panel shown, and the server holds it so");
await madeRow.getByRole("button", { name: "Export made-store" }).click();
assert.equal(await page.getByRole("dialog").locator("#kx-format").inputValue(), "jks");
await page.locator("#kx-password").fill("made-s3cret");
await page.locator("#kx-password-again").fill("made-s3cert");
await page.getByRole("dialog").getByRole("button", { name: "Download" }).click();
await page.locator("#kx-error").getByText("The two passwords typed differ").waitFor();
await page.locator("#kx-password-again").fill("made-s3cret");
const [madeDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
await madeDl.saveAs(`${work}/made-store.jks`);
assert.match(execFileSync("keytool", ["-list", "-keystore", `${work}/made-store.jks`, "-storepass", "made-s3cret"], quiet).toString(),
  /^made-store, .*PrivateKeyEntry/m);
ok("exported from its row as JKS (two passwords that differ said first): keytool lists its key entry");
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });

// Devices: those of a trusted certificate in its details, blocked and let in again, filtered.
await page.getByRole("link", { name: "Trusted certificates" }).click();
await page.getByRole("button", { name: "Details of Plant root" }).click();
await panelOf(page).getByText("Devices registered through it (2): pump-1, pump-2").waitFor();
ok("a trusted certificate's details name the devices registered through it");
await page.getByRole("link", { name: "Devices", exact: true }).click();
await page.getByRole("button", { name: "Block pump-1", exact: true }).click();
await page.locator("tr", { hasText: "pump-1" }).getByText("blocked").waitFor();
await page.getByLabel("Show devices").selectOption("blocked");
await page.getByRole("button", { name: "Block pump-2", exact: true }).waitFor({ state: "detached" });
await page.getByRole("button", { name: "Unblock pump-1", exact: true }).waitFor();
assert.equal(await page.locator("#dev-table tbody tr").count(), 1);
ok("a device blocked from its row, and the blocked ones listed apart");
await page.getByRole("button", { name: "Unblock pump-1", exact: true }).click();
// (an empty list says so, as the certificates' does, rather than stand as a bare heading)
await page.locator("#dev-table").getByText("No device is blocked.").waitFor();
await page.getByLabel("Show devices").selectOption("active");
await page.getByRole("button", { name: "Block pump-1", exact: true }).waitFor();
await page.getByRole("button", { name: "Block pump-2", exact: true }).waitFor();
assert.equal(await page.locator("#dev-table tbody tr").count(), 2);
ok("let in again: both devices are active");
// The decisions under them: the two registrations and the stranger refused (test_console_e2e.sh).
const decRows = page.locator("#dec-table tbody tr");
await decRows.filter({ hasText: "stranger-1" }).getByText("untrusted").waitFor();
assert.equal(await decRows.filter({ hasText: "auto_registered" }).count(), 2);
await page.getByLabel("Show decisions").selectOption("deny");
await decRows.filter({ hasText: "auto_registered" }).first().waitFor({ state: "detached" });
assert.equal(await decRows.count(), 1);
assert.match(await decRows.first().innerText(), /stranger-1\s+deny\s+untrusted\s+tenant default does not trust its issuer "CN=stranger-1"/);
ok("the latest decisions under the devices, the refused ones apart, with their reason");
// Those that named no tenant (test_console_e2e.sh made one, lost-1, under a tenant not there):
// not in the tenant's list above, shown to the installation's admin by a switch of its own.
const noTenant = page.getByLabel("Those that named no tenant (the installation's)");
assert.equal(await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).installation_admin), true);
await noTenant.check();
await decRows.filter({ hasText: "lost-1" }).getByText("unknown_tenant").waitFor();
assert.equal(await decRows.filter({ hasText: "stranger-1" }).count(), 0);
assert.match(await decRows.filter({ hasText: "lost-1" }).innerText(), /lost-1\s+deny\s+unknown_tenant/);
await page.locator("#dec-about").getByText(/^Decisions that named no tenant/).waitFor();
await page.getByLabel("Show decisions").selectOption("allow");
await page.locator("#dec-table").getByText("No decision to show.").waitFor();
await page.getByLabel("Show decisions").selectOption("deny");
await noTenant.uncheck();
await decRows.filter({ hasText: "stranger-1" }).waitFor();
assert.equal(await decRows.filter({ hasText: "lost-1" }).count(), 0);
ok("the decisions that named no tenant: apart from the tenant's, shown to the installation's admin by a switch, narrowed as the others");

for (const [link, file] of [["Devices", "devices"], ["Audit log", "audit"]]) {
  await page.getByRole("link", { name: link, exact: true }).click();
  await page.getByRole("heading", { name: link, exact: true }).waitFor();
  await page.screenshot({ path: `${shots}/${file}.png`, fullPage: true });
}
await page.getByRole("link", { name: "Audit log" }).click();
await page.getByText("trusted.delete").first().waitFor();
ok("the console's changes are in the audit log");

// More certificates than a page: the list shows 200 and "Show more" brings the rest (made
// through the API in the page's own session, and deleted after).
const bulk = await page.evaluate(async () => {
  const s = await (await fetch("/api/v1/session")).json();
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token };
  const cas = await (await fetch("/api/v1/cas")).json();
  const issuer = cas.items.find((c) => c.name.includes("Issuing")).id;
  const ids = [];
  for (let i = 0; i < 205; i++) {
    const r = await fetch("/api/v1/certificates", { method: "POST", headers,
      body: JSON.stringify({ name: `bulk-${i}`, profile: "device", subject: { common_name: `bulk-${i}` }, key_type: "p256", ca_id: issuer }) });
    if (r.status === 201) ids.push((await r.json()).id);
  }
  const total = (await (await fetch("/api/v1/certificates?limit=1000")).json()).items.length;
  return { ids, total };
});
assert.equal(bulk.ids.length, 205);
await page.getByRole("link", { name: "CAs", exact: true }).click();
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.locator("#cert-more").waitFor();
// (after the keystores, all read at once: they are fewer than a page)
const keystoreCount = await page.evaluate(async () => (await (await fetch("/api/v1/keystores")).json()).items.length);
assert.equal(await page.locator('tbody tr[data-kind="keystore"]').count(), keystoreCount);
assert.equal(await page.locator('tbody tr[data-kind="certificate"]').count(), 200);
await page.locator("#cert-more").click();
await page.locator("#cert-more").waitFor({ state: "hidden" });
assert.equal(await page.locator('tbody tr[data-kind="certificate"]').count(), bulk.total);
assert.equal(await page.locator('tbody tr[data-kind="keystore"]').count(), keystoreCount);
ok(`the keystores and a page of 200 certificates, and "Show more" shows the other ${bulk.total - 200}`);
await page.locator("#cert-search").fill("bulk-20");
await page.waitForFunction(() => document.querySelectorAll("tbody tr:not([hidden])").length === 6);
assert.deepEqual((await page.locator("tbody tr:not([hidden]) td:first-child").allInnerTexts()).sort(),
  ["bulk-20", "bulk-200", "bulk-201", "bulk-202", "bulk-203", "bulk-204"]);
ok("the search box finds the certificates whose name holds the term");
await page.locator("#cert-search").fill("");
await page.locator("#cert-more").waitFor();
// Narrowed by state, as the API narrows it: none has expired here, and it says so.
const expired = await page.evaluate(async () => (await (await fetch("/api/v1/certificates?status=expired&limit=1000")).json()).items.length);
assert.equal(expired, 0);
await page.locator("#cert-which").selectOption("expired");
await page.getByText("No certificate is in that state.").waitFor();
await page.locator("#cert-which").selectOption("");
await page.locator("#cert-more").waitFor();
ok("the certificates narrowed by state, an empty result said");
await page.getByRole("link", { name: "Audit log" }).click();
await page.locator("#audit-more").waitFor();
assert.equal(await page.locator("tbody tr").count(), 200);
assert.match(await page.locator("tbody tr").first().innerText(), new RegExp(bulk.ids[204]));
await page.locator("#audit-more").click();
await page.waitForFunction(() => document.querySelectorAll("tbody tr").length > 200);
ok("the audit log shows its newest 200 entries first, and \"Show more\" the older ones");
// Narrowed as the API narrows it: key exports alone, then nothing for an unknown actor.
// (key exports: a key alone and keystores exported with their keys, one filter of the API's)
await page.locator("#au-action").selectOption("key.export,keystore.export_keys");
await page.waitForFunction(() => [...document.querySelectorAll("tbody tr td:nth-child(3)")].every((td) => td.textContent === "key.export" || td.textContent === "keystore.export_keys") &&
  document.querySelectorAll("tbody tr").length > 0);
// (each entry's detail beside it: a key export names its format)
assert.match(await page.locator("tbody tr td.detail").first().innerText(), /format: /);
await page.locator("#au-actor").fill("user:nobody-at-all");
await page.getByText("No entry matches.").waitFor();
await page.locator("#au-actor").fill("");
await page.locator("#au-action").selectOption("");
ok("the audit log filtered by action and by who, an empty result said");
// Its filters stand on one line, each day field named where it is seen (two bare date fields,
// each the page's width, read alike).
const sinceBox = await page.locator("#au-since").boundingBox(), untilBox = await page.locator("#au-until").boundingBox();
assert.equal(Math.round(sinceBox.y), Math.round(untilBox.y));
assert.ok(sinceBox.width < 400);
assert.equal(await page.locator("label[for=au-since]").innerText(), "From");
ok("the audit log's filters stand side by side, the days named From and until");
// A keystore's certificate picker reaches past its first page: it asks the server for what is
// typed (bulk-150 is not among the newest 25 it shows first), says when a term holds more than
// it shows, and the entry chosen is added.
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.locator("tr", { hasText: "store.jks" }).locator("td").first().click();
await panelOf(page).getByRole("button", { name: "Add an entry to store.jks" }).click();
await page.locator("#ke-found").getByText(`The newest 25 certificates: type 3 letters or more`).waitFor();
assert.equal(await page.locator("#ke-certificate option", { hasText: /^bulk-150 — / }).count(), 0);
await page.getByLabel("Find a certificate").pressSequentially("bulk-1");
await page.locator("#ke-found").getByText(`The first 25 certificates that hold "bulk-1": type more of it to narrow them.`).waitFor();
assert.equal(await page.locator("#ke-certificate option").count(), 25);
await page.getByLabel("Find a certificate").pressSequentially("50");
await page.locator("#ke-found").getByText(`One certificate holds "bulk-150".`).waitFor();
await page.keyboard.press("Enter");
assert.ok(await focusIn(page, "#ke-certificate"));
await page.keyboard.press("Enter");
await panelOf(page).getByRole("button", { name: "Details of bulk-150" }).waitFor();
ok("a keystore's certificate picker finds a certificate past its first page by what is typed, and adds it");
await panelOf(page).getByRole("button", { name: "Delete bulk-150" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
await panelOf(page).getByRole("button", { name: "Details of bulk-150" }).waitFor({ state: "detached" });
await page.keyboard.press("Escape");
await panelOf(page).waitFor({ state: "hidden" });
await page.evaluate(async (ids) => {
  const s = await (await fetch("/api/v1/session")).json();
  for (const id of ids) await fetch("/api/v1/certificates/" + id, { method: "DELETE", headers: { "X-CSRF-Token": s.csrf_token } });
}, bulk.ids);

// Settings: the trust bundle made private and public again; a refused value told at its field.
await page.getByRole("link", { name: "Settings" }).click();
await page.getByRole("heading", { name: "Trust bundle", exact: true }).waitFor();
const printed = readFileSync(`${work}/fingerprint`, "utf8").trim();
await page.locator("#root-fingerprints").getByText(printed).waitFor();
ok("the settings show the root's fingerprint as certhubd printed it");
// The bundle as a Java truststore (the keystore seed's truststores), read by keytool.
await page.getByRole("button", { name: "As a truststore (JKS or PKCS#12)" }).click();
await page.getByLabel("Password of the truststore").fill("bundle-s3cret");
await page.getByLabel("Repeat the password").fill("bundle-s3cret");
const [bundleDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.equal(bundleDl.suggestedFilename(), "bundle-truststore.jks");
await bundleDl.saveAs(`${work}/bundle-truststore.jks`);
assert.match(execFileSync("keytool", ["-list", "-keystore", `${work}/bundle-truststore.jks`, "-storepass", "bundle-s3cret"], quiet).toString(),
  /trustedCertEntry/);
ok("the trust bundle downloaded as a JKS truststore, which keytool lists");
// The PEM bundle saved under the tenant's name (the server names the bundle, "default").
const [pemDl] = await Promise.all([page.waitForEvent("download"), page.locator("#bundle-pem").click()]);
assert.equal(pemDl.suggestedFilename(), "default-bundle.pem");
await pemDl.saveAs(`${work}/default-bundle.pem`);
assert.match(readFileSync(`${work}/default-bundle.pem`, "utf8"), /^-----BEGIN CERTIFICATE-----/);
ok("the trust bundle downloaded as PEM, named after the tenant");
const anonymous = () => page.evaluate(async () => (await fetch("/api/v1/bundles/default", { credentials: "omit" })).status);
assert.equal(await anonymous(), 200);
const publicBox = page.getByLabel("Public: anyone may download it without signing in");
assert.ok(await publicBox.isChecked());
await publicBox.uncheck();
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal(await anonymous(), 404);
ok("the trust bundle made private from the settings: no longer downloaded without signing in");
const signedIn = await page.evaluate(async () => (await (await fetch("/api/v1/bundles/default")).text()).split("BEGIN CERTIFICATE").length - 1);
assert.ok(signedIn >= 2);
ok("signed in, the bundle still downloads");
await page.getByLabel(/^Renew automatically/).fill("0.95");
await page.getByRole("button", { name: "Save settings" }).click();
await page.locator("#st-renewal_point-error").getByText("0.5 to 0.9").waitFor();
ok("a renewal point out of range: the server's message at the field");
await page.getByLabel(/^Renew automatically/).fill("0.75");
await page.getByRole("button", { name: "Add webhook" }).click();
await page.getByLabel("Webhook 1 URL").fill("https://127.0.0.1:9/certhub");
await page.getByRole("button", { name: "Save settings" }).click();
await page.locator("#st-webhooks-error").getByText("needs its secret").waitFor();
await page.getByLabel(/^Webhook 1 secret/).fill("0123456789abcdef0123");
await publicBox.check();
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
const settings = () => page.evaluate(async () => await (await fetch("/api/v1/settings")).json());
const saved = await settings();
assert.deepEqual([saved.public_bundle, saved.renewal_point, saved.webhooks.map((w) => w.url)], [true, 0.75, ["https://127.0.0.1:9/certhub"]]);
assert.equal(await anonymous(), 200);
ok("renewal point, webhook and the public bundle saved");
// A second webhook beside the first, whose secret is not typed again (the server keeps it).
await page.getByRole("button", { name: "Add webhook" }).click();
await page.getByLabel("Webhook 2 URL").fill("https://127.0.0.1:9/second");
await page.getByLabel(/^Webhook 2 secret/).fill("fedcba9876543210fedcba");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByLabel(/^Webhook 2 secret/).and(page.getByPlaceholder("(set; type to replace)")).waitFor();
assert.deepEqual((await settings()).webhooks.map((w) => w.url), ["https://127.0.0.1:9/certhub", "https://127.0.0.1:9/second"]);
await page.getByRole("button", { name: "Remove webhook 1" }).click();
await page.getByRole("button", { name: "Save settings" }).click();
// (the row went at the click; the settings are read once the server has answered the save)
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal(await page.getByLabel("Webhook 2 URL").count(), 0);
assert.deepEqual((await settings()).webhooks.map((w) => w.url), ["https://127.0.0.1:9/second"]);
ok("webhooks added and removed a row each, the secrets of the others kept");
// The CA that signs a request naming none: chosen here, offered first by the create wizard.
const rootCa = "certhub Quickstart Root CA - Not for Production";
await page.getByLabel("CA that signs a certificate whose request names none").selectOption({ label: rootCa });
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
const rootId = await page.evaluate(async (name) => (await (await fetch("/api/v1/cas?limit=1000")).json()).items.find((c) => c.name === name).id, rootCa);
assert.equal((await settings()).default_ca_id, rootId);
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.getByRole("button", { name: "Create certificate" }).click();
await page.getByLabel("Identifier", { exact: true }).fill("signer-check");
await page.getByRole("dialog").getByRole("button", { name: "Next" }).click();
assert.equal(await page.getByLabel("Signing CA").inputValue(), rootId);
await page.keyboard.press("Escape");
await page.getByRole("dialog").waitFor({ state: "hidden" });
await page.getByRole("link", { name: "Settings" }).click();
await page.getByLabel("CA that signs a certificate whose request names none").selectOption("");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal((await settings()).default_ca_id ?? null, null);
ok("the default signing CA set from the settings, offered first by the wizard, and set back to none");
// API tokens' lifetimes: the bound (none yet) and the alert before a token's end (7 days unless
// set); a value out of range refused with the server's message at its field, nothing changed.
const maxField = page.getByLabel(/^Longest lifetime of a new token/), alertField = page.getByLabel(/^Alert this many days before a token ends/);
assert.deepEqual([await maxField.inputValue(), await alertField.inputValue()], ["", "7"]);
await alertField.fill("0");
await page.getByRole("button", { name: "Save settings" }).click();
await page.locator("#st-token_alert_days-error").getByText("token_alert_days is a number of days from 1 to 3650").waitFor();
assert.deepEqual([(await settings()).max_token_days, (await settings()).token_alert_days], [null, 7]);
ok("a token alert of 0 days: the server's message at the field, nothing changed");
await alertField.fill("30");
await maxField.fill("400");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal(await page.locator("#st-token_alert_days-error").textContent(), "");
const tokenDays = async () => { const s = await settings(); return [s.max_token_days, s.token_alert_days]; };
assert.deepEqual(await tokenDays(), [400, 30]);
await page.getByRole("link", { name: "Audit log" }).click();
await page.getByRole("heading", { name: "Audit log", exact: true }).waitFor();
await page.getByRole("link", { name: "Settings" }).click();
await page.getByRole("heading", { name: "API tokens", exact: true }).waitFor();
assert.deepEqual([await maxField.inputValue(), await alertField.inputValue()], ["400", "30"]);
// Emptied: null, the bound gone and the alerts off; then the alert as it was.
await maxField.fill("");
await alertField.fill("");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.deepEqual(await tokenDays(), [null, null]);
await alertField.fill("7");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.deepEqual(await tokenDays(), [null, 7]);
ok("token lifetimes from the settings: 400 days at most and alerts 30 days before, read back from the server and shown again; emptied, none");
// Expired certificates removed after so many days: the setting saved, and the removal now
// previewed first (none has ended that long ago here: said, nothing asked).
const tidyField = page.getByLabel(/^Remove certificates that ended more than/);
assert.equal(await tidyField.inputValue(), "");
await page.getByRole("button", { name: "Remove them now…" }).click();
await page.locator("#st-tidy_expired_days-error").getByText(/tidy_expired_days/).waitFor();
await tidyField.fill("90");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal((await settings()).tidy_expired_days, 90);
await page.getByRole("button", { name: "Remove them now…" }).click();
await page.locator("#st-tidy_expired_days-error").getByText(/^No certificate ended before /).waitFor();
assert.equal(await page.getByRole("dialog").count(), 0);
await tidyField.fill("");
await page.getByRole("button", { name: "Save settings" }).click();
await page.getByText("Saved.", { exact: true }).waitFor();
assert.equal((await settings()).tidy_expired_days ?? null, null);
ok("removal of long-expired certificates set from the settings and asked now: with nothing that old, said so and nothing asked");
// Custom profiles, from the same screen.
await page.getByRole("button", { name: "Create profile" }).click();
await page.locator("#np-name").fill("mqtt-device");
await page.getByRole("button", { name: "Create", exact: true }).click();
await page.locator("#np-key_usage-error").getByText("key_usage needs at least one usage").waitFor();
ok("a profile without a key usage: the server's message at the usages");
await page.getByRole("dialog").getByLabel("digital_signature").check();
await page.getByRole("dialog").getByLabel("client_auth").check();
await page.locator("#np-default").fill("90");
assert.equal(await page.getByLabel("Longest lifetime: unit").inputValue(), "d");
await page.getByLabel(/^Certificate policies, as OIDs/).fill("1.3.6.01");
await page.getByRole("button", { name: "Create", exact: true }).click();
await page.locator("#np-policy_identifiers-error").getByText(/is not an OID/).waitFor();
await page.getByLabel(/^Certificate policies, as OIDs/).fill("1.3.6.1.4.1.55555.7");
await page.getByLabel(/^Other extended key usages, as OIDs/).fill("1.3.6.1.4.1.311.20.2.2");
await page.getByRole("button", { name: "Create", exact: true }).click();
const profileRow = page.locator("tr", { hasText: "mqtt-device" });
await profileRow.waitFor();
assert.match(await profileRow.innerText(), /digital_signature, client_auth, 1\.3\.6\.1\.4\.1\.311\.20\.2\.2/);
assert.match(await profileRow.innerText(), /Policies: 1\.3\.6\.1\.4\.1\.55555\.7/);
const made = await page.evaluate(async () => (await (await fetch("/api/v1/profiles/mqtt-device")).json()));
assert.deepEqual([made.custom, made.default_days, made.max_days, made.ext_key_usage, made.policy_identifiers],
  [true, 90, 397, ["client_auth"], ["1.3.6.1.4.1.55555.7"]]);
assert.match(await profileRow.innerText(), /90 days \/ 397 days/);
ok("a custom profile made from the settings, with a policy and a usage as OIDs (one that is not an OID said at its field)");
// One of short-lived certificates: a day by default, a week at most, given in hours and days.
await page.getByRole("button", { name: "Create profile" }).click();
await page.locator("#np-name").fill("daily");
await page.getByRole("dialog").getByLabel("digital_signature").check();
await page.locator("#np-default").fill("24");
await page.getByLabel("Default lifetime: unit").selectOption("h");
await page.locator("#np-max").fill("2");
await page.getByLabel("Longest lifetime: unit").selectOption("h");
await page.getByRole("button", { name: "Create", exact: true }).click();
await page.locator("#np-default_days-error").getByText("default_ttl (24h) is more than max_ttl (2h)").waitFor();
ok("a default past the longest lifetime, in hours: the server's message at the default");
await page.locator("#np-max").fill("7");
await page.getByLabel("Longest lifetime: unit").selectOption("d");
await page.getByRole("button", { name: "Create", exact: true }).click();
const dailyRow = page.locator("tr", { hasText: "daily" });
await dailyRow.waitFor();
assert.match(await dailyRow.innerText(), /1 day \/ 7 days/);
const daily = await page.evaluate(async () => (await (await fetch("/api/v1/profiles/daily")).json()));
assert.deepEqual([daily.default_ttl, daily.max_days], ["1d", 7]);
ok("a profile of a day (24 hours) by default and a week at most");
await page.getByRole("button", { name: "Delete profile daily" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await dailyRow.waitFor({ state: "detached" });
await page.getByRole("button", { name: "Delete profile mqtt-device" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await profileRow.waitFor({ state: "detached" });
ok("and deleted");

// Console users, from the same screen.
await page.getByRole("heading", { name: "Console users", exact: true }).waitFor();
assert.ok(await page.getByRole("button", { name: "Remove admin" }).isDisabled());
await page.getByRole("button", { name: "Add user" }).click();
await page.locator("#nu-name").fill("helper");
await page.locator("#nu-role").selectOption("operator");
await page.locator("#nu-password").fill("short");
await page.locator("#nu-password-again").fill("short");
await page.getByRole("button", { name: "Add", exact: true }).click();
await page.locator("#nu-error").getByText("8").waitFor();
await page.locator("#nu-password").fill("helper-password-1");
await page.getByRole("button", { name: "Add", exact: true }).click();
await page.locator("#nu-error").getByText("The two passwords typed differ").waitFor();
assert.equal(await page.getByLabel("Role of helper").count(), 0);
await page.locator("#nu-password-again").fill("helper-password-1");
await page.getByRole("button", { name: "Add", exact: true }).click();
await page.getByLabel("Role of helper").waitFor();
ok("a console user added (a short password refused first, then two that differ)");
// The list is drawn again once the change is in: wait for that before the next click.
await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/users" && r.request().method() === "GET"),
  page.getByLabel("Role of helper").selectOption("admin")]);
await page.getByRole("button", { name: "Reset the password of helper" }).click();
await page.locator("#rp-password").fill("helper-password-2");
await page.getByLabel("Repeat the new password").fill("helper-password-2");
await page.getByRole("button", { name: "Set password" }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" });
const users = await page.evaluate(async () => (await (await fetch("/api/v1/users")).json()).items.map((u) => u.name + ":" + u.role));
assert.ok(users.includes("helper:admin"), users.join(" "));
ok("its role changed and its password reset from its row");
// A token the user makes for itself, signed in apart: its removal revokes it, says so, and the
// token list beside the users shows it revoked.
const helperCtx = await browser.newContext({ ignoreHTTPSErrors: true });
assert.equal((await helperCtx.request.post(new URL("/api/v1/session", url).href, { data: { username: "helper", password: "helper-password-2" } })).status(), 201);
const helperCsrf = (await (await helperCtx.request.get(new URL("/api/v1/session", url).href)).json()).csrf_token;
assert.equal((await helperCtx.request.post(new URL("/api/v1/tokens", url).href, { headers: { "X-CSRF-Token": helperCsrf },
  data: { role: "viewer", name: "helper-script" } })).status(), 201);
await helperCtx.close();
await page.getByRole("button", { name: "Remove helper" }).click();
await page.getByRole("dialog").getByText("the API tokens it made are revoked").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await page.getByLabel("Role of helper").waitFor({ state: "detached" });
await page.getByText("helper: 1 API token it made revoked.").waitFor();
await page.getByRole("row", { name: /helper-script/ }).getByText("revoked").waitFor();
ok("and removed, the token it made revoked with it (said, and shown in the token list)");
// API tokens: made, shown once, usable, revoked.  (A pipeline's, limited to issuing, made through
// the API first: its row is drawn with the list that follows.)
const pipelineStatus = await page.evaluate(async () => {
  const s = await (await fetch("/api/v1/session")).json();
  return (await fetch("/api/v1/tokens", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token },
    body: JSON.stringify({ role: "operator", name: "pipeline", scope: { issue: { profiles: ["tls-server"] } } }) })).status;
});
assert.equal(pipelineStatus, 201);
await page.getByRole("button", { name: "Create token" }).click();
await page.locator("#nt-name").fill("backup script");
await page.locator("#nt-role").selectOption("viewer");
await page.locator("#nt-expires").selectOption("7d");
await page.getByRole("button", { name: "Create", exact: true }).click();
const token = await page.locator("#nt-token").inputValue();
assert.match(token, /^cht_[0-9a-f]{64}$/);
// Seven days from now, as the server counts them (a minute either way for the clocks).
const inSeven = [-60000, 0, 60000].map((d) => new Date(Date.now() + 7 * 86400000 + d).toISOString().slice(0, 16).replace("T", " "));
const said = await page.getByRole("dialog").getByText("It is refused from").textContent();
assert.ok(inSeven.some((t) => said.includes(t + " UTC")), said);
const withToken = () => page.evaluate(async (t) => (await fetch("/api/v1/certificates?limit=1", { credentials: "omit", headers: { Authorization: "Bearer " + t } })).status, token);
assert.equal(await withToken(), 200);
await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
const tokenRow = page.locator("tr", { hasText: "backup script" });
await tokenRow.getByText("the whole tenant").waitFor();
await page.locator("tr", { hasText: "pipeline" }).getByText("issues under tls-server, and what it issued").waitFor();
const expiresCell = await tokenRow.locator("td").nth(4).textContent();
assert.ok(inSeven.some((t) => expiresCell === t + " UTC"), expiresCell);
assert.equal(await page.locator("tr", { hasText: "bootstrap admin" }).locator("td").nth(4).textContent(), "never");
// Its maker is the user signed in; the first start's token has none.
const sessionUser = await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).user);
assert.equal(await tokenRow.locator("td").nth(6).textContent(), sessionUser);
assert.equal(await page.locator("tr", { hasText: "bootstrap admin" }).locator("td").nth(6).textContent(), "—");
ok("an API token made from the console for 7 days, shown once with its expiry, works; its row says what it reads, when it expires and who made it; a pipeline's says what it issues");
await page.getByRole("button", { name: "Revoke backup script" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
await page.locator("tr", { hasText: "backup script" }).getByText("revoked").waitFor();
assert.equal(await withToken(), 401);
ok("revoked from its row: refused from then on");
// A pipeline's token from the dialog: limited to issuing under one profile with one CA, made an
// operator's (a viewer issues nothing); it issues there and lists what it issued alone.
await page.getByRole("button", { name: "Create token" }).click();
await page.locator("#nt-name").fill("deploy pipeline");
await page.locator("#nt-role").selectOption("viewer");
assert.equal(await page.locator("#nt-limits").isHidden(), true);
await page.getByLabel(/^Limited to issuing certificates/).check();
assert.equal(await page.locator("#nt-role").inputValue(), "operator");
await page.locator("#nt-limits").getByLabel("tls-server", { exact: true }).check();
const signers = await page.evaluate(async () => (await (await fetch("/api/v1/cas")).json()).items.filter((c) => c.can_sign));
await page.locator("#nt-limits").getByLabel(signers[0].name, { exact: true }).check();
await page.getByRole("button", { name: "Create", exact: true }).click();
const pipeline = await page.locator("#nt-token").inputValue();
await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
await page.locator("tr", { hasText: "deploy pipeline" }).getByText(`issues under tls-server with ${signers[0].id}, and what it issued`).waitFor();
const asPipeline = (method, path, body) => page.evaluate(async ([t, m, p, b]) => {
  const r = await fetch("/api/v1/" + p, { method: m, credentials: "omit", headers: { Authorization: "Bearer " + t, "Content-Type": "application/json" }, body: b ? JSON.stringify(b) : undefined });
  return [r.status, await r.json()];
}, [pipeline, method, path, body]);
const [keyStatus, keyRefusal] = await asPipeline("POST", "certificates", { profile: "tls-server", sans: ["dns:deploy.example"], key_type: "p256", ca_id: signers[0].id });
assert.deepEqual([keyStatus, keyRefusal.error.field], [403, "key_type"]); /* (no keys ticked: a key made here would be of no use to it) */
const publicKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" });
const [issuedStatus, issued] = await asPipeline("POST", "certificates", { profile: "tls-server", sans: ["dns:deploy.example"], public_key: publicKey, ca_id: signers[0].id });
assert.equal(issuedStatus, 201, JSON.stringify(issued));
const [otherStatus, otherRefusal] = await asPipeline("POST", "certificates", { profile: "tls-client", sans: ["dns:deploy.example"], public_key: publicKey, ca_id: signers[0].id });
assert.deepEqual([otherStatus, otherRefusal.error.field], [403, "profile"]);
const [listStatus, listed] = await asPipeline("GET", "certificates");
assert.deepEqual([listStatus, listed.items.map((c) => c.id)], [200, [issued.id]]);
// (deleted again: what follows exports the newest certificate, one with a key held)
assert.equal(await page.evaluate(async (id) => {
  const s = await (await fetch("/api/v1/session")).json();
  return (await fetch("/api/v1/certificates/" + id, { method: "DELETE", headers: { "X-CSRF-Token": s.csrf_token } })).status;
}, issued.id), 200);
ok("a pipeline's token made from the dialog: limited to issuing under the profile and CA ticked, an operator's, no key made for it unless allowed; it lists only what it issued");
// A token that made others (one made from the session, its child made with it, and that
// child's): its revoke dialog offers them, unchecked; checked, they go with it.
const leaked = await page.evaluate(async () => {
  const { csrf_token } = await (await fetch("/api/v1/session")).json();
  const make = async (body, bearer) => (await fetch("/api/v1/tokens", { method: "POST", credentials: bearer ? "omit" : "same-origin",
    headers: { "Content-Type": "application/json", ...(bearer ? { Authorization: "Bearer " + bearer } : { "X-CSRF-Token": csrf_token }) },
    body: JSON.stringify(body) })).json();
  const root = await make({ role: "admin", name: "leaked root" });
  const child = await make({ role: "admin", name: "leaked child" }, root.token);
  const grandchild = await make({ role: "viewer", name: "leaked grandchild" }, child.token);
  return [root.token, child.token, grandchild.token];
});
const chainStatus = () => page.evaluate(async (ts) => Promise.all(ts.map(async (t) =>
  (await fetch("/api/v1/certificates?limit=1", { credentials: "omit", headers: { Authorization: "Bearer " + t } })).status)), leaked);
await page.getByRole("link", { name: "Audit log" }).click();
await page.getByRole("heading", { name: "Audit log", exact: true }).waitFor();
await page.getByRole("link", { name: "Settings" }).click();
await page.getByRole("button", { name: "Revoke leaked root" }).click();
const cascadeBox = page.getByRole("dialog").getByRole("checkbox", { name: "Also revoke the 2 active tokens made from it" });
assert.equal(await cascadeBox.isChecked(), false);
await page.getByRole("dialog").getByText("leaked child, leaked grandchild").waitFor();
await cascadeBox.check();
await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
await page.getByText("leaked root revoked, and 2 tokens made from it.").waitFor();
await page.getByRole("row", { name: /leaked grandchild/ }).getByText("revoked").waitFor();
assert.deepEqual(await chainStatus(), [401, 401, 401]);
ok("a token's revoke dialog offers the tokens made from it; asked, they are revoked with it and shown so");
// The tenant bounds its tokens' life: the dialog offers only what the server takes (no
// "never", nothing past the bound, the bound itself when it is none of the usual ones), 30 days
// by default, or the bound when it is less; made with the default, the token is taken.
const setMax = (days) => page.evaluate(async (days) => {
  const s = await (await fetch("/api/v1/session")).json();
  return (await fetch("/api/v1/settings", { method: "PATCH", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token },
    body: JSON.stringify({ max_token_days: days }) })).status;
}, days);
const offered = async () => {
  await page.getByRole("button", { name: "Create token" }).click();
  await page.locator("#nt-expires").waitFor(); /* (opened once the session is read) */
  const o = await page.locator("#nt-expires option").evaluateAll((os) => os.map((x) => x.value).join(","));
  return [o, await page.locator("#nt-expires").inputValue()];
};
assert.equal(await setMax(45), 200);
assert.deepEqual(await offered(), ["1d,7d,30d,45d", "30d"]);
await page.getByRole("dialog").getByText("at most 45 days").waitFor();
await page.locator("#nt-name").fill("bounded default");
await page.getByRole("button", { name: "Create", exact: true }).click();
const inThirty = [-60000, 0, 60000].map((d) => new Date(Date.now() + 30 * 86400000 + d).toISOString().slice(0, 16).replace("T", " "));
const saidBounded = await page.getByRole("dialog").getByText("It is refused from").textContent();
assert.ok(inThirty.some((t) => saidBounded.includes(t + " UTC")), saidBounded);
await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
assert.equal(await setMax(7), 200);
assert.deepEqual(await offered(), ["1d,7d", "7d"]);
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
assert.equal(await setMax(null), 200);
assert.deepEqual(await offered(), [",1d,7d,30d,90d,365d", ""]);
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
ok("with the tenant's max_token_days, the token dialog offers only lifetimes within it (30 days by default, or the bound); without it, never too");
// Tenants, for the installation's admins: one made (the switcher offers it), revoked, restored.
await page.locator("#tn-name").fill("contractors");
await page.getByRole("button", { name: "Create tenant" }).click();
await page.locator("#tenant-switch option", { hasText: "contractors" }).waitFor({ state: "attached" });
await page.getByRole("button", { name: "Revoke contractors" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
await page.getByRole("button", { name: "Restore contractors" }).waitFor();
assert.equal((await page.evaluate(async () => (await (await fetch("/api/v1/tenants/contractors")).json()).status)), "revoked");
await page.getByRole("button", { name: "Restore contractors" }).click();
await page.getByRole("button", { name: "Revoke contractors" }).waitFor();
assert.ok(await page.getByRole("button", { name: "Revoke default" }).isDisabled());
ok("a tenant made from the settings (and offered by the switcher), revoked and restored; not the one in use");
await page.screenshot({ path: `${shots}/settings.png`, fullPage: true });

// Phone width, keyboard only.
await page.setViewportSize({ width: 390, height: 800 });
await page.getByRole("link", { name: "Trusted certificates" }).click();
await page.getByRole("heading", { name: "Trusted certificates", exact: true }).waitFor();
await page.screenshot({ path: `${shots}/trusted-phone.png`, fullPage: true });
await page.keyboard.press("Tab");
const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
assert.ok(["A", "BUTTON", "INPUT"].includes(focused));
ok("works at phone width, focus moves with the keyboard");
// A row's actions stay in sight at phone width (they sat past the right edge, behind a
// sideways scroll).
await page.getByRole("link", { name: "Certificates and keystores" }).click();
const exportButton = page.getByRole("button", { name: /^Export / }).first();
await exportButton.waitFor();
const box = await exportButton.boundingBox();
assert.ok(box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
ok("at phone width a certificate's actions are in sight");
// The panel takes the list's place at phone width, and gives it back when closed.
await page.locator('tr[data-kind="certificate"]').getByRole("button", { name: /^Details of / }).first().click();
await panelOf(page).getByText("SHA-256").waitFor();
const phonePanel = await panelOf(page).boundingBox();
assert.ok(phonePanel.x >= 0 && phonePanel.x + phonePanel.width <= 390, JSON.stringify(phonePanel));
assert.equal(await page.locator("#screen table").isVisible(), false);
await page.screenshot({ path: `${shots}/certificate-panel-phone.png`, fullPage: true });
await panelOf(page).getByRole("button", { name: "Close the details" }).click();
await page.locator("#screen table").waitFor();
assert.ok(await focusIn(page, "tr[data-id]"));
ok("at phone width the panel covers the list, and closing it shows the list again");

// A request without the CSRF token is refused even with the cookie.
const status = await page.evaluate(async () => (await fetch("/api/v1/settings", { method: "PATCH", headers: { "Content-Type": "application/json" }, body: "{}" })).status);
assert.equal(status, 403);
ok("a change without the CSRF token is refused");

// The tenant switcher: the installation's admin acts in another tenant and back.
await page.locator("#tenant-switch").selectOption("acme");
await page.getByText("admin · acme · admin").waitFor();
await page.getByRole("link", { name: "Trusted certificates" }).click();
// (the heading is drawn before the list is read: its empty row says it was)
await page.getByText("No trusted certificate yet.").waitFor();
assert.equal(await page.locator("tr", { hasText: "<img" }).count(), 0);
ok("switched to tenant acme: none of default's trusted certificates");
await page.locator("#tenant-switch").selectOption("default");
await page.getByText("admin · default · admin").waitFor();
ok("and back to default");

// A viewer sees no button that changes anything, and the API refuses anyway.
const viewerCtx = await browser.newContext({ ignoreHTTPSErrors: true });
const vp = await viewerCtx.newPage();
vp.on("pageerror", (e) => problems.push(e.message));
await vp.goto(url);
await signinOf(vp).getByLabel("User name").fill("viewer");
await signinOf(vp).getByLabel("Password", { exact: true }).fill("viewer-password-1");
await vp.getByRole("button", { name: "Sign in" }).click();
await vp.getByText("viewer · default · viewer").waitFor();
await vp.getByRole("link", { name: "Trusted certificates" }).click();
await vp.getByRole("heading", { name: "Trusted certificates", exact: true }).waitFor();
await vp.locator("tr", { hasText: "<img" }).first().waitFor();
for (const name of ["Add trusted certificate", "Disable", "Enable", "Delete"])
  assert.equal(await vp.getByRole("button", { name }).count(), 0, `a viewer sees ${name}`);
await vp.getByRole("button", { name: "Details of Plant root" }).click();
await panelOf(vp).getByText("Devices registered through it").waitFor();
for (const name of ["Disable", "Enable", "Delete", /^Move /])
  assert.equal(await panelOf(vp).getByRole("button", { name }).count(), 0, `a viewer's panel offers ${name}`);
await vp.getByRole("link", { name: "Certificates and keystores" }).click();
await vp.locator("tr", { hasText: "web.example" }).first().waitFor();
assert.equal(await vp.getByRole("button", { name: "Create certificate" }).count(), 0);
assert.equal(await vp.getByRole("button", { name: /^Delete/ }).count(), 0);
// Its panel: the details and Export, nothing that changes anything.
await vp.locator("tr", { hasText: "web.example" }).first().locator("td").first().click();
await panelOf(vp).getByText("SHA-256").waitFor();
await panelOf(vp).getByRole("button", { name: /^Export / }).waitFor();
for (const name of [/^Delete/, /^Edit/, /^Renew/])
  assert.equal(await panelOf(vp).getByRole("button", { name }).count(), 0, `a viewer's panel offers ${name}`);
await vp.keyboard.press("Escape");
await panelOf(vp).waitFor({ state: "hidden" });
// Export offers a viewer the formats without the key, saying why P12 and JKS are not there.
await vp.locator('tr[data-kind="certificate"]').getByRole("button", { name: /^Export / }).first().click();
await vp.locator("#ex-why").getByText("which this account may not export").waitFor();
assert.deepEqual(await vp.locator("#ex-format option").evaluateAll((os) => os.map((o) => o.value)), ["pem", "der", "p7b", "p12", "jks"]);
assert.ok(await vp.getByLabel(/^With the private key/).isHidden());
await vp.getByLabel("Format", { exact: true }).selectOption("p12");
assert.ok(await vp.getByLabel(/^Truststore/).isChecked());
assert.ok(await vp.getByLabel(/^Truststore/).isDisabled());
await vp.getByLabel(/^No password/).check();
const [viewerDl] = await Promise.all([vp.waitForEvent("download"), vp.getByRole("dialog").getByRole("button", { name: "Download" }).click()]);
assert.match(viewerDl.suggestedFilename(), /-truststore\.p12$/);
await viewerDl.saveAs(`${work}/viewer-trust.p12`);
const viewerTrust = execFileSync("keytool", ["-list", "-keystore", `${work}/viewer-trust.p12`, "-storepass", ""], quiet).toString();
assert.match(viewerTrust, /trustedCertEntry/);
assert.doesNotMatch(viewerTrust, /PrivateKeyEntry/);
const refused = await vp.evaluate(async () => {
  const s = await (await fetch("/api/v1/session")).json();
  return (await fetch("/api/v1/certificates", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token },
    body: JSON.stringify({ subject: { common_name: "x" }, ca_id: "x" }) })).status;
});
assert.equal(refused, 403);
// A keystore's panel: its entries and Export, nothing that changes them.
await vp.locator("tr", { hasText: "store.jks" }).locator("td").first().click();
await panelOf(vp).getByRole("button", { name: "Details of tomcat" }).waitFor();
for (const name of [/^Add an entry/, /^Rename /, /^Delete /])
  assert.equal(await panelOf(vp).getByRole("button", { name }).count(), 0, `a viewer's keystore panel offers ${name}`);
await vp.keyboard.press("Escape");
await panelOf(vp).waitFor({ state: "hidden" });
await vp.getByRole("link", { name: "Settings" }).click();
await vp.getByRole("heading", { name: "Trust bundle", exact: true }).waitFor();
assert.equal(await vp.getByRole("button", { name: "Save settings" }).count(), 0);
assert.ok(await vp.getByLabel(/^Renew automatically/).isDisabled());
assert.ok(await vp.getByLabel(/^Alert this many days before a token ends/).isDisabled());
await vp.getByRole("link", { name: "Devices", exact: true }).click();
await vp.locator("#dec-table tbody tr").first().waitFor();
assert.equal(await vp.locator("#dec-unattributed").count(), 0, "a viewer is offered the decisions that named no tenant");
assert.equal(await vp.evaluate(async () => (await fetch("/api/v1/device-decisions?unattributed=true")).status), 403);
ok("a viewer sees no buttons that change anything, and the API refuses them anyway");
await vp.screenshot({ path: `${shots}/viewer.png`, fullPage: true });
await viewerCtx.close();

// A tenant's own admin, who does not run the installation (test_console_e2e.sh made acme-admin
// in tenant acme): its settings have no Tenants section, which is drawn only when GET
// /api/v1/session says installation_admin, and the API refuses it a tenant anyway.
const tenantCtx = await browser.newContext({ ignoreHTTPSErrors: true });
const tp = await tenantCtx.newPage();
tp.on("pageerror", (e) => problems.push(e.message));
await tp.goto(url);
await signinOf(tp).getByLabel("Tenant", { exact: true }).fill("acme");
await signinOf(tp).getByLabel("User name").fill("acme-admin");
await signinOf(tp).getByLabel("Password", { exact: true }).fill("acme-admin-password-1");
await tp.getByRole("button", { name: "Sign in" }).click();
await tp.getByText("acme-admin · acme · admin").waitFor();
const tenantSession = await tp.evaluate(async () => (await fetch("/api/v1/session")).json());
assert.deepEqual([tenantSession.role, tenantSession.installation_admin, tenantSession.first_password], ["admin", false, false]);
assert.ok(await tp.locator("#first-password").isHidden());
await tp.getByRole("link", { name: "Settings" }).click();
// An admin's settings end with its users and its tokens, and the Tenants section would come
// after them: once the tokens are drawn, the screen is whole.
await tp.getByRole("heading", { name: "Console users", exact: true }).waitFor();
await tp.getByRole("heading", { name: "API tokens", exact: true }).waitFor();
assert.equal(await tp.getByRole("heading", { name: "Tenants", exact: true }).count(), 0, "a tenant's admin sees the Tenants section");
assert.equal(await tp.getByRole("button", { name: "Create tenant" }).count(), 0, "a tenant's admin is offered Create tenant");
assert.equal(await tp.locator("#tenant-switch").count(), 0, "a tenant's admin is offered the tenant switcher");
const tenantMade = await tp.evaluate(async () => {
  const s = await (await fetch("/api/v1/session")).json();
  return (await fetch("/api/v1/tenants", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token },
    body: JSON.stringify({ name: "not-made" }) })).status;
});
assert.equal(tenantMade, 403);
ok("a tenant's own admin has no Tenants section in its settings, and the API refuses it a tenant");
await tenantCtx.close();
// The installation's admin has it, on the same screen.
await page.getByRole("link", { name: "Settings" }).click();
await page.getByRole("heading", { name: "Tenants", exact: true }).waitFor();
await page.getByRole("button", { name: "Create tenant" }).waitFor();
ok("the installation's admin has the Tenants section");

// A keystore file whose certificate comes without its key, signed outside for a CSR made here:
// its entry takes the CSR's key, and the upload dialog says so, naming the entry and the CSR.
const ksCsr = await page.evaluate(async (csrf) => (await (await fetch("/api/v1/csrs", { method: "POST",
  headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
  body: JSON.stringify({ name: "ks-csr-request", subject: { common_name: "ks-csr.example" } }) })).json()),
await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token));
writeFileSync(`${work}/ks-csr.csr`, ksCsr.pem);
execFileSync("openssl", ["x509", "-req", "-in", `${work}/ks-csr.csr`, "-CA", `${work}/outside-ca.pem`, "-CAkey", `${work}/outside-ca.key`,
  "-days", "20", "-out", `${work}/ks-csr.pem`], quiet);
await page.getByRole("link", { name: "Certificates and keystores" }).click();
await page.getByRole("button", { name: "Upload keystore" }).click();
await page.locator("#ks-file").setInputFiles(`${work}/ks-csr.pem`);
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
await page.locator("#done").getByText(new RegExp(`^Keystore "[^"]+" uploaded; entry "ks-csr.example" has the private key of the CSR ${ksCsr.id} made here`)).waitFor();
assert.ok(await page.evaluate(async (id) => (await (await fetch("/api/v1/csrs/" + id)).json()).certificate_id, ksCsr.id));
ok("a keystore whose entry came without a key, for a CSR made here: the entry takes its key, the dialog says so");
// A keystore whose key entry comes without its chain, of a CA held nowhere here: uploaded, and
// said as a certificate import says it (the destination seed: the file is to hold the chain).
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/gap-ca.key`,
  "-subj", "/CN=Gap Root CA", "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", `${work}/gap-ca.pem`], quiet);
execFileSync("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${work}/gap.key`,
  "-subj", "/CN=gap.example", "-out", `${work}/gap.csr`], quiet);
execFileSync("openssl", ["x509", "-req", "-in", `${work}/gap.csr`, "-CA", `${work}/gap-ca.pem`, "-CAkey", `${work}/gap-ca.key`,
  "-days", "20", "-out", `${work}/gap.pem`], quiet);
execFileSync("openssl", ["pkcs12", "-export", "-in", `${work}/gap.pem`, "-inkey", `${work}/gap.key`, "-name", "gap",
  "-passout", "pass:s3cret", "-out", `${work}/gap.p12`], quiet);
await page.getByRole("button", { name: "Upload keystore" }).click();
await page.locator("#ks-file").setInputFiles(`${work}/gap.p12`);
await page.locator("#ks-password").fill("s3cret");
await page.getByRole("dialog").getByRole("button", { name: "Upload", exact: true }).click();
await page.locator("#done").getByText(/^Keystore "[^"]+" uploaded\. Note: entry "gap": the chain ends at "CN=Gap Root CA", whose certificate is neither in the file nor held here/).waitFor();
ok("a keystore whose key entry came without its chain: uploaded, the dialog says where its chain stops");

// The first-start password changed, from the banner's button: the old one no longer signs
// in, the new one does, and the banner is gone.
await page.locator("#first-password").getByRole("button", { name: "Change it now" }).click();
await page.getByRole("dialog").getByRole("heading", { name: "Change password" }).waitFor();
const pwSent = [];
const onPw = (r) => { if (new URL(r.url()).pathname === "/api/v1/session/password") pwSent.push(r.method()); };
page.on("request", onPw);
await page.getByLabel("Current password").fill("wrong");
await page.getByLabel("New password (8 characters or more)").fill("a-new-password-1");
await page.getByLabel("Repeat the new password").fill("a-new-password-2");
await page.getByRole("dialog").getByRole("button", { name: "Change password" }).click();
await page.locator("#pw-error").getByText("The two passwords typed differ: type the same in both fields.").waitFor();
assert.deepEqual(pwSent, []);
page.off("request", onPw);
ok("a new password typed twice differently: said so, nothing sent");
await page.getByLabel("Repeat the new password").fill("a-new-password-1");
await page.getByRole("dialog").getByRole("button", { name: "Change password" }).click();
await page.getByRole("dialog").getByText("the current password is wrong").waitFor();
await page.getByLabel("Current password").fill(password);
await page.getByRole("dialog").getByRole("button", { name: "Change password" }).click();
await page.getByRole("dialog").waitFor({ state: "hidden" });
assert.ok(await page.locator("#first-password").isHidden());
ok("the password changed (the current one asked again), and the banner asking for it gone");

await page.getByRole("button", { name: "Sign out" }).click();
await page.getByRole("button", { name: "Sign in" }).waitFor();
const after = await page.evaluate(async () => (await fetch("/api/v1/certificates")).status);
assert.equal(after, 401);
ok("signed out: the API answers 401");
await signinOf(page).getByLabel("User name").fill("admin");
await signinOf(page).getByLabel("Password", { exact: true }).fill(password);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("wrong user name or password").waitFor();
await signinOf(page).getByLabel("Password", { exact: true }).fill("a-new-password-1");
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("admin · default · admin").waitFor();
assert.equal(await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).first_password), false);
assert.ok(await page.locator("#first-password").isHidden());
ok("the old password no longer signs in, the new one does, with no banner");
assert.deepEqual(problems, []);
ok("no script errors");
await browser.close();
console.log(`${checks} passed, 0 failed`);
