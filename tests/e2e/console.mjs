// The web console in a real browser: Debian's Chromium (headless) driven by playwright-core,
// against a certhubd started by tests/integration/test_console_e2e.sh.
//   node console.mjs URL DATA_DIR WORK_DIR SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const [url, data, work, shots] = process.argv.slice(2);
const password = readFileSync(`${data}/admin-password`, "utf8").trim();
let checks = 0;
const ok = (what) => console.log(`ok ${++checks} - ${what}`);

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(e.message));
page.on("dialog", (d) => { problems.push("a browser dialog opened: " + d.message()); d.dismiss(); });

await page.goto(url);
await page.getByLabel("User name").fill("admin");
await page.getByLabel("Password").fill("not the password");
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("wrong user name or password").waitFor();
ok("a wrong password is refused with a message");
await page.getByLabel("Password").fill(password);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByText("admin · default · admin").waitFor();
ok("signed in");
const cookies = await context.cookies();
const session = cookies.find((c) => c.name === "certhub_session");
assert.ok(session && session.httpOnly && session.secure && session.sameSite === "Strict");
ok("the session cookie is HttpOnly, Secure, SameSite=Strict");
await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

await page.getByRole("link", { name: "Trusted certificates" }).click();
await page.getByRole("heading", { name: "Trusted certificates" }).waitFor();
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
await page.locator("#tc-file").setInputFiles(`${work}/fleet.pem`);
await page.getByLabel("Auto registration").check();
await page.getByRole("button", { name: "Add certificate" }).click();
const row = page.locator("tr", { hasText: "Fleet root" });
await row.waitFor();
assert.match(await row.innerText(), /enabled/);
assert.match(await row.innerText(), /on/);
ok("the uploaded certificate is in the list, enabled, auto registration on");
await row.getByRole("button", { name: "Details of Fleet root" }).click();
await page.getByText("CN=Fleet Root CA").first().waitFor();
ok("expanding the row shows the details read from the certificate");
await page.screenshot({ path: `${shots}/trusted.png`, fullPage: true });
await row.getByRole("button", { name: "Disable" }).click();
await page.locator("tr", { hasText: "Fleet root" }).getByText("disabled").waitFor();
ok("disabled from the row");

// A subject holding markup is shown as text.
await page.getByRole("button", { name: "Add trusted certificate" }).click();
await page.locator("#tc-file").setInputFiles(`${work}/xss.pem`);
await page.getByRole("button", { name: "Add certificate" }).click();
await page.getByText("<img src=x onerror=alert(1)>", { exact: true }).first().waitFor();
assert.equal(await page.locator("#screen img").count(), 0);
ok("a subject holding HTML is shown as text");

// Delete with confirmation.
await page.locator("tr", { hasText: "Fleet root" }).getByRole("button", { name: "Delete" }).click();
await page.getByRole("dialog").getByText("Delete the trusted certificate").waitFor();
await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
assert.equal(await page.locator("tr", { hasText: "Fleet root" }).count(), 1);
await page.locator("tr", { hasText: "Fleet root" }).getByRole("button", { name: "Delete" }).click();
await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
await page.locator("tr", { hasText: "Fleet root" }).waitFor({ state: "detached" });
ok("deleted after confirming (and kept when cancelled)");

for (const [link, file] of [["Certificates", "certificates"], ["Devices", "devices"], ["Audit log", "audit"]]) {
  await page.getByRole("link", { name: link, exact: true }).click();
  await page.getByRole("heading", { name: link, exact: true }).waitFor();
  await page.screenshot({ path: `${shots}/${file}.png`, fullPage: true });
}
await page.getByRole("link", { name: "Audit log" }).click();
await page.getByText("trusted.delete").first().waitFor();
ok("the console's changes are in the audit log");

// Phone width, keyboard only.
await page.setViewportSize({ width: 390, height: 800 });
await page.getByRole("link", { name: "Trusted certificates" }).click();
await page.getByRole("heading", { name: "Trusted certificates" }).waitFor();
await page.screenshot({ path: `${shots}/trusted-phone.png`, fullPage: true });
await page.keyboard.press("Tab");
const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
assert.ok(["A", "BUTTON", "INPUT"].includes(focused));
ok("works at phone width, focus moves with the keyboard");

// A request without the CSRF token is refused even with the cookie.
const status = await page.evaluate(async () => (await fetch("/api/v1/settings", { method: "PATCH", headers: { "Content-Type": "application/json" }, body: "{}" })).status);
assert.equal(status, 403);
ok("a change without the CSRF token is refused");

await page.getByRole("button", { name: "Sign out" }).click();
await page.getByRole("button", { name: "Sign in" }).waitFor();
const after = await page.evaluate(async () => (await fetch("/api/v1/certificates")).status);
assert.equal(after, 401);
ok("signed out: the API answers 401");
assert.deepEqual(problems, []);
ok("no script errors");
await browser.close();
console.log(`${checks} passed, 0 failed`);
