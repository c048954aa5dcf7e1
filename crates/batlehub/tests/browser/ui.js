// Drives the web UI in headless Chromium for tests/it/ui_browser.rs.
// Usage: node ui.js <step>; settings come from the environment:
//   BASE (server URL), TOKEN (sign-in token), STATE (cookie storage file),
//   SHOTS (screenshot folder), WHEEL (file to upload), CHROMIUM (binary).
// Prints one JSON object with what the step saw; exits 1 on failure.
"use strict";
const { chromium } = require("playwright-core");
const path = require("path");

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env("BASE");
const SHOTS = env("SHOTS");

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const steps = {
  // Sign in with the token form; the session cookie is saved to STATE.
  async signin(page, ctx) {
    await page.goto(`${BASE}/login?return_to=/`);
    await shot(page, "01-login");
    await page.getByLabel("Token").fill(env("TOKEN"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${BASE}/`);
    const who = await page.locator(".who .user").innerText();
    await shot(page, "02-home");
    await ctx.storageState({ path: env("STATE") });
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === "batlehub_session");
    return { url: page.url(), who, httpOnly: !!(session && session.httpOnly), sameSite: session && session.sameSite };
  },

  // Settings → Tokens → New token: the secret is shown once.
  async token(page) {
    await page.goto(`${BASE}/settings/tokens`);
    await page.getByLabel("Name").fill("browser-made");
    const lifetime = await page.getByLabel("Lifetime").inputValue();
    const role = await page.getByLabel("Role").inputValue();
    await page.getByRole("button", { name: "Create" }).click();
    const token = (await page.locator("#new-token").innerText()).trim();
    const exportLine = (await page.locator("#new-token-export").innerText()).trim();
    await shot(page, "03-token-created");
    await page.goto(`${BASE}/settings/tokens`);
    const again = await page.content();
    const listed = await page.locator("tbody tr", { hasText: "browser-made" }).count();
    await shot(page, "04-tokens");
    return { token, exportLine, lifetime, role, shownAgain: again.includes(token), listed };
  },

  // The Setup Guide: every snippet, by its element id, from the initial HTML.
  async setup(page) {
    await page.goto(`${BASE}/setup`);
    const snippets = await page.$$eval("pre[id^=snip-]", (els) => Object.fromEntries(els.map((e) => [e.id, e.textContent])));
    const copyButtons = await page.locator("button[data-copy]").count();
    await shot(page, "05-setup");
    return { snippets, copyButtons };
  },

  // The Upload package card: publish WHEEL to the registry REGISTRY.
  async upload(page) {
    await page.goto(`${BASE}/my-namespace`);
    await page.locator("#upload-registry").selectOption(env("REGISTRY"));
    await page.locator("#upload-file").setInputFiles(env("WHEEL"));
    await page.getByRole("button", { name: "Upload" }).click();
    await page.waitForLoadState();
    const notice = (await page.locator(".notice").first().innerText()).trim();
    await shot(page, "06-uploaded");
    return { notice };
  },

  // My namespaces → the namespace row → the package's visibility → team.
  async visibility(page) {
    await page.goto(`${BASE}/my-namespace`);
    const groups = await page.locator("#groups li").allInnerTexts();
    await page.locator("#namespaces tbody tr", { hasText: env("PREFIX") }).first().click();
    await page.waitForSelector("#packages");
    const row = page.locator("#packages tbody tr", { hasText: env("PACKAGE") }).first();
    const before = (await row.locator(".badge").first().innerText()).trim();
    await row.locator("summary").click();
    await row.getByLabel("Visibility", { exact: true }).selectOption("team");
    await shot(page, "07-visibility-editor");
    await row.getByRole("button", { name: "Save" }).click();
    await page.waitForSelector("#packages");
    const after = (await page.locator("#packages tbody tr", { hasText: env("PACKAGE") }).first().locator(".badge").first().innerText()).trim();
    const notice = (await page.locator(".notice").first().innerText()).trim();
    await shot(page, "08-my-namespace");
    return { groups, before, after, notice };
  },

  // The package browser: search, then the package page.
  async browse(page) {
    await page.goto(`${BASE}/packages`);
    await page.getByRole("searchbox", { name: "Package name" }).fill(env("PACKAGE"));
    await page.getByRole("button", { name: "Search" }).click();
    const results = await page.locator("tbody tr").allInnerTexts();
    await shot(page, "09-packages");
    await page.getByRole("link", { name: env("PACKAGE") }).first().click();
    const install = (await page.locator("#install-command").innerText()).trim();
    const versions = await page.locator("tbody tr").allInnerTexts();
    await shot(page, "10-package");
    // Dark theme through the toggle, for the record.
    await page.locator("#theme-toggle").click();
    const theme = await page.evaluate(() => document.documentElement.getAttribute("data-theme"));
    await shot(page, "11-package-dark");
    return { results, install, versions, theme };
  },
};

(async () => {
  const step = process.argv[2];
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const fs = require("fs");
    const state = process.env.STATE;
    const ctx = await browser.newContext(step !== "signin" && state && fs.existsSync(state) ? { storageState: state } : {});
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.setDefaultTimeout(15000);
    const out = await steps[step](page, ctx);
    out.errors = errors;
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
